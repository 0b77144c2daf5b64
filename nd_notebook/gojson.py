"""Go ``encoding/json`` semantics for the values that cross the plugin ABI.

Requests are decoded the way Navidrome's ``json.Unmarshal`` would (missing fields = zero values,
unknown fields ignored, case-insensitive key match, integral numbers for int fields, base64 for
``[]byte``), and responses are encoded the way ``json.Marshal`` would (declaration order,
``omitempty``, base64, ``null`` for nil, shortest float form, ``<``/``>``/``&`` escaped, compact).
Types are the Go type expressions of the ABI tables (see ``nd_notebook.abi.model``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import json
import math
import re
import struct as _struct
from collections.abc import Callable
from typing import Any, NamedTuple

from .abi.model import Field

INT_RANGES = {
    "int": (-(2**63), 2**63 - 1), "int64": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1), "int16": (-(2**15), 2**15 - 1), "int8": (-128, 127),
    "uint": (0, 2**64 - 1), "uint64": (0, 2**64 - 1), "uint32": (0, 2**32 - 1),
    "uint16": (0, 2**16 - 1), "uint8": (0, 255),
}
_FLOATS = ("float32", "float64")


class GoJSONError(ValueError):
    """A decode/encode failure; ``str()`` is the text Go's encoding/json would give."""


def _struct_lookup(name: str):
    from . import abi

    return abi.struct(name)


# --------------------------------------------------------------------------- decoding

def decode_doc(doc: Any, fields: tuple[Field, ...], type_name: str,
               lookup: Callable[[str], Any] = _struct_lookup, *,
               package: str | None = None) -> dict[str, Any]:
    """Decode a parsed JSON object into ``{field.py: value}`` for ``fields`` (zero values
    filled), as Go's json.Unmarshal into the struct ``type_name`` (its qualified Go name,
    ``host.CacheSetStringRequest``) would. ``package``: the Go package of the structs its
    fields name, for the type in an error (``host.HTTPRequest``); else their bare names."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise GoJSONError(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type {type_name}")
    where = _Where(type_name.rpartition(".")[2], (), package)
    decoded = _decode_fields(doc, fields, where, lookup)
    return {f.py: decoded[f.json] if f.json in decoded else zero_value(f.type) for f in fields}


def loads(raw: bytes | str) -> Any:
    """``json.loads`` with Go's syntax-error texts (Go's scanner runs only on a failure).

    As Go's decoder: each byte of invalid UTF-8 and each lone surrogate escape in a string
    becomes U+FFFD; nesting deeper than 10000 is ``invalid character '[' exceeded max depth``.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    text = data.decode("utf-8", _GO_REPLACE)
    try:
        value = json.loads(text, parse_float=_GoFloat, parse_constant=_reject_constant)
    except (json.JSONDecodeError, GoJSONError):
        raise GoJSONError(syntax_error(data) or "invalid JSON") from None
    except RecursionError:  # deeper than Python's stack allows, maybe still within Go's limit
        problem = syntax_error(data)
        if problem is not None:
            raise GoJSONError(problem) from None
        value = _loads_deep(text)
    return _replace_surrogates(value) if _SURROGATE_ESCAPE.search(data) else value


def json_depth(data: bytes) -> int:
    """The deepest nesting of objects/arrays in ``data`` (strings skipped), without parsing."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(1 if b in b"[{" else -1 for b in brackets), default=0)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def go_utf8(data: bytes) -> str:
    """Bytes as Go reads them into a string: one U+FFFD per byte that is not UTF-8."""
    return bytes(data).decode("utf-8", _GO_REPLACE)


def go_upper(text: str) -> str:
    """Go's ``strings.ToUpper``: each rune's simple upper case (``ß`` stays ``ß``)."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def go_lower(text: str) -> str:
    """Go's ``strings.ToLower``: each rune's simple lower case (``İ`` -> ``i``)."""
    return "".join(low if len(low := c.lower()) == 1 else low[0] for c in text)


def go_string(text: str) -> str:
    """A decoded JSON string as Go has it: each lone surrogate (``\\ud800``) is U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _go_replace(exc: UnicodeDecodeError) -> tuple[str, int]:
    # Go's utf8.DecodeRune yields one RuneError per byte it cannot decode.
    return "\ufffd" * (exc.end - exc.start), exc.end


_GO_REPLACE = "nd-notebook-go-replace"
codecs.register_error(_GO_REPLACE, _go_replace)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(value: Any) -> Any:
    """Lone surrogates (from ``\\udXXX`` escapes) become U+FFFD, in keys and values; iterative,
    so a 10000-deep document is fine."""
    def fix(v):
        return go_string(v) if isinstance(v, str) else v

    root = [fix(value)]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                node[i] = fix(item)
                if isinstance(item, (list, dict)):
                    stack.append(item)
        elif isinstance(node, dict):
            items = list(node.items())
            node.clear()
            for k, item in items:
                node[fix(k)] = fix(item)
                if isinstance(item, (list, dict)):
                    stack.append(item)
    return root[0]


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WS = re.compile(r"[ \t\n\r]*")


def _loads_deep(text: str) -> Any:
    """An iterative parser for valid JSON too deep for ``json.loads`` (checked by
    ``syntax_error`` first, so it does not report errors of its own)."""
    from json.decoder import scanstring

    stack: list[tuple[Any, str | None]] = []  # (container, pending key of an object)
    i = _WS.match(text, 0).end()
    while True:
        c = text[i]
        if c in "{[":
            stack.append(({} if c == "{" else [], None))
            i = _WS.match(text, i + 1).end()
            if text[i] in "}]":
                value, _ = stack.pop()
                i += 1
            else:
                if c == "{":
                    key, i = scanstring(text, i + 1)
                    i = _WS.match(text, i).end() + 1  # the colon
                    stack[-1] = (stack[-1][0], key)
                    i = _WS.match(text, i).end()
                continue
        elif c == '"':
            value, i = scanstring(text, i + 1)
        elif c in "tfn":
            value = {"t": True, "f": False, "n": None}[c]
            i += 4 if c != "f" else 5
        else:
            m = _NUMBER.match(text, i)
            value = _GoFloat(m.group()) if m.group(1) or m.group(2) else int(m.group())
            i = m.end()
        # attach value to its parent, then close every container that ends here
        while True:
            if not stack:
                return value
            container, key = stack[-1]
            if isinstance(container, dict):
                container[key] = value
            else:
                container.append(value)
            i = _WS.match(text, i).end()
            if text[i] == ",":
                i = _WS.match(text, i + 1).end()
                if isinstance(container, dict):
                    key, i = scanstring(text, i + 1)
                    i = _WS.match(text, i).end() + 1
                    stack[-1] = (container, key)
                    i = _WS.match(text, i).end()
                break
            value, _ = stack.pop()  # "}" or "]"
            i += 1


class _GoFloat(float):
    """A JSON number written with a fraction or exponent (Go refuses it for int fields), with
    its literal text (Go's errors quote it)."""

    def __new__(cls, text):
        obj = float.__new__(cls, text)
        obj.text = text if isinstance(text, str) else format_float(obj)
        return obj


def _reject_constant(name: str):
    raise GoJSONError(name)  # NaN/Infinity are not JSON: reported by syntax_error()


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


class _Where(NamedTuple):
    """Go's error context while decoding: the innermost struct, the JSON field names from the
    top, and the package that qualifies struct types in error texts (None: bare names)."""

    struct: str
    stack: tuple[str, ...]
    package: str | None

    def text(self) -> str:
        return ".".join((self.struct, *self.stack))

    def type_string(self, go_type: str) -> str:
        """Go's ``reflect.Type.String()`` of a field type."""
        for prefix in ("*", "[]", "map[string]"):
            if go_type.startswith(prefix):
                return prefix + self.type_string(go_type[len(prefix):])
        if go_type == "byte":  # reflect names it by what it aliases
            return "uint8"
        if go_type in INT_RANGES or go_type in _FLOATS or go_type in ("string", "bool"):
            return go_type
        if "." in go_type:  # a type of another package (types.SongRef): named as it is
            return go_type
        return f"{self.package}.{go_type}" if self.package else go_type


def _decode_fields(doc: dict, fields, where: _Where, lookup) -> dict[str, Any]:
    """The struct's fields the document sets, keyed by JSON name, read as Go reads them: keys
    in document order, each matched exactly or else case-insensitively (the first such field),
    a later key overwriting an earlier one, ``null`` leaving a non-nillable field as it was, and
    the first error in document order raised."""
    exact = {f.json: f for f in fields}
    folded: dict[str, Field] | None = None
    out: dict[str, Any] = {}
    for key, raw in doc.items():
        f = exact.get(key)
        if f is None:
            if folded is None:
                folded = {}
                for field in fields:
                    folded.setdefault(field.json.lower(), field)
            f = folded.get(key.lower())
            if f is None:
                continue  # unknown fields are ignored
        if raw is None and not _nillable(f.type):
            continue
        out[f.json] = _decode(raw, f.type, where._replace(stack=(*where.stack, f.json)), lookup)
    return out


def _nillable(go_type: str) -> bool:
    return go_type.startswith(("*", "[]", "map[")) or go_type in ("any", "interface{}")


_MISSING = object()


def zero_value(go_type: str) -> Any:
    """Go's zero value for a type, in its Python form."""
    if go_type == "string":
        return ""
    if go_type == "bool":
        return False
    if go_type in INT_RANGES:
        return 0
    if go_type in _FLOATS:
        return 0.0
    if go_type.startswith(("[]", "map[", "*")) or go_type in ("any", "interface{}"):
        return None
    return {}  # struct: decoded lazily as an empty dict (fields at zero)


def decode_value(raw: Any, go_type: str, where: str, lookup=_struct_lookup) -> Any:
    """Decode one JSON value into the Python form of ``go_type``; ``where`` names it in errors
    (``Struct.field.path``)."""
    struct, _, rest = where.partition(".")
    return _decode(raw, go_type, _Where(struct, tuple(rest.split(".")) if rest else (), None),
                   lookup)


def _decode(raw: Any, go_type: str, where: _Where, lookup) -> Any:
    if go_type in ("any", "interface{}"):
        return raw
    if raw is None:
        return zero_value(go_type) if not go_type.startswith("*") else None
    if go_type.startswith("*"):
        return _decode(raw, go_type[1:], where, lookup)
    if go_type == "[]byte":
        if isinstance(raw, list):  # a []uint8 may also be written as an array of numbers
            return bytes(_decode(v, "uint8", where, lookup) for v in raw)
        if not isinstance(raw, str):
            raise _type_error(raw, go_type, where)
        return go_base64(go_string(raw).encode("utf-8"))
    if go_type.startswith("[]"):
        if not isinstance(raw, list):
            raise _type_error(raw, go_type, where)
        return [_decode(v, go_type[2:], where, lookup) for v in raw]
    if go_type.startswith("map[string]"):
        if not isinstance(raw, dict):
            raise _type_error(raw, go_type, where)
        return {k: _decode(v, go_type[len("map[string]"):], where, lookup) for k, v in raw.items()}
    if go_type == "string":
        if not isinstance(raw, str):
            raise _type_error(raw, go_type, where)
        return raw
    if go_type == "bool":
        if not isinstance(raw, bool):
            raise _type_error(raw, go_type, where)
        return raw
    if go_type in INT_RANGES:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise _type_error(raw, go_type, where)
        lo, hi = INT_RANGES[go_type]
        if isinstance(raw, float) or not lo <= raw <= hi:
            raise _number_error(raw, go_type, where)
        return int(raw)
    if go_type in _FLOATS:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise _type_error(raw, go_type, where)
        value = float(raw)
        if math.isinf(value) or (go_type == "float32" and abs(value) > _MAX_FLOAT32):
            raise _number_error(raw, go_type, where)  # ParseFloat / OverflowFloat refuse it
        return value
    # a struct: its fields' errors name it as the innermost struct
    st = lookup(go_type)
    if not isinstance(raw, dict):
        raise _type_error(raw, go_type, where)
    package, _, _ = go_type.rpartition(".")  # its fields' types live in its own package
    inner = where._replace(struct=st.name, package=package or where.package)
    decoded = _decode_fields(raw, st.fields, inner, lookup)
    return {f.json: decoded[f.json] if f.json in decoded else zero_value(f.type)
            for f in st.fields}


_MAX_FLOAT32 = 3.4028234663852886e38


def _num_text(v) -> str:
    """The number as the document wrote it (Go quotes the literal: ``number 1e2``)."""
    if isinstance(v, _GoFloat):
        return v.text
    return format_float(v) if isinstance(v, float) else str(v)


def _number_error(raw, go_type: str, where: _Where) -> GoJSONError:
    return GoJSONError(f"json: cannot unmarshal number {_num_text(raw)} into Go struct field "
                       f"{where.text()} of type {where.type_string(go_type)}")


def _type_error(raw, go_type: str, where: _Where) -> GoJSONError:
    return GoJSONError(f"json: cannot unmarshal {_json_kind(raw)} into Go struct field "
                       f"{where.text()} of type {where.type_string(go_type)}")


_B64 = {c: i for i, c in enumerate(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def go_base64(src: bytes) -> bytes:
    """``base64.StdEncoding.Decode`` as encoding/json runs it on a ``[]byte`` field: padding
    required, CR and LF skipped anywhere, trailing bits ignored; a failure is its
    ``illegal base64 data at input byte N`` (N as Go counts it)."""
    try:
        return binascii.a2b_base64(src, strict_mode=True)  # canonical input: Go's answer too
    except binascii.Error:
        pass
    out = bytearray()
    si, n = 0, len(src)
    while si < n:  # Go's decodeQuantum, one 4-character quantum a turn
        quantum, dlen, trailing = [0, 0, 0, 0], 4, None
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                raise _b64_error(si - j)
            c = src[si]
            si += 1
            if c in _B64:
                quantum[j] = _B64[c]
                j += 1
                continue
            if c in b"\r\n":
                continue
            if c != 0x3D or j < 2:  # not '=', or padding too early
                raise _b64_error(si - 1)
            if j == 2:  # "==" expected: the second '=' after any newlines
                while si < n and src[si] in b"\r\n":
                    si += 1
                if si == n:
                    raise _b64_error(n)
                if src[si] != 0x3D:
                    raise _b64_error(si - 1)
                si += 1
            while si < n and src[si] in b"\r\n":
                si += 1
            if si < n:
                trailing = si
            dlen = j
            break
        value = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3]
        out += value.to_bytes(3, "big")[:dlen - 1]
        if trailing is not None:
            raise _b64_error(trailing)
    return bytes(out)


def _b64_error(offset: int) -> GoJSONError:
    return GoJSONError(f"illegal base64 data at input byte {offset}")


# --------------------------------------------------------------------------- encoding

def encode_object(values: dict[str, Any], fields: tuple[Field, ...], *,
                  force_omitempty: bool = False, lookup=_struct_lookup) -> bytes:
    """Encode ``{field.json: value}`` as Go would marshal the struct (compact UTF-8 bytes)."""
    return dumps(encode_struct(values, fields, force_omitempty=force_omitempty, lookup=lookup))


def dumps(value: Any) -> bytes:
    """Serialise an already-encoded JSON tree exactly like Go's json.Marshal."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8", "replace")


def _write(v: Any, out: list[str]) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, _RawNumber):
        out.append(v.text)
    elif isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise GoJSONError(f"json: unsupported value: {_go_special(v)}")
        out.append(format_float(v))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, str):
        out.append(_go_string(v))
    elif isinstance(v, dict):
        out.append("{")
        for i, (k, item) in enumerate(v.items()):
            if i:
                out.append(",")
            out.append(_go_string(str(k)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(v, (bytes, bytearray)):
        out.append(_go_string(base64.b64encode(bytes(v)).decode("ascii")))
    else:
        raise GoJSONError(f"json: unsupported type: {type(v).__name__}")


#: Printable ASCII Go writes as is: not '"', '\\', '<', '>' or '&' (most keys and values).
_PLAIN = re.compile(r"[ !#-%'-;=?-\[\]-~]*")


def _go_string(s: str) -> str:
    if _PLAIN.fullmatch(s):
        return f'"{s}"'
    # A lone surrogate (an undecodable byte) is written as Go writes invalid UTF-8: "\\ufffd".
    text = _SURROGATE.sub(r"\\ufffd", json.dumps(s, ensure_ascii=False))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class _RawNumber(float):
    """A float pre-formatted with Go's rules (emitted verbatim by ``dumps``)."""

    def __new__(cls, value: float, text: str):
        obj = float.__new__(cls, value)
        obj.text = text
        return obj


def encode_struct(values: dict[str, Any], fields, *, force_omitempty=False, lookup=_struct_lookup):
    out: dict[str, Any] = {}
    values = values or {}
    for f in fields:
        v = values.get(f.json, values.get(f.py, _MISSING) if f.py != f.json else _MISSING)
        if v is _MISSING:
            v = zero_value(f.type)
        if (f.wire_omitempty or force_omitempty) and is_empty(v, f.type):
            continue
        out[f.json] = encode_value(v, f.type, lookup)
    return out


def is_empty(v: Any, go_type: str) -> bool:
    """Go's omitempty test (a non-nil pointer to a zero value is NOT empty)."""
    if v is None:
        return True
    if go_type.startswith("*"):
        return False
    if go_type in ("string", "[]byte") or go_type.startswith(("[]", "map[")):
        return len(v) == 0
    if go_type == "bool":
        return v is False
    if go_type in INT_RANGES or go_type in _FLOATS:
        return v == 0
    return False  # structs are never empty for omitempty


def encode_value(v: Any, go_type: str, lookup=_struct_lookup) -> Any:
    if v is None:
        return None
    if go_type in ("any", "interface{}"):
        return v
    if go_type.startswith("*"):
        return encode_value(v, go_type[1:], lookup)
    if go_type == "[]byte":
        if isinstance(v, str):
            v = v.encode()
        return base64.b64encode(bytes(v)).decode("ascii")
    if go_type.startswith("[]"):
        return [encode_value(x, go_type[2:], lookup) for x in v]
    if go_type.startswith("map[string]"):
        inner = go_type[len("map[string]"):]
        return {k: encode_value(v[k], inner, lookup) for k in sorted(v)}
    if go_type == "string":
        return str(v)
    if go_type == "bool":
        return bool(v)
    if go_type in INT_RANGES:
        return int(v)
    if go_type in _FLOATS:
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            raise GoJSONError(f"json: unsupported value: {_go_special(f)}")
        return _RawNumber(f, format_float(f, 32 if go_type == "float32" else 64))
    st = lookup(go_type)
    return encode_struct(v, st.fields, lookup=lookup)


def _go_special(f: float) -> str:
    return "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")


def format_float(f: float, bits: int = 64) -> str:
    """Go's json float formatting: shortest round-trip, 'e' form outside [1e-6, 1e21)."""
    if bits == 32:
        f32 = _struct.unpack("f", _struct.pack("f", f))[0]
        for p in range(1, 10):
            s = f"{f32:.{p}g}"
            if _struct.unpack("f", _struct.pack("f", float(s)))[0] == f32:
                break
        f = float(s)
        shortest = s
    else:
        shortest = repr(f)
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        mant, _, exp = f"{float(shortest):e}".partition("e")
        # Use the shortest digits, then Go's exponent form (e-07 -> e-7, e+21 stays e+21).
        digits = shortest.replace("-", "").replace(".", "").lstrip("0")
        digits = digits.split("e")[0].rstrip("0") or "0"
        e = int(exp)
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        sign = "-" if f < 0 else ""
        es = f"{'+' if e >= 0 else '-'}{abs(e):02d}"
        if es[1] == "0" and len(es) == 3:
            es = es[0] + es[2]
        return f"{sign}{mant}e{es}"
    # Plain form: integers without ".0", otherwise the shortest repr in positional notation.
    if f == int(f) and a < 1e21:
        return str(int(f))
    text = shortest
    if "e" in text:
        text = f"{float(text):f}".rstrip("0")
    return text


# --------------------------------------------------------------------------- Go texts

def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (what ``%q`` prints); surrogate-escaped bytes print as ``\\xNN``."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif ch in _GO_CONTROL_ESCAPES:
            out.append(_GO_CONTROL_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_CONTROL_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                       "\t": "\\t", "\v": "\\v"}


# -- syntax (Go's scanner, for its exact error texts) ---------------------------------------

_MAX_DEPTH = 10000
_SPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}


def _quote_char(c: int) -> str:
    """Go's ``quoteChar``: how a byte is shown in a syntax error."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(c))[1:-1] + "'"


def syntax_error(data: bytes) -> str | None:
    """Go's ``checkValid``: the first syntax error's text, or None when ``data`` is JSON."""
    stack: list[str] = []  # "key" | "value" (object) | "array"
    i, n = 0, len(data)

    def bad(c: int, context: str) -> str:
        return f"invalid character {_quote_char(c)} {context}"

    def skip_space(j: int) -> int:
        while j < n and data[j] in _SPACE:
            j += 1
        return j

    expect = "value"  # value | value_or_end | key_or_end | key | after
    while True:
        i = skip_space(i)
        if i >= n:
            return None if expect == "after" and not stack else "unexpected end of JSON input"
        c = data[i]
        if expect == "after":
            if not stack:
                return bad(c, "after top-level value")
            top = stack[-1]
            if top == "key":
                if c != ord(":"):
                    return bad(c, "after object key")
                stack[-1] = "value"
                expect = "value"
            elif top == "value":
                if c == ord(","):
                    stack[-1] = "key"
                    expect = "key"
                elif c == ord("}"):
                    stack.pop()
                else:
                    return bad(c, "after object key:value pair")
            else:
                if c == ord(","):
                    expect = "value"
                elif c == ord("]"):
                    stack.pop()
                else:
                    return bad(c, "after array element")
            i += 1
            continue
        if expect == "key_or_end" and c == ord("}"):
            stack.pop()
            expect, i = "after", i + 1
            continue
        if expect == "value_or_end" and c == ord("]"):
            stack.pop()
            expect, i = "after", i + 1
            continue
        if expect in ("key", "key_or_end"):
            if c != ord('"'):
                return bad(c, "looking for beginning of object key string")
            i, problem = _scan_string(data, i + 1)
            if problem:
                return problem
            expect = "after"
            continue
        # a value
        if c == ord("{") or c == ord("["):
            if len(stack) >= _MAX_DEPTH:
                return bad(c, "exceeded max depth")  # Go's pushParseState
            stack.append("key" if c == ord("{") else "array")
            expect, i = ("key_or_end" if c == ord("{") else "value_or_end"), i + 1
            continue
        if c == ord('"'):
            i, problem = _scan_string(data, i + 1)
        elif c == ord("-") or c in _DIGITS:
            i, problem = _scan_number(data, i)
        elif c in _LITERALS:
            i, problem = _scan_literal(data, i, _LITERALS[c])
        else:
            return bad(c, "looking for beginning of value")
        if problem:
            return problem
        expect = "after"


def _scan_string(data: bytes, i: int) -> tuple[int, str | None]:
    n = len(data)
    while i < n:
        c = data[i]
        if c == ord('"'):
            return i + 1, None
        if c == ord("\\"):
            i += 1
            e = data[i] if i < n else ord(" ")  # Go feeds a space at end of input
            if e == ord("u"):
                for _ in range(4):
                    i += 1
                    h = data[i] if i < n else ord(" ")
                    if h not in _HEX:
                        return i, (f"invalid character {_quote_char(h)} "
                                   "in \\u hexadecimal character escape")
            elif e not in b'bfnrt\\/"':
                return i, f"invalid character {_quote_char(e)} in string escape code"
        elif c < 0x20:
            return i, f"invalid character {_quote_char(c)} in string literal"
        i += 1
    return i, "unexpected end of JSON input"


def _scan_number(data: bytes, i: int) -> tuple[int, str | None]:
    """One number; at end of input Go's scanner sees a space (``'-'`` alone: ``' '`` error)."""
    n = len(data)

    def at(j: int) -> int:
        return data[j] if j < n else ord(" ")

    def bad(j: int, context: str) -> tuple[int, str]:
        return j, f"invalid character {_quote_char(at(j))} {context}"

    if at(i) == ord("-"):
        i += 1
        if at(i) not in _DIGITS:
            return bad(i, "in numeric literal")
    if at(i) == ord("0"):
        i += 1
    else:
        while at(i) in _DIGITS:
            i += 1
    if at(i) == ord("."):
        i += 1
        if at(i) not in _DIGITS:
            return bad(i, "after decimal point in numeric literal")
        while at(i) in _DIGITS:
            i += 1
    if at(i) in (ord("e"), ord("E")):
        i += 1
        if at(i) in (ord("+"), ord("-")):
            i += 1
        if at(i) not in _DIGITS:
            return bad(i, "in exponent of numeric literal")
        while at(i) in _DIGITS:
            i += 1
    return i, None


def _scan_literal(data: bytes, i: int, word: bytes) -> tuple[int, str | None]:
    for k in range(1, len(word)):
        j = i + k
        c = data[j] if j < len(data) else ord(" ")
        if c != word[k]:
            return j, (f"invalid character {_quote_char(c)} in literal "
                       f"{word.decode()} (expecting {_quote_char(word[k])})")
    return i + len(word), None
