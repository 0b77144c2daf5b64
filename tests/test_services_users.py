"""Users host service through real wasm: scope, order, admins, the load gate."""

from __future__ import annotations

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host
from nd_notebook.errors import LoadError

SMALL = {"artists": 6, "albums": 12, "tracks": 60, "users": 3}
WASM = host_call_plugin("users_getusers", "users_getadmins")


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, library=SMALL) as h:
        yield h


def _ids(host, *names):
    return [host.library.user_by_name(n)["id"] for n in names]


def test_all_users_without_ids_or_emails(host):
    plugin = host.load(WASM, name="p", permissions="auto")
    answer = plugin.call("call_users_getusers", "{}", raw=True)
    for item in (b'{"userName":"admin","name":"Admin","isAdmin":true}',
                 b'{"userName":"alice","name":"Alice Moreau","isAdmin":false}',
                 b'{"userName":"bob","name":"Bob Okafor","isAdmin":false}',
                 b'{"userName":"chloe","name":"Chlo\xc3\xa9 Lef\xc3\xa8vre","isAdmin":false}'):
        assert item in answer
    assert answer.startswith(b'{"result":[{"userName":') and answer.count(b"userName") == 4


def test_users_come_in_id_order_not_in_creation_order(host):
    # Navidrome's GetAll() groups by user.id without an ORDER BY: SQLite reads the id index.
    plugin = host.load(WASM, name="p", permissions="auto")
    by_id = sorted(host.library.users(), key=lambda u: u["id"])
    created = [u["user_name"] for u in host.library.query("SELECT * FROM user ORDER BY rowid")]
    names = [u["userName"] for u in plugin.call("call_users_getusers", "{}")["result"]]
    assert names == [u["user_name"] for u in by_id]
    assert names != created  # this library's ids do not follow the creation order


def test_listed_users_only_when_not_all_users(host):
    plugin = host.load(WASM, name="p", permissions="auto",
                       settings={"all_users": False, "users": _ids(host, "chloe", "alice")})
    assert [u["userName"] for u in plugin.call("call_users_getusers", "{}")["result"]] == [
        "alice", "chloe"]


def test_admins_are_filtered_from_the_scope(host):
    plugin = host.load(WASM, name="p", permissions="auto")
    assert plugin.call("call_users_getadmins", "{}") == {
        "result": [{"userName": "admin", "name": "Admin", "isAdmin": True}]}


def test_no_admin_in_scope_gives_an_absent_result(host):
    plugin = host.load(WASM, name="p", permissions="auto",
                       settings={"all_users": False, "users": _ids(host, "bob")})
    assert plugin.call("call_users_getadmins", "{}", raw=True) == b"{}"


def test_unknown_ids_in_scope_give_an_absent_result(host):
    plugin = host.load(WASM, name="p", permissions="auto",
                       settings={"all_users": False, "users": ["no-such-id"]})
    assert plugin.call("call_users_getusers", "{}", raw=True) == b"{}"


def test_a_user_added_later_is_visible_to_an_all_users_plugin(host):
    plugin = host.load(WASM, name="p", permissions="auto")
    host.library.add_user("zoe", name="Zoë")
    assert {"userName": "zoe", "name": "Zoë", "isAdmin": False} in plugin.call(
        "call_users_getusers", "{}")["result"]


def test_users_permission_without_user_scope_refuses_to_load(host):
    with pytest.raises(LoadError) as e:
        host.load(WASM, name="p", permissions="auto", settings={"all_users": False, "users": []})
    assert str(e.value) == ("users permission requires configuration: select users or "
                            "enable 'all users' access")
