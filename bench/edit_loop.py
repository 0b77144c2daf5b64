"""The edit loop: a one-line edit of the sample plugin until its first result (build + load +
call through nd-notebook), against a bare wasmtime compile (Extism ``CompiledPlugin``) of the
same edited plugin built with the upstream-style PDK (encoding/json), measured in the same run.

Run: python bench/edit_loop.py [--repeat N]

Each round edits one line of nd_notebook/samples/hello.go (the artist URL's prefix, made unique
so that neither the Go build cache nor Extism's compiled-module cache can answer), then:

- nd-notebook: ``nd_notebook.build(source)`` (bundled lean PDK), ``host.load`` on a Host kept
  across rounds (as a notebook does), ``plugin.metadata.artist_url(...)``: wall seconds from the
  edit until the result is in hand;
- baseline: the same edited source built beforehand against the encoding/json PDK tree
  (``generate(lean=False)``, as bench/load.py builds it), then timed: ``CompiledPlugin`` of it
  alone (no build, no instance, no call).

Printed: the medians over N rounds (interleaved) and their ratio; the issue's target is
nd-notebook / baseline <= 0.65.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Imported now: Host() would import it on a background thread during the first measurement
# (manifest.prefetch_schema_support).
import jsonschema  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
LINE = '"https://example.org/artist/"'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    work = Path(tempfile.mkdtemp(prefix="edit-loop-"))
    try:
        run(work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, repeat: int) -> None:
    from extism.extism import CompiledPlugin
    from load import build as build_against  # bench/load.py: go build against a PDK tree

    import nd_notebook
    from nd_notebook import Host
    from nd_notebook.pdk.generate import write
    from nd_notebook.runtime.output import LOG_FILTER  # noqa: F401 - sets Extism's env first

    sample = (REPO / "nd_notebook" / "samples" / "hello.go").read_text()
    manifest = REPO / "nd_notebook" / "samples" / "hello.manifest.json"
    if LINE not in sample:
        raise SystemExit(f"the sample no longer has the line this benchmark edits ({LINE})")
    baseline_pdk = work / "pdk-encoding-json"
    write(baseline_pdk, lean=False)
    nd_notebook.build(sample)  # the Go toolchain and build cache warm, as in a session
    ours, bare, parts = [], [], []
    with Host(work / "host") as host:
        for i in range(repeat + 1):
            edited = sample.replace(LINE, f'"https://example.org/r{os.getpid()}-{i}-{time.time_ns()}/"')
            baseline_wasm = build_against(edited, baseline_pdk, work)
            started = time.perf_counter()
            compiled = CompiledPlugin({"wasm": [{"data": baseline_wasm}]}, wasi=True,
                                      functions=_stubs(baseline_wasm))
            compile_s = time.perf_counter() - started
            del compiled
            started = time.perf_counter()
            wasm = nd_notebook.build(edited)
            built = time.perf_counter()
            plugin = host.load(wasm, manifest=manifest, name="hello", config={"greeting": "Hi"})
            loaded = time.perf_counter()
            url = plugin.metadata.artist_url(name="Nina")
            first_result_s = time.perf_counter() - started
            parts.append((built - started, loaded - built, started + first_result_s - loaded))
            assert url["url"].endswith("/Nina"), url
            if i:  # round 0 warms both paths
                ours.append(first_result_s)
                bare.append(compile_s)
                print(f"round {i}: edit -> first result {first_result_s:.3f} s, bare compile "
                      f"(encoding/json PDK) {compile_s:.3f} s, ratio {first_result_s / compile_s:.2f}")
    a, b = statistics.median(ours), statistics.median(bare)
    build_s, load_s, call_s = (statistics.median(p[k] for p in parts[1:]) for k in range(3))
    print(f"nd-notebook parts (medians): go build {build_s:.3f} s, load {load_s:.3f} s (mostly "
          f"wasmtime compiling the lean module), call {call_s:.3f} s")
    print(f"median: edit -> first result {a:.3f} s; bare CompiledPlugin of the encoding/json "
          f"build {b:.3f} s; ratio {a / b:.2f} (target <= 0.65)")


def _stubs(wasm: bytes):
    """Host functions the module imports, linked but never called (only compiled here)."""
    import extism
    from extism_sys import ffi

    from nd_notebook.runtime.wasminfo import module_info

    global _STUB
    if _STUB is None:
        @ffi.callback("void(ExtismCurrentPlugin*, const ExtismVal*, ExtismSize, ExtismVal*, "
                      "ExtismSize, void*)")
        def _STUB(current, inputs, n_inputs, outputs, n_outputs, user_data):
            outputs[0].v.i64 = 0

    return [extism.Function("extism:host/user", name, [extism.ValType.I64],
                            [extism.ValType.I64], _STUB)
            for name in module_info(wasm).imported_functions("extism:host/user")]


_STUB = None

if __name__ == "__main__":
    main()
