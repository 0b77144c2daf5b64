"""``.ndp`` packages: a zip holding ``manifest.json`` and ``plugin.wasm`` (spec 1.1).

Reading follows Navidrome's loader (root entries named exactly, read in zip order, the last
duplicate kept; the discovery read takes the first; its error texts); writing is
deterministic, so the same manifest and wasm always give the same bytes (and the same SHA-256,
which is how Navidrome notices a changed package).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ManifestError, PackageError
from .manifest import MAX_MANIFEST_BYTES, Manifest, go_quote

__all__ = [
    "MANIFEST_FILE",
    "MAX_MANIFEST_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_WASM_BYTES",
    "PACKAGE_EXTENSION",
    "WASM_FILE",
    "plugin_id_from_path",
    "read_manifest",
    "read_package",
    "sha256_file",
    "validate_plugin_id",
    "write_package",
]

PACKAGE_EXTENSION = ".ndp"
MANIFEST_FILE = "manifest.json"
WASM_FILE = "plugin.wasm"

# nd-notebook's own limits on what a package may inflate to (Navidrome has none): checked on
# the declared sizes before inflating, and again while inflating in case the headers lie.
MAX_WASM_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # manifest.json + plugin.wasm together

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # earliest zip timestamp: fixed, so output is reproducible
_FILE_MODE = 0o100644


def read_package(path: str | os.PathLike, *, version: Any = None
                 ) -> tuple[Manifest, bytes, str]:
    """Open a package like Navidrome's loader: ``(manifest, wasm bytes, plugin id)``.

    The plugin id is the file name without ``.ndp`` (not the manifest's ``name``); it is not
    validated here (``validate_plugin_id``). Every failure is a ``PackageError`` whose text
    is what Navidrome reports, e.g. ``opening package: package missing plugin.wasm`` or
    ``opening package: parsing manifest: parsing manifest JSON: ...``. ``version``: the
    Navidrome version whose types read the manifest (``Manifest.parse``; default HEAD).
    """
    path = Path(path)
    try:
        manifest_bytes = wasm = None
        with _open_zip(path) as zf:
            # Every entry of either name is read, in zip order, the first unreadable one
            # ending it; the last of each name is kept (openPackage's loop).
            for info in zf.infolist():
                name = info.orig_filename  # Python cuts names at a NUL byte; Go does not
                if name == MANIFEST_FILE:
                    manifest_bytes = _read_entry(zf, info, "reading manifest",
                                                 MAX_MANIFEST_BYTES)
                elif name == WASM_FILE:
                    wasm = _read_entry(zf, info, "reading wasm", MAX_WASM_BYTES)
        if manifest_bytes is None:
            raise PackageError("package missing manifest.json")
        if wasm is None:
            raise PackageError("package missing plugin.wasm")
        if len(manifest_bytes) + len(wasm) > MAX_TOTAL_BYTES:
            raise PackageError(f"reading wasm: {MANIFEST_FILE} and {WASM_FILE} are "
                               f"{len(manifest_bytes) + len(wasm)} bytes uncompressed, over "
                               f"nd-notebook's limit of {MAX_TOTAL_BYTES} bytes")
        manifest = _parse(manifest_bytes, version)
    except PackageError as e:
        raise PackageError(f"opening package: {e}") from None
    return manifest, wasm, plugin_id_from_path(path)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Only the manifest of a package, from its first ``manifest.json`` entry (Navidrome's
    discovery read; texts without the loader's ``opening package:`` wrapper)."""
    with _open_zip(Path(path)) as zf:
        for info in zf.infolist():
            if info.orig_filename == MANIFEST_FILE:
                return _parse(_read_entry(zf, info, "reading manifest", MAX_MANIFEST_BYTES))
    raise PackageError("package missing manifest.json")


def write_package(path: str | os.PathLike, manifest: Manifest | Mapping[str, Any] | str | bytes,
                  wasm: bytes | bytearray | memoryview) -> Path:
    """Write a ``.ndp`` Navidrome can load: ``manifest.json`` then ``plugin.wasm`` at the root.

    A ``Manifest`` is written as ``to_json()``; a dict as pretty JSON; ``str``/``bytes`` are
    written verbatim and unchecked (handy for packaging a deliberately broken manifest).
    Same inputs give byte-identical files (fixed timestamps and attributes, fixed order).
    The file is replaced atomically.
    """
    path = Path(path)
    if isinstance(manifest, Manifest):
        manifest_bytes = manifest.to_json().encode("utf-8")
    elif isinstance(manifest, Mapping):
        manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    elif isinstance(manifest, str):
        manifest_bytes = manifest.encode("utf-8")
    else:
        manifest_bytes = bytes(manifest)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in ((MANIFEST_FILE, manifest_bytes), (WASM_FILE, bytes(wasm))):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the host, so attributes mean the same
            info.external_attr = _FILE_MODE << 16
            zf.writestr(info, data, compresslevel=6)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(buffer.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def plugin_id_from_path(path: str | os.PathLike) -> str:
    """The plugin id Navidrome derives from a package path: the file name minus ``.ndp``."""
    return Path(path).name.removesuffix(PACKAGE_EXTENSION)


def validate_plugin_id(plugin_id: str, *, navidrome_rule: bool = True) -> None:
    """Navidrome's plugin-ID rule (HEAD): raise ``PackageError('invalid plugin ID "<id>"')``.

    Refused: empty, ``.``, ``..``, absolute or containing ``/`` or ``\\``, ending with ``.``
    or a space. Also refused here, with the same text, what cannot name its data folder
    (Navidrome fails later with an OS error): a NUL byte, more than 255 bytes, text that is
    not a file name (a lone surrogate), anything but a string. With ``navidrome_rule=False``
    (versions before 77726af59) only what cannot name a folder inside the data folder is
    refused (empty, ``.``, ``..``, a path separator, a NUL byte, too long, not text).
    """
    if not isinstance(plugin_id, str):
        raise PackageError(f"invalid plugin ID {go_quote(str(plugin_id))}")
    if (plugin_id in ("", ".", "..") or "/" in plugin_id or "\x00" in plugin_id
            or len(_fs_name(plugin_id)) > MAX_PLUGIN_ID_BYTES
            or (navidrome_rule and ("\\" in plugin_id or plugin_id.endswith((".", " "))))):
        raise PackageError(f"invalid plugin ID {go_quote(plugin_id)}")


MAX_PLUGIN_ID_BYTES = 255  # a file name (NAME_MAX)


def _fs_name(plugin_id: str) -> bytes:
    try:
        return os.fsencode(plugin_id)
    except UnicodeEncodeError:
        return b"\xff" * (MAX_PLUGIN_ID_BYTES + 1)  # not a file name at all


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a whole file (Navidrome's change detection for packages)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- helpers ---------------------------------------------------------------------------------

def _open_zip(path: Path) -> zipfile.ZipFile:
    """``zip.OpenReader`` with Go's error texts, wrapped like Navidrome's ``openPackage``."""
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PackageError("opening package: zip: not a valid zip file") from None
    except OSError as e:
        reason = e.strerror.lower() if e.strerror else str(e)  # Go's syscall texts
        op = "read" if isinstance(e, IsADirectoryError) else "open"
        raise PackageError(f"opening package: {op} {path}: {reason}") from None


def _too_big(what: str, info: zipfile.ZipInfo, size: int | str, limit: int) -> str:
    return (f"{what}: {info.orig_filename} is {size} bytes uncompressed, over nd-notebook's "
            f"limit of {limit} bytes")


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str, limit: int) -> bytes:
    """Inflate one entry in chunks, stopping as soon as it passes ``limit`` bytes (its
    declared size is checked before anything is inflated). Go's archive/zip reads stored
    and deflated entries only."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackageError(f"{what}: zip: unsupported compression algorithm")
    if info.file_size > limit:
        raise PackageError(_too_big(what, info, info.file_size, limit))
    chunks: list[bytes] = []
    total = 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(min(1 << 20, limit + 1 - total)):
                total += len(chunk)
                if total > limit:
                    raise PackageError(_too_big(what, info, f"more than {limit}", limit))
                chunks.append(chunk)
        return b"".join(chunks)
    except zipfile.BadZipFile as e:
        text = "zip: checksum error" if "CRC" in str(e) else f"zip: {e}"
        raise PackageError(f"{what}: {text}") from None
    except NotImplementedError:
        raise PackageError(f"{what}: zip: unsupported compression algorithm") from None
    except (zlib.error, RuntimeError, OSError, EOFError) as e:  # corrupt data, encrypted entry
        raise PackageError(f"{what}: {e}") from None


def _parse(manifest_bytes: bytes, version: Any = None) -> Manifest:
    try:
        return Manifest.parse(manifest_bytes, version=version)
    except ManifestError as e:
        raise PackageError(f"parsing manifest: {e}") from None
