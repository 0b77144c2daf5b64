"""Library host service through real wasm: scope, texts, filesystem fields, and the mounts."""

from __future__ import annotations

import pytest
from watplugins import host_call_plugin

from nd_notebook import Host, events

SMALL = {"artists": 6, "albums": 12, "tracks": 60, "users": 2}
WASM = host_call_plugin("library_getlibrary", "library_getalllibraries")


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, library=SMALL) as h:
        yield h


def _load(host, permissions="library", **settings):
    return host.load(WASM, name="p", permissions=permissions, settings=settings or None)


def test_get_library_answers_navidromes_fields(host):
    host.library.update_library(1, total_songs=3, total_albums=2, total_artists=1,
                                total_size=12345678901, total_duration=600.5)
    assert _load(host).call("call_library_getlibrary", '{"id":1}', raw=True) == (
        b'{"result":{"id":1,"name":"Music","lastScanAt":1767222000,"totalSongs":3,'
        b'"totalAlbums":2,"totalArtists":1,"totalSize":12345678901,"totalDuration":600.5}}')


def test_all_libraries_in_id_order(host):
    result = _load(host).call("call_library_getalllibraries", "{}")["result"]
    assert [(r["id"], r["name"]) for r in result] == [(1, "Music"), (2, "Jazz & Classical")]


def test_library_outside_the_scope_is_not_accessible(host):
    plugin = _load(host, all_libraries=False, libraries=[2])
    assert plugin.call("call_library_getlibrary", '{"id":1}') == {
        "error": "library not accessible: library ID 1 is not in the allowed list"}


def test_scope_filters_get_all_libraries(host):
    plugin = _load(host, all_libraries=False, libraries=[2])
    assert [r["id"] for r in plugin.call("call_library_getalllibraries", "{}")["result"]] == [2]


def test_missing_library_is_not_found(host):
    assert _load(host).call("call_library_getlibrary", '{"id":42}') == {
        "error": "library not found: data not found"}


def test_scope_is_checked_before_existence(host):
    plugin = _load(host, all_libraries=False, libraries=[1])
    assert plugin.call("call_library_getlibrary", '{"id":42}') == {
        "error": "library not accessible: library ID 42 is not in the allowed list"}


def test_no_library_gives_an_absent_result(tmp_path):
    with Host(tmp_path, library="empty") as host:
        assert _load(host).call("call_library_getalllibraries", "{}", raw=True) == b"{}"


def test_never_scanned_library_reports_go_zero_time(host):
    host.library.update_library(2, last_scan_at="0000-00-00 00:00:00")
    result = _load(host).call("call_library_getlibrary", '{"id":2}')["result"]
    assert result["lastScanAt"] == -62135596800


def test_path_and_mount_point_only_with_filesystem_permission(host):
    without = _load(host).call("call_library_getlibrary", '{"id":2}')["result"]
    assert "path" not in without and "mountPoint" not in without
    with_fs = _load(host, "library:filesystem=true").call(
        "call_library_getlibrary", '{"id":2}')["result"]
    assert (with_fs["path"], with_fs["mountPoint"]) == ("/jazz-classical", "/libraries/2")


def test_missing_library_folder_is_skipped_not_fatal(host):
    # /jazz-classical does not exist on this machine: libextism would refuse to mount it.
    plugin = _load(host, "library:filesystem=true")
    assert plugin.call("call_library_getalllibraries", "{}")["result"][0]["id"] == 1
    warnings = [e["message"] for e in host.events.select(events.SERVICE_LOG, "p")]
    assert "library 2 folder /jazz-classical does not exist: not mounted" in warnings


# -- a Go plugin with library.filesystem on a materialised library ----------------------------
FS_PERMISSIONS = {"library": {"filesystem": True}, "users": {}, "storage": {}}


@pytest.fixture(scope="module")
def fs_wasm():
    from test_services_storage import GO_FS

    import nd_notebook

    return nd_notebook.build(GO_FS)


@pytest.fixture
def music(tmp_path):
    with Host(tmp_path, library=SMALL) as h:
        h.library.materialize(tmp_path / "music")
        yield h


def _fs(plugin, op, path="", data=""):
    import json

    return plugin.call("fs", json.dumps({"op": op, "path": path, "data": data}))


def _first_track(host, library_id=1):
    return host.library.tracks(library_id=library_id)[0]


@pytest.mark.slow
def test_go_plugin_sees_libraries_with_mount_points(music, fs_wasm):
    plugin = music.load(fs_wasm, name="p", permissions=FS_PERMISSIONS)
    result = _fs(plugin, "libraries")["result"]
    assert [(r["id"], r["mountPoint"], r["path"]) for r in result] == [
        (1, "/libraries/1", music.library.library(1)["path"]),
        (2, "/libraries/2", music.library.library(2)["path"])]


@pytest.mark.slow
def test_go_plugin_lists_users(music, fs_wasm):
    plugin = music.load(fs_wasm, name="p", permissions=FS_PERMISSIONS)
    assert [u["userName"] for u in _fs(plugin, "users")["result"]] == ["admin", "alice", "bob"]


@pytest.mark.slow
def test_go_plugin_reads_a_track_file_where_its_path_says(music, fs_wasm):
    plugin = music.load(fs_wasm, name="p", permissions=FS_PERMISSIONS)
    track = _first_track(music)
    data = _fs(plugin, "read", f"/libraries/1/{track['path']}")["result"]
    assert data.startswith({"mp3": "ID3", "flac": "fLaC", "opus": "OggS"}[track["suffix"]])


@pytest.mark.slow
def test_library_mount_is_read_only_by_default(music, fs_wasm):
    plugin = music.load(fs_wasm, name="p", permissions=FS_PERMISSIONS)
    folder = _first_track(music)["path"].split("/")[0]
    assert "error" in _fs(plugin, "write", f"/libraries/1/{folder}/artist.nfo", "<artist/>")
    assert not (music.data_dir / "music" / "Music" / folder / "artist.nfo").exists()


@pytest.mark.slow
def test_library_mount_is_writable_with_write_access(music, fs_wasm):
    plugin = music.load(fs_wasm, name="p", permissions=FS_PERMISSIONS,
                        settings={"allow_write_access": True})
    folder = _first_track(music)["path"].split("/")[0]
    assert _fs(plugin, "write", f"/libraries/1/{folder}/artist.nfo", "<artist/>") == {
        "result": "ok"}
    assert (music.data_dir / "music" / "Music" / folder / "artist.nfo").read_text() == "<artist/>"


@pytest.mark.slow
def test_libraries_outside_the_scope_are_not_mounted(music, fs_wasm):
    plugin = music.load(fs_wasm, name="p", permissions=FS_PERMISSIONS,
                        settings={"all_libraries": False, "libraries": [1]})
    track = _first_track(music, library_id=2)
    assert "error" in _fs(plugin, "read", f"/libraries/2/{track['path']}")
    assert "result" in _fs(plugin, "read", f"/libraries/1/{_first_track(music)['path']}")


def test_startup_load_of_a_plugin_with_no_library_granted_sees_none(host):
    """A load is an enable (the gate refuses an empty scope); startup=True loads it as
    Navidrome's startup loads a plugin already enabled with no grant: nothing is listed or
    mounted (its test "mounts nothing when no library is granted")."""
    from nd_notebook.errors import LoadError

    with pytest.raises(LoadError) as e:
        _load(host, "library:filesystem=true", all_libraries=False)
    assert str(e.value) == ("library permission requires configuration: select libraries "
                            "or enable 'all libraries' access")
    plugin = host.load(WASM, name="p", permissions="library:filesystem=true",
                       settings={"all_libraries": False}, startup=True)
    assert plugin.call("call_library_getalllibraries", "{}", raw=True) == b"{}"
    assert plugin.call("call_library_getlibrary", '{"id":1}') == {
        "error": "library not accessible: library ID 1 is not in the allowed list"}
    assert plugin.permissions["library"] == {"filesystem": True}
