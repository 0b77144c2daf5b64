"""Tutorial 10 (testing a plugin: fuzz, version targeting, record and replay, shipping as .ndp,
pytest with fault injection) executed top to bottom on the real kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_kernel import code_cells, kernel_prefix, outputs_text  # noqa: F401 - fixture

from nd_notebook.kernel import KERNEL_NAME

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "10-testing-a-plugin.ipynb"


@pytest.mark.slow
def test_testing_tutorial_runs_on_the_navidrome_kernel(kernel_prefix, tmp_path):  # noqa: F811
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == KERNEL_NAME
    NotebookClient(nb, timeout=600, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    (_setup, buggy, call, fuzzed, failure, fixed, clean, strategy, table, picks, seed, check,
     recorded, request, replayed, shipped, _test_file, pytested, _close) = \
        [outputs_text(c) for c in code_cells(nb)]

    assert "plugin 'credits' loaded" in buggy and "plugin 'credits' loaded" in fixed
    assert call == "{'biography': 'Nina Simone is an artist.'}"
    assert "panic" in fuzzed and "STDERR" not in fuzzed  # the panics went to host.logs()
    assert failure.splitlines() == [
        "plugin call failed: panic: runtime error: index out of range [1] with length 1",
        "{'id': '', 'name': ', '}",
        "cell line 33, in main.agent.GetArtistBiography (ndplugin/plugin.go:33)"]
    assert clean.splitlines()[0] == "Nina Simone is an artist. With Hal Mooney."
    assert "Empty DataFrame" in clean
    assert strategy == "{'id': '', 'name': '', 'limit': -1}"
    assert "f580d3ea7" in table
    assert "plugin 'picks' loaded" in picks
    assert seed.startswith("LoadError: Unable to create Extism plugin: unknown import: "
                           "extism:host/user::matcher_matchsongs has not been defined")
    assert "  navidrome=seed: does not load" in check and "  oldest target 2026-07-01" in check
    assert recorded == "{'biography': 'Nina Simone is an artist.'}"
    assert '"X-Api-Key": "REDACTED"' in request and "wiki-secret-key" not in request
    assert replayed.splitlines()[0] == "True"
    assert "nd-notebook cassette wiki.json: no recorded response for GET http://127.0.0.1:" \
        in replayed and "artist=Miles+Davis" in replayed
    # shipped as credits.ndp and checked; its pytest tests (cassette, fault, fuzz) pass
    assert "  navidrome=head: loads" in shipped and "declared: http" in shipped
    assert "3 passed" in pytested and "failed" not in pytested
