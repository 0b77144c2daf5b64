"""KVStore host service (``kvstore_*``): Navidrome's persistent per-plugin key/value store.

One SQLite file per plugin, ``<data_dir>/kvstore.db``, with Navidrome's schema and migrations
(spec 6.2, ``user_version`` 3) and its SQL, so the file is interchangeable with Navidrome's.

One deliberate difference in mechanism, none in behaviour: where Navidrome writes
``datetime('now')`` / ``CURRENT_TIMESTAMP`` we bind the Host clock's current time
(``datetime(:now)``), so the TTLs and expiry follow a virtual clock. The stored text is the
same (UTC ``YYYY-MM-DD HH:MM:SS``) and the comparisons are the same: a row is live while
``expires_at IS NULL OR expires_at > now`` and the cleanup deletes ``expires_at <= now``
(second resolution, the expiry second excluded: a 1 s TTL is gone 0-1 s later). That is
Navidrome's code (``notExpiredFilter`` and ``cleanupExpired`` in plugins/host_kvstore.go); the
ABI reference (6.2) says the expiry second counts as live.

Errors carry Navidrome's texts, including its wrapping of database failures
(``reading value: sql: database is closed`` after ``close()``).
"""

from __future__ import annotations

import datetime as _dt
import math
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from ..errors import ServiceError
from ..gojson import go_quote
from ..manifest import parse_bytes
from ._sqlite import open_db, plugin_data_dir

if TYPE_CHECKING:
    from ..clock import Clock
    from ..context import PluginContext

DEFAULT_MAX_SIZE = 1024 * 1024  # bytes, when the permission has no maxSize
MAX_KEY_LENGTH = 256  # bytes (UTF-8)
GET_MANY_BATCH = 200
CLEANUP_INTERVAL_SECONDS = 3600  # expired rows are physically deleted this often

DB_FILE = "kvstore.db"
# Navidrome's statements, whitespace included, so sqlite_master reads the same in both files.
MIGRATIONS = [
    """CREATE TABLE IF NOT EXISTS kvstore (
\t\t\tkey TEXT PRIMARY KEY NOT NULL,
\t\t\tvalue BLOB NOT NULL,
\t\t\tsize INTEGER NOT NULL,
\t\t\tcreated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
\t\t\tupdated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
\t\t)""",
    "ALTER TABLE kvstore ADD COLUMN expires_at DATETIME DEFAULT NULL",
    "CREATE INDEX idx_kvstore_expires_at ON kvstore(expires_at)",
]

_CLOSED = "sql: database is closed"  # Go database/sql's ErrConnDone-style text after Close
_LIVE = "(expires_at IS NULL OR expires_at > datetime(:now))"


class KVStoreService:
    """Navidrome's KVStoreService on ``ctx.data_dir / "kvstore.db"``.

    The quota is the ``kvstore`` permission's ``maxSize`` (go-humanize ``ParseBytes``; default
    1 MiB). An invalid value fails construction with ``invalid maxSize "<v>": <reason>``.
    """

    @staticmethod
    def check_options(options: dict[str, Any] | None) -> None:
        """Raise the creation error the permission's options cause (an invalid maxSize)."""
        _max_size_from(options)

    def __init__(self, ctx: PluginContext):
        self._clock: Clock = ctx.clock
        self.max_size = _max_size_from(ctx.permission("kvstore"))
        data_dir = plugin_data_dir(ctx.data_dir)
        self.path = data_dir / DB_FILE
        try:
            self._db: sqlite3.Connection | None = open_db(self.path, MIGRATIONS)
        except ServiceError as e:
            raise ServiceError(f"migrating kvstore schema: {e}") from e
        # A key that is not UTF-8 (written by another program) is a Go string of those bytes:
        # listed, not an error; the response writes each bad byte as \ufffd.
        self._db.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        self._lock = threading.Lock()
        self._cleanup_timer = None
        self._schedule_cleanup()

    # -- host functions --------------------------------------------------------------------

    def set(self, key: str, value: bytes | None) -> None:
        """Upsert without expiry (a previous TTL is removed)."""
        self._set_value(key, value, 0)

    def set_with_ttl(self, key: str, value: bytes | None, ttl_seconds: int) -> None:
        """Upsert that expires ``ttl_seconds`` after now (which must be > 0)."""
        if ttl_seconds <= 0:
            raise ServiceError("ttlSeconds must be greater than 0")
        self._set_value(key, value, int(ttl_seconds))

    def get(self, key: str) -> tuple[bytes | None, bool]:
        """The live value and True, or ``(None, False)``."""
        with self._session("reading value") as db:
            row = db.execute(
                f"SELECT value FROM kvstore WHERE key = :key AND {_LIVE}",
                {"key": key, "now": self._now()},
            ).fetchone()
        if row is None:
            return None, False
        return _as_bytes(row[0]), True

    def get_many(self, keys: list[str] | None) -> dict[str, bytes]:
        """Live values of the given keys; missing and expired keys are simply absent."""
        keys = list(keys or [])
        if not keys:
            return {}
        result: dict[str, bytes] = {}
        with self._session("querying values") as db:
            now = self._now()
            for start in range(0, len(keys), GET_MANY_BATCH):
                chunk = keys[start:start + GET_MANY_BATCH]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, value FROM kvstore WHERE key IN ({marks}) AND "
                    + _LIVE.replace(":now", "?"),
                    [*chunk, now],
                ).fetchall()
                for k, v in rows:
                    result[k] = _as_bytes(v)
        return result

    def has(self, key: str) -> bool:
        with self._session("checking key") as db:
            (count,) = db.execute(
                f"SELECT COUNT(*) FROM kvstore WHERE key = :key AND {_LIVE}",
                {"key": key, "now": self._now()},
            ).fetchone()
        return count > 0

    def list(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix``, sorted by key.

        Prefix matching is SQLite ``LIKE`` with ``%``/``_`` escaped, so it is ASCII
        case-insensitive (``User:`` also lists ``user:x``), as in Navidrome.
        """
        with self._session("listing keys") as db:
            params = {"now": self._now()}
            if prefix == "":
                sql = f"SELECT key FROM kvstore WHERE {_LIVE} ORDER BY key"
            else:
                sql = (f"SELECT key FROM kvstore WHERE key LIKE :pattern ESCAPE '\\' AND {_LIVE}"
                       " ORDER BY key")
                params["pattern"] = _like_prefix(prefix)
            return [row[0] for row in db.execute(sql, params)]

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""
        with self._session("deleting value") as db:
            db.execute("DELETE FROM kvstore WHERE key = ?", (key,))

    def delete_by_prefix(self, prefix: str) -> int:
        """Deletes every key matching ``prefix`` (``LIKE`` rules), expired ones included, and
        counts them all."""
        if prefix == "":
            raise ServiceError("prefix cannot be empty")
        with self._session("deleting keys") as db:
            cur = db.execute("DELETE FROM kvstore WHERE key LIKE ? ESCAPE '\\'",
                             (_like_prefix(prefix),))
            return cur.rowcount

    def get_storage_used(self) -> int:
        """Sum of the value sizes of live keys, in bytes."""
        with self._session("calculating storage used") as db:
            return self._storage_used(db)

    # -- host-driven housekeeping ----------------------------------------------------------

    def cleanup_expired(self) -> int:
        """Physically delete expired rows (Navidrome does it hourly); returns how many."""
        with self._session("deleting expired keys") as db:
            cur = db.execute(
                "DELETE FROM kvstore WHERE expires_at IS NOT NULL "
                "AND expires_at <= datetime(:now)",
                {"now": self._now()},
            )
            return cur.rowcount

    def close(self) -> None:
        """Closes the database (no final cleanup, as at Navidrome HEAD). Idempotent."""
        with self._lock:
            db, self._db = self._db, None
            timer, self._cleanup_timer = self._cleanup_timer, None
        self._clock.cancel(timer)
        if db is not None:
            db.close()

    def _schedule_cleanup(self) -> None:
        """Navidrome's hourly cleanup goroutine, as a daemon timer on the Host clock."""
        def tick() -> None:
            if self._db is None:
                return
            self.cleanup_expired()
            self._schedule_cleanup()

        self._cleanup_timer = self._clock.call_later(CLEANUP_INTERVAL_SECONDS, tick,
                                                     label="kvstore cleanup", daemon=True)

    # -- helpers ---------------------------------------------------------------------------

    def _set_value(self, key: str, value: bytes | None, ttl_seconds: int) -> None:
        if len(key) == 0:
            raise ServiceError("key cannot be empty")
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LENGTH:
            raise ServiceError(f"key exceeds maximum length of {MAX_KEY_LENGTH} bytes")
        blob = None if value is None else bytes(value)
        new_size = 0 if blob is None else len(blob)
        with self._lock:
            db = self._require_open("checking existing key")
            now = self._now()
            try:
                row = db.execute(
                    f"SELECT COALESCE(size, 0) FROM kvstore WHERE key = :key AND {_LIVE}",
                    {"key": key, "now": now},
                ).fetchone()
            except sqlite3.Error as e:
                raise ServiceError(f"checking existing key: {e}") from e
            old_size = row[0] if row else 0
            self._check_storage_limit(db, new_size - old_size)
            try:
                db.execute(
                    """
                    INSERT INTO kvstore (key, value, size, created_at, updated_at, expires_at)
                    VALUES (:key, :value, :size, datetime(:now), datetime(:now),
                            datetime(:now, :modifier))
                    ON CONFLICT(key) DO UPDATE SET
                        value = excluded.value,
                        size = excluded.size,
                        updated_at = datetime(:now),
                        expires_at = excluded.expires_at
                    """,
                    {"key": key, "value": blob, "size": new_size, "now": now,
                     "modifier": f"+{ttl_seconds} seconds" if ttl_seconds > 0 else None},
                )
            except sqlite3.Error as e:
                raise ServiceError(f"storing value: {e}") from e

    def _check_storage_limit(self, db: sqlite3.Connection, delta: int) -> None:
        if delta <= 0:
            return
        try:
            used = self._storage_used(db)
        except sqlite3.Error as e:
            raise ServiceError(f"calculating storage used: {e}") from e
        new_total = used + delta
        if new_total > self.max_size:
            raise ServiceError(
                "storage limit exceeded: would use "
                f"{humanize_bytes(new_total)} of {humanize_bytes(self.max_size)} allowed"
            )

    def _storage_used(self, db: sqlite3.Connection) -> int:
        (used,) = db.execute(
            f"SELECT COALESCE(SUM(size), 0) FROM kvstore WHERE {_LIVE}", {"now": self._now()}
        ).fetchone()
        return used

    def _now(self) -> str:
        """The clock's now as SQLite datetime text with milliseconds (what 'now' means)."""
        secs, ms = divmod(self._clock.now_ms(), 1000)
        t = _EPOCH + _dt.timedelta(seconds=secs)
        return f"{t:%Y-%m-%d %H:%M:%S}.{ms:03d}"

    def _require_open(self, what: str) -> sqlite3.Connection:
        if self._db is None:
            raise ServiceError(f"{what}: {_CLOSED}")
        return self._db

    def _session(self, what: str) -> _Session:
        return _Session(self, what)


class _Session:
    """``with self._session("reading value") as db:``: lock held, closed DB and SQLite errors
    turned into ``ServiceError("reading value: <cause>")`` (Navidrome's wrapping)."""

    def __init__(self, svc: KVStoreService, what: str):
        self._svc, self._what = svc, what

    def __enter__(self) -> sqlite3.Connection:
        self._svc._lock.acquire()
        try:
            return self._svc._require_open(self._what)
        except BaseException:
            self._svc._lock.release()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        self._svc._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise ServiceError(f"{self._what}: {exc}") from exc


_EPOCH = _dt.datetime(1970, 1, 1)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):  # a TEXT value written by someone else (its bytes, as read)
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def _like_prefix(prefix: str) -> str:
    """``prefix%`` with LIKE's wildcards escaped exactly as Navidrome does (``\\`` itself is
    not escaped there either)."""
    return prefix.replace("%", "\\%").replace("_", "\\_") + "%"


# -- maxSize: go-humanize ParseBytes / Bytes ---------------------------------------------------

def _max_size_from(permission: dict[str, Any] | None) -> int:
    """The quota in bytes: ``maxSize`` parsed, or the 1 MiB default when absent or empty."""
    raw = (permission or {}).get("maxSize")
    if raw is None or raw == "":
        return DEFAULT_MAX_SIZE
    if not isinstance(raw, str):
        raise ServiceError(f"invalid maxSize {raw!r}: must be a string such as \"1MB\"")
    try:
        parsed = parse_bytes(raw)
    except ValueError as e:
        raise ServiceError(f"invalid maxSize {go_quote(raw)}: {e}") from e
    return parsed - (1 << 64) if parsed >= 1 << 63 else parsed  # Go's int64(uint64)


def humanize_bytes(size: int) -> str:
    """go-humanize ``Bytes`` (SI): ``10000`` -> ``10 kB``, ``1048576`` -> ``1.0 MB``,
    ``82854982`` -> ``83 MB``, ``5`` -> ``5 B``. Negative input is reinterpreted as uint64,
    as Navidrome's ``uint64(int64)`` conversion does."""
    size &= 0xFFFF_FFFF_FFFF_FFFF
    if size < 10:
        return f"{size} B"
    exp = math.floor(math.log(float(size)) / math.log(1000.0))
    suffix = ("B", "kB", "MB", "GB", "TB", "PB", "EB")[exp]
    val = math.floor(float(size) / math.pow(1000.0, exp) * 10 + 0.5) / 10
    return f"{val:.1f} {suffix}" if val < 10 else f"{val:.0f} {suffix}"
