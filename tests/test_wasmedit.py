"""Section-level wasm rewrites for memory snapshots (runtime/wasmedit.py), on WAT modules: what
``with_capture`` reads back from a real libextism instance, what a ``from_snapshot`` module
starts with, and the module shapes that rule a snapshot out."""

from __future__ import annotations

import struct

import pytest
import wasmtime
from watplugins import wat

from nd_notebook.runtime import wasmedit
from nd_notebook.runtime.wasmedit import NotSnapshottable
from nd_notebook.runtime.wasminfo import module_info

_CAPTURE_IMPORTS = """
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
"""

# One global of each number type, mutable and not; "init" writes memory on page 0 and page 1.
GLOBALS = """
  (global $a (mut i32) (i32.const -7))
  (global $b i64 (i64.const -2))
  (global $c (mut f32) (f32.const 1.25))
  (global $d (mut f64) (f64.const -3.5))
"""

CAPTURED = f"""(module
{_CAPTURE_IMPORTS}
  (memory (export "memory") 1 4)
  (data (i32.const 16) "in the data segment")
{GLOBALS}
  (func (export "init")
    (drop (memory.grow (i32.const 1)))
    (i64.store (i32.const 65000) (i64.const 0x0102030405060708))
    (i64.store (i32.const 131064) (i64.const -1))
    (global.set $a (i32.const -123))
    (global.set $c (f32.const -0.5)))
)"""


def _bits32(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _bits64(value: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def _capture(wasm: bytes, *before: str) -> bytes:
    import extism

    with extism.Plugin(wasmedit.with_capture(wasm), wasi=False) as plugin:
        for export in before:
            plugin.call(export, b"")
        return bytes(plugin.call(wasmedit.CAPTURE_EXPORT, b""))


def test_capture_returns_the_memory_then_every_global_as_64_bits():
    out = _capture(wat(CAPTURED), "init")
    memory = bytearray(2 * 65536)
    memory[16:35] = b"in the data segment"
    memory[65000:65008] = struct.pack("<q", 0x0102030405060708)
    memory[131064:131072] = b"\xff" * 8
    globals_ = [(-123) & 0xFFFFFFFF, (-2) & 0xFFFFFFFFFFFFFFFF, _bits32(-0.5), _bits64(-3.5)]
    assert out == bytes(memory) + struct.pack("<4Q", *globals_)


def test_capture_before_init_sees_the_initial_values():
    out = _capture(wat(CAPTURED))
    assert len(out) == 65536 + 32
    assert struct.unpack("<4Q", out[-32:]) == (
        0xFFFFFFF9, 0xFFFFFFFFFFFFFFFE, _bits32(1.25), _bits64(-3.5))


def test_capture_needs_the_extism_kernel_imports():
    with pytest.raises(NotSnapshottable, match="^the module does not import extism:host/env "
                                               "alloc$"):
        wasmedit.with_capture(wat('(module (memory (export "memory") 1))'))


# -- from_snapshot ---------------------------------------------------------------------------

SNAPSHOTTED = f"""(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1 8)
  (data (i32.const 0) "original")
{GLOBALS}
  (global $e (mut i32) (i32.const 0))
  (func (export "_initialize"))
  (func (export "a") (result i32) (global.get $a))
  (func (export "b") (result i64) (global.get $b))
  (func (export "c") (result f32) (global.get $c))
  (func (export "d") (result f64) (global.get $d))
  (func (export "e") (result i32) (global.get $e))
)"""


def _snapshot_memory() -> bytes:
    memory = bytearray(3 * 65536)
    memory[0:8] = b"replaced"
    memory[70000:70004] = b"\x01\x00\x00\x02"  # zero bytes inside a run stay zero
    memory[70200:70203] = b"far"  # beyond a gap: another segment
    memory[-5:] = b"tail!"  # the last bytes of the last page
    return bytes(memory)


CAPTURED_VALUES = [(-2**31) & 0xFFFFFFFF, 5, _bits32(-0.375), _bits64(1e-300), 0x7FFFFFFF]


def _instantiate(wasm: bytes, *, wasi: bool = False):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    if wasi:
        store.set_wasi(wasmtime.WasiConfig())
        linker.define_wasi()
    else:
        ty = wasmtime.FuncType([wasmtime.ValType.i32(), wasmtime.ValType.i32()],
                               [wasmtime.ValType.i32()])
        linker.define_func("wasi_snapshot_preview1", "random_get", ty, lambda a, b: 0)
    instance = linker.instantiate(store, wasmtime.Module(engine, wasm))
    return store, instance.exports(store)


def _from_snapshot(reseed=(), memory=None):
    return wasmedit.from_snapshot(wat(SNAPSHOTTED), memory or _snapshot_memory(),
                                  CAPTURED_VALUES, reseed, ["_initialize"])


def test_a_snapshot_module_starts_with_the_captured_global_values():
    store, exports = _instantiate(_from_snapshot())
    assert exports["a"](store) == -2**31
    assert exports["c"](store) == -0.375
    assert exports["d"](store) == 1e-300
    assert exports["e"](store) == 0x7FFFFFFF


def test_an_immutable_global_keeps_its_own_initialiser():
    store, exports = _instantiate(_from_snapshot())
    assert exports["b"](store) == -2  # the captured 5 is ignored: it cannot have changed


def test_a_snapshot_module_starts_with_the_captured_memory():
    store, exports = _instantiate(_from_snapshot())
    memory = exports["memory"]
    assert memory.data_len(store) == 3 * 65536
    assert bytes(memory.read(store, 0, memory.data_len(store))) == _snapshot_memory()


def test_a_snapshot_module_keeps_the_memory_maximum():
    store, exports = _instantiate(_from_snapshot())
    limits = exports["memory"].type(store).limits
    assert (limits.min, limits.max) == (3, 8)


def test_a_memory_without_maximum_stays_without_one():
    wasm = wat('(module (memory (export "memory") 1) (func (export "_initialize")))')
    module = wasmedit.from_snapshot(wasm, bytes(2 * 65536), [], [], ["_initialize"])
    store, exports = _instantiate(module)
    limits = exports["memory"].type(store).limits
    assert (limits.min, limits.max) == (2, None)


def test_a_snapshot_module_drops_the_init_export_and_adds_reseed():
    names = set(module_info(_from_snapshot()).exported_functions)
    assert "_initialize" not in names
    assert names == {"a", "b", "c", "d", "e", wasmedit.RESEED_EXPORT, "_start"}


def _export_indexes(wasm: bytes) -> dict[str, tuple[int, int]]:
    """``{name: (kind, index)}`` of the module's exports."""
    entries = wasmedit._export_entries(wasmedit.layout(wasm).payload(7))
    out = {}
    for name, raw in entries:
        kind_at = len(wasmedit._name_bytes(name))
        out[name] = (raw[kind_at], wasmedit._uleb(raw, kind_at + 1)[0])
    return out


def test_a_snapshot_module_is_a_command_whose_start_is_the_reseed():
    # libextism links the main module by name before instantiating it for the call; wasmtime's
    # linker instantiates a reactor there (a second memory per instance), a command it does not.
    exports = _export_indexes(_from_snapshot(reseed=[(8, 16)]))
    assert exports["_start"] == exports[wasmedit.RESEED_EXPORT]
    assert exports["_start"][0] == 0


@pytest.mark.parametrize("extra", [
    '(global (export "g") i32 (i32.const 1))',
    '(table (export "t") 1 funcref)',
    '(func (export "_initialize"))',
    '(func (export "_start"))',
])
def test_no_start_is_added_where_wasmtime_would_refuse_a_command(extra):
    wasm = wat('(module (import "wasi_snapshot_preview1" "random_get" '
               '(func (param i32 i32) (result i32))) (memory (export "memory") 1) '
               f'(func (export "_nd_prepare")) {extra})')
    globals_ = [1] if "global" in extra else []
    module = wasmedit.from_snapshot(wasm, bytes(65536), globals_, [(0, 8)], ["_nd_prepare"])
    exports = _export_indexes(module)
    assert wasmedit.RESEED_EXPORT in exports
    assert exports.get("_start") != exports[wasmedit.RESEED_EXPORT]


def test_reseed_refills_only_the_given_ranges_from_random_get():
    module = _from_snapshot(reseed=[(8, 16), (70200, 3)])
    seen = []
    for _ in range(2):
        store, exports = _instantiate(module, wasi=True)
        exports[wasmedit.RESEED_EXPORT](store)
        memory = bytes(exports["memory"].read(store, 0, 3 * 65536))
        expected = _snapshot_memory()
        assert memory[:8] + memory[24:70200] + memory[70203:] == \
            expected[:8] + expected[24:70200] + expected[70203:]
        seen.append(memory[8:24])
    assert seen[0] != seen[1]


TOUCHING = SNAPSHOTTED.replace('(memory (export "memory") 1 8)', """
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (memory (export "memory") 1 8)""")


def _reseed_with_input(module: bytes, given: bytes) -> bytes:
    """Memory after ``__nd_reseed`` ran with ``given`` as its Extism call input."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker.define_wasi()
    i64 = wasmtime.ValType.i64()
    linker.define_func("extism:host/env", "input_length", wasmtime.FuncType([], [i64]),
                       lambda: len(given))
    linker.define_func("extism:host/env", "input_load_u64", wasmtime.FuncType([i64], [i64]),
                       lambda at: struct.unpack_from("<q", given.ljust(at + 8, b"\0"), at)[0])
    exports = linker.instantiate(store, wasmtime.Module(engine, module)).exports(store)
    exports[wasmedit.RESEED_EXPORT](store)
    return bytes(exports["memory"].read(store, 0, 3 * 65536))


def _entry(address: int, value: int) -> bytes:
    return struct.pack("<II", address, value)


def test_reseed_stores_each_touch_entry_then_refills_the_generator_states():
    module = wasmedit.from_snapshot(wat(TOUCHING), _snapshot_memory(), CAPTURED_VALUES,
                                    [(8, 16)], ["_initialize"])
    assert wasmedit.reseed_touches(wat(TOUCHING))
    expected = bytearray(_snapshot_memory())
    # The values memory already holds (the touch list's entries): nothing changes.
    same = (_entry(0, int.from_bytes(expected[0:4], "little")) + _entry(69632, 0)
            + _entry(70000, 0x02000001))
    memory = _reseed_with_input(module, same)
    assert memory[:8] + memory[24:] == expected[:8] + expected[24:]
    # Any other value shows where the loop stores: at each address, 32 bits, in list order.
    memory = _reseed_with_input(module, _entry(4096, 0xDEADBEEF) + _entry(131072 + 4, 7)
                                + _entry(4096, 0x01020304))
    expected[4096:4100] = (0x01020304).to_bytes(4, "little")
    expected[131076:131080] = (7).to_bytes(4, "little")
    assert memory[:8] + memory[24:] == expected[:8] + expected[24:]
    # An odd address is a read of the address less one: its value is not stored anywhere...
    memory = _reseed_with_input(module, _entry(4096 + 1, 0xDEADBEEF) + _entry(69632 + 1, 5))
    assert memory[:8] + memory[24:] == _snapshot_memory()[:8] + _snapshot_memory()[24:]
    # ... but it is a load there: past the memory's end it traps (an even one stores and traps).
    for entry in (_entry(3 * 65536 + 1, 0), _entry(3 * 65536, 0)):
        with pytest.raises(wasmtime.Trap, match="out of bounds memory access"):
            _reseed_with_input(module, entry)
    # The generator states are refilled after the touches: an entry inside them is overwritten.
    refilled = {_reseed_with_input(module, _entry(8, 0))[8:24] for _ in range(2)}
    assert len(refilled) == 2 and bytes(16) not in refilled


def test_reseed_without_input_touches_nothing():
    module = wasmedit.from_snapshot(wat(TOUCHING), _snapshot_memory(), CAPTURED_VALUES, [],
                                    ["_initialize"])
    assert _reseed_with_input(module, b"") == _snapshot_memory()


def test_reseed_reads_no_touch_list_without_the_extism_input_imports():
    assert not wasmedit.reseed_touches(wat(SNAPSHOTTED))
    store, exports = _instantiate(_from_snapshot(reseed=[(8, 16)]), wasi=True)
    exports[wasmedit.RESEED_EXPORT](store)  # it still runs: the refill alone


def test_reseed_needs_wasi_random_get():
    wasm = wat('(module (memory (export "memory") 1) (func (export "_initialize")))')
    with pytest.raises(NotSnapshottable, match="^the module does not import "
                                               "wasi_snapshot_preview1 random_get$"):
        wasmedit.from_snapshot(wasm, bytes(65536), [], [(0, 8)], [])


def test_a_captured_memory_must_be_whole_pages():
    with pytest.raises(ValueError, match="not a whole number of pages"):
        _from_snapshot(memory=bytes(65536 + 1))


def test_one_captured_value_per_global():
    with pytest.raises(ValueError, match="one captured value per defined global"):
        wasmedit.from_snapshot(wat(SNAPSHOTTED), _snapshot_memory(), [1, 2], [], [])


# -- shapes that rule a snapshot out -----------------------------------------------------------

@pytest.mark.parametrize(("module", "message"), [
    ('(module (memory 1) (func $s) (start $s))', "the module has a start function"),
    ('(module (import "env" "m" (memory 1)))', "the module imports its memory"),
    ('(module (import "env" "g" (global i32)) (memory 1))', "the module imports globals"),
    ("(module (memory 1) (memory 1))", "the module defines 2 memories (one expected)"),
    ("(module (func))", "the module defines 0 memories (one expected)"),
    ("(module (memory 1 2 shared))", "the module's memory is shared or 64-bit"),
])
def test_a_module_shape_that_rules_a_snapshot_out_is_named(module, message):
    wasm = wat(module)
    for rewrite in (lambda: wasmedit.layout(wasm), lambda: wasmedit.with_global_exports(wasm),
                    lambda: wasmedit.from_snapshot(wasm, bytes(65536), [], [], [])):
        with pytest.raises(NotSnapshottable) as e:
            rewrite()
        assert str(e.value) == message


def test_a_passive_data_segment_rules_a_snapshot_out():
    wasm = wat('(module (memory (export "memory") 1) (data "passive"))')
    with pytest.raises(NotSnapshottable) as e:
        wasmedit.from_snapshot(wasm, bytes(65536), [], [], [])
    assert str(e.value) == "the module has passive data segments"


# -- global exports and names ---------------------------------------------------------------------

def test_global_exports_export_every_defined_global_in_order():
    wasm = wasmedit.with_global_exports(wat(SNAPSHOTTED))
    store, exports = _instantiate(wasm)
    values = [exports[f"{wasmedit.GLOBAL_EXPORT_PREFIX}{k}"].value(store) for k in range(5)]
    assert values == [-7, -2, 1.25, -3.5, 0]
    assert exports["a"](store) == -7  # the module's own exports are still there


def test_global_exports_of_a_module_without_exports():
    wasm = wasmedit.with_global_exports(wat("(module (memory 1) (global i64 (i64.const 9)))"))
    store, exports = _instantiate(wasm)
    assert exports[f"{wasmedit.GLOBAL_EXPORT_PREFIX}0"].value(store) == 9


def test_function_names_come_from_the_name_section():
    wasm = wat("(module (func $first) (func $second (export \"x\")))")
    assert wasmedit.function_names(wasm) == ["first", "second"]


def test_a_module_without_name_section_has_no_function_names():
    assert wasmedit.function_names(wat("(module (func) (func))")) == []


def test_layout_counts_imported_and_defined_functions():
    lay = wasmedit.layout(wat(SNAPSHOTTED))
    assert lay.imported_funcs == {("wasi_snapshot_preview1", "random_get"): 0}
    assert (lay.n_imported_funcs, lay.n_defined_funcs) == (1, 6)
    assert lay.memory_limits == (1, 8)
    assert [(t, m) for t, m, _ in lay.globals] == [
        (0x7F, True), (0x7E, False), (0x7D, True), (0x7C, True), (0x7F, True)]
