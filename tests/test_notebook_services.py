"""Tutorial 03 (the library and every host service) executed top to bottom on the real kernel:
a Go plugin that inspects the libraries, calls the Subsonic API as a user, fetches from a local
HTTP server, echoes through the bundled websocket server, stores a file in /storage and acts as
a metadata agent and a scrobbler."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_kernel import code_cells, kernel_prefix, outputs_text  # noqa: F401 - fixture

from nd_notebook.kernel import KERNEL_NAME

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03-library-and-services.ipynb"


@pytest.mark.slow
def test_services_tutorial_runs_on_the_navidrome_kernel(kernel_prefix, tmp_path):  # noqa: F811
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == KERNEL_NAME
    NotebookClient(nb, timeout=600, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = [outputs_text(c) for c in code_cells(nb)]
    (libraries, users, servers, magic, seen, bios, top, played, stored, received, calls,
     _close) = texts

    assert "Music" in libraries and "Jazz & Classical" in libraries and "1580" in libraries
    assert "admin" in users and "alice" in users
    artist = servers.strip()
    assert "MetadataAgent, Scrobbler, Lifecycle, WebSocket" in magic
    assert seen == "{'Jazz & Classical': 420, 'Music': 1580}"
    assert [line for line in bios.splitlines() if line] == [f"{artist} is the first artist of the mock library.", "None"]
    assert artist in top and "name" in top
    assert "jukebox        True          ok       ok" in played
    line = f"alice played {artist} - "
    assert stored.startswith(line) and f"echo: {line}" in stored
    assert line in received
    for function in ("library_getalllibraries", "subsonicapi_call", "http_send",
                     "websocket_connect", "websocket_sendtext", "kvstore_set"):
        assert function in calls
