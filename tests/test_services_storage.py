"""Storage host service and the /storage mount, driven by a Go plugin built with the bundled PDK."""

from __future__ import annotations

import json

import pytest
from watplugins import host_call_plugin

import nd_notebook
from nd_notebook import Host

pytestmark = pytest.mark.slow

# One export, "fs": {"op", "path", "data"} in, {"result"} or {"error"} out. Shared with
# test_services_library.py (the build cache makes the second build free).
GO_FS = r'''
package main

import (
	"encoding/json"
	"os"

	pdk "github.com/extism/go-pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
)

type request struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	Data string `json:"data"`
}

type response struct {
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

func answer(r response) int32 {
	out, _ := json.Marshal(r)
	pdk.Output(out)
	return 0
}

//go:wasmexport fs
func fs() int32 {
	var req request
	if err := json.Unmarshal(pdk.Input(), &req); err != nil {
		return answer(response{Error: err.Error()})
	}
	switch req.Op {
	case "storagepath":
		return answer(response{Result: host.StorageGetStoragePath()})
	case "write":
		if err := os.WriteFile(req.Path, []byte(req.Data), 0o644); err != nil {
			return answer(response{Error: err.Error()})
		}
		return answer(response{Result: "ok"})
	case "read":
		data, err := os.ReadFile(req.Path)
		if err != nil {
			return answer(response{Error: err.Error()})
		}
		return answer(response{Result: string(data)})
	case "libraries":
		libs, err := host.LibraryGetAllLibraries()
		if err != nil {
			return answer(response{Error: err.Error()})
		}
		return answer(response{Result: libs})
	case "users":
		users, err := host.UsersGetUsers()
		if err != nil {
			return answer(response{Error: err.Error()})
		}
		return answer(response{Result: users})
	}
	return answer(response{Error: "unknown op " + req.Op})
}

func main() {}
'''


@pytest.fixture(scope="module")
def fs_wasm():
    return nd_notebook.build(GO_FS)


@pytest.fixture
def host(tmp_path):
    with Host(tmp_path, library="empty") as h:
        yield h


def fs(plugin, op, path="", data=""):
    return plugin.call("fs", json.dumps({"op": op, "path": path, "data": data}))


def _load(host, wasm, name="p"):
    return host.load(wasm, name=name, permissions={"storage": {}, "library": {}, "users": {}})


def test_storage_path_is_the_constant_guest_path(host):
    plugin = host.load(host_call_plugin("storage_getstoragepath"), name="p", permissions="auto")
    assert plugin.call("call_storage_getstoragepath", "{}", raw=True) == b'{"result":"/storage"}'


def test_storage_folder_is_created_at_load_private_to_the_owner(host):
    host.load(host_call_plugin("storage_getstoragepath"), name="p", permissions="auto")
    folder = host.data_dir / "plugins" / "p" / "storage"
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700


def test_a_storage_folder_that_cannot_be_made_fails_the_load_in_navidromes_words(host):
    # A file where the folder should be escaped Host.load as a raw FileExistsError.
    (host.data_dir / "plugins" / "p").mkdir(parents=True)
    blocker = host.data_dir / "plugins" / "p" / "storage"
    blocker.write_text("not a folder")
    with pytest.raises(nd_notebook.errors.LoadError) as e:
        host.load(host_call_plugin("storage_getstoragepath"), name="p", permissions="auto")
    assert str(e.value) == (f"creating Storage service: creating plugin data directory: mkdir "
                            f"{blocker}: not a directory")
    assert "p" not in host.plugins and blocker.read_text() == "not a folder"


def test_go_plugin_writes_a_file_the_host_sees(host, fs_wasm):
    plugin = _load(host, fs_wasm)
    assert fs(plugin, "storagepath") == {"result": "/storage"}
    assert fs(plugin, "write", "/storage/x", "hello") == {"result": "ok"}
    assert (host.data_dir / "plugins" / "p" / "storage" / "x").read_text() == "hello"
    assert fs(plugin, "read", "/storage/x") == {"result": "hello"}


def test_files_survive_from_call_to_call_and_reload(host, fs_wasm):
    fs(_load(host, fs_wasm), "write", "/storage/keep", "kept")
    assert fs(_load(host, fs_wasm), "read", "/storage/keep") == {"result": "kept"}


@pytest.mark.parametrize("path", ["/storage/../escape", "/escape", "/tmp/escape",
                                  "/storage/../../escape"])
def test_paths_cannot_escape_the_storage_folder(host, fs_wasm, path):
    plugin = _load(host, fs_wasm)
    assert "error" in fs(plugin, "write", path, "x")
    assert not list(host.data_dir.rglob("escape"))


def test_each_plugin_id_has_its_own_folder(host, fs_wasm):
    fs(_load(host, fs_wasm, "a"), "write", "/storage/mine", "a's")
    other = _load(host, fs_wasm, "b")
    assert "error" in fs(other, "read", "/storage/mine")
    assert not (host.data_dir / "plugins" / "b" / "storage" / "mine").exists()



INIT_READS = """
package main

import (
	"os"
	"strconv"

	"github.com/extism/go-pdk"
)

var seen = read() // the init reads what the previous call wrote

func read() int {
	b, err := os.ReadFile("/storage/count")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(string(b))
	return n
}

func main() {}

//go:wasmexport bump
func bump() int32 {
	os.WriteFile("/storage/count", []byte(strconv.Itoa(read()+1)), 0o644)
	pdk.OutputString(strconv.Itoa(seen))
	return 0
}
"""


def test_an_init_reading_storage_sees_the_previous_calls_writes(host):
    # The Go SDK runs the init at each call's start; an instance prepared ahead must not
    # have read the files before the previous call wrote them.
    plugin = host.load(nd_notebook.build(INIT_READS), name="counter", permissions="storage")
    assert [int(plugin.call("bump", raw=True)) for _ in range(8)] == list(range(8))
    assert plugin.instances.status == ("prepared ahead, init at the call: it may read files of "
                                       "its mounts (/storage, libraries) a call changes")
