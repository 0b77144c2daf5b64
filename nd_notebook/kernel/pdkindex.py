"""Every name of Navidrome's Go PDK, with its signature and Navidrome semantics, for the kernel.

Built once from the ABI tables (``nd_notebook.abi``: host functions with their wasm import,
permission, JSON and doc; structs with their fields; capabilities with their exports) and,
for the ``pdk`` package (Extism's Go PDK, which the tables do not describe) and the few names
the tables do not list, from the bundled PDK's Go source that the generator writes from them.
The completer and the inspector read only this index.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from .. import abi
from ..abi import Field, HostFunction, Struct

__all__ = ["PDKIndex", "Symbol", "index"]


@dataclass(frozen=True)
class Symbol:
    """One PDK name: a package, function, type, struct field, method or constant."""

    package: str
    name: str
    kind: str  # "package", "func", "struct", "interface", "type", "const", "field", "method"
    signature: str  # one line of Go, e.g. "func CacheGetString(key string) (string, bool, error)"
    doc: str = ""
    notes: tuple[str, ...] = ()  # Navidrome semantics: import, permission, version, exports
    detail: tuple[str, ...] = ()  # shown on a detailed inspection: JSON shapes, struct bodies
    results: tuple[str, ...] = ()  # result types of a func/method (for typing variables)
    type: str = ""  # Go type of a field or constant; target of an alias

    @property
    def qualified(self) -> str:
        return self.name if self.kind == "package" else f"{self.package}.{self.name}"


@functools.lru_cache(maxsize=1)
def index() -> PDKIndex:
    """The index, built on first use."""
    return PDKIndex()


@dataclass
class PDKIndex:
    """Packages, their members, and the fields and methods of their types."""

    packages: dict[str, Symbol] = field(default_factory=dict)
    members: dict[str, dict[str, Symbol]] = field(default_factory=dict)
    # (package, type name) -> field or method name -> Symbol
    attrs: dict[tuple[str, str], dict[str, Symbol]] = field(default_factory=dict)

    def __post_init__(self):
        from ..pdk import GO_DIR, MODULE
        from ..pdk.generate import PACKAGE_DOCS

        docs = dict(PACKAGE_DOCS, pdk="Package pdk is Extism's Go PDK as Navidrome re-exports "
                                      "it: input, output, config, vars, logging, memory, HTTP.")
        for name in ["host", "pdk", "types", *(c.package for c in abi.CAPABILITIES)]:
            self.packages[name] = Symbol(name, name, "package", f'import "{MODULE}/{name}"',
                                         doc=docs.get(name, ""))
            self.members[name] = {}
        for fn in abi.HOST_FUNCTIONS:
            self._add(_host_function(fn))
        for struct in abi.STRUCTS:
            self._add_struct(struct)
        for (package, name), target in abi.ALIASES.items():
            doc = abi.struct(target).doc
            self._add(Symbol(package, name, "type", f"type {name} = {target}", doc=doc,
                             type=target))
        for cap in abi.CAPABILITIES:
            self._add_capability(cap)
        _scan_go(self, GO_DIR)

    # -- lookups -------------------------------------------------------------------------
    def lookup(self, package: str, name: str) -> Symbol | None:
        return self.members.get(package, {}).get(name)

    def named_type(self, type_expr: str, package: str) -> tuple[str, str] | None:
        """``(package, Name)`` of the named type ``type_expr`` points at, aliases followed;
        ``*T`` and ``T`` alike. Slices and maps are not named types (None)."""
        bare = type_expr.lstrip("*")
        if bare.startswith(("[]", "map[")):
            return None
        pkg, _, name = bare.rpartition(".")
        pkg = pkg or package
        for _ in range(3):  # aliases chain at most twice (metadata.SongRef -> types.SongRef)
            sym = self.lookup(pkg, name)
            target_pkg, _, target = sym.type.lstrip("*").rpartition(".") if sym else ("", "", "")
            if sym is None or sym.kind != "type" or target_pkg not in self.members:
                break
            pkg, name = target_pkg, target
        return (pkg, name) if self.lookup(pkg, name) is not None else None

    def attributes(self, type_expr: str, package: str) -> dict[str, Symbol]:
        """Fields and methods reachable with ``.`` on a value of ``type_expr``."""
        named = self.named_type(type_expr, package)
        return self.attrs.get(named, {}) if named else {}

    # -- building ------------------------------------------------------------------------
    def _add(self, sym: Symbol) -> None:
        self.members.setdefault(sym.package, {}).setdefault(sym.name, sym)

    def _add_attr(self, package: str, type_name: str, sym: Symbol) -> None:
        self.attrs.setdefault((package, type_name), {}).setdefault(sym.name, sym)

    def _add_struct(self, s: Struct) -> None:
        body = [f"type {s.name} struct {{"]
        for f in s.fields:
            tag = f.json + (",omitempty" if f.omitempty else "")
            body.append(f'    {f.go} {f.type} `json:"{tag}"`')
            self._add_attr(s.package, s.name, _field(s, f))
        body.append("}")
        notes = (f"JSON object with keys: {', '.join(f.json for f in s.fields) or 'none'}",)
        if s.since == "head":
            notes += (_HEAD_ONLY,)
        self._add(Symbol(s.package, s.name, "struct", f"type {s.name} struct", doc=s.doc,
                         notes=notes, detail=tuple(body)))

    def _add_capability(self, cap: abi.Capability) -> None:
        pkg, iface = cap.package, abi.INTERFACES[cap.name]
        exports = abi.exports_of(cap.name)
        detected = f"capability {cap.name} is reported when the module exports any of: " + \
            ", ".join(e.name for e in exports)
        if cap.requires_all:
            rule = f"impl must implement every method of {iface}"
        else:
            rule = ("impl implements any subset of: " + ", ".join(e.provider for e in exports)
                    + "; the exports of the others answer -2 (function not implemented)")
        self._add(Symbol(pkg, "Register", "func", f"func Register(impl {iface})",
                         doc=f"Registers the plugin's implementation of the {cap.name} "
                             f"capability; call it from init() or main().",
                         notes=(rule, detected) + ((_HEAD_ONLY,) if cap.since == "head" else ())))
        if not cap.requires_all:
            self._add(Symbol(pkg, iface, "interface", f"type {iface} interface{{}}",
                             doc=f"Whatever implements one or more {cap.name} providers.",
                             notes=(rule,)))
        for e in exports:
            method = _method(e)
            self._add_attr(pkg, e.provider, method)
            if cap.requires_all and e.provider != exports[0].provider:
                continue
            own = [x for x in exports if x.provider == e.provider]
            lines = [f"type {e.provider} interface {{"]
            lines += [f"    {_method(x).signature.removeprefix('func ')}" for x in own]
            lines.append("}")
            doc = e.doc if len(own) == 1 else f"The {cap.name} capability: all its methods."
            notes = tuple(dict.fromkeys(n for x in own for n in _method(x).notes))
            self._add(Symbol(pkg, e.provider, "interface", f"type {e.provider} interface",
                             doc=doc, notes=notes, detail=tuple(lines)))


_HEAD_ONLY = "new at Navidrome HEAD: older Navidrome versions lack it"


def _host_function(fn: HostFunction) -> Symbol:
    params = ", ".join(f"{p.go} {p.type}" for p in fn.params)
    results = tuple(r.type for r in fn.results) + (("error",) if fn.returns_error else ())
    ret = results[0] if len(results) == 1 else f"({', '.join(results)})" if results else ""
    perm = (f"needs the '{fn.permission}' permission in manifest.json" if fn.permission
            else "always available: no permission needed")
    notes = [f"wasm import extism:host/user {fn.import_name}", perm]
    if fn.since == "head":
        notes.append(_HEAD_ONLY)
    if not fn.returns_error:
        notes.append("never returns an error")
    request = ", ".join(f'"{p.json}": {_wire(p.type)}' for p in fn.params)
    response = ", ".join(f'"{r.json}": {_wire(r.type)}' for r in fn.results)
    detail = (f"request JSON:  {{{request}}}",
              (f"response JSON: {{{response}}} (empty fields omitted); "
               f'{{"error": "..."}} on failure'))
    return Symbol("host", fn.pdk_name, "func", f"func {fn.pdk_name}({params}) {ret}".rstrip(),
                  doc=fn.doc, notes=tuple(notes), detail=detail, results=results)


def _wire(type_expr: str) -> str:
    """How a Go type travels in JSON, where that is not obvious."""
    return "base64 string" if type_expr.lstrip("*") == "[]byte" else type_expr


def _field(s: Struct, f: Field) -> Symbol:
    tag = f.json + (",omitempty" if f.omitempty else "")
    wire = _wire(f.type)
    notes = (f'JSON key "{f.json}"' + (f" ({wire})" if wire != f.type else "")
             + (", omitted when empty" if f.omitempty else ""),)
    if f.wire_omitempty != f.omitempty:
        notes += ("Navidrome's host omits it when empty" if f.wire_omitempty
                  else "Navidrome's host always sends it",)
    return Symbol(s.package, f.go, "field", f'{f.go} {f.type} `json:"{tag}"`',
                  doc=f.doc or f"Field of {s.package}.{s.name}.", notes=notes, type=f.type)


def _method(e: abi.Export) -> Symbol:
    cap = abi.capability_of_export(e.name)
    out = "error" if e.output is None else f"({e.output}, error)"
    sig = f"func {e.method}({e.input or ''}) {out}"
    notes = (f"Navidrome calls the export {e.name} ({cap.name}): "
             f"input {e.input or 'none'}, output {e.output or 'none'}".strip(),
             "an error fails the call (rc -1, the error text); unimplemented: -2")
    if e.since == "head":
        notes += (f"{e.name} is new at Navidrome HEAD: older Navidrome versions never call it",)
    results = (() if e.output is None else (e.output,)) + ("error",)
    return Symbol(cap.package, e.method, "method", sig, doc=e.doc, notes=notes,
                  results=results)


# -- the Go source of the bundled PDK: names the tables do not describe -------------------------
_FUNC = re.compile(r"^func (?:\((?P<recv>\w+) \*?(?P<type>\w+)\) )?(?P<name>[A-Z]\w*)"
                   r"\((?P<params>.*?)\) ?(?P<results>.*?) ?\{$")
_TYPE = re.compile(r"^type (?P<name>[A-Z]\w*) (?P<rest>.*?) ?\{?\}?$")
_CONST = re.compile(r"^\t?(?:const )?(?P<name>[A-Z]\w*)(?P<rest>[^=]*)(?:= ?(?P<value>.*))?$")


def _scan_go(idx: PDKIndex, go_dir) -> None:
    """Add the exported names of the bundled PDK's packages the tables did not give."""
    shim = {}  # name -> (doc, signature) in the go-pdk stand-in, whose comments say more
    methods = []
    for path in sorted((go_dir / "_extism-go-pdk").glob("*.go")):
        for kind, m, doc in _declarations(path.read_text()):
            if kind == "func" and m["recv"]:
                methods.append((m, doc))
            elif kind in ("func", "type", "const"):
                shim[m["name"]] = doc
    for package in idx.packages:
        for path in sorted((go_dir / package).glob("*.go")):
            for kind, m, doc in _declarations(path.read_text()):
                if kind == "func" and m["recv"]:
                    continue
                name = m["name"]
                doc = shim.get(name, doc) if package == "pdk" else doc
                if kind == "func":
                    results = _results(m["results"])
                    idx._add(Symbol(package, name, "func",
                                    f"func {name}({m['params']}) {m['results']}".rstrip(),
                                    doc=doc, results=results))
                elif kind == "type":
                    rest = m["rest"]
                    target = rest.removeprefix("= ") if rest.startswith("=") else ""
                    idx._add(Symbol(package, name, "type", f"type {name} {rest}".rstrip(),
                                    doc=doc, type=target))
                else:
                    decl = " ".join(m.group(0).removeprefix("const ").split())
                    idx._add(Symbol(package, name, "const", f"const {decl}", doc=doc))
    for m, doc in methods:  # methods of the shim's types, reached through pdk's aliases
        sig = f"func ({m['recv']} {m['type']}) {m['name']}({m['params']}) {m['results']}"
        idx._add_attr("pdk", m["type"], Symbol("pdk", m["name"], "method", sig.rstrip(),
                                               doc=doc, results=_results(m["results"])))


def _declarations(source: str):
    """``(kind, match, doc comment)`` of each exported top-level func, type and const."""
    doc: list[str] = []
    in_const = False
    for line in source.splitlines():
        if line.startswith("//") and not line.startswith("//go:"):
            doc.append(line[2:].strip())
            continue
        text = " ".join(doc)
        if in_const:
            if line.startswith(")"):
                in_const, doc = False, []
            elif (m := _CONST.match(line)) and line.startswith("\t"):
                yield "const", m, text
            continue
        if line.startswith("const ("):
            in_const = True
            continue
        if (m := _FUNC.match(line)) is not None:
            yield "func", m, text
        elif (m := _TYPE.match(line)) is not None:
            yield "type", m, text
        elif line.startswith("const ") and (m := _CONST.match(line)) is not None:
            yield "const", m, text
        if not line.startswith("//"):
            doc = []


def _results(text: str) -> tuple[str, ...]:
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        return tuple(t.strip() for t in text[1:-1].split(","))
    return (text,) if text else ()
