"""Requests and outputs of capability exports, with Go's encoding/json rules.

``Call`` is what the capabilities room is given: ``call(export, request) -> output bytes``,
raising ``nd_notebook.errors.PluginCallError`` subclasses with Navidrome's texts. Outputs are
decoded the way Navidrome's ``callPluginFunction`` does: empty output is the zero value of the
output type, anything else is JSON-decoded into it (a decode failure is that Go error).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

from .. import abi
from ..errors import PluginCallError
from ..gojson import INT_RANGES, GoJSONError, decode_value, encode_struct, loads, zero_value
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
    lookup = lookup_in(package)
    for f in st.fields:
        if f.json in data:
            _check_type(export, f.py, data[f.json], f.type, lookup)
    return encode_struct(data, st.fields, lookup=lookup)


def _check_type(export: str, where: str, value: Any, go_type: str, lookup) -> None:
    """Refuse a value Navidrome could never send in a field of ``go_type`` (``name=5`` for a
    string was sent as ``"5"``): a TypeError naming the field, its Go type and the value."""
    if value is None or go_type in ("any", "interface{}"):
        return  # null decodes into any Go type (its zero value)
    if go_type.startswith("*"):
        _check_type(export, where, value, go_type[1:], lookup)
        return
    ok, kind = _type_ok(value, go_type)
    if ok is None:  # a struct
        if not isinstance(value, Mapping):
            _refuse(export, where, value, go_type, "a dict")
        st = lookup(go_type)
        by_name = {f.py: f for f in st.fields} | {f.json: f for f in st.fields}
        for key, inner in value.items():
            f = by_name.get(key)
            if f is not None:
                _check_type(export, f"{where}.{f.py}", inner, f.type, lookup)
        return
    if not ok:
        _refuse(export, where, value, go_type, kind)
    if go_type.startswith("[]") and go_type != "[]byte":
        for i, inner in enumerate(value):
            _check_type(export, f"{where}[{i}]", inner, go_type[2:], lookup)
    elif go_type.startswith("map[string]"):
        for key, inner in value.items():
            if not isinstance(key, str):
                _refuse(export, f"{where} key", key, "string", "a str")
            _check_type(export, f"{where}[{key!r}]", inner, go_type[len("map[string]"):], lookup)


def _type_ok(value: Any, go_type: str) -> tuple[bool | None, str]:
    """(whether ``value`` fits ``go_type``, what would), or (None, "") for a struct type."""
    if go_type == "string":
        return isinstance(value, str), "a str"
    if go_type == "bool":
        return isinstance(value, bool), "True or False"
    if go_type in INT_RANGES:
        low, high = INT_RANGES[go_type]
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return ok and low <= value <= high, f"a whole number from {low} to {high}"
    if go_type in ("float32", "float64"):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok, "a number"
    if go_type == "[]byte":
        return isinstance(value, (bytes, bytearray, str)), "bytes"
    if go_type.startswith("[]"):
        return isinstance(value, (list, tuple)), "a list"
    if go_type.startswith("map["):
        return isinstance(value, Mapping), "a dict"
    return None, ""


def _refuse(export: str, where: str, value: Any, go_type: str, kind: str) -> None:
    raise TypeError(f"{export}: {where} must be {kind} (Go {go_type}, as Navidrome sends it), "
                    f"not {type(value).__name__} {value!r}")


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
