"""Every tutorial in notebooks/ executed top to bottom on the installed "Navidrome Plugins"
kernel, failing on any cell error; committed without outputs; and, for the tutorials without a
test of their own, what their key cells print.

Tutorials 01, 03, 07 and 10 have their detailed assertions in test_kernel.py,
test_notebook_services.py and test_notebook_testing.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_kernel import code_cells, kernel_prefix, outputs_text  # noqa: F401 - fixture

from nd_notebook.kernel import KERNEL_NAME

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIALS = sorted(NOTEBOOKS.glob("*.ipynb"))
IDS = [path.stem for path in TUTORIALS]


def test_tutorials_are_numbered_one_to_eleven():
    numbers = [int(re.match(r"(\d\d)-[a-z0-9-]+$", stem).group(1)) for stem in IDS]
    assert numbers == list(range(1, 12))


@pytest.mark.parametrize("notebook", TUTORIALS, ids=IDS)
def test_tutorial_is_committed_clean_for_the_navidrome_kernel(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"] == {"display_name": "Navidrome Plugins",
                                            "language": "python", "name": KERNEL_NAME}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"]
    title = "".join(nb["cells"][0]["source"]).splitlines()[0]
    assert title.startswith(f"# {int(notebook.name[:2])} · "), title


def _texts(nb) -> list[str]:
    return [outputs_text(c) for c in code_cells(nb)]


def _check_config_cache_kvstore(texts: list[str]) -> None:
    _, magic, twice, expired, services, stored, quota, calls, _close = texts
    assert "plugin 'greeter' loaded" in magic and "kvstore (maxSize=1KB)" in magic
    assert twice.splitlines() == ["Hello, Björk! Yours, the greeter",
                                  "Hello, Björk! Yours, the greeter (cached)"]
    assert expired.strip() == "Hello, Björk! Yours, the greeter"
    assert services.splitlines() == ["('Hello, Björk! Yours, the greeter', True)",
                                     "['sign.1', 'sign.2']"]
    assert "['greeted:Björk', 'greeted:Nina Simone']" in stored
    assert "plugin call failed: storage limit exceeded: would use" in quota
    assert "config_keys" in calls and "cache_setstring" in calls


def _check_metadata_agent(texts: list[str]) -> None:
    artists, liner, fallback, chain, rules, special, swapped, alone, _close = texts
    first, second, third = artists.strip().split(" | ")
    assert "MetadataAgent" in liner and "MetadataAgent" in fallback
    assert chain.splitlines() == [
        f"{first}: '{first} recorded the first album of the library.'", "    [('liner', 'found')]",
        f"{second}: '{second} is in your library.'",
        "    [('liner', 'not_found'), ('fallback', 'found')]",
        f"{third}: '{third} is in your library.'",
        "    [('liner', 'not_found'), ('fallback', 'found')]"]
    assert "'error': 'function not implemented: nd_get_artist_url'" in rules
    assert "plugin call failed: liner: the artist has no name" in rules
    assert rules.splitlines()[2] == "None"
    assert special.splitlines() == ["None []", "'' []"]
    assert swapped == f"'{first} is in your library.'"
    assert alone.splitlines()[1] == "None"


def _check_scrobbler(texts: list[str]) -> None:
    _, magic, played, stored, scoped, kinds, retried, calls, _close = texts
    assert "capabilities  Scrobbler" in magic
    assert "diary  alice        True          ok       ok" in played
    assert "scrobbles of alice in the library" in stored
    assert stored.startswith("(b'alice', True)")  # who NowPlaying saw: Scrobble gets no user
    assert "user not in the plugin's users scope" in scoped
    # Navidrome's log lines of the discarded and the stored scrobbles show under the cell too.
    logged = [line for line in kinds.splitlines() if line.startswith("[diary] ")]
    assert [line.split(" (")[0] for line in logged] == [
        "[diary] ERROR: Scrobbler: Error sending scrobble to service. Discarding",
        "[diary] ERROR: Scrobbler: Error sending scrobble to service. Discarding",
        "[diary] WARN: Scrobbler: Could not send scrobble. Will be retried"]
    lines = [line for line in kinds.splitlines() if line not in logged]
    assert lines[0].startswith("bob    ok  not_authorized  plugin call failed: "
                               "scrobbler(not_authorized): token of bob expired")
    assert lines[1].startswith("alice  ok  unrecoverable   plugin call failed: "
                               "scrobbler(unrecoverable): \"Intro\" is too short")
    assert lines[2] == ("alice  ok  retry_later     plugin call failed: "
                        "scrobbler(retry_later): disk I/O error")
    waiting, after = retried.splitlines()
    assert "'attempts': 1, 'last_error': 'plugin call failed: scrobbler(retry_later): disk I/O " \
        "error'" in waiting
    assert after.startswith("[] (b'") and after.endswith("', True)")
    assert '{"error":"disk I/O error"}' in calls


def _check_scheduling(texts: list[str]) -> None:
    _, magic, schedules, ran, fired, after, _plot, extra, _close = texts
    assert "Lifecycle, Scheduler" in magic
    assert "'schedule_id': 'welcome'" in schedules and "'*/15 * * * *'" in schedules
    assert [line.split(": ", 1)[1] for line in ran.splitlines()] == [
        "one-time schedule welcome: hello", "check-in 1 at 00:15:00", "check-in 2 at 00:30:00",
        "check-in 3 at 00:45:00", "check-in 4 at 01:00:00"]
    assert "00:01:30+00:00" in fired and fired.count("quarter") == 4
    assert after.splitlines() == ["(b'4', True)", "[]"]
    assert "extra 2026-01-01 02:10:00+00:00      ok" in extra


def _check_task_queues_budget(texts: list[str]) -> None:
    budget = next(t for t in texts if "concurrency budget exhausted" in t)
    assert "[('fetch', 2)]" in budget and "(2/2 allocated)" in budget


def _check_websockets(texts: list[str]) -> None:
    _, magic, handshake, pong, last, closed, strict, calls, _close = texts
    assert "Lifecycle, WebSocket" in magic
    assert handshake.strip() == "1 client; X-Client: bot"
    assert pong == "['pong']"
    assert last == "'now playing: Nina Simone - Sinnerman'"
    assert closed == "'1001 going away'"
    assert "nd_on_init failed: plugin call failed: host \"127.0.0.1:" in strict
    assert "is not allowed" in strict
    assert "websocket_sendtext" in calls


def _check_http(texts: list[str]) -> None:
    _, magic, found, refused, retried, faults, exhausted, raw_magic, raw, _close = texts
    assert "http (requiredHosts=127.0.0.1)" in magic
    assert found.splitlines()[1] == "None" and "Modal jazz" in found
    assert refused.count("is not allowed") == 4  # three warnings and the error
    assert retried.count("context deadline exceeded") == 2 and "Modal jazz" in retried
    assert faults.count("albumnotes  http_send") == 2
    assert "plugin call failed: connection reset by peer" in exhausted
    assert "3 injected of 3 calls, used up" in exhausted
    assert "http (requiredHosts=127.0.0.*)" in raw_magic
    assert raw.startswith("{'name': 'Kind of Blue'") and "Modal jazz" in raw.splitlines()[0]
    assert "plugin call failed: HTTP request to 'http://127.0.0.1:" in raw
    assert "is not allowed (recovered by wazero)" in raw
    assert "rawelsewhere http_request HTTP request to 'http://127.0.0.1:" in raw


def _check_built_elsewhere(texts: list[str]) -> None:
    (_, _gomod, _main, _quotes, _manifest, built, loaded, inspected, called, checked, ran,
     bare, listing) = texts
    assert "wrote shout.ndp (plugin ID 'shout'" in built
    assert "<LoadedPlugin 'shout': MetadataAgent" in loaded
    assert "imports:      ['kvstore_set']" in inspected and "'author': 'Someone Else'" in inspected
    assert called == "{'biography': 'BJÖRK CHANGED THE WAY I LISTEN TO MUSIC'}"
    assert "navidrome=head: loads" in checked and "oldest target seed" in checked
    assert 'output {"biography": "NINA SIMONE CHANGED THE WAY I LISTEN TO MUSIC"}' in ran
    assert "wrote shout.wasm" in bare and "{'kvstore': {}}" in bare
    assert "shout" in listing and "bare" in listing


CHECKS = {
    "02-config-cache-kvstore": _check_config_cache_kvstore,
    "04-metadata-agent": _check_metadata_agent,
    "05-scrobbler": _check_scrobbler,
    "06-scheduling": _check_scheduling,
    "07-task-queues": _check_task_queues_budget,
    "08-websockets": _check_websockets,
    "09-http": _check_http,
    "11-plugins-built-elsewhere": _check_built_elsewhere,
}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", TUTORIALS, ids=IDS)
def test_tutorial_runs_on_the_navidrome_kernel(notebook, kernel_prefix, tmp_path,  # noqa: F811
                                               monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in Jupyter
    shutil.copy(notebook, tmp_path / notebook.name)
    nb = nbformat.read(tmp_path / notebook.name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name=KERNEL_NAME,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    check = CHECKS.get(notebook.stem)
    if check is not None:
        check(_texts(nb))
