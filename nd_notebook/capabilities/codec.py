"""Requests and outputs of capability exports, with Go's encoding/json rules.

``Call`` is what the capabilities room is given: ``call(export, request) -> output bytes``,
raising ``nd_notebook.errors.PluginCallError`` subclasses with Navidrome's texts. Outputs are
decoded the way Navidrome's ``callPluginFunction`` does: empty output is the zero value of the
output type, anything else is JSON-decoded into it (a decode failure is that Go error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import abi
from ..errors import PluginCallError
from ..gojson import GoJSONError, decode_value, encode_struct, loads, zero_value
from .unmarshal import unmarshal_error

Call = Callable[[str, Any], bytes]


def request(export: str, values: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """The JSON request of ``export`` from JSON-named and/or snake_case fields (zero values
    filled, ``omitempty`` applied), ready to be sent."""
    row = abi.export(export)
    if row.input is None:
        return {}
    package = abi.capability(row.capability).package
    st = abi.struct(row.input, package=package)
    data = dict(values or {})
    by_name = {f.py: f for f in st.fields} | {f.json: f for f in st.fields}
    for key, value in fields.items():
        f = by_name.get(key)
        if f is None:
            raise TypeError(f"{export}: unknown field {key!r}; fields: "
                            f"{', '.join(x.py for x in st.fields)}")
        data[f.json] = value
    unknown = [k for k in data if k not in by_name]
    if unknown:
        raise TypeError(f"{export}: unknown field {unknown[0]!r}; fields: "
                        f"{', '.join(x.py for x in st.fields)}")
    data = {by_name[k].json: v for k, v in data.items()}
    return encode_struct(data, st.fields, lookup=lookup_in(package))


def invoke(call: Call, export: str, req: dict[str, Any] | None) -> Any:
    """Call ``export`` and decode its output with the ABI row's output type.

    Pointer and slice outputs decode ``null``/empty to None; a struct output to a dict with
    every field (zero values filled); ``bool``/``string`` outputs to False/"" when empty.
    """
    row = abi.export(export)
    out = call(export, req if req is not None else {})
    return decode_output(row, out)


def decode_output(row: abi.Export, out: bytes | None) -> Any:
    """Decode raw output bytes as Navidrome decodes them into ``row.output``."""
    if row.output is None:
        if out:
            try:
                problem = no_output_error(loads(out))
            except GoJSONError as e:
                problem = str(e)
            if problem is not None:
                raise PluginCallError(problem, export=row.name)
        return None
    if not out:
        return zero_value(row.output) if not _is_struct(row.output) else _zero_struct(row)
    package = abi.capability(row.capability).package
    top = row.output.lstrip("*")
    doc = None
    try:
        doc = loads(out)
        if doc is not None and _kind(doc) != _TOP_KINDS.get(top, "object"):
            # Navidrome's host-side types live in its Go package "capabilities".
            name = top if top in _TOP_KINDS else f"capabilities.{top}"
            raise GoJSONError(f"json: cannot unmarshal {_kind(doc)} into Go value of type {name}")
        return decode_value(doc, row.output, top, lookup_in(package))
    except GoJSONError as e:
        text = str(e)
        if doc is not None:  # a type mismatch: Go's first error in document order, its wording
            text = unmarshal_error(doc, row.output, lookup_in(package)) or text
        raise PluginCallError(text, export=row.name) from None


def no_output_error(doc: Any) -> str | None:
    """An export without an output is called with ``struct{}`` as its output type
    (``callPluginFunctionNoOutput``): a non-empty output must still decode into it, so only an
    object (any fields) or ``null`` passes. Go's error for anything else, or None."""
    if doc is None or isinstance(doc, dict):
        return None
    return f"json: cannot unmarshal {_kind(doc)} into Go value of type struct {{}}"


def lookup_in(package: str) -> Callable[[str], abi.Struct]:
    """Struct lookup resolving bare names in ``package`` first (``ImageInfo`` -> metadata)."""
    def lookup(name: str) -> abi.Struct:
        try:
            return abi.struct(name, package=package)
        except KeyError:
            return abi.struct(name)
    return lookup


def _is_struct(go_type: str) -> bool:
    return not go_type.startswith(("*", "[]", "map[")) and go_type not in _SCALARS


def _zero_struct(row: abi.Export) -> dict[str, Any]:
    package = abi.capability(row.capability).package
    return decode_value({}, row.output, row.output, lookup_in(package))


_TOP_KINDS = {"string": "string", "bool": "bool"}  # the non-struct output types of the ABI


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), "null")


_SCALARS = frozenset({"string", "bool", "int", "int32", "int64", "uint32", "uint64",
                      "float32", "float64", "[]byte"})
