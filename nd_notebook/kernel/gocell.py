"""Just enough reading of a ``%%ndplugin`` cell's Go to complete and explain PDK names.

Not a Go parser: where the cursor is (magic line, Go body, ``%ndplugin`` line), which variables
the cell declares with a PDK type (parameters, ``var``, ``:=`` from a PDK call or composite
literal, ``range``), what a dotted expression such as ``req.Track.Artists[0]`` evaluates to,
and which struct a composite literal being written builds. Unknown things resolve to None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .pdkindex import PDKIndex, Symbol, index

__all__ = ["CellContext", "Resolver", "cell_context", "composite_literal_type", "expression_at",
           "scan_variables"]

_KEYWORDS = frozenset(["break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range", "return", "select", "struct", "switch", "type", "var"])

TypeRef = tuple[str, str]  # (Go type expression, package it is written in)


@dataclass(frozen=True)
class CellContext:
    """Where the cursor is: ``where`` is "magic", "line-magic" or "body" (the Go of a
    ``%%ndplugin`` cell or of a ``%%ndfile NAME.go`` cell).

    ``before`` is the magic line up to the cursor, or the Go body up to the cursor;
    ``after`` the rest of the Go body.
    """

    where: str
    before: str
    after: str = ""

    @property
    def body_before(self) -> str:
        return self.before


def cell_context(cell: str, line: int, column: int) -> CellContext | None:
    """The context of a cursor at ``line``/``column`` (0-based) of ``cell``, or None."""
    lines = cell.split("\n")
    if not 0 <= line < len(lines):
        return None
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    go_file = first is not None and _is_magic(lines[first], "%%ndfile") and \
        lines[first].split()[-1].endswith(".go")  # another Go file of the next plugin
    if first is not None and (_is_magic(lines[first], "%%ndplugin") or go_file):
        if line == first:
            return None if go_file else CellContext("magic", lines[line][:column])
        if line < first:
            return None
        body = "\n".join(lines[first + 1:])
        pos = sum(len(t) + 1 for t in lines[first + 1:line]) + column
        return CellContext("body", body[:pos], body[pos:])
    current = lines[line]
    indent = len(current) - len(current.lstrip())
    if _is_magic(current, "%ndplugin") and column >= indent:
        return CellContext("line-magic", current[indent:column])
    return None


def _is_magic(text: str, magic: str) -> bool:
    text = text.lstrip()
    return text.startswith(magic) and (len(text) == len(magic) or text[len(magic)].isspace())


# -- variables ---------------------------------------------------------------------------------
_NAMES = r"([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)"
_TYPED = re.compile(_NAMES + r"\s+((?:\*|\[\])*([a-z]\w*)\.[A-Z]\w*)\b")
_ASSIGN = re.compile(_NAMES + r"\s*:?=\s*&?\s*((?:\[\])?[A-Za-z_][\w.]*)\s*([({]|$)", re.MULTILINE)
_RANGE = re.compile(r"\bfor\s+\w+\s*,\s*([A-Za-z_]\w*)\s*:=\s*range\s+([A-Za-z_][\w.]*)")


def scan_variables(source: str, idx: PDKIndex | None = None) -> dict[str, TypeRef]:
    """Variables of ``source`` whose PDK type can be told, the latest declaration winning."""
    idx = idx or index()
    found = [(m.start(), "typed", m) for m in _TYPED.finditer(source)]
    found += [(m.start(), "assign", m) for m in _ASSIGN.finditer(source)]
    found += [(m.start(), "range", m) for m in _RANGE.finditer(source)]
    variables: dict[str, TypeRef] = {}
    resolver = Resolver(idx, variables)
    for _, kind, m in sorted(found, key=lambda f: f[0]):
        names = [n.strip() for n in m[1].split(",")]
        if any(n in _KEYWORDS for n in names):
            continue
        if kind == "typed":
            if m[3] in idx.packages:
                variables.update({n: (m[2], m[3]) for n in names if n != "_"})
        elif kind == "range":
            ref = resolver.type_of(m[2])
            element = _element(ref[0]) if ref else None
            if element is not None:
                variables[names[0]] = (element, ref[1])
        elif m[3] == "{":
            pkg = m[2].lstrip("[]").rpartition(".")[0]
            if pkg in idx.packages:
                variables[names[0]] = (m[2], pkg)
        elif m[3] == "(":
            sym = resolver.symbol(m[2])
            if sym is not None and sym.kind in ("func", "method"):
                for name, result in zip(names, sym.results):
                    if name != "_" and result != "error":
                        variables[name] = (result, sym.package)
        else:
            ref = resolver.type_of(m[2])
            if ref is not None:
                variables[names[0]] = ref
    return variables


# -- expressions -------------------------------------------------------------------------------
class Resolver:
    """Evaluates dotted Go expressions against the PDK index and the cell's variables."""

    def __init__(self, idx: PDKIndex, variables: dict[str, TypeRef]):
        self.idx = idx
        self.variables = variables

    def members(self, expr: str) -> dict[str, Symbol]:
        """What may follow ``expr.``: a package's members, or a value's fields and methods."""
        if expr in self.idx.packages and expr not in self.variables:
            return self.idx.members[expr]
        ref = self.type_of(expr)
        return self.idx.attributes(*ref) if ref else {}

    def symbol(self, expr: str) -> Symbol | None:
        """The PDK symbol ``expr`` names (``host.CacheGetString``, ``req.Name``, ``host``)."""
        segments = _segments(expr)
        if not segments:
            return None
        if len(segments) == 1:
            name = segments[0][0]
            return self.idx.packages.get(name) if name not in self.variables else None
        head = ".".join(s[0] + s[1] + s[2] for s in segments[:-1])
        name = segments[-1][0]
        if head in self.idx.packages and head not in self.variables:
            return self.idx.lookup(head, name)
        return self.members(head).get(name)

    def type_of(self, expr: str) -> TypeRef | None:
        """The type of the value ``expr`` evaluates to, or None."""
        segments = _segments(expr)
        if not segments:
            return None
        name, call, indexes = segments[0]
        state: TypeRef | None = None
        package = None
        if name in self.variables and not call:
            state = self.variables[name]
        elif name in self.idx.packages:
            package = name
        else:
            return None
        state = _indexed(state, indexes)
        for name, call, indexes in segments[1:]:
            if package is not None:
                sym = self.idx.lookup(package, name)
                package = None
            elif state is not None:
                sym = self.idx.attributes(*state).get(name)
            else:
                return None
            if sym is None:
                return None
            if sym.kind == "field":
                state = (sym.type, sym.package)
            elif sym.kind in ("func", "method") and call and sym.results:
                state = (sym.results[0], sym.package)
            else:
                return None
            state = _indexed(state, indexes)
        return state


def _segments(expr: str) -> list[tuple[str, str, str]]:
    """``a.b(x).c[0]`` -> [("a", "", ""), ("b", "(x)", ""), ("c", "", "[0]")]; [] if odd."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(expr):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "." and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    out = []
    for part in parts:
        m = re.fullmatch(r"([A-Za-z_]\w*)(\(.*?\))?((?:\[[^\]]*\])*)", part.strip(), re.DOTALL)
        if m is None:
            return []
        out.append((m[1], m[2] or "", m[3] or ""))
    return out


def _indexed(state: TypeRef | None, indexes: str) -> TypeRef | None:
    for _ in range(indexes.count("[")):
        if state is None:
            return None
        element = _element(state[0])
        state = (element, state[1]) if element is not None else None
    return state


def _element(type_expr: str) -> str | None:
    """Element type of a slice or map type expression."""
    t = type_expr.lstrip("*")
    if t.startswith("[]"):
        return t[2:]
    if t.startswith("map["):
        depth = 0
        for i, c in enumerate(t[3:], 3):
            depth += c == "["
            depth -= c == "]"
            if depth == 0:
                return t[i + 1:]
    return None


# -- composite literals ------------------------------------------------------------------------
_LITERAL_TYPE = re.compile(r"((?:\[\]|\*)*([a-z]\w*)\.[A-Z]\w*)\s*$")


def composite_literal_type(before: str, resolver: Resolver) -> TypeRef | None:
    """The struct a composite literal builds when ``before`` ends where a field key goes."""
    text = before.rstrip()
    if not text.endswith(("{", ",")):
        return None
    ref = _brace_type(text, len(text) if text.endswith("{") else None, resolver)
    if ref is None or _element(ref[0]) is not None:
        return None  # a slice or map literal: its elements are not keys
    return ref if resolver.idx.named_type(*ref) else None


def _brace_type(text: str, brace_end: int | None, resolver: Resolver) -> TypeRef | None:
    """Type of the literal whose ``{`` ends at ``brace_end`` (None: the innermost open one)."""
    if brace_end is None:
        brace_end = _open_brace(text)
        if brace_end is None:
            return None
    prefix = text[:brace_end - 1].rstrip()
    if (m := _LITERAL_TYPE.search(prefix)) is not None:
        return (m[1], m[2]) if m[2] in resolver.idx.packages else None
    if prefix.endswith(("{", ",")):  # an element whose type the enclosing literal elides
        outer = _brace_type(prefix, len(prefix) if prefix.endswith("{") else None, resolver)
        element = _element(outer[0]) if outer else None
        return (element.lstrip("*"), outer[1]) if element else None
    return None


def _open_brace(text: str) -> int | None:
    """End offset of the innermost unclosed ``{`` when it is the innermost open bracket."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        c = text[i]
        if c in ")]}":
            depth += 1
        elif c in "([{":
            if depth == 0:
                return i + 1 if c == "{" else None
            depth -= 1
    return None


def expression_at(text: str, pos: int) -> str:
    """The dotted expression around offset ``pos`` (``host.CacheGetString``, ``req.Name``)."""
    end = pos
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    m = re.search(r"(?:[A-Za-z_]\w*(?:\([^()]*\))?(?:\[[^\]]*\])*\.)*[A-Za-z_]\w*$", text[:end])
    return m[0] if m else ""
