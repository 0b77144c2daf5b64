"""Generated JSON codecs of the bundled PDK: ``encodeX``/``decodeX`` per struct, from the ABI.

Each struct gets an encoder writing its fields in declaration order (``omitempty`` fields only
when non-empty, as encoding/json decides: ``""``, ``false``, ``0`` (and ``-0``), nil pointers
and empty slices and maps) and a decoder looking each key up in the struct's
key list (exactly, then case-insensitively: ``Decoder.Match``), skipping unknown ones. The shared ``types`` structs' codecs live in the
internal ``ndjson`` package (exported there as ``EncodeX``/``DecodeX`` so every package reaches
them); every other package's codecs are unexported functions in its ``nd_json.go``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import abi
from ..abi import Field

INTS = {"int": 64, "int8": 8, "int16": 16, "int32": 32, "int64": 64}
UINTS = {"uint": 64, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
FLOATS = {"float32": 32, "float64": 64}


@dataclass(frozen=True)
class Wire:
    """A struct that travels as JSON: a table struct or a host function's request/response."""

    name: str
    package: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Scope:
    """Where generated code lives: its package (``ndjson`` for the shared types' codecs)."""

    package: str

    @property
    def rt(self) -> str:
        """Qualifier of the runtime's identifiers."""
        return "" if self.package == "ndjson" else "ndjson."


def go_type_name(expr: str, package: str) -> str:
    """The type as Go's reflect prints it in errors: ``[]uint8``, ``types.ArtistRef``..."""
    if expr == "[]byte":
        return "[]uint8"
    for prefix in ("[]", "*", "map[string]"):
        if expr.startswith(prefix):
            return prefix + go_type_name(expr[len(prefix):], package)
    if expr in INTS or expr in UINTS or expr in FLOATS or expr in ("string", "bool"):
        return expr
    return ".".join(_struct_ref(expr, package))


def _struct_ref(expr: str, package: str) -> tuple[str, str]:
    """(package, name) of a struct named in ``package``, aliases resolved."""
    if "." in expr:
        pkg, name = expr.split(".")
        return pkg, name
    target = abi.ALIASES.get((package, expr))
    if target:
        pkg, name = target.split(".")
        return pkg, name
    return package, expr


def encoder_name(expr: str, package: str, scope: Scope) -> str:
    pkg, name = _struct_ref(expr, package)
    if pkg == "types":
        return f"{scope.rt}Encode{name}"
    return f"encode{name[0].upper()}{name[1:]}"


def decoder_name(expr: str, package: str, scope: Scope) -> str:
    pkg, name = _struct_ref(expr, package)
    if pkg == "types":
        return f"{scope.rt}Decode{name}"
    return f"decode{name[0].upper()}{name[1:]}"


def local_type(expr: str, package: str, scope: Scope) -> str:
    """The Go type expression as written in the scope's package."""
    for prefix in ("[]", "*", "map[string]"):
        if expr.startswith(prefix):
            return prefix + local_type(expr[len(prefix):], package, scope)
    if expr in INTS or expr in UINTS or expr in FLOATS or expr in ("string", "bool", "byte"):
        return expr
    pkg, name = _struct_ref(expr, package)
    if scope.package == "ndjson" or pkg != package:
        return f"{pkg}.{name}" if pkg != scope.package else name
    return expr


# ---- encoding ------------------------------------------------------------------------------


def encode_stmt(expr: str, value: str, package: str, scope: Scope) -> str:
    """One statement writing ``value`` (an addressable expression of type ``expr``)."""
    rt = scope.rt
    if expr == "string":
        return f"e.String({value})"
    if expr == "bool":
        return f"e.Bool({value})"
    if expr in INTS:
        return f"e.Int({value})" if expr == "int64" else f"e.Int(int64({value}))"
    if expr in UINTS:
        return f"e.Uint({value})" if expr == "uint64" else f"e.Uint(uint64({value}))"
    if expr in FLOATS:
        bits = FLOATS[expr]
        return f"e.Float({value}, 64)" if bits == 64 else f"e.Float(float64({value}), {bits})"
    if expr == "[]byte":
        return f"e.Bytes({value})"
    for prefix, helper in (("[]", "WriteSlice"), ("map[string]", "WriteMap"), ("*", "WritePtr")):
        if expr.startswith(prefix):
            inner = expr[len(prefix):]
            return f"{rt}{helper}(e, {value}, {encode_func(inner, package, scope)})"
    return f"{encoder_name(expr, package, scope)}(e, &{value})"


def encode_func(expr: str, package: str, scope: Scope) -> str:
    """A ``func(*Encoder, *T)`` value for element type ``expr``."""
    if not _is_builtin(expr):
        return encoder_name(expr, package, scope)
    stmt = encode_stmt(expr, "*x", package, scope)
    return f"func(e *{scope.rt}Encoder, x *{local_type(expr, package, scope)}) {{ {stmt} }}"


def _nonempty(x: Field, value: str) -> str:
    t = x.type
    if t == "string":
        return f'{value} != ""'
    if t == "bool":
        return value
    if t in INTS or t in UINTS or t in FLOATS:  # -0 counts as empty too
        return f"{value} != 0"
    if t.startswith(("[]", "map[")):
        return f"len({value}) != 0"
    if t.startswith("*"):
        return f"{value} != nil"
    raise ValueError(f"omitempty on struct field {x.go} ({t}) is never empty")


def encoder(s: Wire, scope: Scope) -> list[str]:
    name = encoder_name(s.name, s.package, scope).removeprefix(scope.rt)
    typ = local_type(s.name, s.package, scope)
    out = [f"// {name} writes {go_type_name(s.name, s.package)} as encoding/json does.",
           f"func {name}(e *{scope.rt}Encoder, v *{typ}) {{", "\te.BeginObject()"]
    for x in s.fields:
        if not re.fullmatch(r"[A-Za-z0-9]+", x.json):
            raise ValueError(f"JSON key {x.json!r} would need escaping")
        value = f"v.{x.go}"
        body = [f"e.Key(`\"{x.json}\":`)", encode_stmt(x.type, value, s.package, scope)]
        if x.omitempty:
            out += [f"\tif {_nonempty(x, value)} {{"] + [f"\t\t{b}" for b in body] + ["\t}"]
        else:
            out += [f"\t{b}" for b in body]
    return out + ["\te.EndObject()", "}"]


# ---- decoding ------------------------------------------------------------------------------


def decode_stmt(expr: str, target: str, package: str, scope: Scope) -> str:
    """One statement decoding into ``target`` (a pointer expression to a value of ``expr``)."""
    rt = scope.rt
    if expr == "string":
        return f"{rt}String(d, {target})"
    if expr == "bool":
        return f"{rt}Bool(d, {target})"
    if expr in INTS:
        return f'{rt}Int(d, {target}, {INTS[expr]}, "{expr}")'
    if expr in UINTS:
        return f'{rt}Uint(d, {target}, {UINTS[expr]}, "{expr}")'
    if expr in FLOATS:
        return f'{rt}Float(d, {target}, {FLOATS[expr]}, "{expr}")'
    if expr == "[]byte":
        return f"{rt}Bytes(d, {target})"
    for prefix, helper in (("[]", "Slice"), ("map[string]", "Map")):
        if expr.startswith(prefix):
            inner = expr[len(prefix):]
            return (f'{rt}{helper}(d, {target}, "{go_type_name(expr, package)}", '
                    f"{decode_func(inner, package, scope)})")
    if expr.startswith("*"):
        return f"{rt}Ptr(d, {target}, {decode_func(expr[1:], package, scope)})"
    return f"{decoder_name(expr, package, scope)}(d, {target})"


def decode_func(expr: str, package: str, scope: Scope) -> str:
    """A ``func(*Decoder, *T)`` value for element type ``expr``."""
    if not _is_builtin(expr):
        return decoder_name(expr, package, scope)
    stmt = decode_stmt(expr, "x", package, scope)
    return f"func(d *{scope.rt}Decoder, x *{local_type(expr, package, scope)}) {{ {stmt} }}"


def _names_var(s: Wire, scope: Scope) -> str:
    """The package variable listing a struct's JSON keys (what Decoder.Match looks keys up in)."""
    name = s.name[0].lower() + s.name[1:]
    return f"{name}Keys" if scope.package != "ndjson" else f"keys{s.name}"


def decoder(s: Wire, scope: Scope) -> list[str]:
    name = decoder_name(s.name, s.package, scope).removeprefix(scope.rt)
    typ = local_type(s.name, s.package, scope)
    rt = scope.rt
    out = [f"// {name} reads {go_type_name(s.name, s.package)} as encoding/json does.",
           f"func {name}(d *{rt}Decoder, v *{typ}) {{",
           f'\tif !d.BeginObject("{go_type_name(s.name, s.package)}") {{', "\t\treturn", "\t}"]
    if not s.fields:
        return out + ["\tfor d.NextField() {", "\t\td.Skip()", "\t}", "}"]
    names = ", ".join(f'"{x.json}"' for x in s.fields)
    out = [f"var {_names_var(s, scope)} = []string{{{names}}}", ""] + out
    out += ["\tfor d.NextField() {", "\t\td.Enter()",
            f"\t\tswitch d.Match({_names_var(s, scope)}) {{"]
    for i, x in enumerate(s.fields):
        out += [f"\t\tcase {i}:", f"\t\t\t{decode_stmt(x.type, f'&v.{x.go}', s.package, scope)}"]
    out += ["\t\tdefault:", "\t\t\td.Skip()", "\t\t}", "\t\td.Leave()", "\t}", "}"]
    return out


# ---- whole files ---------------------------------------------------------------------------


def codecs(structs: list[Wire], scope: Scope) -> list[str]:
    """Encoder and decoder of each struct."""
    body: list[str] = []
    for s in structs:
        body += encoder(s, scope) + [""] + decoder(s, scope) + [""]
    return body


def _is_builtin(expr: str) -> bool:
    if expr.startswith(("[]", "*", "map[")):
        return True
    return expr in INTS or expr in UINTS or expr in FLOATS or expr in ("string", "bool")
