"""hypothesis strategies of the requests Navidrome sends to capability exports, from the ABI.

``requests(export)`` draws a value for every field of the export's request struct with its Go
type and encodes it as Go's ``json.Marshal`` would (``omitempty`` fields left out when empty,
``[]byte`` as base64, nil slices and pointers as ``null``), so every example is a request
Navidrome could really send:

- strings: any unicode (no lone surrogates: Go would have replaced them), empty strings,
  real-world music names full of commas, slashes, quotes, accents and emoji (``MUSIC_NAMES``),
  artist credits joined by ``CREDIT_SEPARATORS`` (``"Nina Simone, Björk"``), and short
  strings of separators, escapes and multi-byte characters (``TOKENS``);
- integers anywhere in their Go type's range, with 0, -1, 1 and the bounds favoured;
- floats: finite values of float32/float64 (JSON has no NaN or infinity);
- lists (``[]types.ArtistRef``, ``[]types.SongRef``...) empty, nil or of a few items;
- pointers nil or set; nested structs recursively.

With ``navidrome="seed"`` (or a date) the fields that version does not send are left out
(``types.SongRef.durationMs``, ``TrackInfo.path``...; see ``nd_notebook.versions``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .. import abi, versions
from ..capabilities.codec import lookup_in
from ..gojson import encode_struct

__all__ = ["CREDIT_SEPARATORS", "MUSIC_NAMES", "TOKENS", "go_value", "requests"]

#: Names that break naive parsing: separators, quotes, escapes, scripts, emoji, whitespace.
MUSIC_NAMES = (
    "Nina Simone", "Björk", "Sigur Rós", "Motörhead", "AC/DC", "Guns N' Roses",
    "Crosby, Stills, Nash & Young", "Earth, Wind & Fire", "Simon & Garfunkel",
    "Tyler, the Creator", "The \"Weird Al\" Yankovic", "!!!", "Ø", "坂本龍一", "Кино",
    "محمد عبد الوهاب", "BTS (방탄소년단)", "Sunn O)))", "+/-", "C:\\Windows", "a\tb",
    "  leading and trailing  ", "Ke$ha", "50% Off", "?", "#1 Hits", "name=value&x=1",
    "<script>", "🎵", "\u200b", "a\nb", "100%", "Los Del Río", "Mötley Crüe",
)

#: Pieces that trip up splitting, escaping and byte-indexing code, joined into short strings.
TOKENS = ("a", "Z", " ", ",", ";", "/", "\\", "&", "'", '"', "%", "=", "?", "#", ":", ".", "-",
          "\n", "\t", "\x00", "é", "ß", "坂", "🎵", "\u200b", "\u202e", "(", ")", "[", "]")
#: Artist credits: a few names joined by one of the separators real tags use.
CREDIT_SEPARATORS = (",", ", ", " & ", ";", "; ", " / ", "/", " feat. ", " x ", " - ", " and ")
_CREDIT_NAMES = ("", "a", "Nina Simone", "Björk", "坂本龍一", "🎵")

_STRING = st.one_of(
    st.just(""),
    st.tuples(st.lists(st.sampled_from(_CREDIT_NAMES), min_size=2, max_size=4),
              st.sampled_from(CREDIT_SEPARATORS)).map(lambda t: t[1].join(t[0])),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join),
    st.sampled_from(MUSIC_NAMES),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)
_INT_BOUNDS = {
    "int": (-(2**63), 2**63 - 1), "int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
}


def requests(export: str, *, navidrome: str | versions.Target = "head") -> st.SearchStrategy:
    """A strategy of JSON-ready request dicts for capability export ``export``."""
    row = abi.export(export)  # KeyError for an unknown export
    if row.input is None:
        return st.just({})
    package = abi.capability(row.capability).package
    lookup = lookup_in(package)
    target = versions.target(navidrome)
    struct = lookup(row.input)
    return _struct_values(struct, lookup, target).map(
        lambda values: encode_struct(values, struct.fields, lookup=lookup))


def go_value(go_type: str, lookup=None, target: versions.Target | None = None
             ) -> st.SearchStrategy:
    """A strategy of Python values of Go type ``go_type`` (structs as dicts keyed by JSON name;
    encode them with ``gojson.encode_struct``/``encode_value``)."""
    lookup = lookup or abi.struct
    target = target or versions.target("head")
    if go_type.startswith("*"):
        return st.one_of(st.none(), go_value(go_type[1:], lookup, target))
    if go_type == "[]byte":
        return st.one_of(st.none(), st.binary(max_size=64))
    if go_type.startswith("[]"):
        item = go_value(go_type[2:], lookup, target)
        return st.one_of(st.none(), st.lists(item, max_size=4))
    if go_type.startswith("map[string]"):
        item = go_value(go_type[len("map[string]"):], lookup, target)
        return st.one_of(st.none(), st.dictionaries(_STRING, item, max_size=3))
    if go_type == "string":
        return _STRING
    if go_type == "bool":
        return st.booleans()
    if go_type in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[go_type]
        edges = [0, 1, -1, lo, hi] if lo < 0 else [0, 1, hi]  # 0 first: shrinks to it
        return st.one_of(st.sampled_from(edges), st.integers(lo, hi))
    if go_type in ("float32", "float64"):
        width = 32 if go_type == "float32" else 64
        return st.one_of(st.sampled_from([0.0, 1.0, -1.0]),
                         st.floats(width=width, allow_nan=False, allow_infinity=False))
    struct = lookup(go_type)
    return _struct_values(struct, lookup, target)


def _struct_values(struct: abi.Struct, lookup, target: versions.Target
                   ) -> st.SearchStrategy[dict[str, Any]]:
    fields = target.request_fields(struct)
    return st.fixed_dictionaries({f.json: st.deferred(lambda f=f: go_value(f.type, lookup, target))
                                  for f in fields})
