"""ScrobbleRetriever host service through real wasm: user scope, ranges, order, pagination."""

from __future__ import annotations

import json

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host

SMALL = {"artists": 6, "albums": 12, "tracks": 60, "users": 2}
WASM = host_call_plugin("scrobbleretriever_getfirsttimestamp",
                        "scrobbleretriever_getlasttimestamp", "scrobbleretriever_getscrobbles",
                        "scrobbleretriever_getscrobblecount")
ZOE_TIMES = (300, 100, 200, 200, 200)  # recorded in this order


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, library=SMALL) as h:
        zoe = h.library.add_user("zoe")
        tracks = h.library.tracks()
        for n, ts in enumerate(ZOE_TIMES):
            h.library.record_play(zoe["id"], tracks[n]["id"], time=ts)
        yield h


@pytest.fixture
def plugin(host):
    return host.load(WASM, name="p", permissions="auto")


def _zoe(host):
    """Zoe's scrobbles as (id, time) in (time, id) order."""
    rows = host.library.scrobbles(host.library.user_by_name("zoe")["id"])
    return [(r["id"], r["submission_time"]) for r in rows]


def _page(plugin, options, username="zoe"):
    return plugin.call("call_scrobbleretriever_getscrobbles",
                       json.dumps({"username": username, "options": options}))


def test_first_and_last_timestamps(plugin):
    assert plugin.call("call_scrobbleretriever_getfirsttimestamp", '{"username":"zoe"}') == {
        "result": 100}
    assert plugin.call("call_scrobbleretriever_getlasttimestamp", '{"username":"zoe"}') == {
        "result": 300}


def test_a_first_timestamp_of_zero_is_still_emitted(host, plugin):
    user = host.library.add_user("epoch")
    host.library.record_play(user["id"], host.library.tracks()[0]["id"], time=0)
    assert plugin.call("call_scrobbleretriever_getfirsttimestamp", '{"username":"epoch"}',
                       raw=True) == b'{"result":0}'


def test_no_scrobbles_gives_an_absent_result(host, plugin):
    host.library.add_user("quiet")
    assert plugin.call("call_scrobbleretriever_getlasttimestamp", '{"username":"quiet"}',
                       raw=True) == b"{}"


def test_username_is_case_insensitive(plugin):
    assert plugin.call("call_scrobbleretriever_getfirsttimestamp", '{"username":"ZOE"}') == {
        "result": 100}


def test_unknown_user_is_not_found(plugin):
    assert plugin.call("call_scrobbleretriever_getscrobblecount",
                       '{"username":"nobody","options":{}}') == {
        "error": 'scrobbleRetriever: user "nobody" not found'}


def test_user_names_in_errors_are_quoted_as_go_does(host, plugin):
    assert plugin.call("call_scrobbleretriever_getscrobblecount",
                       json.dumps({"username": 'a"b\\c\n', "options": {}})) == {
        "error": 'scrobbleRetriever: user "a\\"b\\\\c\\n" not found'}
    alice = host.library.user_by_name("alice")["id"]
    host.library.add_user('zo"e')
    scoped = host.load(WASM, name="q", permissions="auto",
                       settings={"all_users": False, "users": [alice]})
    assert scoped.call("call_scrobbleretriever_getfirsttimestamp", '{"username":"zo\\"e"}') == {
        "error": 'scrobbleRetriever: plugin is not allowed to act as user "zo\\"e"'}


def test_user_outside_the_scope_is_not_allowed(host):
    alice = host.library.user_by_name("alice")["id"]
    plugin = host.load(WASM, name="p", permissions="auto",
                       settings={"all_users": False, "users": [alice]})
    assert plugin.call("call_scrobbleretriever_getfirsttimestamp", '{"username":"zoe"}') == {
        "error": 'scrobbleRetriever: plugin is not allowed to act as user "zoe"'}


def test_no_user_scope_at_all_is_not_authorized(host, plugin):
    # The load gate refuses an empty scope; Navidrome's text shows if it is emptied afterwards.
    plugin.ctx.settings.all_users = False
    plugin.ctx.settings.users = []
    assert plugin.call("call_scrobbleretriever_getfirsttimestamp", '{"username":"zoe"}') == {
        "error": "scrobbleRetriever: plugin is not authorized to scope by user"}


def test_ranges_are_inclusive(plugin):
    result = _page(plugin, {"fromTimestamp": 200, "toTimestamp": 200, "maxItems": 10})
    assert [s["submissionTime"] for s in result["scrobbles"]] == [200, 200, 200]
    assert plugin.call("call_scrobbleretriever_getscrobblecount",
                       '{"username":"zoe","options":{"fromTimestamp":200,"toTimestamp":300}}') == {
        "result": 4}


def test_order_is_time_then_id_ascending_or_descending(host, plugin):
    ids = [i for i, _ in _zoe(host)]
    assert [s["id"] for s in _page(plugin, {"maxItems": 10})["scrobbles"]] == ids
    assert [s["id"] for s in _page(plugin, {"maxItems": 10, "descending": True})["scrobbles"]] == (
        ids[::-1])


def test_first_page_json_and_its_next_options(host, plugin):
    (a, _), (b, _) = _zoe(host)[:2]
    tracks = {r["id"]: r["media_file_id"] for r in host.library.query("SELECT * FROM scrobbles")}
    assert plugin.call("call_scrobbleretriever_getscrobbles",
                       '{"username":"zoe","options":{"maxItems":2}}', raw=True) == (
        f'{{"scrobbles":[{{"id":{a},"mediaFileId":"{tracks[a]}","submissionTime":100}},'
        f'{{"id":{b},"mediaFileId":"{tracks[b]}","submissionTime":200}}],'
        '"next":{"fromTimestamp":200,"descending":false,"maxItems":2,"offset":1}}').encode()


def test_next_offset_adds_the_incoming_one_when_the_whole_page_shares_the_timestamp(plugin):
    result = _page(plugin, {"fromTimestamp": 200, "maxItems": 1, "offset": 1})
    assert result["next"] == {"fromTimestamp": 200, "descending": False, "maxItems": 1,
                              "offset": 2}


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_following_next_visits_every_scrobble_once(host, plugin, size, descending):
    options, seen = {"maxItems": size, "descending": descending}, []
    while options is not None:
        result = _page(plugin, options)
        seen += [s["id"] for s in result["scrobbles"]]
        options = result.get("next")
    expected = [i for i, _ in _zoe(host)]
    assert seen == (expected[::-1] if descending else expected)


def test_descending_next_moves_the_upper_bound(plugin):
    assert _page(plugin, {"maxItems": 1, "descending": True})["next"] == {
        "toTimestamp": 200, "descending": True, "maxItems": 1}


def test_last_page_has_no_next(plugin):
    assert "next" not in _page(plugin, {"maxItems": 5})


@pytest.mark.parametrize("max_items", [0, -3, 6000])
def test_max_items_out_of_bounds_means_5000(host, plugin, max_items):
    user = host.library.add_user("heavy")
    track = host.library.tracks()[0]["id"]
    with host.library.lock, host.library.connection() as conn:
        conn.executemany("INSERT INTO scrobbles (media_file_id, user_id, submission_time) "
                         "VALUES (?, ?, ?)", [(track, user["id"], t) for t in range(5001)])
    result = _page(plugin, {"maxItems": max_items}, username="heavy")
    assert len(result["scrobbles"]) == 5000
    assert result["next"]["fromTimestamp"] == 5000
    assert result["next"]["maxItems"] == 5000  # the clamped options are what next advances


def test_count_without_range_counts_everything(plugin):
    assert plugin.call("call_scrobbleretriever_getscrobblecount",
                       '{"username":"zoe","options":{}}') == {"result": 5}
