"""CacheService: Navidrome's per-plugin typed ttlcache, on a virtual clock."""

from __future__ import annotations

import math
import threading

import pytest

from nd_notebook.clock import VirtualClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.errors import ServiceError
from nd_notebook.events import EventLog
from nd_notebook.services.cache import CacheService

T0 = VirtualClock.DEFAULT_START
DAY = 24 * 60 * 60


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def cache(tmp_path, clock) -> CacheService:
    return make_cache(tmp_path, clock)


def make_cache(tmp_path, clock: VirtualClock, plugin_id: str = "p") -> CacheService:
    ctx = PluginContext(
        plugin_id=plugin_id, data_dir=tmp_path, permissions={"cache": {}}, config={},
        settings=PluginSettings(), clock=clock, events=EventLog(clock.now),
        call_export=lambda name, data: None, has_export=lambda name: False,
    )
    return CacheService(ctx)


# -- typed values -------------------------------------------------------------------------

def test_string_round_trip(cache):
    cache.set_string("k", "hello", 60)
    assert cache.get_string("k") == ("hello", True)


def test_int_round_trip(cache):
    cache.set_int("k", -9223372036854775808, 60)
    assert cache.get_int("k") == (-9223372036854775808, True)


def test_float_round_trip(cache):
    cache.set_float("k", 3.25, 60)
    assert cache.get_float("k") == (3.25, True)


def test_bytes_round_trip(cache):
    cache.set_bytes("k", b"\x00\xffdata", 60)
    assert cache.get_bytes("k") == (b"\x00\xffdata", True)


def test_empty_string_value_exists(cache):
    cache.set_string("k", "", 60)
    assert cache.get_string("k") == ("", True)


def test_missing_key_is_a_miss_for_every_getter(cache):
    assert cache.get_string("nope") == ("", False)
    assert cache.get_int("nope") == (0, False)
    assert cache.get_float("nope") == (0.0, False)
    assert cache.get_bytes("nope") == (None, False)
    assert cache.has("nope") is False


def test_int_read_as_float_is_a_miss(cache):
    cache.set_int("k", 5, 60)
    assert cache.get_float("k") == (0.0, False)


def test_string_read_as_bytes_is_a_miss(cache):
    cache.set_string("k", "abc", 60)
    assert cache.get_bytes("k") == (None, False)


def test_bytes_read_as_string_is_a_miss(cache):
    cache.set_bytes("k", b"abc", 60)
    assert cache.get_string("k") == ("", False)


def test_float_read_as_int_is_a_miss(cache):
    cache.set_float("k", 2.0, 60)
    assert cache.get_int("k") == (0, False)


def test_has_is_true_whatever_the_type(cache):
    cache.set_string("s", "x", 60)
    cache.set_int("i", 1, 60)
    cache.set_float("f", 1.5, 60)
    cache.set_bytes("b", b"x", 60)
    assert [cache.has(k) for k in ("s", "i", "f", "b")] == [True, True, True, True]


def test_set_replaces_value_and_type(cache):
    cache.set_string("k", "text", 60)
    cache.set_int("k", 7, 60)
    assert cache.get_string("k") == ("", False)
    assert cache.get_int("k") == (7, True)


@pytest.mark.parametrize(("value", "text"), [(math.nan, "NaN"), (math.inf, "+Inf"),
                                             (-math.inf, "-Inf")])
def test_non_finite_float_is_refused_with_go_json_error(cache, value, text):
    with pytest.raises(ServiceError) as err:
        cache.set_float("k", value, 60)
    assert str(err.value) == f"json: unsupported value: {text}"
    assert cache.has("k") is False


# -- TTL ----------------------------------------------------------------------------------

def test_entry_expires_after_its_ttl(cache, clock):
    cache.set_string("k", "v", 10)
    clock.advance_to(T0 + 10.5)
    assert cache.get_string("k") == ("", False)


def test_entry_is_alive_at_exactly_its_expiry_instant(cache, clock):
    # ttlcache expires an item only once expiresAt is strictly before now.
    cache.set_string("k", "v", 10)
    clock.advance_to(T0 + 10)
    assert cache.has("k") is True


def test_zero_ttl_means_24_hours(cache, clock):
    cache.set_string("k", "v", 0)
    clock.advance_to(T0 + DAY + 1)
    assert cache.has("k") is False


def test_zero_ttl_entry_is_still_there_before_24_hours(cache, clock):
    cache.set_string("k", "v", 0)
    clock.advance_to(T0 + DAY - 1)
    assert cache.get_string("k") == ("v", True)


def test_negative_ttl_means_24_hours(cache, clock):
    cache.set_int("k", 1, -5)
    clock.advance_to(T0 + DAY - 1)
    assert cache.get_int("k") == (1, True)
    clock.advance_to(T0 + 2 * DAY)  # touched at DAY-1, so alive until 2*DAY-1
    assert cache.get_int("k") == (0, False)


def test_hit_extends_expiry_by_the_entry_ttl(cache, clock):
    cache.set_string("k", "v", 10)
    clock.advance_to(T0 + 8)
    assert cache.get_string("k") == ("v", True)  # now expires at T0+18
    clock.advance_to(T0 + 16)
    assert cache.get_string("k") == ("v", True)  # now expires at T0+26
    clock.advance_to(T0 + 27)
    assert cache.get_string("k") == ("", False)


def test_has_extends_expiry_too(cache, clock):
    cache.set_bytes("k", b"v", 10)
    clock.advance_to(T0 + 8)
    assert cache.has("k") is True
    clock.advance_to(T0 + 17)
    assert cache.get_bytes("k") == (b"v", True)


def test_getter_of_wrong_type_still_extends_expiry(cache, clock):
    # Navidrome looks the item up (touching it) before checking the value's type.
    cache.set_string("k", "v", 10)
    clock.advance_to(T0 + 8)
    assert cache.get_int("k") == (0, False)
    clock.advance_to(T0 + 17)
    assert cache.get_string("k") == ("v", True)


def test_set_replaces_ttl(cache, clock):
    cache.set_string("k", "v", 100)
    cache.set_string("k", "w", 5)
    clock.advance_to(T0 + 6)
    assert cache.get_string("k") == ("", False)


def test_ttl_overflowing_go_duration_never_expires(cache, clock):
    # time.Duration(1e10) * time.Second wraps to a negative duration: ttlcache keeps it forever.
    cache.set_string("k", "v", 10**10)
    clock.advance_to(T0 + 10**12)
    assert cache.get_string("k") == ("v", True)


# -- lifecycle ----------------------------------------------------------------------------

def test_remove_deletes_entry(cache):
    cache.set_string("k", "v", 60)
    cache.remove("k")
    assert cache.has("k") is False


def test_remove_missing_key_is_not_an_error(cache):
    assert cache.remove("never-set") is None


def test_close_clears_every_entry(cache):
    cache.set_string("a", "1", 60)
    cache.set_int("b", 2, 60)
    cache.close()
    assert (cache.has("a"), cache.has("b")) == (False, False)


def test_each_plugin_has_its_own_cache(tmp_path, clock):
    one, two = make_cache(tmp_path, clock, "one"), make_cache(tmp_path, clock, "two")
    one.set_string("k", "from one", 60)
    assert two.get_string("k") == ("", False)


def test_concurrent_writers_and_readers_see_every_key(cache):
    def work(n: int) -> None:
        for i in range(200):
            cache.set_int(f"{n}:{i}", i, 60)
            assert cache.get_int(f"{n}:{i}") == (i, True)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(cache.get_int(f"{n}:{i}") == (i, True) for n in range(6) for i in range(200))
