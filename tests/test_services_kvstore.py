"""KVStoreService: Navidrome's SQLite key/value store, on a real file and a virtual clock."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from nd_notebook.clock import VirtualClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.errors import ServiceError
from nd_notebook.events import EventLog
from nd_notebook.services._sqlite import open_db
from nd_notebook.services.kvstore import KVStoreService, humanize_bytes, parse_bytes

T0 = VirtualClock.DEFAULT_START  # 2026-01-01 00:00:00 UTC, a whole second


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def kv(tmp_path, clock):
    svc = make_kv(tmp_path, clock)
    yield svc
    svc.close()


def make_kv(data_dir, clock: VirtualClock, permission: dict | None = None) -> KVStoreService:
    ctx = PluginContext(
        plugin_id="p", data_dir=data_dir, permissions={"kvstore": permission or {}}, config={},
        settings=PluginSettings(), clock=clock, events=EventLog(clock.now),
        call_export=lambda name, data: None, has_export=lambda name: False,
    )
    return KVStoreService(ctx)


def error_of(fn, *args) -> str:
    with pytest.raises(ServiceError) as err:
        fn(*args)
    return str(err.value)


def rows(data_dir) -> list[tuple]:
    with sqlite3.connect(data_dir / "kvstore.db") as db:
        return db.execute(
            "SELECT key, size, created_at, updated_at, expires_at FROM kvstore ORDER BY key"
        ).fetchall()


# -- basic operations ---------------------------------------------------------------------

def test_set_then_get_returns_value(kv):
    kv.set("k", b"\x00value")
    assert kv.get("k") == (b"\x00value", True)


def test_get_missing_key_is_not_found(kv):
    assert kv.get("missing") == (None, False)


def test_set_overwrites_value(kv):
    kv.set("k", b"old")
    kv.set("k", b"new")
    assert kv.get("k") == (b"new", True)


def test_has_reports_presence(kv):
    kv.set("k", b"v")
    assert (kv.has("k"), kv.has("other")) == (True, False)


def test_delete_removes_key(kv):
    kv.set("k", b"v")
    kv.delete("k")
    assert kv.has("k") is False


def test_delete_missing_key_is_not_an_error(kv):
    assert kv.delete("never-set") is None


def test_empty_value_is_stored_and_found(kv):
    kv.set("k", b"")
    assert kv.get("k") == (b"", True)


def test_nil_value_fails_the_not_null_constraint(kv):
    # Go binds a nil []byte as NULL; the value column is NOT NULL.
    assert error_of(kv.set, "k", None) == "storing value: NOT NULL constraint failed: kvstore.value"


# -- key rules ----------------------------------------------------------------------------

def test_empty_key_is_rejected(kv):
    assert error_of(kv.set, "", b"v") == "key cannot be empty"


def test_empty_key_is_rejected_by_set_with_ttl(kv):
    assert error_of(kv.set_with_ttl, "", b"v", 10) == "key cannot be empty"


def test_key_of_257_bytes_is_rejected(kv):
    assert error_of(kv.set, "k" * 257, b"v") == "key exceeds maximum length of 256 bytes"


def test_key_of_256_bytes_is_accepted(kv):
    kv.set("k" * 256, b"v")
    assert kv.has("k" * 256) is True


def test_key_length_counts_utf8_bytes(kv):
    kv.set("é" * 128, b"v")  # 256 bytes
    assert error_of(kv.set_with_ttl, "é" * 128 + "a", b"v", 5) == (
        "key exceeds maximum length of 256 bytes"
    )


def test_other_operations_accept_any_key(kv):
    long_key = "x" * 1000
    assert kv.get("") == (None, False)
    assert kv.has(long_key) is False
    assert kv.delete("") is None
    assert kv.get_many(["", long_key]) == {}


# -- TTL ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ttl", [0, -1])
def test_set_with_ttl_requires_positive_ttl(kv, ttl):
    assert error_of(kv.set_with_ttl, "k", b"v", ttl) == "ttlSeconds must be greater than 0"


def test_ttl_key_is_visible_before_expiry(kv, clock):
    kv.set_with_ttl("k", b"v", 10)
    clock.advance_to(T0 + 9.999)
    assert kv.get("k") == (b"v", True)


def test_expired_key_is_invisible_to_get(kv, clock):
    kv.set_with_ttl("k", b"v", 10)
    clock.advance_to(T0 + 11)
    assert kv.get("k") == (None, False)


def test_expired_key_is_invisible_to_has(kv, clock):
    kv.set_with_ttl("k", b"v", 10)
    clock.advance_to(T0 + 11)
    assert kv.has("k") is False


def test_expired_key_is_invisible_to_list(kv, clock):
    kv.set("live", b"v")
    kv.set_with_ttl("dead", b"v", 10)
    clock.advance_to(T0 + 11)
    assert kv.list("") == ["live"]


def test_expired_key_is_invisible_to_get_many(kv, clock):
    kv.set("live", b"1")
    kv.set_with_ttl("dead", b"2", 10)
    clock.advance_to(T0 + 11)
    assert kv.get_many(["live", "dead"]) == {"live": b"1"}


def test_expired_key_does_not_count_in_storage_used(kv, clock):
    kv.set("live", b"12345")
    kv.set_with_ttl("dead", b"1234567890", 10)
    assert kv.get_storage_used() == 15
    clock.advance_to(T0 + 11)
    assert kv.get_storage_used() == 5


def test_expiry_has_second_resolution(kv, clock, tmp_path):
    # datetime('now', '+1 seconds') drops the milliseconds: a 1 s TTL written at .700 expires
    # at 00:00:01 and is gone as that second begins (0.3 s after it was written).
    clock.advance_to(T0 + 0.7)
    kv.set_with_ttl("k", b"v", 1)
    assert rows(tmp_path)[0][4] == "2026-01-01 00:00:01"
    clock.advance_to(T0 + 0.99)
    assert kv.has("k") is True
    clock.advance_to(T0 + 1.0)
    assert kv.has("k") is False


def test_a_key_is_gone_in_its_expiry_second(kv, clock):
    # Navidrome's notExpiredFilter is expires_at > datetime('now'), its cleanupExpired deletes
    # expires_at <= datetime('now') (plugins/host_kvstore.go); the ABI reference's 6.2 says
    # the expiry second counts as live.
    kv.set_with_ttl("k", b"v", 10)
    clock.advance_to(T0 + 9.99)
    assert kv.get("k") == (b"v", True)
    assert kv.cleanup_expired() == 0
    clock.advance_to(T0 + 10)
    assert kv.get("k") == (None, False)
    assert kv.has("k") is False and kv.get_storage_used() == 0
    assert kv.cleanup_expired() == 1


def test_set_removes_a_previous_ttl(kv, clock):
    kv.set_with_ttl("k", b"v", 10)
    kv.set("k", b"w")
    clock.advance_to(T0 + 3600)
    assert kv.get("k") == (b"w", True)


def test_timestamps_are_sqlite_datetime_text_from_the_clock(kv, clock, tmp_path):
    kv.set_with_ttl("k", b"v", 90)
    clock.advance_to(T0 + 30)
    kv.set_with_ttl("k", b"w", 90)
    assert rows(tmp_path) == [
        ("k", 1, "2026-01-01 00:00:00", "2026-01-01 00:00:30", "2026-01-01 00:02:00"),
    ]


def test_cleanup_expired_deletes_expired_rows_only(kv, clock, tmp_path):
    kv.set("keep", b"v")
    kv.set_with_ttl("short", b"v", 5)
    kv.set_with_ttl("long", b"v", 500)
    clock.advance_to(T0 + 6)
    assert kv.cleanup_expired() == 1
    assert [r[0] for r in rows(tmp_path)] == ["keep", "long"]


# -- quota --------------------------------------------------------------------------------

def test_write_over_quota_is_rejected_with_humanized_sizes(tmp_path, clock):
    kv = make_kv(tmp_path, clock, {"maxSize": "10KB"})
    assert error_of(kv.set, "k", b"x" * 15000) == (
        "storage limit exceeded: would use 15 kB of 10 kB allowed"
    )


def test_write_up_to_quota_is_accepted(tmp_path, clock):
    kv = make_kv(tmp_path, clock, {"maxSize": "10KB"})
    kv.set("k", b"x" * 10000)
    assert kv.get_storage_used() == 10000


def test_default_quota_is_one_mebibyte(kv):
    kv.set("a", b"x" * 1048576)
    assert error_of(kv.set, "b", b"y") == (
        "storage limit exceeded: would use 1.0 MB of 1.0 MB allowed"
    )


def test_empty_max_size_means_default_quota(tmp_path, clock):
    kv = make_kv(tmp_path, clock, {"maxSize": ""})
    assert kv.max_size == 1048576


def test_max_size_is_parsed_with_si_and_iec_units(tmp_path, clock):
    assert make_kv(tmp_path / "a", clock, {"maxSize": "500KB"}).max_size == 500000
    assert make_kv(tmp_path / "b", clock, {"maxSize": "1MiB"}).max_size == 1048576


def test_overwrite_only_charges_the_size_difference(tmp_path, clock):
    kv = make_kv(tmp_path, clock, {"maxSize": "10KB"})
    kv.set("a", b"x" * 8000)
    kv.set("a", b"x" * 9500)  # delta 1500: total 9500
    assert error_of(kv.set, "b", b"y" * 1500) == (
        "storage limit exceeded: would use 11 kB of 10 kB allowed"
    )


def test_shrinking_write_is_allowed_even_over_quota(tmp_path, clock):
    big = make_kv(tmp_path, clock, {"maxSize": "20KB"})
    big.set("a", b"x" * 15000)
    big.close()
    small = make_kv(tmp_path, clock, {"maxSize": "10KB"})
    small.set("a", b"x" * 14000)
    assert small.get_storage_used() == 14000


def test_expired_values_free_their_quota(tmp_path, clock):
    kv = make_kv(tmp_path, clock, {"maxSize": "10KB"})
    kv.set_with_ttl("a", b"x" * 8000, 5)
    clock.advance_to(T0 + 5)
    kv.set("a", b"y" * 8000)  # the expired row's size is not subtracted nor counted
    kv.set("b", b"z" * 2000)
    assert kv.get_storage_used() == 10000


def test_storage_used_counts_value_bytes_only(kv):
    kv.set("a-rather-long-key", b"123")
    kv.set("b", b"4567")
    assert kv.get_storage_used() == 7


@pytest.mark.parametrize(
    ("max_size", "message"),
    [
        ("abc", 'invalid maxSize "abc": strconv.ParseFloat: parsing "": invalid syntax'),
        ("10 XB", 'invalid maxSize "10 XB": unhandled size name: xb'),
        ("1.2.3MB", 'invalid maxSize "1.2.3MB": strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
        ("20EB", 'invalid maxSize "20EB": too large: 20EB'),
    ],
)
def test_invalid_max_size_fails_service_creation(tmp_path, clock, max_size, message):
    assert error_of(make_kv, tmp_path, clock, {"maxSize": max_size}) == message


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10KB", 10000),
        ("10kb", 10000),
        ("1MB", 1000000),
        ("1MiB", 1048576),
        ("2 GiB", 2147483648),
        ("42", 42),
        ("1.5K", 1500),
        ("1,000 kB", 1000000),
        ("0.5B", 0),
        ("7 b ", 7),
    ],
)
def test_parse_bytes_matches_go_humanize(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (9, "9 B"),
        (10, "10 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (9999, "10 kB"),
        (10000, "10 kB"),
        (15000, "15 kB"),
        (9949, "9.9 kB"),
        (9950, "10 kB"),
        (10500, "10 kB"),  # %.0f rounds half to even, in Go as in Python
        (11500, "12 kB"),
        (999999, "1000 kB"),
        (1000000, "1.0 MB"),
        (1048576, "1.0 MB"),
        (82854982, "83 MB"),
        (18446744073709551615, "18 EB"),
    ],
)
def test_humanize_bytes_matches_go_humanize(size, text):
    # Expected values produced by go-humanize's Bytes() formula compiled with Go.
    assert humanize_bytes(size) == text


# -- list / prefixes ----------------------------------------------------------------------

def test_list_with_empty_prefix_returns_all_keys_sorted(kv):
    for key in ("b", "a", "c:1"):
        kv.set(key, b"v")
    assert kv.list("") == ["a", "b", "c:1"]


def test_list_filters_by_prefix(kv):
    for key in ("user:1", "user:2", "users", "other"):
        kv.set(key, b"v")
    assert kv.list("user:") == ["user:1", "user:2"]


def test_list_prefix_escapes_percent(kv):
    for key in ("a%b", "axb", "abc"):
        kv.set(key, b"v")
    assert kv.list("a%") == ["a%b"]


def test_list_prefix_escapes_underscore(kv):
    for key in ("a_c", "abc", "a_d"):
        kv.set(key, b"v")
    assert kv.list("a_") == ["a_c", "a_d"]


def test_list_prefix_is_ascii_case_insensitive(kv):
    kv.set("user:x", b"v")
    kv.set("USER:y", b"v")
    assert kv.list("User:") == ["USER:y", "user:x"]


def test_list_without_match_is_empty(kv):
    kv.set("a", b"v")
    assert kv.list("zzz") == []


def test_delete_by_prefix_requires_a_prefix(kv):
    assert error_of(kv.delete_by_prefix, "") == "prefix cannot be empty"


def test_delete_by_prefix_deletes_and_counts_matches(kv):
    for key in ("tmp:1", "tmp:2", "keep"):
        kv.set(key, b"v")
    assert kv.delete_by_prefix("tmp:") == 2
    assert kv.list("") == ["keep"]


def test_delete_by_prefix_counts_expired_keys_too(kv, clock):
    kv.set("tmp:live", b"v")
    kv.set_with_ttl("tmp:dead", b"v", 5)
    clock.advance_to(T0 + 10)
    assert kv.delete_by_prefix("tmp:") == 2


def test_delete_by_prefix_escapes_wildcards(kv):
    for key in ("a_1", "ab1", "a%1", "az1"):
        kv.set(key, b"v")
    assert kv.delete_by_prefix("a_") == 1
    assert kv.delete_by_prefix("a%") == 1
    assert kv.list("") == ["ab1", "az1"]


def test_delete_by_prefix_is_ascii_case_insensitive(kv):
    kv.set("Cache:1", b"v")
    assert kv.delete_by_prefix("cache:") == 1


# -- get_many -----------------------------------------------------------------------------

def test_get_many_returns_only_found_keys(kv):
    kv.set("a", b"1")
    kv.set("b", b"2")
    assert kv.get_many(["a", "b", "missing"]) == {"a": b"1", "b": b"2"}


def test_get_many_of_no_keys_is_empty(kv):
    assert kv.get_many([]) == {}


def test_get_many_spans_several_batches(kv):
    keys = [f"k{i:04d}" for i in range(450)]
    for i, key in enumerate(keys):
        kv.set(key, str(i).encode())
    result = kv.get_many(keys + ["missing"])
    assert len(result) == 450
    assert result["k0449"] == b"449"


# -- persistence, schema, lifecycle -------------------------------------------------------

def test_values_persist_across_service_instances(tmp_path, clock):
    first = make_kv(tmp_path, clock)
    first.set("k", b"kept")
    first.close()
    second = make_kv(tmp_path, clock)
    assert second.get("k") == (b"kept", True)


def test_ttl_persists_across_service_instances(tmp_path, clock):
    first = make_kv(tmp_path, clock)
    first.set_with_ttl("k", b"v", 10)
    first.close()
    clock.advance_to(T0 + 11)
    assert make_kv(tmp_path, clock).has("k") is False


def test_database_file_is_kvstore_db_in_the_plugin_data_dir(kv, tmp_path):
    assert kv.path == tmp_path / "kvstore.db"
    assert kv.path.is_file()


def test_schema_is_at_user_version_3(kv, tmp_path):
    with sqlite3.connect(tmp_path / "kvstore.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_schema_columns_match_navidrome(kv, tmp_path):
    with sqlite3.connect(tmp_path / "kvstore.db") as db:
        cols = [(name, ctype, notnull, default, pk) for _, name, ctype, notnull, default, pk
                in db.execute("PRAGMA table_info(kvstore)")]
    assert cols == [
        ("key", "TEXT", 1, None, 1),
        ("value", "BLOB", 1, None, 0),
        ("size", "INTEGER", 1, None, 0),
        ("created_at", "DATETIME", 1, "CURRENT_TIMESTAMP", 0),
        ("updated_at", "DATETIME", 1, "CURRENT_TIMESTAMP", 0),
        ("expires_at", "DATETIME", 0, "NULL", 0),
    ]


def test_expires_at_index_exists(kv, tmp_path):
    with sqlite3.connect(tmp_path / "kvstore.db") as db:
        indexes = [row[1] for row in db.execute("PRAGMA index_list(kvstore)")]
    assert "idx_kvstore_expires_at" in indexes


def test_database_uses_wal_journal(kv, tmp_path):
    with sqlite3.connect(tmp_path / "kvstore.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_operations_after_close_fail_with_go_sql_text(kv):
    kv.close()
    assert error_of(kv.get, "k") == "reading value: sql: database is closed"
    assert error_of(kv.set, "k", b"v") == "checking existing key: sql: database is closed"
    assert error_of(kv.get_storage_used) == "calculating storage used: sql: database is closed"
    assert error_of(kv.list, "") == "listing keys: sql: database is closed"


def test_key_rules_are_checked_before_the_database(kv):
    kv.close()
    assert error_of(kv.set, "", b"v") == "key cannot be empty"


def test_close_is_idempotent(kv):
    kv.close()
    assert kv.close() is None


def test_close_keeps_expired_rows_on_disk(kv, clock, tmp_path):
    # Navidrome HEAD stops its cleanup loop on Close without a final cleanup.
    kv.set_with_ttl("k", b"v", 5)
    clock.advance_to(T0 + 10)
    kv.close()
    assert [r[0] for r in rows(tmp_path)] == ["k"]


def test_concurrent_writers_from_threads(kv):
    def work(n: int) -> None:
        for i in range(50):
            kv.set(f"{n}:{i}", b"v")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kv.list("")) == 200


def test_two_instances_on_one_file_see_each_others_writes(tmp_path, clock):
    one, two = make_kv(tmp_path, clock), make_kv(tmp_path, clock)
    one.set("k", b"v")
    assert two.get("k") == (b"v", True)


# -- the shared SQLite helper (reused by the TaskQueue) -----------------------------------

def test_open_db_applies_only_new_migrations(tmp_path):
    path = tmp_path / "t.db"
    open_db(path, ["CREATE TABLE a (x)"]).close()
    db = open_db(path, ["CREATE TABLE a (x)", "CREATE TABLE b (y)"])  # re-running 1 would fail
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_failed_migration_leaves_the_database_unchanged(tmp_path):
    path = tmp_path / "t.db"
    with pytest.raises(ServiceError) as err:
        open_db(path, ["CREATE TABLE a (x)", "CREATE TABLE a (x)"])
    assert str(err.value) == "migration 2 failed: table a already exists"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_open_db_sets_busy_timeout_and_disables_foreign_keys(tmp_path):
    db = open_db(tmp_path / "t.db", [])
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 0
    db.close()


def test_expired_rows_are_deleted_by_the_hourly_cleanup(tmp_path):
    from nd_notebook.clock import VirtualClock
    from nd_notebook.context import PluginContext, PluginSettings
    from nd_notebook.events import EventLog

    clock = VirtualClock()
    ctx = PluginContext(plugin_id="p", data_dir=tmp_path, permissions={"kvstore": {}}, config={},
                        settings=PluginSettings(), clock=clock, events=EventLog(clock.now),
                        call_export=lambda n, i=None: None, has_export=lambda n: False)
    kv = KVStoreService(ctx)
    kv.set_with_ttl("k", b"v", 10)
    rows = "SELECT COUNT(*) FROM kvstore"
    clock.run_for(3599)
    assert kv._db.execute(rows).fetchone()[0] == 1  # expired but not yet cleaned up
    clock.run_for(2)
    assert kv._db.execute(rows).fetchone()[0] == 0
    kv.close()
    assert clock.pending() == []
