"""Nothing a test run does lands in the home directory or the caller's XDG cache: every cache
(Go build and module caches, compiled wasm, Extism's compile cache, matplotlib, Jupyter,
hypothesis) goes into the checkout's .cache/test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_test_run_writes_nothing_to_home_or_the_callers_xdg_cache(tmp_path):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(xdg)}
    for key in ("ND_NOTEBOOK_CACHE_DIR", "MPLCONFIGDIR", "IPYTHONDIR"):
        env.pop(key, None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_runtime_go.py",
         "tests/test_charts.py::test_throughput_has_titles_units_and_legends"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in home.rglob("*")) == []
    assert sorted(p.relative_to(tmp_path).as_posix() for p in xdg.rglob("*")) == []


def test_extisms_module_cache_keeps_its_entries_at_the_baseline_compression(tmp_path,
                                                                            monkeypatch):
    # wasmtime would recompress an entry read 256 times at zstd level 20 on a background
    # thread (seconds of CPU taken from the calls); equal levels leave nothing to recompress.
    from nd_notebook import paths

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    monkeypatch.setenv("ND_NOTEBOOK_CACHE_DIR", str(tmp_path))
    cache = tomllib.loads(paths.extism_cache_config().read_text())["cache"]
    assert cache == {"directory": (tmp_path / "wasmtime").as_posix(),
                     "baseline-compression-level": 3, "optimized-compression-level": 3}
