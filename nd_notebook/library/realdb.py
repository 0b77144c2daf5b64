"""Opening an existing database: a real ``navidrome.db`` read-only, or a library file we wrote.

A real database varies across Navidrome versions (columns added and dropped, ``scrobbles`` with
or without an ``id``). Rather than teach every query about that, each table of our schema whose
columns differ is shadowed by a TEMP view of the same name (SQLite resolves unqualified names in
``temp`` first): existing columns pass through, missing ones read as the schema default, extra
ones are dropped. Optional tables the database lacks become empty TEMP tables. The real file is
opened with SQLite ``mode=ro`` and never written.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

from ..errors import LibraryError
from .schema import DDL, META_DDL, REQUIRED_TABLES


def connect_existing(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to ``path`` whose tables look like our schema (see module docstring)."""
    if not path.is_file():
        raise LibraryError(f"no such database file: {path}")
    try:
        if read_only:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.row_factory = sqlite3.Row
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as e:
        raise LibraryError(f"not a Navidrome database: {path}: {e}") from None
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        conn.close()
        raise LibraryError(f"not a Navidrome database: missing tables {', '.join(missing)}")
    if not read_only:  # our own file: make sure every table (and our meta table) exists
        conn.executescript(DDL + ";\n" + META_DDL)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    _shadow(conn, tables)
    return conn


@functools.cache
def schema_columns() -> dict[str, tuple[tuple[str, str | None], ...]]:
    """Our schema's tables -> ((column, default SQL expression or None), ...)."""
    mem = sqlite3.connect(":memory:")
    mem.executescript(DDL)
    out = {}
    for (table,) in mem.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                "AND name NOT LIKE 'sqlite_%'"):
        out[table] = tuple((r[1], r[4]) for r in mem.execute(f"PRAGMA table_info({table})"))
    mem.close()
    return out


def _shadow(conn: sqlite3.Connection, tables: set[str]) -> None:
    for table, columns in schema_columns().items():
        if table not in tables:  # an optional table (user_library, playlist_tracks...)
            create = _create_statement(table)
            conn.execute(create.replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE", 1))
            continue
        have = {r[1] for r in conn.execute(f'PRAGMA main.table_info("{table}")')}
        wanted = [name for name, _ in columns]
        if set(wanted) == have:
            continue
        select = []
        for name, default in columns:
            if name in have:
                select.append(f'"{name}"')
            elif name == "id" and table == "scrobbles":
                select.append("rowid AS id")  # Navidrome's scrobbles table has no id column
            else:
                select.append(f"{_default_sql(default)} AS \"{name}\"")
        conn.execute(f'CREATE TEMP VIEW "{table}" AS SELECT {", ".join(select)} '
                     f'FROM main."{table}"')


def _default_sql(default: str | None) -> str:
    if default is None:
        return "NULL"
    if default.upper() == "CURRENT_TIMESTAMP":
        return "NULL"
    return default


def _create_statement(table: str) -> str:
    start = DDL.index(f"CREATE TABLE IF NOT EXISTS {table} (")
    return DDL[start:DDL.index(");", start) + 2]
