"""One Host per data folder: an OS lock on ``<data_dir>/.nd-notebook.lock``.

Another process holding the folder is ``DataFolderInUseError`` naming it; in one process a new
Host on the folder of a live Host closes that Host first (re-running ``h = Host("data")``), so
two engines never share one taskqueue.db and a task is never run twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from watplugins import _ENV, _HELPERS, wat

from nd_notebook import events
from nd_notebook.errors import DataFolderInUseError, LoadError
from nd_notebook.runtime.folderlock import LOCK_FILE
from nd_notebook.runtime.host import Host

pytestmark = pytest.mark.timeout(120)

HOLDER = textwrap.dedent("""
    import json, os, sys
    from nd_notebook.runtime.host import Host
    try:
        host = Host(sys.argv[1])
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(3)
    print(json.dumps({"host": host.host_id, "pid": os.getpid()}), flush=True)
    sys.stdin.read()  # hold the folder until the test closes our stdin
    host.close()
""")


def start_holder(folder) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    return proc, json.loads(proc.stdout.readline())


def stop(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(30)


def test_second_process_on_a_locked_folder_fails_naming_the_holder(tmp_path):
    proc, holder = start_holder(tmp_path)
    try:
        with pytest.raises(DataFolderInUseError) as err:
            Host(tmp_path)
        assert f"data folder {tmp_path} is in use by Host {holder['host']} of process " \
               f"{holder['pid']} (opened " in str(err.value)
        assert "close that Host (host.close())" in str(err.value)
    finally:
        stop(proc)


def test_folder_is_free_once_the_other_process_closed_its_host(tmp_path):
    proc, _ = start_holder(tmp_path)
    stop(proc)
    with Host(tmp_path) as host:
        assert host.plugins == {}


def test_lock_dies_with_a_killed_process(tmp_path):
    proc, _ = start_holder(tmp_path)
    proc.kill()
    proc.wait(30)
    with Host(tmp_path) as host:
        assert json.loads((tmp_path / LOCK_FILE).read_text())["host"] == host.host_id


def test_other_process_cannot_take_a_folder_this_process_holds(tmp_path):
    with Host(tmp_path) as host:
        proc = subprocess.run([sys.executable, "-c", HOLDER, str(tmp_path)], check=False,
                              text=True, capture_output=True, timeout=60, env=dict(os.environ))
        assert proc.returncode == 3
        error = json.loads(proc.stdout)["error"]
        assert error.startswith(f"DataFolderInUseError: data folder {tmp_path} is in use by "
                                f"Host {host.host_id} of process {os.getpid()}")


def test_lock_file_says_who_holds_the_folder(tmp_path):
    with Host(tmp_path) as host:
        info = json.loads((tmp_path / LOCK_FILE).read_text())
        assert (info["host"], info["pid"]) == (host.host_id, os.getpid())


def test_host_without_data_dir_locks_its_temp_folder():
    with Host() as host:
        proc = subprocess.run([sys.executable, "-c", HOLDER, str(host.data_dir)], check=False,
                              text=True, capture_output=True, timeout=60, env=dict(os.environ))
        assert proc.returncode == 3


def test_new_host_on_the_folder_of_a_live_host_closes_it(tmp_path):
    old = Host(tmp_path)
    new = Host(tmp_path)
    try:
        warnings = [e.data["message"] for e in old.events.select(events.SERVICE_LOG)]
        assert warnings == [f"closed: a new Host opened {tmp_path} in this process"]
        with pytest.raises(LoadError, match="^this Host is closed"):
            old.load(wat("(module)"), name="late")
    finally:
        new.close()


def test_closing_a_host_frees_the_folder_for_another_process(tmp_path):
    Host(tmp_path).close()
    proc, holder = start_holder(tmp_path)
    stop(proc)
    assert holder["pid"] == proc.pid


# -- the notebook case: re-running h = Host("data") while a task runs ------------------------

def slow_worker() -> bytes:
    """``nd_task_execute`` that busy-waits 0.8 s on WASI's monotonic clock."""
    clock = ('  (import "wasi_snapshot_preview1" "clock_time_get" '
             "(func $clock_time_get (param i32 i64 i32) (result i32)))\n")
    body = """
  (func $now (result i64)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 2048)))
    (i64.load (i32.const 2048)))
  (func (export "nd_task_execute") (result i32)
    (local $start i64)
    (local.set $start (call $now))
    (block $done (loop $wait
      (br_if $done (i64.gt_u (i64.sub (call $now) (local.get $start)) (i64.const 800000000)))
      (br $wait)))
    (i32.const 0))
"""
    return wat("(module\n" + _ENV + clock + _HELPERS + body + ")")


def wait_for(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_rerunning_host_reverts_the_running_task_and_completes_it_once(tmp_path):
    wasm = slow_worker()
    old = Host(tmp_path)
    plugin = old.load(wasm, name="slow", permissions="taskqueue")
    plugin.tasks.create_queue("q", {})
    task_id = plugin.tasks.enqueue("q", b"job")
    wait_for(lambda: old.events.select(events.TASK_ATTEMPT_STARTED))

    new = Host(tmp_path)  # what re-running the cell does
    try:
        assert old.plugins == {}
        assert [e.data["task_id"] for e in old.events.select(events.TASK_REVERTED)] == [task_id]
        again = new.load(wasm, name="slow", permissions="taskqueue")
        again.tasks.create_queue("q", {})
        wait_for(lambda: new.events.select(events.TASK_COMPLETED))
        both = old.events.select() + new.events.select()
        assert [e.data["task_id"] for e in both if e.kind == events.TASK_COMPLETED] == [task_id]
        old_end = old.events.select(events.TASK_REVERTED)[0].time
        new_start = new.events.select(events.TASK_ATTEMPT_STARTED)[0].time
        assert old_end <= new_start  # never two executions at once
    finally:
        new.close()
