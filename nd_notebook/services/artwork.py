"""Artwork host service (``artwork_get*url``): public image URLs with a signed token.

Rules (spec 2.3 / 6.6, Navidrome's ``publicurl.ImageURL``):
- URL = public base + ``/share/img/<JWT>``, plus ``?size=<n>`` only when ``size > 0``;
- public base = ``host.share_url`` (Navidrome's ShareURL: scheme, host and, as at HEAD, its
  path prefix) when set, else ``host.base_url`` (BaseScheme://BaseHost + BasePath); with no
  BaseHost the scheme and host come from the request: none for this service (``http://localhost``)
  and, in a plugin's Subsonic API answers (``artistImageUrl``), the plugin's own request, which
  has none: a path alone (``/share/img/...``, BasePath first);
- the JWT is HS256 over ``{"id": "<kind>-<id>", "iss": "ND"}`` signed with
  ``host.artwork_secret``; kinds ``ar`` (artist), ``al`` (album), ``mf`` (track), ``pl``
  (playlist). HEAD's artwork id has no ``_<lastUpdate>`` suffix; the plugin's id is taken
  verbatim after the prefix (Navidrome builds ``model.ArtworkID{Kind, ID: id}``), so ``ar-123``
  for an artist is signed as ``ar-ar-123``, which Navidrome parses back to id ``ar-123``;
- no existence check, no user scope, never an error.
Claim names are Navidrome's; jwx writes claims in sorted key order, which is the order used here
(header ``{"alg":"HS256","typ":"JWT"}``). Byte-identical tokens are not claimed: Navidrome's
secret is its own.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import jwt

if TYPE_CHECKING:
    from ..context import PluginContext

ISSUER = "ND"
PUBLIC_IMAGES_PATH = "/share/img"
KIND_ARTIST, KIND_ALBUM, KIND_TRACK, KIND_PLAYLIST = "ar", "al", "mf", "pl"
# PyJWT >= 2.10 warns about HMAC keys under 32 bytes; Navidrome signs with any secret.
_SHORT_KEY_WARNING = getattr(getattr(jwt, "warnings", None), "InsecureKeyLengthWarning",
                             UserWarning)


class ArtworkService:
    """Navidrome's ArtworkService: the four URL functions of one plugin."""

    # Where this emulation knowingly differs from Navidrome (shown in docs/abi.md).
    DEVIATIONS: ClassVar[dict[str, str]] = {
        "get_artist_url": "JWT claim order and header as PyJWT writes them (jwx's exact bytes unverified)",
    }

    def __init__(self, ctx: PluginContext):
        self._host = ctx.host

    def get_artist_url(self, id: str, size: int = 0) -> str:
        return image_url(self._host, artwork_id(KIND_ARTIST, id), size)

    def get_album_url(self, id: str, size: int = 0) -> str:
        return image_url(self._host, artwork_id(KIND_ALBUM, id), size)

    def get_track_url(self, id: str, size: int = 0) -> str:
        return image_url(self._host, artwork_id(KIND_TRACK, id), size)

    def get_playlist_url(self, id: str, size: int = 0) -> str:
        return image_url(self._host, artwork_id(KIND_PLAYLIST, id), size)

    def close(self) -> None:
        pass


def artwork_id(kind: str, id: str) -> str:
    """``<kind>-<id>``, the id as given, "" for no id (``model.ArtworkID.String()``)."""
    return f"{kind}-{id}" if id else ""


def image_url(host: Any, art_id: str, size: int = 0, *, in_request: bool = False) -> str:
    """The public URL of an artwork id (``ar-...``) as ``publicurl.ImageURL`` builds it;
    ``in_request``: for an answer to a plugin's Subsonic request (no scheme or host of its own)."""
    token = sign(host.artwork_secret, art_id)
    if host.share_url:  # Go's url.Parse of ShareURL: its scheme and host (no user), its path
        share = urlsplit(host.share_url)
        host_port = share.netloc.rpartition("@")[2]
        origin = (f"{share.scheme}:" if share.scheme else "") + \
            (f"//{host_port}" if host_port else "")
        prefix = share.path.rstrip("/")
    else:
        base = urlsplit(host.base_url or "")
        prefix = base.path.rstrip("/")
        origin = f"{base.scheme or 'http'}://{base.netloc or 'localhost'}" \
            if base.netloc or not in_request else ""
    url = f"{origin}{prefix}{PUBLIC_IMAGES_PATH}/{token}"
    return f"{url}?size={size}" if size > 0 else url


def sign(secret: str, art_id: str) -> str:
    """The public-image JWT of an artwork id (any secret length, as Navidrome accepts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _SHORT_KEY_WARNING)
        claims = {"id": art_id, "iss": ISSUER} if art_id else {"iss": ISSUER}  # Claims.ToMap
        return jwt.encode(claims, secret, algorithm="HS256")


def decode(secret: str, token: str) -> dict:
    """The claims of a public-image token (raises ``jwt.InvalidTokenError`` when not ours)."""
    return jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER)
