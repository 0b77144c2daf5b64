"""Calls of a module's imports sent through a function appended to it (for runtime/wasmclock.py
and runtime/builtin_http.py): what a Python host function cannot do itself, the appended wasm
function does around the import's answer (store it in the module's memory, trap).

:func:`redirect_calls` leaves every existing function, type, global and segment index as it was
(the import keeps its index; the function is appended) and most code offsets too: the new call
target (an index past every function) is longer than an import's, so a body calling the import
grows by a byte or two; the next LEB128 immediates written longer than they need (a call target
or a constant: LLVM writes its relocated ones five bytes long) are then written a byte shorter
each, still valid, so only the bytes between move, and a trap's wasm offsets (and DWARF lines)
elsewhere read as in the module the author built. (In a Go module, whose calls are written
short, the bytes between are the import's wrapper and some runtime assembly functions after
it.)

A module is refused (:class:`NotRewritable`, the message says why) when the import is used other
than by ``call`` (exported, in a table, by ``ref.func``), has another type, or when its code
holds instructions this reader does not know (GC, exception handling, stringref). No well-kept
Python library rewrites wasm code (runtime/wasmedit.py says the same of its section edits).
"""

from __future__ import annotations

from collections.abc import Callable

from .wasmedit import (
    _encode,
    _keep_code_offset,
    _leb,
    _name_bytes,
    _padded_leb,
    _position,
    _skip_const_expr,
    _sleb,
    _types,
    split_sections,
)
from .wasminfo import WasmFormatError, _name, _uleb

__all__ = ["NotRewritable", "redirect_calls", "start_reaches"]


class NotRewritable(ValueError):
    """The module's calls of an import cannot be redirected (the message says why)."""


def redirect_calls(wasm: bytes, target: tuple[str, str], functype: bytes,
                   body: Callable[[int], bytes], *,
                   retype: tuple[str, str, bytes] | None = None, stores: bool = False,
                   python: bool = False) -> bytes:
    """``wasm`` with every ``call``/``return_call`` of the function import ``target`` (each
    import of it) calling a function appended to it instead, of the import's type
    ``functype`` and with the code ``body(k)`` (its locals and instructions; ``k`` is the
    import's index, which it may call). With ``retype`` ``(module, name, functype)`` the
    import is that one instead (``body`` then calls it with the new type). ``stores``: the body
    writes to memory 0, which must be the module's only memory, 32-bit. ``python``: the import
    becomes a Python host function, which libextism cannot call from a start function (the
    process crashes), so a module with one is refused. ``wasm`` itself when it does not import
    ``target``; :class:`NotRewritable` when it cannot be done."""
    try:
        return _redirect_module(wasm, target, functype, body, retype, stores, python)
    except (WasmFormatError, IndexError) as e:
        raise NotRewritable(f"its binary could not be read ({e})") from None
    except ValueError as e:
        if isinstance(e, NotRewritable):
            raise
        raise NotRewritable(str(e)) from None


def _redirect_module(wasm, target, functype, body, retype, stores, python) -> bytes:
    sections = split_sections(wasm)
    payload = dict(sections)
    imports = _import_entries(payload.get(2, b"\0"))
    funcs = [e for e in imports if e[2] == 0]
    found = [n for n, e in enumerate(funcs) if e[:2] == target]  # Go's may import twice
    if not found:
        return wasm
    name = target[1]
    types = _types(payload.get(1, b"\0"))
    if any(types[funcs[k][3]] != functype for k in found):
        raise NotRewritable(f"its {name} import has another type")
    if stores:
        memories = sum(e[2] == 2 for e in imports) + _count(payload.get(5, b"\0"))
        if memories != 1:
            raise NotRewritable("it has no memory" if not memories
                                else f"it has {memories} memories")
        if any(e[2] == 2 and e[4] & 4 for e in imports) or _memory64(payload.get(5, b"\0")):
            raise NotRewritable("its memory is 64-bit")
    if python and 8 in payload:
        raise NotRewritable("it has a start function (libextism cannot run a Python host "
                            "function from one)")
    for k in found:
        _check_references(payload, k, name)
    import_section = payload.get(2)
    if retype is not None:
        if retype[2] not in types:
            types.append(retype[2])
        entry = (_name_bytes(retype[0]) + _name_bytes(retype[1]) + b"\x00"
                 + _leb(types.index(retype[2])))
        retyped = {id(funcs[k]) for k in found}
        import_section = _leb(len(imports)) + b"".join(entry if id(e) in retyped else e[5]
                                                        for e in imports)
    appended = len(funcs) + _count(payload.get(3, b"\0"))  # the new function's index
    code = _redirected_code(payload.get(10, b"\0"), set(found), appended)
    new_body = body(found[0])
    new = {
        1: _leb(len(types)) + b"".join(types),
        2: import_section,
        3: _appended(payload.get(3, b"\0"), _leb(types.index(functype))),
        10: _appended(code, _leb(len(new_body)) + new_body),
    }
    out = [(i, new.get(i, p)) for i, p in sections]
    for section_id in (3, 10):  # a module importing the function but defining none
        if section_id not in payload:
            out.insert(_position(out, section_id), (section_id, new[section_id]))
    return _encode(_keep_code_offset(wasm, out))


def _import_entries(payload: bytes) -> list[tuple]:
    """(module, name, kind, function type or None, memory flags, raw bytes) per import."""
    count, pos = _uleb(payload, 0)
    out = []
    for _ in range(count):
        start = pos
        module, pos = _name(payload, pos)
        name, pos = _name(payload, pos)
        kind = payload[pos]
        pos += 1
        type_index = flags = None
        if kind == 0:
            type_index, pos = _uleb(payload, pos)
        elif kind in (1, 2):
            if kind == 1:
                pos = _skip_reftype(payload, pos)
            flags, pos = _uleb(payload, pos)
            _, pos = _uleb(payload, pos)
            if flags & 1:
                _, pos = _uleb(payload, pos)
        elif kind == 3:
            pos = _skip_valtype(payload, pos) + 1
        elif kind == 4:
            _, pos = _uleb(payload, pos + 1)
        else:
            raise NotRewritable(f"it imports a kind-{kind} item")
        out.append((module, name, kind, type_index, flags or 0, payload[start:pos]))
    return out


def _count(payload: bytes) -> int:
    return _uleb(payload, 0)[0]


def _memory64(payload: bytes) -> bool:
    count, pos = _uleb(payload, 0)
    return count > 0 and bool(_uleb(payload, pos)[0] & 4)


def _appended(payload: bytes, item: bytes) -> bytes:
    count, pos = _uleb(payload, 0)
    return _leb(count + 1) + payload[pos:] + item


def _check_references(payload: dict[int, bytes], index: int, name: str) -> None:
    """Refuse a module using the import other than by ``call`` (those uses would bypass the
    appended function, or see the import's new type)."""
    exports = payload.get(7, b"\0")
    count, pos = _uleb(exports, 0)
    for _ in range(count):
        _, pos = _name(exports, pos)
        kind = exports[pos]
        exported, pos = _uleb(exports, pos + 1)
        if kind == 0 and exported == index:
            raise NotRewritable(f"it exports its {name} import")
    if 8 in payload and _uleb(payload[8], 0)[0] == index:
        raise NotRewritable(f"its start function is {name}")
    if _may_reference(payload.get(6, b""), index):
        raise NotRewritable(f"a global may hold a reference to {name}")
    if _may_reference(payload.get(4, b""), index):
        raise NotRewritable(f"a table may start with a reference to {name}")
    if index in _element_functions(payload.get(9, b"\0")):
        raise NotRewritable(f"its {name} import is in a table")


def _may_reference(payload: bytes, index: int) -> bool:
    """Whether a section's bytes may hold ``ref.func index`` (any 0xD2 byte followed by an
    LEB128 of ``index``, padded or not: an immediate's bytes can look alike, which only
    refuses the rewrite)."""
    start = payload.find(b"\xd2")
    while start >= 0:
        try:
            if _uleb(payload, start + 1)[0] == index:
                return True
        except WasmFormatError:
            return False
        start = payload.find(b"\xd2", start + 1)
    return False


def _element_functions(payload: bytes) -> set[int]:
    """Every function index an element section names (index vectors and ref.func)."""
    count, pos = _uleb(payload, 0)
    found: set[int] = set()
    for _ in range(count):
        flags, pos = _uleb(payload, pos)
        if flags & 2 and not flags & 1:  # explicit table index
            _, pos = _uleb(payload, pos)
        if not flags & 1:  # active: the offset expression
            pos = _skip_const_expr(payload, pos)
        if flags & 3:  # an element kind (0x00) or a reference type
            pos = _skip_reftype(payload, pos) if flags & 4 else pos + 1
        n, pos = _uleb(payload, pos)
        for _ in range(n):
            if flags & 4:
                start = pos
                pos = _skip_const_expr(payload, pos)
                if payload[start] == 0xD2:
                    found.add(_uleb(payload, start + 1)[0])
            else:
                index, pos = _uleb(payload, pos)
                found.add(index)
    return found


# -- code ------------------------------------------------------------------------------------

def _redirected_code(payload: bytes, imports: set[int], target: int) -> bytes:
    """The code section with every ``call``/``return_call`` of ``imports`` calling
    ``target``. A call target written shorter than the new one needs makes its body longer;
    the next padded call targets (in that body or the following ones) are then written one
    byte shorter each, so the bodies after them keep their offsets."""
    count, pos = _uleb(payload, 0)
    # A call's opcode and the first byte of its target, minimal or padded.
    firsts = {k & 0x7F | 0x80 for k in imports} | {k for k in imports if k < 0x80}
    patterns = [bytes([op, first]) for op in (0x10, 0x12) for first in firsts]
    out = bytearray(payload[:pos])
    drift = 0  # bytes the code so far is longer than it was
    for _ in range(count):
        size, start = _uleb(payload, pos)
        end = start + size
        body = payload[start:end]
        # Decode only bodies that may hold the call (the bytes can also be an immediate's),
        # and those after a longer one until the offsets are made up.
        if drift or any(p in body for p in patterns):
            new = _redirect(body, imports, target, drift)
            header = payload[pos:start]
            if len(new) != len(body):
                minimal = _leb(len(new))
                header = (_padded_leb(len(new), len(header)) if len(minimal) <= len(header)
                          else minimal)
            drift += len(header) + len(new) - (end - pos)
            out += header + new
        else:
            out += payload[pos:end]
        pos = end
    return bytes(out)


def _redirect(body: bytes, imports: set[int], target: int, drift: int = 0) -> bytes:
    """``body`` with its calls of ``imports`` calling ``target``, and up to ``drift`` (plus what
    it grows by) padded call targets written one byte shorter (``body`` itself when none)."""
    edits: list[tuple[int, int, bytes]] = []  # (start of the LEB, its end, the new LEB)
    padded: list[tuple[int, int, bytes]] = []  # (start, end, one byte shorter) of padded LEBs
    for kind, start, stop in _walk(body):
        if kind == _CALL:
            index = _uleb(body, start)[0]
            if index in imports:
                new = _leb(target)
                width = stop - start
                edits.append((start, stop, _padded_leb(target, width) if len(new) <= width
                               else new))
            elif stop - start > len(_leb(index)):
                padded.append((start, stop, _padded_leb(index, stop - start - 1)))
        elif kind == _CONST and stop - start > 1:  # Go's linker pads the addresses it writes
            value = _sleb_value(body, start, stop)
            if len(_sleb(value)) < stop - start:
                padded.append((start, stop, _padded_leb(value, stop - start - 1, signed=True)))
        elif kind == _REF and _uleb(body, start)[0] in imports:
            raise NotRewritable("its code takes a reference to the import")
    drift += sum(len(new) - (stop - start) for start, stop, new in edits)
    for edit in padded:
        if drift <= 0:
            break
        edits.append(edit)
        drift -= 1
    if not edits:
        return body
    out = bytearray()
    last = 0
    for start, stop, new in sorted(edits):
        out += body[last:start] + new
        last = stop
    return bytes(out + body[last:])


def start_reaches(wasm: bytes, targets: set[tuple[str, str]]) -> tuple[str, str] | None:
    """The first of the function imports ``targets`` the module's start function may call
    (directly, or through a table or a function reference: then any function an element
    segment names), or None (no start function, or none reached)."""
    sections = split_sections(wasm)
    payload = dict(sections)
    if 8 not in payload:
        return None
    funcs = [e for e in _import_entries(payload.get(2, b"\0")) if e[2] == 0]
    wanted = {n: e[:2] for n, e in enumerate(funcs) if e[:2] in targets}
    if not wanted:
        return None
    bodies = _bodies(payload.get(10, b"\0"))
    tabled = _element_functions(payload.get(9, b"\0"))
    seen: set[int] = set()
    todo = [_uleb(payload[8], 0)[0]]
    while todo:
        index = todo.pop()
        if index in seen:
            continue
        seen.add(index)
        if index in wanted:
            return wanted[index]
        body = bodies[index - len(funcs)] if index >= len(funcs) else b""
        for kind, start, _ in _walk(body) if body else ():
            if kind in (_CALL, _REF):
                todo.append(_uleb(body, start)[0])
            elif kind == _INDIRECT:
                todo.extend(tabled)
    return None


def direct_callees(wasm: bytes, roots: set[int], through: Callable[[int], bool]) -> set[int]:
    """The functions the functions ``roots`` call directly (``call``/``return_call``), and
    those the callees ``through`` accepts call in turn."""
    payload = dict(split_sections(wasm))
    imported = sum(1 for e in _import_entries(payload.get(2, b"\0")) if e[2] == 0)
    bodies = _bodies(payload.get(10, b"\0"))
    reached: set[int] = set()
    todo, seen = list(roots), set()
    while todo:
        index = todo.pop()
        if index in seen or not imported <= index < imported + len(bodies):
            continue
        seen.add(index)
        body = bodies[index - imported]
        for kind, start, _ in _walk(body):
            if kind == _CALL:
                callee = _uleb(body, start)[0]
                reached.add(callee)
                if through(callee):
                    todo.append(callee)
    return reached


def _bodies(payload: bytes) -> list[bytes]:
    count, pos = _uleb(payload, 0)
    out = []
    for _ in range(count):
        size, start = _uleb(payload, pos)
        out.append(payload[start:start + size])
        pos = start + size
    return out


_CALL, _CONST, _REF, _INDIRECT = range(4)


def _walk(body: bytes):
    """The instructions of a function body that matter here: ``(kind, start, end)`` of the
    immediate of each call/return_call (_CALL), i32/i64.const (_CONST), ref.func (_REF), and
    (_INDIRECT) each call_indirect, return_call_indirect, call_ref or return_call_ref."""
    pos = _skip_locals(body)
    end = len(body)
    while pos < end:
        op = body[pos]
        pos += 1
        if op in _PLAIN:
            continue
        if op in (0x10, 0x12, 0x41, 0x42, 0xD2):
            after = _skip_leb(body, pos)
            yield (_CALL if op in (0x10, 0x12) else _REF if op == 0xD2 else _CONST), pos, after
            pos = after
        elif op in _ONE_IMMEDIATE:
            if op in (0x14, 0x15):  # call_ref, return_call_ref
                yield _INDIRECT, pos, pos
            pos = _skip_leb(body, pos)
        elif op in _BLOCKS:
            pos = _skip_blocktype(body, pos)
        elif 0x28 <= op <= 0x3E:
            pos = _skip_memarg(body, pos)
        elif op in (0x11, 0x13):  # call_indirect, return_call_indirect: type, table
            yield _INDIRECT, pos, pos
            pos = _skip_leb(body, _skip_leb(body, pos))
        elif op == 0x0E:  # br_table
            n, pos = _uleb(body, pos)
            for _ in range(n + 1):
                pos = _skip_leb(body, pos)
        elif op == 0x43:
            pos += 4
        elif op == 0x44:
            pos += 8
        elif op == 0x1C:  # select t*
            n, pos = _uleb(body, pos)
            for _ in range(n):
                pos = _skip_valtype(body, pos)
        elif op == 0xD0:  # ref.null heaptype
            pos = _skip_leb(body, pos)
        elif op == 0xFC:
            pos = _skip_fc(body, pos)
        elif op == 0xFD:
            pos = _skip_simd(body, pos)
        elif op == 0xFE:
            sub, pos = _uleb(body, pos)
            pos = pos + 1 if sub == 0x03 else _skip_memarg(body, pos)
        else:
            raise NotRewritable(f"its code uses the instruction 0x{op:02x}, which nd-notebook's "
                                "reader does not know")


#: Instructions without immediates: control, parametric, numeric, sign extension, and
#: ref.is_null, ref.eq, ref.as_non_null.
_PLAIN = frozenset([0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4,
                    *range(0x45, 0xC5)])
#: One LEB128 immediate: br, br_if, call_ref, return_call_ref, locals, globals, tables,
#: memory.size/grow, br_on_null, br_on_non_null.
_ONE_IMMEDIATE = frozenset([0x0C, 0x0D, 0x14, 0x15, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26,
                            0x3F, 0x40, 0xD5, 0xD6])
_BLOCKS = frozenset([0x02, 0x03, 0x04])  # block, loop, if
_VALTYPES = frozenset([0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F])


def _skip_leb(b: bytes, pos: int) -> int:
    while b[pos] & 0x80:
        pos += 1
    return pos + 1


def _sleb_value(b: bytes, start: int, end: int) -> int:
    value = 0
    for k, byte in enumerate(b[start:end]):
        value |= (byte & 0x7F) << (7 * k)
    bits = 7 * (end - start)
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _skip_valtype(b: bytes, pos: int) -> int:
    if b[pos] in _VALTYPES:
        return pos + 1
    if b[pos] in (0x63, 0x64):  # (ref null? heaptype)
        return _skip_leb(b, pos + 1)
    raise NotRewritable(f"its code uses the value type 0x{b[pos]:02x}")


def _skip_reftype(b: bytes, pos: int) -> int:
    return _skip_valtype(b, pos)


def _skip_blocktype(b: bytes, pos: int) -> int:
    if b[pos] == 0x40 or b[pos] in _VALTYPES:
        return pos + 1
    if b[pos] in (0x63, 0x64):
        return _skip_leb(b, pos + 1)
    return _skip_leb(b, pos)  # a type index (s33)


def _skip_memarg(b: bytes, pos: int) -> int:
    align, pos = _uleb(b, pos)
    if align & 0x40:  # multi-memory: a memory index follows
        pos = _skip_leb(b, pos)
    return _skip_leb(b, pos)


def _skip_locals(body: bytes) -> int:
    groups, pos = _uleb(body, 0)
    for _ in range(groups):
        pos = _skip_valtype(body, _skip_leb(body, pos))
    return pos


def _skip_fc(b: bytes, pos: int) -> int:
    sub, pos = _uleb(b, pos)
    if sub <= 7:  # saturating truncations
        return pos
    if sub in (8, 10, 12, 14):  # memory.init, memory.copy, table.init, table.copy
        return _skip_leb(b, _skip_leb(b, pos))
    if sub in (9, 11, 13, 15, 16, 17):  # data.drop, memory.fill, elem.drop, table.grow/size/fill
        return _skip_leb(b, pos)
    raise NotRewritable(f"its code uses the instruction 0xfc {sub}")


def _skip_simd(b: bytes, pos: int) -> int:
    sub, pos = _uleb(b, pos)
    if sub <= 11 or sub in (92, 93):  # loads, stores, load32/64_zero
        return _skip_memarg(b, pos)
    if sub in (12, 13):  # v128.const, i8x16.shuffle
        return pos + 16
    if 21 <= sub <= 34:  # extract/replace lane
        return pos + 1
    if 84 <= sub <= 91:  # load/store lane
        return _skip_memarg(b, pos) + 1
    return pos
