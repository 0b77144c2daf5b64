"""One plugin call on a fresh instance: nd-notebook against a bare Extism fresh instance of the
same module (Navidrome's way: create, call, free), as ratios measured in the same run.

Run: python bench/call.py [--calls N] [--gap-ms MS]

The module is the sample plugin (nd_notebook/samples/hello.go) built with the bundled PDK; the
export is ``nd_get_artist_url`` (no host call, so the figures are the instance's).
Printed, each the median of N calls (milliseconds per call):

Each nd-notebook row also gives the mean (the back-to-back median alone would hide the calls
that initialise inline).

- bare Extism:       ``Plugin(compiled)``, call, free, one after the other (measured before and
                     after the rest; their mean is the baseline)
After 20 warm-up calls each nd-notebook run waits until the plugin's memory snapshot is in use
(runtime/snapshot.py: taken in the background after a few calls), the steady state.

- nd-notebook paced: ``LoadedPlugin.call`` once every ``--gap-ms`` (5 ms): instances prepared
                     ahead on the background thread are ready (the notebook / Navidrome pace)
- nd-notebook back-to-back: calls with no pause: the background thread cannot prepare every
                     instance in time on 2 cores, so part of the calls initialise inline
- with ``snapshots=False``: the same Host path, every init inline

The issue's target: paced / bare <= 0.5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Imported now: Host() would import it on a background thread during the first measurement
# (manifest.prefetch_schema_support).
import jsonschema  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
EXPORT = "nd_get_artist_url"
REQUEST = b'{"id":"a1","name":"Nina Simone","mbid":""}'
MANIFEST = {"name": "bench", "author": "bench", "version": "1",
            "permissions": {"cache": {}, "kvstore": {}, "config": {}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from nd_notebook import build

    wasm = build((REPO / "nd_notebook" / "samples" / "hello.go").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-call-") as tmp:
        before = bare_call_ms(wasm, args.calls)
        paced = host_call_ms(Path(tmp) / "on", wasm, args.calls, args.gap_ms / 1000, True)
        burst = host_call_ms(Path(tmp) / "on2", wasm, args.calls, 0, True)
        off = host_call_ms(Path(tmp) / "off", wasm, args.calls, args.gap_ms / 1000, False)
        after = bare_call_ms(wasm, args.calls)
    bare = (before + after) / 2
    print(f"bare Extism fresh instance   {bare:7.3f} ms/call  (baseline: {before:.3f} before, "
          f"{after:.3f} after)")
    for label, (ms, mean, hits) in (("nd-notebook paced          ", paced),
                                    ("nd-notebook back-to-back   ", burst),
                                    ("nd-notebook snapshots off  ", off)):
        print(f"{label}   {ms:7.3f} ms/call  ratio {ms / bare:5.2f}  (mean {mean:.3f} ms, "
              f"ratio {mean / bare:.2f}; {hits:.0%} of calls on an instance prepared ahead)")
    print(f"memory snapshot: {_states[0]!r} (paced), {_states[1]!r} (back-to-back), "
          f"{_states[2]!r} (off)")
    print(f"target: paced / bare <= 0.5 -> {paced[0] / bare:.2f}; "
          f"back-to-back / bare -> {burst[0] / bare:.2f}")


def bare_call_ms(wasm: bytes, n: int) -> float:
    """Median ms of create + call + free with libextism, host functions stubbed (never called)."""
    import extism
    from extism.extism import CompiledPlugin, Plugin

    from nd_notebook.paths import use_project_caches
    from nd_notebook.runtime.wasminfo import module_info

    global _STUB
    use_project_caches()
    _STUB = _STUB or _make_stub()
    stubs = [extism.Function("extism:host/user", name, [extism.ValType.I64],
                             [extism.ValType.I64], _STUB)
             for name in module_info(wasm).imported_functions("extism:host/user")]
    compiled = CompiledPlugin({"wasm": [{"data": wasm}], "timeout_ms": 30_000}, wasi=True,
                              functions=stubs)
    times = []
    for i in range(n + 20):
        started = time.perf_counter()
        with Plugin(compiled) as plugin:
            plugin.call(EXPORT, REQUEST)
        if i >= 20:  # warm-up left out
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _make_stub():
    from extism_sys import ffi

    @ffi.callback("void(ExtismCurrentPlugin*, const ExtismVal*, ExtismSize, ExtismVal*, "
                  "ExtismSize, void*)")
    def stub(current, inputs, n_inputs, outputs, n_outputs, user_data):
        outputs[0].v.i64 = 0

    return stub


_STUB = None
_states: list[str] = []


def host_call_ms(folder: Path, wasm: bytes, n: int, gap: float,
                 snapshots: bool) -> tuple[float, float, float]:
    """(median and mean ms per LoadedPlugin.call, share of calls on a prepared instance)."""
    from nd_notebook import Host

    with Host(folder, snapshots=snapshots) as host:
        plugin = host.load(wasm, manifest=MANIFEST, name="bench", init=False)
        for _ in range(20):
            plugin.call(EXPORT, REQUEST, raw=True)
            time.sleep(0.005)
        plugin.instances.snapshot_ready.wait(120)  # the steady state: snapshot in use
        _states.append(plugin.instances.snapshot)
        hits = plugin.instances.prepared_hits
        times = []
        for _ in range(n):
            started = time.perf_counter()
            plugin.call(EXPORT, REQUEST, raw=True)
            times.append(time.perf_counter() - started)
            if gap:
                time.sleep(gap)
        return (statistics.median(times) * 1000, statistics.mean(times) * 1000,
                (plugin.instances.prepared_hits - hits) / n)


if __name__ == "__main__":
    main()
