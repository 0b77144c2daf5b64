"""Resource caps: wasm memory per call, output size, host-call request size, concurrent calls;
each error names its limit and how to raise it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from watplugins import host_call_plugin, outcomes_plugin

from nd_notebook import Host
from nd_notebook.errors import MemoryLimitError, OutputLimitError, PluginCallFailedError
from nd_notebook.runtime.limits import CallSlots, parse_size

TESTS = Path(__file__).resolve().parent
GiB, MiB = 1 << 30, 1 << 20


@pytest.fixture(scope="module")
def hog_wasm():
    from capsplugins import hog_wasm

    return hog_wasm()


# -- memory ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_unbounded_allocation_ends_with_an_error_naming_the_memory_limit(tmp_path, hog_wasm):
    with Host(tmp_path, max_memory="64MiB") as h, pytest.raises(MemoryLimitError) as e:
        h.load(hog_wasm, name="hog").call("nd_hog")
    assert str(e.value) == (
        "plugin call failed: out of memory: plugin 'hog' reached its memory limit of 64 MiB "
        "(max_memory, 1024 wasm pages, its own memory and Extism's together); raise it with "
        "host.load(..., max_memory=\"2GiB\") or Host(max_memory=...)")
    assert e.value.limit == 64 * MiB


@pytest.mark.slow
def test_default_memory_limit_is_one_gib(tmp_path, hog_wasm):
    with Host(tmp_path) as h, pytest.raises(MemoryLimitError) as e:
        h.load(hog_wasm, name="hog").call("nd_hog")
    assert "reached its memory limit of 1 GiB (max_memory, 16384 wasm pages" in str(e.value)


@pytest.mark.slow
def test_max_memory_of_load_overrides_the_hosts(tmp_path, hog_wasm):
    with Host(tmp_path, max_memory="1GiB") as h, pytest.raises(MemoryLimitError) as e:
        h.load(hog_wasm, name="hog", max_memory=32 * MiB).call("nd_hog")
    assert e.value.limit == 32 * MiB


@pytest.mark.slow
def test_memory_error_is_a_plugin_call_failed_error(tmp_path, hog_wasm):
    with Host(tmp_path, max_memory="64MiB") as h, pytest.raises(PluginCallFailedError):
        h.load(hog_wasm, name="hog").call("nd_hog")


@pytest.mark.slow
def test_plugin_stays_usable_after_reaching_its_memory_limit(tmp_path, hog_wasm):
    with Host(tmp_path, max_memory="64MiB") as h:
        plugin = h.load(hog_wasm, name="hog")
        with pytest.raises(MemoryLimitError):
            plugin.call("nd_hog")
        assert plugin.call("nd_hello") == "hello"


@pytest.mark.slow
def test_output_built_past_the_memory_limit_is_a_memory_error(tmp_path, hog_wasm):
    # nd_big holds the bytes twice: in its Go heap and in Extism's output block.
    with Host(tmp_path, max_memory="64MiB") as h, pytest.raises(MemoryLimitError):
        h.load(hog_wasm, name="hog").call("nd_big", str(40 * MiB).encode())


@pytest.mark.slow
def test_a_plugin_returning_3_gib_is_refused_without_the_process_growing_past_the_cap(
        tmp_path, hog_wasm):
    wasm = _warm(tmp_path, hog_wasm)
    base, peak = _peak_rss_of(f"""
from nd_notebook import Host
from nd_notebook.errors import MemoryLimitError
h = Host({str(tmp_path / 'data')!r})
p = h.load(open({str(wasm)!r}, 'rb').read(), name='big')
print(_hwm())
try:
    p.call('nd_big', b'3221225472')
except MemoryLimitError:
    pass
else:
    raise SystemExit('not refused')
""")
    assert peak - base < 0.25 * GiB  # refused before the 3 GiB were ever allocated


@pytest.mark.slow
def test_unbounded_allocation_stays_under_the_default_cap(tmp_path, hog_wasm):
    wasm = _warm(tmp_path, hog_wasm)
    base, peak = _peak_rss_of(f"""
from nd_notebook import Host
from nd_notebook.errors import MemoryLimitError
h = Host({str(tmp_path / 'data')!r})
p = h.load(open({str(wasm)!r}, 'rb').read(), name='hog')
print(_hwm())
try:
    p.call('nd_hog')
except MemoryLimitError:
    pass
else:
    raise SystemExit('no memory error')
""")
    assert 0.75 * GiB < peak - base < 1.25 * GiB  # grew up to the 1 GiB cap, not past it


def _warm(tmp_path, wasm_bytes: bytes):
    """The module written to a file, its compiled form already in the compile cache: so the
    subprocess's load is a cache hit and its peak RSS measures the call, not the compiler."""
    wasm = tmp_path / "hog.wasm"
    wasm.write_bytes(wasm_bytes)
    before = os.environ.get("ND_NOTEBOOK_SNAPSHOTS")
    os.environ["ND_NOTEBOOK_SNAPSHOTS"] = "0"  # as in _peak_rss_of: no background compile
    try:
        with Host(tmp_path / "warm") as h:
            h.load(wasm_bytes, name="warm")
    finally:
        if before is None:
            del os.environ["ND_NOTEBOOK_SNAPSHOTS"]
        else:
            os.environ["ND_NOTEBOOK_SNAPSHOTS"] = before
    return wasm


def _peak_rss_of(code: str) -> tuple[int, int]:
    """Run ``code`` in a fresh interpreter: (its peak RSS printed before the call, its peak RSS
    at the end), in bytes. Read from the process's own VmHWM, which starts afresh at exec
    (getrusage's ru_maxrss keeps the forking parent's high-water mark)."""
    hwm = ("def _hwm():\n"
           "    for line in open('/proc/self/status'):\n"
           "        if line.startswith('VmHWM:'):\n"
           "            return int(line.split()[1]) * 1024\n")
    code = hwm + code + "\nprint(_hwm())\n"
    # Instances prepared ahead (a background compile) would make the load's peak hide the
    # call's: these tests measure the call.
    env = {**os.environ, "ND_NOTEBOOK_SNAPSHOTS": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=300, cwd=TESTS, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    return int(lines[-2]), int(lines[-1])


# -- output ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_output_longer_than_max_output_is_refused_naming_the_limit(tmp_path, hog_wasm):
    with Host(tmp_path, max_output="1MiB") as h, pytest.raises(OutputLimitError) as e:
        h.load(hog_wasm, name="big").call("nd_big", str(2 * MiB).encode(), raw=True)
    assert str(e.value) == (
        "plugin call failed: output of 2,097,152 bytes exceeds the output limit of 1 MiB "
        "(max_output); raise it with host.load(..., max_output=...) or Host(max_output=...)")


@pytest.mark.slow
def test_output_of_exactly_max_output_passes(tmp_path, hog_wasm):
    with Host(tmp_path, max_output="1MiB") as h:
        out = h.load(hog_wasm, name="big").call("nd_big", str(MiB).encode(), raw=True)
    assert len(out) == MiB


@pytest.mark.slow
def test_max_output_of_load_overrides_the_hosts(tmp_path, hog_wasm):
    with Host(tmp_path, max_output="1MiB") as h:
        out = h.load(hog_wasm, name="big", max_output="4MiB").call(
            "nd_big", str(2 * MiB).encode(), raw=True)
    assert len(out) == 2 * MiB


def test_default_output_limit_is_64_mib(tmp_path):
    with Host(tmp_path) as h:
        plugin = h.load(outcomes_plugin(), name="o")
    assert plugin.caps.max_output == 64 * MiB


# -- host-call requests ----------------------------------------------------------------------

@pytest.fixture
def config_plugin(tmp_path):
    with Host(tmp_path, max_request="1KiB") as h:
        yield h, h.load(host_call_plugin("config_get"), name="cfg", config={"k": "v"})


def _request_of(size: int) -> bytes:
    body = b'{"key":"k","pad":""}'
    return body[:-2] + b"x" * (size - len(body)) + b'"}'


def test_host_call_request_over_max_request_gets_an_in_band_error(config_plugin):
    _, plugin = config_plugin
    out = plugin.call("call_config_get", _request_of(1025), raw=True)
    assert json.loads(out) == {"error": (
        "config_get request of 1,025 bytes exceeds the host-call request limit of 1 KiB "
        "(nd-notebook's max_request; raise it with Host(max_request=...))")}


def test_host_call_request_of_exactly_max_request_is_served(config_plugin):
    _, plugin = config_plugin
    out = plugin.call("call_config_get", _request_of(1024), raw=True)
    assert json.loads(out) == {"value": "v", "exists": True}


def test_refused_host_call_request_is_recorded_as_a_failed_host_call(config_plugin):
    host, plugin = config_plugin
    plugin.call("call_config_get", _request_of(4096), raw=True)
    calls = host.host_calls()
    assert calls["function"].tolist() == ["config_get"]
    assert calls["error"].iloc[0].startswith("config_get request of 4,096 bytes exceeds")


def test_default_request_limit_is_16_mib(tmp_path):
    with Host(tmp_path) as h:
        assert h.limits.max_request == 16 * MiB


# -- concurrent calls ------------------------------------------------------------------------

def test_calls_beyond_max_concurrent_calls_wait_for_a_free_slot(tmp_path):
    with Host(tmp_path, max_concurrent_calls=1, timeout_ms=500) as h:
        plugin = h.load(outcomes_plugin(), name="o")
        spinning = threading.Thread(target=lambda: pytest.raises(PluginCallFailedError,
                                                                  plugin.call, "nd_spin"))
        spinning.start()
        time.sleep(0.1)
        started = time.perf_counter()
        assert plugin.call("nd_echo", {"a": 1}) == {"a": 1}
        waited = time.perf_counter() - started
        spinning.join()
    assert waited > 0.25


def test_no_free_slot_within_the_timeout_names_max_concurrent_calls():
    slots = CallSlots(1)
    held = threading.Event()
    done = threading.Event()

    def hold():
        slots.acquire(1, "nd_a")
        held.set()
        done.wait(5)
        slots.release()

    threading.Thread(target=hold).start()
    held.wait(5)
    try:
        with pytest.raises(PluginCallFailedError) as e:
            slots.acquire(0.05, "nd_b")
    finally:
        done.set()
    assert str(e.value) == (
        "plugin call failed: 1 calls of this Host were still running after 0.05 s "
        "(max_concurrent_calls=1; raise it with Host(max_concurrent_calls=...))")


def test_a_nested_call_on_the_same_thread_takes_no_new_slot():
    slots = CallSlots(1)
    slots.acquire(0.05, "nd_outer")
    slots.acquire(0.05, "nd_inner")  # a host function calling back into a plugin
    slots.release()
    slots.release()
    slots.acquire(0.05, "nd_next")
    slots.release()


# -- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "size"), [("1GiB", GiB), ("512 MiB", 512 * MiB),
                                            ("64MB", 64_000_000), ("1.5GiB", 3 * GiB // 2),
                                            (4096, 4096)])
def test_sizes_are_bytes_or_texts_with_units(text, size):
    assert parse_size(text, "max_memory") == size


@pytest.mark.parametrize("value", [0, -1, "lots", "1 parsec", None, True, 1.5])
def test_a_bad_size_is_a_clear_error(tmp_path, value):
    with pytest.raises(ValueError) as e:
        Host(tmp_path, max_output=value)
    assert str(e.value) == ("max_output must be a positive size in bytes or a text such as "
                            f"'1GiB', '512MiB' or '64MB', not {value!r}")


def test_max_memory_past_what_wasm32_addresses_is_refused(tmp_path):
    with pytest.raises(ValueError) as e:
        Host(tmp_path, max_memory="8GiB")
    assert str(e.value) == ("max_memory can be at most 4 GiB (65536 wasm pages, all a wasm32 "
                            "module can address), not 8 GiB")


@pytest.mark.parametrize("value", [0, -2, None, 1.5, True])
def test_max_concurrent_calls_is_a_positive_integer(tmp_path, value):
    with pytest.raises(ValueError, match="max_concurrent_calls must be a positive integer"):
        Host(tmp_path, max_concurrent_calls=value)
