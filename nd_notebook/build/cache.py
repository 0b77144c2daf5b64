"""The content-addressed wasm cache under ``cache_dir()/builds``.

An entry is ``<key>.wasm`` plus ``<key>.json`` (lang, toolchain, compiler output, build time).
The key hashes everything that decides the bytes, so a hit never needs the compiler and stays
valid across processes and kernel restarts. Files are written to a temporary name and renamed,
so concurrent builds of the same cell cannot leave a torn entry; the ``.wasm`` is renamed last
and is what marks an entry as present.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..paths import cache_dir

# Bump when the generated module, the build command or the source conveniences change.
RECIPE = "nd-notebook-build/1"
# Module folders left behind by a killed build are removed by clear_cache() after this long.
STALE_WORK_SECONDS = 3600


@dataclass(frozen=True)
class CacheEntry:
    """A cached build: the wasm and what was recorded when it was made."""

    wasm: bytes
    path: Path
    meta: dict


@dataclass(frozen=True)
class CacheInfo:
    """Size of nd-notebook's build caches."""

    path: Path
    entries: int
    bytes: int
    go_build_cache: Path
    go_build_cache_bytes: int


def builds_dir() -> Path:
    """Folder of the wasm cache."""
    path = cache_dir() / "builds"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_key(
    lang: str, source: str, flags: tuple[str, ...], toolchain: str, pdk: str | None
) -> str:
    """sha256 over every input that decides the wasm bytes."""
    material = json.dumps(
        {
            "recipe": RECIPE,
            "lang": lang,
            "source": source,
            "flags": list(flags),
            "toolchain": toolchain,
            "pdk": pdk,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def lookup(key: str) -> CacheEntry | None:
    """The cached build for ``key``, or None."""
    folder = builds_dir()
    wasm_path = folder / f"{key}.wasm"
    try:
        wasm = wasm_path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        meta = json.loads((folder / f"{key}.json").read_text("utf-8"))
    except (OSError, ValueError):
        meta = {}
    return CacheEntry(wasm, wasm_path, meta)


def store(key: str, wasm: bytes, meta: dict) -> Path:
    """Record a build atomically; returns the path of the cached wasm."""
    folder = builds_dir()
    _atomic_write(folder / f"{key}.json", json.dumps(meta, indent=1).encode("utf-8"))
    wasm_path = folder / f"{key}.wasm"
    _atomic_write(wasm_path, wasm)
    return wasm_path


def clear_cache(*, go_build_cache: bool = False) -> int:
    """Delete every cached build (and with ``go_build_cache=True`` Go's build cache too).

    Returns the number of files removed.
    """
    removed = _remove_tree_contents(builds_dir())
    removed += _remove_tree_contents(work_root(), older_than=time.time() - STALE_WORK_SECONDS)
    if go_build_cache:
        removed += _remove_tree_contents(cache_dir() / "go-build")
    return removed


def cache_info() -> CacheInfo:
    """How many builds are cached and how much room they and Go's build cache take."""
    folder = builds_dir()
    wasm = list(folder.glob("*.wasm"))
    size = sum(_size(p) for p in folder.iterdir())
    go_cache = cache_dir() / "go-build"
    return CacheInfo(folder, len(wasm), size, go_cache, _tree_size(go_cache))


def work_root() -> Path:
    """Parent of the temporary module folders builds run in."""
    path = cache_dir() / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_tree_contents(folder: Path, older_than: float | None = None) -> int:
    if not folder.is_dir():
        return 0
    removed = 0
    for child in folder.iterdir():
        if older_than is not None and _mtime(child) > older_than:
            continue  # possibly a build running in another process right now
        if child.is_dir() and not child.is_symlink():
            removed += sum(len(files) for _, _, files in os.walk(child))
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
            removed += 1
    return removed


def _tree_size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(_size(Path(root, f)) for f in files)
    return total


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
