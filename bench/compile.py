"""Compile-loop benchmark: cold build vs one-line-edit rebuild vs unchanged re-run.

Run as ``python bench/compile.py``. Everything runs in one process against a fresh, empty cache
folder (so the cold build really starts with an empty Go build cache), and the two warm cases are
reported as ratios of the cold one:

  (a) cold build      empty GOCACHE: the Go runtime and standard library compile too
  (b) one-line edit   warm GOCACHE: only the plugin package is recompiled and relinked
  (c) unchanged       content-addressed cache hit: no compiler runs at all
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PLAIN = """package main

import "strings"

//go:wasmexport greet
func greet() int32 {
	_ = strings.ToUpper("GREETING")
	return 0
}

func main() {}
"""

WITH_PDK = """package main

import "github.com/navidrome/navidrome/plugins/pdk/go/pdk"

//go:wasmexport greet
func greet() int32 {
	pdk.OutputString("GREETING " + pdk.InputString())
	return 0
}

func main() {}
"""


def main() -> None:
    """Measure the three cases in a throw-away cache folder and print times and ratios."""
    base = REPO / ".cache" / "bench"
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="compile-", dir=base))
    os.environ["ND_NOTEBOOK_CACHE_DIR"] = str(scratch)
    try:
        run()
    finally:
        _remove(scratch)


def run() -> None:
    """The measurement itself (the cache folder is already fresh)."""
    from nd_notebook.build import build_detailed, pdk_dir, toolchain_info

    with_pdk = (pdk_dir() / "go.mod").is_file()
    source = WITH_PDK if with_pdk else PLAIN
    info = toolchain_info()
    print(f"toolchain: {info['go_version']} ({info['go_origin']})")
    if with_pdk:
        print("plugin:    imports the bundled Navidrome PDK (github.com/navidrome/.../pdk)")
    else:
        print("plugin:    plain Go (bundled PDK not found, so no PDK import)")

    cold = build_detailed(source)
    edited_source = source.replace("GREETING", "Hello")
    edit = build_detailed(edited_source)
    hit = build_detailed(edited_source)
    assert (cold.cached, edit.cached, hit.cached) == (False, False, True)

    print(f"wasm size: {len(cold.wasm) / 1e6:.2f} MB")
    print(f"(a) cold build (empty GOCACHE):     {cold.seconds:8.3f} s")
    print(f"(b) rebuild after a one-line edit:  {edit.seconds:8.3f} s")
    print(f"(c) unchanged re-run (cache hit):   {hit.seconds:8.5f} s")
    print(f"ratio (b)/(a): {edit.seconds / cold.seconds:.3f}")
    print(f"ratio (c)/(a): {hit.seconds / cold.seconds:.6f}")


def _remove(folder: Path) -> None:
    # Go marks module-cache folders read-only; make them writable before deleting.
    for root, dirs, _ in os.walk(folder):
        for d in dirs:
            os.chmod(Path(root, d), 0o700)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
