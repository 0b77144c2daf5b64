"""Navidrome versions as data: what the plugin host offered at the seed, at HEAD and on any date
in between, from the ABI change history (spec section 11).

``target("seed" | "head" | "YYYY-MM-DD")`` is the ``Target`` a ``Host(navidrome=...)`` emulates:

- host functions, permissions, capabilities, exports, structs and struct fields of the ABI
  tables that the target has (each ``since="head"`` row is introduced by one ``Change``);
- behaviours switched by a change (``Target.has(commit)``): the cron dialect (5cd1fcb49),
  ``noFollowRedirects`` (03844a9a3), service-creation errors failing the load (205c85da5).

A date names the state at the end of that day. The seed (668869b6c) dates from 2026-03-03:
its first follow-up commits landed minutes after it the same day, so ``"2026-03-03"`` already
includes them and an earlier date is refused. Changes the history dates only by month count
from the month's last day; changes it does not date at all belong to ``"head"`` only.
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass
from typing import Any

from . import abi
from .errors import FunctionNotFoundError, LoadError

__all__ = ["CHANGES", "HEAD", "SEED", "SEED_DATE", "Change", "NotCalledByTargetError",
           "Target", "target", "targets"]

SEED = "668869b6c"
HEAD = "295886cb9"
SEED_DATE = "2026-03-03"


@dataclass(frozen=True)
class Change:
    """One commit between seed and HEAD that affects the ABI, and the ABI names it brought."""

    commit: str
    date: str | None  # "YYYY-MM-DD" (month-only dates: the month's last day); None = undated
    summary: str
    services: tuple[str, ...] = ()  # host services (and all their functions)
    permissions: tuple[str, ...] = ()  # manifest permission keys
    capabilities: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()  # single exports of an older capability
    structs: tuple[str, ...] = ()  # "package.Name"
    fields: tuple[str, ...] = ()  # "package.Struct.jsonKey" added to an older struct


CHANGES: tuple[Change, ...] = (
    Change("eeb1bd5f4", "2026-03-03", "taskworker XTP schema: payload = base64 string"),
    Change("f03ca44a8", "2026-03-03", "Lyrics capability nd_lyrics_get_lyrics",
           capabilities=("Lyrics",),
           structs=("lyrics.GetLyricsRequest", "lyrics.GetLyricsResponse", "lyrics.LyricsText",
                    "lyrics.TrackInfo")),
    Change("03844a9a3", "2026-03-20", "http_send request noFollowRedirects",
           fields=("host.HTTPRequest.noFollowRedirects",)),
    Change("5cd1fcb49", "2026-03-20", "cron: optional seconds, ~ random, bare durations"),
    Change("478845bc5", "2026-04-06", "KVStore cleanup goroutine stopped in Close"),
    Change("85e9982b4", "2026-04-30", "TrackInfo path, libraryId (filesystem-permitted only; with "
           "fd930eefd)",
           fields=("scrobbler.TrackInfo.libraryId", "scrobbler.TrackInfo.path",
                   "lyrics.TrackInfo.libraryId", "lyrics.TrackInfo.path")),
    Change("259c1a948", "2026-04-27", "SonicSimilarity capability",
           capabilities=("SonicSimilarity",),
           structs=("sonicsimilarity.FindSonicPathRequest",
                    "sonicsimilarity.GetSonicSimilarTracksRequest", "sonicsimilarity.SonicMatch",
                    "sonicsimilarity.SonicSimilarityResponse")),
    Change("ae0e0c89d", "2026-05-02", "Scrobbler nd_scrobbler_playback_report",
           exports=("nd_scrobbler_playback_report",),
           structs=("scrobbler.PlaybackReportRequest",)),
    Change("0e5b9e326", "2026-06-29", "shared types package (ArtistRef/SongRef extended, Track)",
           structs=("types.Track",),
           fields=("types.ArtistRef.sortName", "types.ArtistRef.role", "types.ArtistRef.subRole",
                   "types.SongRef.artists", "types.SongRef.durationMs")),
    Change("f580d3ea7", "2026-07-01", "Matcher host service + matcher permission",
           services=("Matcher",), permissions=("matcher",), structs=("host.MatchOptions",)),
    Change("205c85da5", "2026-07-10", "host-service creation errors fail the load"),
    Change("bf79d2f3a", "2026-07-19", "experimental.threads removed"),
    Change("810b14ed5", "2026-08-02", "jailed wazero mounts instead of Extism allowed_paths"),
    Change("f853ca604", "2026-08-02", "random ids = base62 of 16 random bytes"),
    Change("77726af59", "2026-08-03", "plugin ID validation"),
    Change("54fe6c254", "2026-08-03", "Storage host service + storage permission",
           services=("Storage",), permissions=("storage",)),
    Change("b0c6d2e44", "2026-08-08", "ScrobbleRetriever host service + scrobbleRetriever "
           "permission", services=("ScrobbleRetriever",), permissions=("scrobbleRetriever",),
           structs=("host.ScrobbleCountOptions", "host.ScrobbleOptions", "host.ScrobbleRef")),
    Change("59a4ed8e7", "2026-08-13", "metadata agent errors no longer reported as not-found"),
    Change("5b87a60b5", "2026-08-15", "transient CLI loads (no DB writes, optional init)"),
    Change("core", None, "artwork id string drops _0; public images signed with a separate "
           "secret; ShareURL path kept"),
)

_BY_COMMIT = {c.commit: c for c in CHANGES}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class NotCalledByTargetError(FunctionNotFoundError):
    """The export exists but the emulated Navidrome version never calls it (it does not know
    it yet); read like ``function not found`` by the capability adapters."""


@dataclass(frozen=True)
class Target:
    """A Navidrome version: its name and the changes it includes (see the module docstring)."""

    name: str  # "seed", "head" or "YYYY-MM-DD"
    changes: tuple[Change, ...]

    # -- what it has ---------------------------------------------------------------------
    def has(self, commit: str) -> bool:
        """Whether the change ``commit`` (e.g. ``"5cd1fcb49"``) is part of this version."""
        return any(c.commit == commit for c in self.changes)

    @property
    def is_head(self) -> bool:
        return len(self.changes) == len(CHANGES)

    @property
    def host_functions(self) -> frozenset[str]:
        return frozenset(f.import_name for f in abi.HOST_FUNCTIONS if self.has_service(f.service))

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(p.key for p in abi.PERMISSIONS if self._known("permissions", p.key))

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c.name for c in abi.CAPABILITIES if self._known("capabilities", c.name))

    @property
    def exports(self) -> frozenset[str]:
        return frozenset(e.name for e in abi.EXPORTS if self.knows_export(e.name))

    @property
    def cron_dialect(self) -> str:
        return "head" if self.has("5cd1fcb49") else "seed"

    def has_service(self, service: str) -> bool:
        return self._known("services", abi.service(service).name)

    def knows_export(self, name: str) -> bool:
        """Whether this version calls the capability export ``name`` (asked on every call:
        remembered per name)."""
        known = self._exports_known
        if name not in known:
            known[name] = (self._known("capabilities", abi.capability_of_export(name).name)
                           and self._known("exports", name))
        return known[name]

    @functools.cached_property
    def _exports_known(self) -> dict[str, bool]:
        # A cache kept beside the fields: hashing the version (all its changes) per call would
        # cost more than the answer.
        return {}

    def knows_struct(self, qualified: str) -> bool:
        return self._known("structs", qualified)

    def knows_field(self, struct: str, json_key: str) -> bool:
        """Whether field ``json_key`` of ``"package.Struct"`` exists in this version."""
        return self._known("fields", f"{struct}.{json_key}")

    def introduced_by(self, kind: str, name: str) -> Change | None:
        """The change that brought ``name`` (kind: services, permissions, capabilities, exports,
        structs or fields); None for names of the seed."""
        return next((c for c in CHANGES if name in getattr(c, kind)), None)

    def _known(self, kind: str, name: str) -> bool:
        change = self.introduced_by(kind, name)
        return change is None or change in self.changes

    # -- what a host of this version does -------------------------------------------------
    def manifest(self, man):
        """``man`` as this version reads it: permission keys it does not know are ignored
        (Go's decoder skips unknown keys; key names match case-insensitively), so their
        cross-field rules do not apply either. The manifest as written stays in ``raw``."""
        from .manifest import Manifest

        raw = man.to_dict()
        perms = raw.get("permissions")
        if self.is_head or not isinstance(perms, dict):
            return man
        known = {k.lower() for k in self.permissions}
        unknown = {p.key.lower() for p in abi.PERMISSIONS} - known
        kept = {k: v for k, v in perms.items() if k.lower() not in unknown}
        if len(kept) == len(perms):
            return man
        seen = Manifest.parse({**raw, "permissions": kept})
        return Manifest(man.to_dict(), seen._go)

    def check_imports(self, imports: list[str]) -> None:
        """Refuse, with libextism's unknown-import text, a module importing a Navidrome host
        function this version does not define."""
        missing = [n for n in imports if n in _ALL_IMPORTS and n not in self.host_functions]
        if not missing:
            return
        name = missing[0]
        change = self.introduced_by("services", abi.host_function(name).service)
        lines = [(f"Unable to create Extism plugin: unknown import: extism:host/user::{name} "
                 "has not been defined"),
                 f'(Navidrome, on wazero: "{name}" is not exported in module "extism:host/user")']
        for n in missing:
            c = self.introduced_by("services", abi.host_function(n).service) or change
            lines.append(f"{n} is new in Navidrome {c.commit} ({_when(c)}); this host emulates "
                         f"navidrome={self.name!r}")
        error = LoadError(lines[0])  # libextism's text; the rest is nd-notebook's advice
        for line in lines[1:]:
            error.add_note(line)
        raise error

    def known_exports(self, exports) -> list[str]:
        """``exports`` without the capability exports this version does not call."""
        return [e for e in exports if e not in _ALL_EXPORTS or self.knows_export(e)]

    def not_called(self, export: str) -> NotCalledByTargetError:
        cap = abi.capability_of_export(export).name
        change = self.introduced_by("exports", export) or self.introduced_by("capabilities", cap)
        return NotCalledByTargetError(
            f"nd-notebook: Navidrome {self.name} does not call {export} ({cap} "
            f"{'capability' if change.capabilities else 'export'} new in {change.commit}, "
            f"{_when(change)})", export=export)

    def request_fields(self, struct: abi.Struct) -> tuple[abi.Field, ...]:
        """The fields of ``struct`` this version sends (fields added later left out)."""
        qualified = f"{struct.package}.{struct.name}"
        return tuple(f for f in struct.fields if self.knows_field(qualified, f.json))

    def __repr__(self) -> str:
        return f"<Navidrome {self.name}: {len(self.changes)} of {len(CHANGES)} changes after seed>"


def target(spec: str | Target | None = "head") -> Target:
    """The Target of ``"seed"``, ``"head"`` (None: head) or a ``"YYYY-MM-DD"`` date."""
    if isinstance(spec, Target):
        return spec
    if spec is None or spec == "head" or spec == HEAD:
        return Target("head", CHANGES)
    if spec == "seed" or spec == SEED:
        return Target("seed", ())
    if not isinstance(spec, str) or not _DATE.match(spec):
        raise ValueError(f"navidrome must be 'seed', 'head' or a date 'YYYY-MM-DD', not {spec!r}")
    try:
        datetime.date.fromisoformat(spec)
    except ValueError:
        raise ValueError(f"navidrome={spec!r} is no calendar date (YYYY-MM-DD)") from None
    if spec < SEED_DATE:
        raise ValueError(f"navidrome={spec!r} is before the seed API ({SEED}, {SEED_DATE}): "
                         "nd-notebook emulates the seed and later versions")
    return Target(spec, tuple(c for c in CHANGES if c.date is not None and c.date <= spec))


def targets() -> list[Target]:
    """Every distinct version, oldest first: seed, each change date, head."""
    dates = sorted({c.date for c in CHANGES if c.date is not None})
    out = [target("seed")] + [target(d) for d in dates] + [target("head")]
    return [t for i, t in enumerate(out) if i == 0 or t.changes != out[i - 1].changes
            or t.name == "head"]


def _when(change: Change) -> str:
    return change.date or "date not recorded, HEAD only"


_ALL_IMPORTS = frozenset(f.import_name for f in abi.HOST_FUNCTIONS)
_ALL_EXPORTS = frozenset(e.name for e in abi.EXPORTS)


def describe(spec: Any = "head") -> list[dict[str, Any]]:
    """The change table with an ``included`` column for version ``spec`` (for notebooks)."""
    t = target(spec)
    return [{"commit": c.commit, "date": c.date, "change": c.summary, "included": c in t.changes}
            for c in CHANGES]
