"""The "Navidrome Plugins" kernelspec, and the first tutorial executed on a real Jupyter kernel."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from nd_notebook.kernel import KERNEL_NAME, install_kernelspec

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01-first-plugin.ipynb"


@pytest.fixture
def kernel_prefix(tmp_path, monkeypatch) -> Path:
    """The kernelspec installed into a temporary prefix that Jupyter searches."""
    prefix = tmp_path / "prefix"
    install_kernelspec(prefix=prefix)
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    return prefix


def test_install_writes_a_spec_that_preloads_the_extension(kernel_prefix):
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.display_name == "Navidrome Plugins"
    assert spec.argv[1:5] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert "--IPKernelApp.extra_extensions=nd_notebook" in spec.argv
    assert Path(spec.resource_dir) == kernel_prefix / "share/jupyter/kernels" / KERNEL_NAME


def test_install_uses_the_running_interpreter(kernel_prefix):
    import sys

    spec = json.loads((kernel_prefix / "share/jupyter/kernels" / KERNEL_NAME / "kernel.json")
                      .read_text())
    assert spec["argv"][0] == sys.executable


def test_reinstall_replaces_the_spec(kernel_prefix):
    path = install_kernelspec(prefix=kernel_prefix)
    assert Path(path) == kernel_prefix / "share/jupyter/kernels" / KERNEL_NAME


@pytest.fixture
def executed(kernel_prefix, tmp_path):
    """notebooks/01-first-plugin.ipynb run top to bottom on the installed kernel."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    assert nb.metadata.kernelspec.name == KERNEL_NAME
    NotebookClient(nb, timeout=600, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(work)}}).execute()
    return nb, work


def outputs_text(cell) -> str:
    parts = []
    previous = None
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and previous is not None and \
                previous.output_type == "stream" and previous.name == out.name:
            parts[-1] += out.text  # one print may arrive in several chunks
        elif out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n" + "\n".join(out.traceback))
        previous = out
    return "\n".join(parts)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.slow
def test_first_tutorial_runs_on_the_navidrome_kernel(executed):
    nb, work = executed
    cells = [outputs_text(c) for c in code_cells(nb)]
    magic, call, typed, kv, calls, mbid, export, reload, strict, listing = cells

    assert "plugin 'hello' loaded" in magic and "MetadataAgent" in magic
    assert call == "{'biography': 'Hi, Björk!'}"
    assert typed == "{'biography': 'Hi, Björk!'}"
    assert kv == "(b'2', True)"
    assert "kvstore_get" in calls and "cache_setstring" in calls
    assert mbid.strip() == "function not implemented: nd_get_artist_mbid"
    assert "hello.ndp" in export and (work / "hello.ndp").exists()
    assert reload.splitlines() == ["same manifest: True", "same wasm: True",
                                   "{'biography': 'Hej, Björk!'}"]
    assert strict.startswith("LoadError: ")
    assert "'cache' permission" in strict and "Traceback" not in strict
    assert "hello" in listing and "strict" not in listing


TASKS_NOTEBOOK = NOTEBOOK.parent / "07-task-queues.ipynb"


@pytest.mark.slow
def test_tasks_tutorial_runs_six_virtual_hours(kernel_prefix, tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the plot
    nb = nbformat.read(TASKS_NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == KERNEL_NAME
    NotebookClient(nb, timeout=600, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = code_cells(nb)
    texts = [outputs_text(c) for c in cells]
    _, magic, ran, tasks, kinds, fired, retries, attempts, budget, *_plots, _dash, replayed = \
        texts

    assert "Lifecycle, Scheduler, TaskWorker" in magic
    assert "6 virtual hours in" in ran
    # the 02:00 and 04:00 batches: three tasks each, completed on their third attempt
    for n in (1, 2, 3):
        assert f"fetched refresh-{n}    2" in tasks
    assert "task_retry_scheduled" in kinds and "schedule_fired" in kinds
    assert fired.count("every-two-hours") == 3
    assert "02:00:00+00:00" in fired and "04:00:00+00:00" in fired and "06:00:00+00:00" in fired
    # backoff doubles: 60 s after the first failure, 120 s after the second
    rows = retries.splitlines()[1:]
    assert [r.split()[-1] for r in rows] == ["60000"] * 3 + ["120000"] * 3
    assert "02:00:00.500+00:00" in rows[0] and "02:01:01.000+00:00" in rows[3]
    # host.attempts(): the first task's three attempts, with the backoff after each failure
    starts = re.findall(r"^\d+\s+\d \d{4}-\d\d-\d\d (\S+) ", attempts, re.MULTILINE)
    assert starts == ["02:00:00.000+00:00", "02:01:00.500+00:00", "02:03:01.000+00:00"]
    ends = [(r.split()[1], r.split()[-1]) for r in attempts.splitlines()
            if r.split()[1:2] in (["retry"], ["completed"])]
    assert ends == [("retry", "60.0"), ("retry", "120.0"), ("completed", "NaN")]
    # the concurrency budget: fetch holds both workers of maxConcurrency=2
    assert "[('fetch', 2)]" in budget and "concurrency budget exhausted (2/2 allocated)" in budget
    # host.plot.retry_timeline(), throughput(), scheduler_firings(): one PNG each
    for cell in cells[-5:-2]:
        assert sum("image/png" in o.get("data", {}) for o in cell.outputs) == 1
    # host.dashboard(): a widget view; replayed at 02:01:30, the 02:00 batch is retrying
    views = [o.data["application/vnd.jupyter.widget-view+json"] for o in cells[-2].outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1 and views[0]["model_id"]
    assert "'retrying': 3" in replayed and "'completed': 0" in replayed
