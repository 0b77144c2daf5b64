"""Hostile packages: zip bombs and oversized manifests are refused before they are inflated.

Navidrome has no size limits here; these are nd-notebook's (package.MAX_WASM_BYTES 256 MiB,
MAX_TOTAL_BYTES 256 MiB, manifest.MAX_MANIFEST_BYTES 1 MiB, MAX_MANIFEST_DEPTH 64) with
Navidrome's wrapping (``opening package: reading wasm: ...``).
"""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from nd_notebook.errors import LoadError, ManifestError, PackageError
from nd_notebook.manifest import Manifest
from nd_notebook.package import read_manifest, read_package
from nd_notebook.runtime.host import Host

MIB = 1 << 20
GIB = 1 << 30
MANIFEST = b'{"name": "bomb", "author": "t", "version": "1"}'
WASM_TOO_BIG = ("opening package: reading wasm: plugin.wasm is 1073741824 bytes uncompressed, "
                "over nd-notebook's limit of 268435456 bytes")


def deflated_zeros(size: int) -> bytes:
    """A raw deflate stream of ``size`` zeros (a multiple of 1 MiB), ~1 KB per MiB: one
    compressed MiB repeated (a full flush makes each copy independent), then a final block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * (size // MIB) + b"\x03\x00"


def zeros_crc(size: int) -> int:
    crc, chunk = 0, bytes(MIB)
    for _ in range(size // MIB):
        crc = zlib.crc32(chunk, crc)
    return crc


def raw_zip(path: Path, entries: list[tuple[str, bytes, int, int]]) -> Path:
    """A zip written by hand: (name, deflate data, declared size, crc) per entry, so the
    declared sizes may lie."""
    out, central = bytearray(), bytearray()
    for name, data, size, crc in entries:
        offset = len(out)
        fields = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(data), size,
                             len(name), 0)
        out += b"PK\x03\x04" + fields + name.encode() + data
        central += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                    + struct.pack("<HHHII", 0, 0, 0, 0, offset) + name.encode())
    out += central + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries),
                                                 len(central), len(out), 0)
    path.write_bytes(bytes(out))
    return path


def manifest_entry(text: bytes = MANIFEST):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return ("manifest.json", c.compress(text) + c.flush(), len(text), zlib.crc32(text))


def peak_memory(fn):
    """(what fn raised, peak Python memory in bytes while it ran)."""
    tracemalloc.start()
    try:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - returned to the test
            return e, tracemalloc.get_traced_memory()[1]
        return None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_1kb_package_declaring_a_1gib_wasm_is_refused_without_inflating(tmp_path):
    small = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = small.compress(bytes(1000)) + small.flush()
    path = raw_zip(tmp_path / "bomb.ndp", [manifest_entry(), ("plugin.wasm", data, GIB, 0)])
    assert path.stat().st_size < 1024
    error, peak = peak_memory(lambda: read_package(path))
    assert isinstance(error, PackageError)
    assert str(error) == WASM_TOO_BIG
    assert peak < 4 * MIB


def test_real_1gib_zip_bomb_is_refused_without_inflating(tmp_path):
    bomb = deflated_zeros(GIB)
    path = raw_zip(tmp_path / "bomb.ndp",
                   [manifest_entry(), ("plugin.wasm", bomb, GIB, zeros_crc(GIB))])
    del bomb
    assert path.stat().st_size < 2 * MIB
    started = time.perf_counter()
    error, peak = peak_memory(lambda: read_package(path))
    assert str(error) == WASM_TOO_BIG
    assert peak < 4 * MIB
    assert time.perf_counter() - started < 1


def test_host_load_of_a_zip_bomb_is_a_load_error(tmp_path):
    path = raw_zip(tmp_path / "bomb.ndp",
                   [manifest_entry(), ("plugin.wasm", deflated_zeros(GIB), GIB, 0)])
    with Host(tmp_path / "data") as host, pytest.raises(LoadError) as err:
        host.load(path)
    assert str(err.value) == WASM_TOO_BIG


def test_wasm_inflating_past_its_declared_size_is_refused_with_little_memory(tmp_path):
    path = raw_zip(tmp_path / "liar.ndp", [manifest_entry(),
                                            ("plugin.wasm", deflated_zeros(64 * MIB), 100, 0)])
    error, peak = peak_memory(lambda: read_package(path))
    assert str(error) == "opening package: reading wasm: zip: checksum error"
    assert peak < 4 * MIB


def test_manifest_declared_over_1_mib_is_refused_without_inflating(tmp_path):
    path = raw_zip(tmp_path / "big.ndp", [
        ("manifest.json", deflated_zeros(200 * MIB), 200 * MIB, 0),
        ("plugin.wasm", b"\x03\x00", 0, 0)])
    error, peak = peak_memory(lambda: read_package(path))
    assert str(error) == ("opening package: reading manifest: manifest.json is 209715200 bytes "
                          "uncompressed, over nd-notebook's limit of 1048576 bytes")
    assert peak < 4 * MIB


def test_discovery_read_of_an_oversized_manifest_is_refused(tmp_path):
    path = raw_zip(tmp_path / "big.ndp", [
        ("manifest.json", deflated_zeros(2 * MIB), 2 * MIB, 0)])
    with pytest.raises(PackageError, match="^reading manifest: manifest.json is 2097152 bytes"):
        read_manifest(path)


def test_manifest_text_over_1_mib_is_refused_by_the_parser():
    text = b" " * MIB + MANIFEST
    with pytest.raises(ManifestError) as err:
        Manifest.parse(text)
    assert str(err.value) == (f"parsing manifest JSON: manifest is {len(text)} bytes, over "
                              "nd-notebook's limit of 1048576 bytes")


def nested_manifest(depth: int) -> bytes:
    """A manifest whose deepest value is ``depth`` levels down (the top object counts)."""
    inner = depth - 1
    return MANIFEST[:-1] + b', "extra": ' + b"[" * inner + b"]" * inner + b"}"


def test_manifest_at_64_levels_parses():
    assert Manifest.parse(nested_manifest(64)).name == "bomb"


def test_manifest_deeper_than_64_levels_is_refused():
    with pytest.raises(ManifestError) as err:
        Manifest.parse(nested_manifest(65))
    assert str(err.value) == "parsing manifest JSON: nesting depth 65 is over nd-notebook's limit of 64"


def test_manifest_deeper_than_go_limit_gives_go_text():
    with pytest.raises(ManifestError) as err:
        Manifest.parse(nested_manifest(10001))
    assert str(err.value) == "parsing manifest JSON: invalid character '[' exceeded max depth"
