"""The exact ``json.Unmarshal`` error text Navidrome logs when a plugin's output does not decode
into the capability's Go response type.

Go keeps the *first* error in document order (it goes on decoding after a mismatch) and words
it from its error context: the innermost struct being decoded and the stack of JSON field names
from the top (Go 1.20+)::

    json: cannot unmarshal string into Go struct field ImageInfo.images.size of type int32
    json: cannot unmarshal array into Go value of type capabilities.ArtistBiographyResponse

Leaf values (numbers, strings, bools, base64) are judged by ``gojson.decode_value``; this
module only adds the walk in document order and Go's wording. Type names: Navidrome's
host-side response structs live in its Go package ``capabilities`` and the shared ones in
``types`` [inferred from the PDK layout].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import abi
from ..gojson import GoJSONError, decode_value

_LEAVES = frozenset({"string", "bool", "int", "int32", "int64", "uint32", "uint64", "float32",
                     "float64", "[]byte"})
_VALUE = re.compile(r"^json: cannot unmarshal (.+?) into Go ")


def unmarshal_error(doc: Any, go_type: str, lookup: Callable[[str], abi.Struct]) -> str | None:
    """Go's first decode error for ``doc`` (already parsed JSON) into ``go_type``; None if it
    decodes."""
    try:
        _walk(doc, go_type, "", (), lookup)
    except _Found as e:
        return e.text
    return None


class _Found(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _walk(value: Any, go_type: str, struct: str, stack: tuple[str, ...], lookup) -> None:
    if value is None:  # null leaves any Go value unchanged
        return
    if go_type.startswith("*"):
        return _walk(value, go_type[1:], struct, stack, lookup)
    if go_type in _LEAVES:
        try:
            decode_value(value, go_type, "x", lookup)
        except GoJSONError as e:
            m = _VALUE.match(str(e))
            raise _Found(_text(m.group(1), go_type, struct, stack, lookup) if m else str(e))
        return
    if go_type.startswith("[]"):
        if not isinstance(value, list):
            raise _Found(_text(_kind(value), go_type, struct, stack, lookup))
        for item in value:
            _walk(item, go_type[2:], struct, stack, lookup)
        return
    if go_type.startswith("map[string]"):
        if not isinstance(value, dict):
            raise _Found(_text(_kind(value), go_type, struct, stack, lookup))
        for item in value.values():
            _walk(item, go_type[len("map[string]"):], struct, stack, lookup)
        return
    st = lookup(go_type)
    if not isinstance(value, dict):
        raise _Found(_text(_kind(value), go_type, struct, stack, lookup))
    for key, item in value.items():  # document order, as Go reads it
        field = next((f for f in st.fields if f.json == key), None) or next(
            (f for f in st.fields if f.json.lower() == key.lower()), None)
        if field is not None:
            _walk(item, field.type, st.name, (*stack, field.json), lookup)


def _text(value: str, go_type: str, struct: str, stack: tuple[str, ...], lookup) -> str:
    type_name = _type_string(go_type, lookup)
    if struct or stack:
        return (f"json: cannot unmarshal {value} into Go struct field {struct}."
                f"{'.'.join(stack)} of type {type_name}")
    return f"json: cannot unmarshal {value} into Go value of type {type_name}"


def _type_string(go_type: str, lookup) -> str:
    """Go's ``reflect.Type.String()`` of a field type."""
    for prefix in ("*", "[]", "map[string]"):
        if go_type.startswith(prefix):
            return prefix + _type_string(go_type[len(prefix):], lookup)
    if go_type in _LEAVES:
        return go_type
    st = lookup(go_type)
    return f"{'types' if st.package == 'types' else 'capabilities'}.{st.name}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")
