"""README.md's code blocks run as written.

- the first block (```bash) is the two commands, checked word for word (running them is what
  the suite itself is);
- ```python blocks and ```go blocks (notebook cells: ``%%ndplugin``/``%%ndfile``) run in order
  as the cells of one notebook on the "Navidrome Plugins" kernel, failing on any error;
- a ```python block starting with ``# test_NAME.py`` is a pytest file: written and run with pytest;
- ```console blocks: each ``$ `` line runs in a shell and must exit 0;
- ```text blocks are not code.

Everything runs in a temporary folder; the command lines in a folder beside it holding a copy of
``nd_notebook/samples``, since they are written for the checkout's root (the notebook must not
run there: that copy would shadow the package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from test_kernel import kernel_prefix  # noqa: F401 - fixture

from nd_notebook.kernel import KERNEL_NAME

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
LANGS = {"bash", "python", "go", "console", "text"}


def blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of README.md, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(README.read_text(encoding="utf-8"))]


def is_test_file(lang: str, code: str) -> bool:
    return lang == "python" and re.match(r"# (test_\w+\.py)", code) is not None


def test_first_block_is_the_two_commands():
    lang, code = blocks()[0]
    commands = [line.split("#", 1)[0].strip() for line in code.splitlines()]
    assert lang == "bash"
    assert commands == ['pip install -e ".[dev]" && nd-notebook demo', "pytest"]


def test_every_block_is_one_this_file_runs():
    found = blocks()
    assert {lang for lang, _ in found} <= LANGS
    assert [lang for lang, _ in found].count("bash") == 1
    for lang, code in found:
        if lang == "go":  # a Go block is a notebook cell, or nothing could run it
            assert code.startswith(("%%ndplugin", "%%ndfile")), code[:60]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def checkout_root(tmp_path) -> Path:
    """Where the command lines run: what they use of the checkout's root."""
    root = tmp_path / "root"
    shutil.copytree(REPO / "nd_notebook" / "samples", root / "nd_notebook" / "samples")
    return root


@pytest.mark.slow
def test_readme_blocks_run_as_written(workdir, checkout_root, kernel_prefix,  # noqa: F811
                                      monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    found = blocks()
    cells = [code for lang, code in found
             if lang in ("python", "go") and not is_test_file(lang, code)]
    nb = new_notebook(cells=[new_code_cell(code) for code in cells])
    NotebookClient(nb, timeout=300, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    assert (workdir / "hello.ndp").is_file()

    for lang, code in found:
        if is_test_file(lang, code):
            name = re.match(r"# (test_\w+\.py)", code).group(1)
            (workdir / name).write_text(code, encoding="utf-8")
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   name], cwd=workdir, capture_output=True, text=True,
                                  check=False)
            assert done.returncode == 0, done.stdout + done.stderr
        elif lang == "console":
            for line in code.splitlines():
                if not line.startswith("$ "):
                    continue
                done = subprocess.run(line[2:], shell=True, cwd=checkout_root, capture_output=True,
                                      text=True, check=False)
                assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
