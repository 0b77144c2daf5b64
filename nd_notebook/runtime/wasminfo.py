"""Imports and exports of a wasm module, read straight from its binary sections.

Reading two sections is cheap; compiling the module just to list them (wasmtime.Module) costs
a second for a Go plugin, so the loader parses the binary itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


@dataclass(frozen=True)
class ModuleInfo:
    imports: tuple[tuple[str, str, str], ...]  # (module, name, kind)
    exports: tuple[tuple[str, str], ...]  # (name, kind)

    def imported_functions(self, module: str) -> list[str]:
        return [n for m, n, k in self.imports if m == module and k == "func"]

    @functools.cached_property
    def exported_functions(self) -> tuple[str, ...]:  # read on every call: made once
        return tuple(n for n, k in self.exports if k == "func")


class WasmFormatError(ValueError):
    pass


def module_info(wasm: bytes) -> ModuleInfo:
    """Parse the import and export sections of a wasm binary."""
    if wasm[:4] != b"\0asm":
        raise WasmFormatError("not a WebAssembly binary (missing \\0asm magic)")
    if wasm[4:8] != b"\x01\0\0\0":
        raise WasmFormatError("unsupported WebAssembly binary version (components are not plugins)")
    pos, imports, exports = 8, [], []
    while pos < len(wasm):
        section_id = wasm[pos]
        size, pos = _uleb(wasm, pos + 1)
        end = pos + size
        if end > len(wasm):
            raise WasmFormatError("truncated WebAssembly binary")
        if section_id == 2:
            imports = _imports(wasm, pos)
        elif section_id == 7:
            exports = _exports(wasm, pos)
        pos = end
    return ModuleInfo(tuple(imports), tuple(exports))


def _uleb(b: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(b):
            raise WasmFormatError("truncated WebAssembly binary")
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _name(b: bytes, pos: int) -> tuple[str, int]:
    n, pos = _uleb(b, pos)
    return b[pos:pos + n].decode("utf-8", "replace"), pos + n


def _limits(b: bytes, pos: int) -> int:
    flags, pos = _uleb(b, pos)
    _, pos = _uleb(b, pos)
    if flags & 1:
        _, pos = _uleb(b, pos)
    return pos


def _imports(b: bytes, pos: int) -> list[tuple[str, str, str]]:
    count, pos = _uleb(b, pos)
    out = []
    for _ in range(count):
        module, pos = _name(b, pos)
        name, pos = _name(b, pos)
        kind = b[pos]
        pos += 1
        if kind == 0:  # func: type index
            _, pos = _uleb(b, pos)
        elif kind == 1:  # table: reftype + limits
            pos = _limits(b, pos + 1)
        elif kind == 2:  # memory: limits
            pos = _limits(b, pos)
        elif kind == 3:  # global: valtype + mutability
            pos += 2
        elif kind == 4:  # tag: attribute + type index
            _, pos = _uleb(b, pos + 1)
        else:
            raise WasmFormatError(f"unknown import kind {kind}")
        out.append((module, name, _KINDS.get(kind, str(kind))))
    return out


def _exports(b: bytes, pos: int) -> list[tuple[str, str]]:
    count, pos = _uleb(b, pos)
    out = []
    for _ in range(count):
        name, pos = _name(b, pos)
        kind = b[pos]
        _, pos = _uleb(b, pos + 1)
        out.append((name, _KINDS.get(kind, str(kind))))
    return out
