"""The nd-notebook command, run as a real subprocess (cache variables come from conftest)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nd_notebook import Host, __version__

WAT = """(module
  (import "extism:host/user" "cache_has" (func $has (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "nd_get_artist_url") (result i32) (i32.const -2)))
"""


def nd_notebook(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed console script (falling back to ``python -m`` without one)."""
    beside = Path(sys.executable).parent / "nd-notebook"
    script = str(beside) if beside.exists() else shutil.which("nd-notebook")
    command = [script] if script else [sys.executable, "-m", "nd_notebook.cli"]
    return subprocess.run([*command, *args], check=False, capture_output=True, text=True,
                          cwd=cwd, env=os.environ.copy(), timeout=600)


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess:
    return nd_notebook("demo")


@pytest.mark.slow
def test_demo_exits_zero(demo):
    assert demo.returncode == 0, demo.stderr


@pytest.mark.slow
def test_demo_reports_build_and_load(demo):
    assert "build   go version go" in demo.stdout
    assert "load    plugin 'hello'" in demo.stdout
    assert "capabilities: MetadataAgent, Lifecycle" in demo.stdout
    assert "permissions:  cache, kvstore (maxSize=10KB)" in demo.stdout


@pytest.mark.slow
def test_demo_calls_return_what_navidrome_would(demo):
    out = demo.stdout
    bio = '-> {"biography": "Welcome, Nina Simone! (written on lookup #1)"}'
    assert out.count(bio) == 2  # the second answer comes from the cache
    assert '-> {"url": "https://example.org/artist/Nina%20Simone"}' in out
    assert "-> error: function not implemented: nd_get_artist_mbid" in out


@pytest.mark.slow
def test_demo_prints_the_host_calls_it_made(demo):
    lines = demo.stdout.split("host calls made by the plugin (")[1].splitlines()
    functions = [line.split()[2] for line in lines[2:] if line.strip()
                 and not line.startswith("done")]
    # per biography call: kvstore get+set, then a cache miss (and set) or a cache hit
    assert functions == ["kvstore_get", "kvstore_set", "cache_getstring", "config_get",
                         "cache_setstring", "kvstore_get", "kvstore_set", "cache_getstring"]
    assert '{"key": "lookups:Nina Simone", "value": "Mg=="}' in demo.stdout  # "2", base64


def test_version():
    result = nd_notebook("--version")
    assert result.stdout.strip() == f"nd-notebook {__version__}"


def test_build_writes_wasm(tmp_path):
    (tmp_path / "plugin.wat").write_text(WAT)
    result = nd_notebook("build", str(tmp_path / "plugin.wat"), "-o", str(tmp_path / "p.wasm"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.wasm").read_bytes()[:4] == b"\0asm"


def test_build_error_exits_one_with_cell_line(tmp_path):
    (tmp_path / "bad.wat").write_text("(module\n  (func (i32.nonsense)))\n")
    result = nd_notebook("build", str(tmp_path / "bad.wat"), "-o", str(tmp_path / "p.wasm"))
    assert result.returncode == 1
    assert "compile error" in result.stderr and "line 2" in result.stderr
    assert not (tmp_path / "p.wasm").exists()


def test_package_writes_an_ndp_that_loads(tmp_path):
    (tmp_path / "plugin.wat").write_text(WAT)
    manifest = {"name": "Packaged", "author": "tests", "version": "1.0.0",
                "permissions": {"cache": {}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    result = nd_notebook("package", str(tmp_path / "plugin.wat"),
                         "--manifest", str(tmp_path / "manifest.json"),
                         "-o", str(tmp_path / "packaged.ndp"))
    assert result.returncode == 0, result.stderr
    with Host(tmp_path / "data") as host:
        plugin = host.load(tmp_path / "packaged.ndp")
        assert plugin.id == "packaged"
        assert plugin.manifest.to_dict()["name"] == "Packaged"
        assert plugin.capabilities == ["MetadataAgent"]


def test_package_with_invalid_manifest_exits_one(tmp_path):
    (tmp_path / "plugin.wat").write_text(WAT)
    (tmp_path / "manifest.json").write_text(json.dumps({"author": "x", "version": "1"}))
    result = nd_notebook("package", str(tmp_path / "plugin.wat"),
                         "--manifest", str(tmp_path / "manifest.json"),
                         "-o", str(tmp_path / "p.ndp"))
    assert result.returncode == 1
    assert "field name in Manifest: required" in result.stderr


def test_kernel_install_into_a_prefix(tmp_path):
    result = nd_notebook("kernel", "install", "--prefix", str(tmp_path))
    assert result.returncode == 0, result.stderr
    spec = json.loads((tmp_path / "share/jupyter/kernels/nd-notebook/kernel.json").read_text())
    assert spec["display_name"] == "Navidrome Plugins"
    assert "--IPKernelApp.extra_extensions=nd_notebook" in spec["argv"]


def test_no_command_prints_help_and_exits_two():
    result = nd_notebook()
    assert result.returncode == 2
    assert "demo" in result.stdout and "kernel" in result.stdout
