"""Section-level edits of a wasm module, for memory snapshots (runtime/snapshot.py).

Two rewrites, both leaving every existing function, type, global and segment index as it was
(functions, types and exports are appended, never inserted), so calls, the element section,
the ``name`` section and code offsets inside function bodies stay valid:

- :func:`with_capture`: the module plus an export ``__nd_capture`` that copies its whole linear
  memory and the value of every global it defines into an Extism block and makes it the call
  output (the module's own ``extism:host/env`` imports ``alloc``, ``store_u64``,
  ``output_set`` do the copying, so the snapshot is read from a real libextism instance);
- :func:`from_snapshot`: the module whose data segments hold a captured memory and whose
  mutable globals start at their captured values, its init exports dropped and an export
  ``__nd_reseed`` added that refills the given byte ranges from WASI ``random_get`` (also
  exported as ``_start`` when that is allowed: see :func:`_may_be_command`).

No well-kept Python library rewrites wasm binaries (wasmtime-py only parses text), and these
edits touch five sections, so they are written here against the binary format
(WebAssembly core spec 1.0/2.0, section 5).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .wasminfo import WasmFormatError, _limits, _name, _uleb

__all__ = ["CAPTURE_EXPORT", "GLOBAL_EXPORT_PREFIX", "RESEED_EXPORT", "Layout",
           "NotSnapshottable", "from_snapshot", "function_names", "layout", "reseed_touches",
           "with_capture", "with_global_exports"]

CAPTURE_EXPORT = "__nd_capture"
GLOBAL_EXPORT_PREFIX = "__nd_g"
RESEED_EXPORT = "__nd_reseed"

_I32, _I64, _F32, _F64 = 0x7F, 0x7E, 0x7D, 0x7C
_ENV = "extism:host/env"
_WASI = "wasi_snapshot_preview1"
#: Gaps of zero bytes shorter than this stay inside one data segment.
_GAP = 64


class NotSnapshottable(ValueError):
    """The module's shape rules a snapshot out (the message says why)."""


@dataclass
class Layout:
    """What the rewrites need to know about a module."""

    sections: list[tuple[int, bytes]]  # (id, payload) in file order
    types: list[bytes]  # each encoded functype (0x60 ...)
    imported_funcs: dict[tuple[str, str], int]  # (module, name) -> function index
    n_imported_funcs: int
    n_defined_funcs: int
    globals: list[tuple[int, bool, bytes]]  # defined globals: (valtype, mutable, init expr)
    memory_limits: tuple[int, int | None]  # (min pages, max pages)

    def payload(self, section_id: int) -> bytes | None:
        return next((p for i, p in self.sections if i == section_id), None)


def layout(wasm: bytes) -> Layout:
    """Parse the sections the rewrites touch; :class:`NotSnapshottable` names what is missing."""
    sections = split_sections(wasm)
    ids = [i for i, _ in sections]
    if 8 in ids:
        raise NotSnapshottable("the module has a start function")
    types = _types(dict(sections).get(1, b"\0"))
    imported, n_imported, imported_globals, imported_memory = _imports(dict(sections).get(2, b"\0"))
    if imported_globals:
        raise NotSnapshottable("the module imports globals")
    if imported_memory:
        raise NotSnapshottable("the module imports its memory")
    memories = _vector(dict(sections).get(5, b"\0"))
    if memories[0] != 1:
        raise NotSnapshottable(f"the module defines {memories[0]} memories (one expected)")
    flags, p = _uleb(memories[1], 0)
    minimum, p = _uleb(memories[1], p)
    maximum = _uleb(memories[1], p)[0] if flags & 1 else None
    if flags & ~1:
        raise NotSnapshottable("the module's memory is shared or 64-bit")
    n_defined = _vector(dict(sections).get(3, b"\0"))[0]
    return Layout(sections, types, imported, n_imported, n_defined,
                  _globals(dict(sections).get(6, b"\0")), (minimum, maximum))


def split_sections(wasm: bytes) -> list[tuple[int, bytes]]:
    """``(id, payload)`` of each section of a module, in file order."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise WasmFormatError("not a WebAssembly 1.0 module")
    sections, pos = [], 8
    while pos < len(wasm):
        size, start = _uleb(wasm, pos + 1)
        sections.append((wasm[pos], wasm[start:start + size]))
        pos = start + size
    return sections


def with_capture(wasm: bytes) -> bytes:
    """The module plus the ``__nd_capture`` export (see the module docs)."""
    lay = layout(wasm)
    alloc, store, output = (_import(lay, _ENV, n) for n in ("alloc", "store_u64", "output_set"))
    type_index, types = _type_index(lay.types, b"\x60\x00\x01" + bytes([_I32]))
    n_globals = len(lay.globals)
    body = bytearray()
    # n = memory.size << 16; blk = alloc(n + 8 * globals)
    body += b"\x3f\x00\xad" + b"\x42" + _sleb(16) + b"\x86" + b"\x21\x00"
    body += b"\x20\x00\x42" + _sleb(8 * n_globals) + b"\x7c\x10" + _leb(alloc) + b"\x21\x01"
    # for i = 0; i < n; i += 8: store_u64(blk + i, i64.load(i))
    body += b"\x02\x40\x03\x40"
    body += b"\x20\x02\x20\x00\x5a\x0d\x01"
    body += b"\x20\x01\x20\x02\x7c" + b"\x20\x02\xa7\x29\x03\x00" + b"\x10" + _leb(store)
    body += b"\x20\x02\x42\x08\x7c\x21\x02\x0c\x00\x0b\x0b"
    for k, (valtype, _, _) in enumerate(lay.globals):
        body += b"\x20\x01\x20\x00\x7c\x42" + _sleb(8 * k) + b"\x7c"
        body += b"\x23" + _leb(k) + _to_i64(valtype) + b"\x10" + _leb(store)
    body += b"\x20\x01\x20\x00\x42" + _sleb(8 * n_globals) + b"\x7c\x10" + _leb(output)
    body += b"\x41\x00\x0b"
    code = b"\x01\x03\x7e" + bytes(body)  # one local group: 3 x i64 (n, blk, i)
    return _encode(_with_function(lay, types, type_index, code, (CAPTURE_EXPORT,)))


def with_global_exports(wasm: bytes) -> bytes:
    """The module exporting each global it defines as ``__nd_g<k>`` (for reading them)."""
    lay = layout(wasm)
    entries = _export_entries(lay.payload(7) or b"\0")
    entries += [(f"{GLOBAL_EXPORT_PREFIX}{k}",
                 _name_bytes(f"{GLOBAL_EXPORT_PREFIX}{k}") + b"\x03" + _leb(k))
                for k in range(len(lay.globals))]
    sections = list(lay.sections)
    if not any(i == 7 for i, _ in sections):
        sections.insert(_position(sections, 7), (7, b"\0"))
    return _encode([(i, _vector_bytes(entries) if i == 7 else p) for i, p in sections])


def function_names(wasm: bytes) -> list[str]:
    """The function names of the module's ``name`` section (empty without one)."""
    return list(function_name_map(wasm).values())


def function_name_map(wasm: bytes) -> dict[int, str]:
    """Function index -> name, from the module's ``name`` section (empty without one)."""
    pos = 8
    while pos < len(wasm):
        size, start = _uleb(wasm, pos + 1)
        if wasm[pos] == 0:
            title, p = _name(wasm, start)
            if title == "name":
                return _names(wasm, p, start + size)
        pos = start + size
    return {}


def _names(wasm: bytes, pos: int, end: int) -> dict[int, str]:
    while pos < end:
        kind = wasm[pos]
        size, pos = _uleb(wasm, pos + 1)
        if kind == 1:
            count, p = _uleb(wasm, pos)
            out = {}
            for _ in range(count):
                index, p = _uleb(wasm, p)
                out[index], p = _name(wasm, p)
            return out
        pos += size
    return {}


def from_snapshot(wasm: bytes, memory: bytes, globals: list[int],
                  reseed: Iterable[tuple[int, int]], drop_exports: Iterable[str]) -> bytes:
    """The module started from a captured ``memory`` and ``globals`` (their raw 64-bit
    values, in definition order), without ``drop_exports``, with ``__nd_reseed``."""
    lay = layout(wasm)
    if len(memory) % 65536:
        raise ValueError("the captured memory is not a whole number of pages")
    if len(globals) != len(lay.globals):
        raise ValueError("one captured value per defined global expected")
    for i, payload in lay.sections:
        if i == 11 and _has_passive_segment(payload):
            raise NotSnapshottable("the module has passive data segments")
    reseed = list(reseed)
    if reseed:
        random_get = _import(lay, _WASI, "random_get")
    type_index, types = _type_index(lay.types, b"\x60\x00\x00")
    body = bytearray(_touch_loop(lay))
    for address, length in reseed:
        body += b"\x41" + _sleb(address) + b"\x41" + _sleb(length)
        body += b"\x10" + _leb(random_get) + b"\x1a"
    code = b"\x02\x03\x7e\x01\x7f" + bytes(body) + b"\x0b"  # locals: i, n, entry: i64; a: i32
    segments = list(_segments(memory))
    pages = len(memory) // 65536
    maximum = lay.memory_limits[1]
    replaced = {
        5: b"\x01" + (b"\x01" + _leb(pages) + _leb(maximum) if maximum is not None
                      else b"\x00" + _leb(pages)),
        6: _vector_bytes(_global_entry(t, m, init, value)
                         for (t, m, init), value in zip(lay.globals, globals, strict=True)),
        11: _vector_bytes(b"\x00\x41" + _sleb(offset) + b"\x0b" + _leb(len(data)) + data
                          for offset, data in segments),
        12: _leb(len(segments)),
    }
    dropped = set(drop_exports)
    sections = []
    for i, payload in lay.sections:
        if i == 7:
            payload = _vector_bytes(e for e in _export_entries(payload) if e[0] not in dropped)
        sections.append((i, replaced.get(i, payload)))
    if not any(i == 11 for i, _ in sections):
        sections.insert(_position(sections, 11), (11, replaced[11]))
    lay = Layout(sections, lay.types, lay.imported_funcs, lay.n_imported_funcs,
                 lay.n_defined_funcs, lay.globals, lay.memory_limits)
    names = (RESEED_EXPORT, "_start") if _may_be_command(lay) else (RESEED_EXPORT,)
    sections = _with_function(lay, types, type_index, code, names)
    return _encode(_keep_code_offset(wasm, sections))


def reseed_touches(wasm: bytes) -> bool:
    """Whether the ``__nd_reseed`` of :func:`from_snapshot` for this module reads a touch list
    from its call input (it needs the module to import Extism's ``input_length`` and
    ``input_load_u64``, as every go-pdk module does)."""
    return bool(_touch_loop(layout(wasm)))


def _touch_loop(lay: Layout) -> bytes:
    """The reseed's first part: for each 64-bit entry of the call input, an address in its low
    32 bits: an even address gets the 32-bit value of the high bits stored (the value memory
    holds there: nothing changes, but the instance's first access to that page is a write);
    an odd one, the address less one, is read (its page and the kernel's fault-around window
    mapped ahead). runtime/pagetouch.py says why. Empty input: nothing touched."""
    try:
        length, load = (_import(lay, _ENV, n) for n in ("input_length", "input_load_u64"))
    except NotSnapshottable:
        return b""
    # n = input_length(); for i = 0; i < n; i += 8:
    #   e = input_load_u64(i); a = (i32) e
    #   if a & 1: drop(load32(a ^ 1)) else: store32(a, e >> 32)
    return (b"\x10" + _leb(length) + b"\x21\x01"
            + b"\x02\x40\x03\x40" + b"\x20\x00\x20\x01\x5a\x0d\x01"
            + b"\x20\x00\x10" + _leb(load) + b"\x22\x02\xa7\x22\x03"
            + b"\x41\x01\x71\x04\x40"
            + b"\x20\x03\x41\x01\x73\x28\x02\x00\x1a"
            + b"\x05"
            + b"\x20\x03\x20\x02\x42\x20\x88\xa7\x36\x02\x00"
            + b"\x0b"
            + b"\x20\x00\x42\x08\x7c\x21\x00\x0c\x00\x0b\x0b")


def _may_be_command(lay: Layout) -> bool:
    """Whether the reseed may also be exported as ``_start``: libextism links every module by
    name before it instantiates the main one for the call, and wasmtime's linker instantiates
    a module without ``_start`` (a reactor) right there, so each instance would map and
    initialise its memory twice; a module with ``_start`` (a command) is only linked. Nothing
    calls it: the exports a plugin call reaches are those of the module the author built.
    wasmtime refuses a command that is also a reactor or exports a table or a global."""
    kinds = {name: raw[len(_name_bytes(name))]
             for name, raw in _export_entries(lay.payload(7) or b"\0")}
    return "_start" not in kinds and "_initialize" not in kinds and all(
        kind == 0 or (kind, name) == (2, "memory") for name, kind in kinds.items())


# -- building blocks -------------------------------------------------------------------------

def _with_function(lay: Layout, types: list[bytes], type_index: int, code: bytes,
                   exports: tuple[str, ...]) -> list[tuple[int, bytes]]:
    """The sections of ``lay`` with one function appended and exported under ``exports``."""
    index = lay.n_imported_funcs + lay.n_defined_funcs
    entries = _export_entries(lay.payload(7) or b"\0")
    entries += [(name, _name_bytes(name) + b"\x00" + _leb(index)) for name in exports]
    new = {
        1: _vector_bytes(types),
        3: _append_vector(lay.payload(3) or b"\0", _leb(type_index)),
        7: _vector_bytes(entries),
        10: _append_vector(lay.payload(10) or b"\0", _leb(len(code)) + code),
    }
    sections = list(lay.sections)
    for section_id in (1, 3, 7, 10):
        if not any(i == section_id for i, _ in sections):
            sections.insert(_position(sections, section_id), (section_id, b"\0"))
    return [(i, new.get(i, payload)) for i, payload in sections]


def _keep_code_offset(original: bytes, sections: list[tuple[int, bytes]]) -> list:
    """``sections`` with the first function body at the same file offset as in ``original``,
    so the wasm offsets of a trap backtrace read the same as the module the author built.
    Custom sections before the code may be dropped (Go's ``go:buildid``) and a padding custom
    section or a longer function count encoding make up the difference."""
    target = _first_body_in(original)
    sections = list(sections)
    while _first_body(sections) > target:
        custom = next((n for n, (i, _) in enumerate(sections) if i == 0), None)
        code = next(n for n, (i, _) in enumerate(sections) if i == 10)
        if custom is None or custom > code:
            return sections  # nothing to drop: the offsets shift
        del sections[custom]
    gap = target - _first_body(sections)
    code = next(n for n, (i, _) in enumerate(sections) if i == 10)
    if gap >= 3:
        size = gap - 3 if gap < 7 else gap - 7  # a 1-byte or a padded 5-byte size
        header = _leb(size + 1) if gap < 7 else _padded_leb(size + 1, 5)
        sections.insert(code, (-1, b"\x00" + header + b"\x00" + bytes(size)))
    elif gap:
        count, pos = _uleb(sections[code][1], 0)
        payload = sections[code][1]
        sections[code] = (10, _padded_leb(count, pos + gap) + payload[pos:])
    return sections


def _first_body_in(wasm: bytes) -> int:
    """Where the first function body starts in an encoded module (its section sizes may be
    padded LEB128s: Go's linker writes them 5 bytes long)."""
    pos = 8
    while pos < len(wasm):
        size, start = _uleb(wasm, pos + 1)
        if wasm[pos] == 10:
            return _uleb(wasm, start)[1]
        pos = start + size
    return pos


def _first_body(sections: list[tuple[int, bytes]]) -> int:
    """Where the first function body starts once ``sections`` are encoded by :func:`_encode`."""
    pos = 8
    for i, payload in sections:
        header = len(payload) if i == -1 else 1 + len(_leb(len(payload)))
        if i == 10:
            return pos + header + _uleb(payload, 0)[1]
        pos += header + (0 if i == -1 else len(payload))
    return pos


def _padded_leb(value: int, length: int, *, signed: bool = False) -> bytes:
    """``value`` as an (un)signed LEB128 of exactly ``length`` bytes (valid, not minimal)."""
    out = bytearray()
    for k in range(length):
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if k < length - 1 else 0))
    if value not in ((0, -1) if signed else (0,)) or (signed and (value < 0) != bool(byte & 0x40)):
        raise ValueError("value too large for the padded length")
    return bytes(out)


def _encode(sections: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(b"\0asm\x01\0\0\0")
    for i, payload in sections:
        out += payload if i == -1 else bytes([i]) + _leb(len(payload)) + payload  # -1: raw
    return bytes(out)


_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]


def _position(sections: list[tuple[int, bytes]], section_id: int) -> int:
    """Where a missing known section goes (custom sections keep their places)."""
    rank = _ORDER.index(section_id)
    for n, (i, _) in enumerate(sections):
        if i in _ORDER and _ORDER.index(i) > rank:
            return n
    return len(sections)


def _import(lay: Layout, module: str, name: str) -> int:
    try:
        return lay.imported_funcs[(module, name)]
    except KeyError:
        raise NotSnapshottable(f"the module does not import {module} {name}") from None


def _type_index(types: list[bytes], functype: bytes) -> tuple[int, list[bytes]]:
    if functype in types:
        return types.index(functype), types
    return len(types), [*types, functype]


def _to_i64(valtype: int) -> bytes:
    return {_I32: b"\xad", _I64: b"", _F32: b"\xbc\xad", _F64: b"\xbd"}[valtype]


def _global_entry(valtype: int, mutable: bool, init: bytes, value: int) -> bytes:
    if not mutable:
        return bytes([valtype, 0]) + init
    if valtype == _I32:
        expr = b"\x41" + _sleb(_signed(value & 0xFFFFFFFF, 32))
    elif valtype == _I64:
        expr = b"\x42" + _sleb(_signed(value, 64))
    elif valtype == _F32:
        expr = b"\x43" + struct.pack("<I", value & 0xFFFFFFFF)
    else:
        expr = b"\x44" + struct.pack("<Q", value)
    return bytes([valtype, 1]) + expr + b"\x0b"


def _segments(memory: bytes):
    """(offset, bytes) runs of non-zero memory; zero gaps shorter than _GAP stay inside."""
    start = end = None
    for run in re.finditer(rb"[^\x00]+", memory):
        if start is not None and run.start() - end >= _GAP:
            yield start, memory[start:end]
            start = None
        if start is None:
            start = run.start()
        end = run.end()
    if start is not None:
        yield start, memory[start:end]


# -- section readers -------------------------------------------------------------------------

def _vector(payload: bytes) -> tuple[int, bytes]:
    count, pos = _uleb(payload, 0)
    return count, payload[pos:]


def _types(payload: bytes) -> list[bytes]:
    count, pos = _uleb(payload, 0)
    out = []
    for _ in range(count):
        start = pos
        if payload[pos] != 0x60:
            raise NotSnapshottable("the module uses GC or recursive types")
        n, pos = _uleb(payload, pos + 1)
        pos += n
        n, pos = _uleb(payload, pos)
        pos += n
        out.append(payload[start:pos])
    return out


def _imports(payload: bytes) -> tuple[dict[tuple[str, str], int], int, int, bool]:
    count, pos = _uleb(payload, 0)
    funcs: dict[tuple[str, str], int] = {}
    n_funcs = n_globals = 0
    memory = False
    for _ in range(count):
        module, pos = _name(payload, pos)
        name, pos = _name(payload, pos)
        kind = payload[pos]
        pos += 1
        if kind == 0:
            _, pos = _uleb(payload, pos)
            funcs[(module, name)] = n_funcs
            n_funcs += 1
        elif kind == 1:
            pos = _limits(payload, pos + 1)
        elif kind == 2:
            pos = _limits(payload, pos)
            memory = True
        elif kind == 3:
            pos += 2
            n_globals += 1
        else:
            raise NotSnapshottable(f"the module imports a kind-{kind} item")
    return funcs, n_funcs, n_globals, memory


def _globals(payload: bytes) -> list[tuple[int, bool, bytes]]:
    count, pos = _uleb(payload, 0)
    out = []
    for _ in range(count):
        valtype, mutable = payload[pos], payload[pos + 1] == 1
        if valtype not in (_I32, _I64, _F32, _F64):
            raise NotSnapshottable("the module has a vector or reference global")
        start = pos = pos + 2
        pos = _skip_const_expr(payload, pos)
        out.append((valtype, mutable, payload[start:pos]))
    return out


def _skip_const_expr(payload: bytes, pos: int) -> int:
    while True:
        op = payload[pos]
        pos += 1
        if op == 0x0B:
            return pos
        if op in (0x41, 0x42, 0x23, 0xD2):  # i32/i64.const, global.get, ref.func
            _, pos = _uleb(payload, pos)
        elif op == 0x43:
            pos += 4
        elif op == 0x44:
            pos += 8
        elif op == 0xD0:  # ref.null t
            pos += 1
        elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended-const arithmetic
            continue
        else:
            raise NotSnapshottable(f"unsupported constant expression opcode 0x{op:02x}")


def _export_entries(payload: bytes) -> list[tuple[str, bytes]]:
    count, pos = _uleb(payload, 0)
    out = []
    for _ in range(count):
        start = pos
        name, pos = _name(payload, pos)
        _, pos = _uleb(payload, pos + 1)
        out.append((name, payload[start:pos]))
    return out


def _has_passive_segment(payload: bytes) -> bool:
    count, pos = _uleb(payload, 0)
    for _ in range(count):
        flag, pos = _uleb(payload, pos)
        if flag == 1:
            return True
        if flag == 2:
            _, pos = _uleb(payload, pos)
        pos = _skip_const_expr(payload, pos)
        n, pos = _uleb(payload, pos)
        pos += n
    return False


# -- encoders ---------------------------------------------------------------------------------

def _vector_bytes(items: Iterable) -> bytes:
    items = [i[1] if isinstance(i, tuple) else i for i in items]
    return _leb(len(items)) + b"".join(items)


def _append_vector(payload: bytes, item: bytes) -> bytes:
    count, pos = _uleb(payload, 0)
    return _leb(count + 1) + payload[pos:] + item


def _name_bytes(name: str) -> bytes:
    raw = name.encode()
    return _leb(len(raw)) + raw


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value
