"""One Host per data folder: an OS lock on ``<data_dir>/.nd-notebook.lock``.

Two Hosts on one folder would run two engines on one ``taskqueue.db`` (a task executed twice)
and two writers on every plugin database. ``flock`` is released by the OS when the process
ends, so a crashed kernel never leaves a stale lock. Within one process a new Host on the
folder of a live Host closes that Host first (re-running ``h = Host("data")`` in a notebook);
another process holding the folder is an error naming it. The file is never deleted (deleting
a lock file races with whoever opens it next); its content only describes the holder.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import threading
import weakref
from pathlib import Path
from typing import Any

from ..errors import DataFolderInUseError

LOCK_FILE = ".nd-notebook.lock"

_live: dict[str, weakref.ref] = {}  # resolved folder -> the Host of this process holding it
_registry = threading.Lock()


class FolderLock:
    """The held lock of one Host on one folder; ``release()`` is idempotent."""

    def __init__(self, folder: Path, file, key: str, ref: weakref.ref):
        self.folder = folder
        self.path = folder / LOCK_FILE
        self._file = file
        self._key = key
        self._ref = ref

    def release(self) -> None:
        with _registry:
            file, self._file = self._file, None
            if _live.get(self._key) is self._ref:
                del _live[self._key]
        if file is not None:
            fcntl.flock(file, fcntl.LOCK_UN)
            file.close()

    @property
    def held(self) -> bool:
        return self._file is not None


def lock_folder(folder: Path, host: Any, host_id: str) -> FolderLock:
    """Take ``folder`` for ``host``: close the live Host of this process holding it, then lock
    it; raise ``DataFolderInUseError`` when another process holds it."""
    key = str(folder.resolve())
    with _registry:
        ref = _live.get(key)
        previous = ref() if ref is not None else None
    if previous is not None and previous is not host:
        _close_previous(previous, folder)
    file = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = _describe(file.read())
        file.close()
        raise DataFolderInUseError(
            f"data folder {folder} is in use by {holder}: close that Host (host.close()) or "
            "end that process, or use another folder") from None
    except BaseException:
        file.close()
        raise
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "host": host_id,
                           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(
                               timespec="seconds")}) + "\n")
    file.flush()
    ref = weakref.ref(host)
    with _registry:
        _live[key] = ref
    return FolderLock(folder, file, key, ref)


def _close_previous(previous: Any, folder: Path) -> None:
    from .. import events

    previous.events.emit(events.SERVICE_LOG, None, service="host", level="warn",
                         message=f"closed: a new Host opened {folder} in this process")
    previous.close()


def _describe(content: str) -> str:
    try:
        info = json.loads(content)
        return f"Host {info['host']} of process {info['pid']} (opened {info['created']})"
    except (ValueError, KeyError, TypeError):
        return "another process"
