"""The SQLite set-up Navidrome uses for its per-plugin databases (KVStore, TaskQueue).

Navidrome opens ``kvstore.db`` and ``taskqueue.db`` with
``_busy_timeout=5000&_journal_mode=WAL&_foreign_keys=off`` and tracks its schema with
``PRAGMA user_version``: every statement after the stored version runs in **one** transaction
that also bumps the version, so a failed migration leaves the file untouched.

Usage (the whole API)::

    conn = open_db(data_dir / "kvstore.db", MIGRATIONS)   # ServiceError on failure
    with lock:                                             # the owner's own threading.Lock
        conn.execute("INSERT ...", params)                 # autocommit, one statement
        with transaction(conn):                            # several statements, atomically
            ...
    conn.close()

Thread safety: the connection is opened with ``check_same_thread=False`` and in autocommit mode
(``isolation_level=None``), so any thread may use it, but a ``sqlite3.Connection`` is one
session: the owning service must serialise its use with a lock of its own (one operation at a
time, transactions included). Other processes or other services on the same file are fine: WAL
lets readers run beside the writer and the 5 s busy timeout absorbs write contention.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from ..errors import ServiceError

BUSY_TIMEOUT_MS = 5000


def plugin_data_dir(folder: str | PathLike[str]) -> Path:
    """Create the plugin's data folder as both services do first (``os.MkdirAll(dataDir,
    0700)``); a failure is ``creating plugin data directory: mkdir <path>: <reason>`` in Go's
    words, the path being the part Go's ``MkdirAll`` stopped at (a file where a folder should
    be: ``mkdir <that file>: not a directory``)."""
    folder = Path(folder)
    try:
        _mkdir_all(folder)
    except OSError as e:
        reason = (e.strerror or str(e)).lower()  # Go's syscall texts
        raise ServiceError(f"creating plugin data directory: mkdir {e.filename}: {reason}") \
            from None
    return folder


def _mkdir_all(path: Path) -> None:
    """Go's ``os.MkdirAll(path, 0700)``: the parents first, each refused the way Go does."""
    try:
        mode = path.stat().st_mode
    except OSError:  # any failure: make the parents, then it
        pass
    else:
        if stat.S_ISDIR(mode):
            return
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if path.parent != path:
        _mkdir_all(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        if not path.is_dir():
            raise


def open_db(path: str | PathLike[str], migrations: Sequence[str]) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    ``migrations`` are single SQL statements; append new ones at the end, never edit old ones:
    ``user_version`` ends up as ``len(migrations)``. Failures raise ``ServiceError`` with the
    texts of Navidrome's ``migrateDB`` (``migration 2 failed: ...``); callers add their own
    prefix (``migrating kvstore schema: ...``).
    """
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as e:
        raise ServiceError(f"reading schema version: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = OFF")
        migrate(conn, migrations)
    except sqlite3.Error as e:
        conn.close()
        raise ServiceError(f"reading schema version: {e}") from e
    except ServiceError:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[str]) -> None:
    """Run the statements after ``PRAGMA user_version`` in one transaction, then bump it."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        raise ServiceError(f"reading schema version: {e}") from e
    if version >= len(migrations):
        return
    try:
        conn.execute("BEGIN")
    except sqlite3.Error as e:
        raise ServiceError(f"starting migration transaction: {e}") from e
    try:
        for i in range(version, len(migrations)):
            try:
                conn.execute(migrations[i])
            except sqlite3.Error as e:
                raise ServiceError(f"migration {i + 1} failed: {e}") from e
        try:
            conn.execute(f"PRAGMA user_version = {len(migrations)}")
        except sqlite3.Error as e:
            raise ServiceError(f"updating schema version: {e}") from e
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise ServiceError(f"committing migrations: {e}") from e
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """``BEGIN [IMMEDIATE]`` ... ``COMMIT``, rolled back if the block raises.

    ``immediate`` takes the write lock up front (what a read-then-write sequence such as a
    dequeue needs to avoid a busy upgrade failure).
    """
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
