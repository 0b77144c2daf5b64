"""The Binder set-up, end to end: a fresh virtual environment made from ``binder/`` only.

As Binder does: install ``binder/requirements.txt`` from the repository's root into a new venv,
run ``binder/postBuild``, then execute every tutorial in ``notebooks/`` on the kernel that
postBuild installed, failing on any cell error. The checkout is copied first, so the venv and
its builds never touch the working tree; all nd-notebook caches start empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nd_notebook.kernel import KERNEL_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((REPO / "notebooks").glob("*.ipynb"))
_SKIPPED = shutil.ignore_patterns(".git", ".cache", "*.egg-info", "__pycache__", ".pytest_cache",
                                  ".ruff_cache", ".ipynb_checkpoints")


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: VCS, caches, and the root's own build outputs."""
    top = {"build", "dist"} if Path(folder) == REPO else set()
    return set(_SKIPPED(folder, names)) | (top & set(names))


class BinderEnv:
    """The copied repository, its venv, the cache folder and what each step printed."""

    def __init__(self, root: Path):
        self.root = root
        self.repo = root / "repo"
        self.venv = root / "venv"
        self.cache = root / "nd-cache"
        self.python = self.venv / "bin" / "python"
        self.env = dict(os.environ, ND_NOTEBOOK_CACHE_DIR=str(self.cache),
                        PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                        VIRTUAL_ENV=str(self.venv))
        self.env.pop("EXTISM_CACHE_CONFIG", None)  # each process derives it from the cache dir
        self.env.pop("PYTHONPATH", None)
        self.seconds: dict[str, float] = {}
        self.output: dict[str, str] = {}

    def run(self, step: str, *cmd) -> None:
        started = time.perf_counter()
        done = subprocess.run([str(c) for c in cmd], cwd=self.repo, env=self.env,
                              capture_output=True, text=True, check=False)
        self.seconds[step] = time.perf_counter() - started
        self.output[step] = done.stdout + done.stderr
        assert done.returncode == 0, f"{step} failed:\n{self.output[step][-4000:]}"


def plugin_cells(notebook) -> list:
    """The ``%%ndplugin`` code cells of a notebook (a path or a read notebook)."""
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else \
        nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells
            if c.cell_type == "code" and c.source.lstrip().startswith("%%ndplugin")]


@pytest.fixture(scope="module")
def binder(tmp_path_factory) -> BinderEnv:
    """A venv built from binder/requirements.txt with binder/postBuild run in it."""
    env = BinderEnv(tmp_path_factory.mktemp("binder"))
    shutil.copytree(REPO, env.repo, ignore=_not_copied)
    env.run("venv", sys.executable, "-m", "venv", env.venv)
    env.run("pip install", env.python, "-m", "pip", "install", "-q",
            "-r", "binder/requirements.txt")
    env.run("postBuild", "bash", "binder/postBuild")
    yield env
    print("binder timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in env.seconds.items()))


def test_requirements_install_the_package_from_the_checkout(binder):
    done = subprocess.run([str(binder.python), "-c",
                           "import nd_notebook; print(nd_notebook.__file__)"],
                          cwd=binder.root, env=binder.env, capture_output=True, text=True,
                          check=True)
    assert Path(done.stdout.strip()).is_relative_to(binder.repo)


def test_postbuild_installs_the_kernel_into_the_venv(binder):
    spec = binder.venv / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    assert str(binder.python) in spec.read_text()


def test_postbuild_compiles_every_tutorial_plugin(binder):
    cells = sum(len(plugin_cells(nb)) for nb in TUTORIALS)
    assert f"warmed {cells} of {cells} plugin cells" in binder.output["postBuild"]
    assert any((binder.cache / "go-build").iterdir())


def test_postbuild_warms_the_wasm_compile_cache(binder):
    compiled = [p for p in (binder.cache / "wasmtime").rglob("*") if p.is_file()]
    assert compiled, "Extism's compiled-module cache is empty after postBuild"


@pytest.mark.parametrize("notebook", TUTORIALS, ids=[nb.stem for nb in TUTORIALS])
def test_tutorial_runs_on_the_binder_kernel(binder, notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(binder.venv / "share" / "jupyter"))
    for key in ("ND_NOTEBOOK_CACHE_DIR", "PATH", "VIRTUAL_ENV"):
        monkeypatch.setenv(key, binder.env[key])
    monkeypatch.delenv("EXTISM_CACHE_CONFIG", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as on Binder
    copy = tmp_path / notebook.name
    shutil.copy(binder.repo / "notebooks" / notebook.name, copy)
    nb = nbformat.read(copy, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    binder.seconds[notebook.stem] = time.perf_counter() - started
    summaries = [out.get("data", {}).get("text/plain", "")
                 for cell in plugin_cells(nb) for out in cell.get("outputs", [])]
    builds = [line for text in summaries for line in text.splitlines() if "  build " in line]
    assert all("cache hit" in line for line in builds), builds
