"""Where nd-notebook keeps its caches: one project-controlled folder, never scattered.

``ND_NOTEBOOK_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/nd-notebook`` or
``~/.cache/nd-notebook``. The Go build cache, Go module cache, nd-notebook's content-addressed
wasm cache and Extism's compiled-module (wasmtime) cache all live below it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of every cache nd-notebook writes."""
    env = os.environ.get("ND_NOTEBOOK_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "nd-notebook"
    root.mkdir(parents=True, exist_ok=True)
    return root


def extism_cache_config() -> Path:
    """A wasmtime cache config pointing Extism's compiled-module cache into ``cache_dir()``.

    Written once; its path is exported as ``EXTISM_CACHE_CONFIG`` before the first plugin is
    compiled (libextism reads that variable).
    """
    root = cache_dir()
    wasmtime_dir = root / "wasmtime"
    wasmtime_dir.mkdir(parents=True, exist_ok=True)
    cfg = root / "wasmtime-cache.toml"
    # wasmtime recompresses an entry read 256 times at zstd level 20 on a background thread:
    # seconds of CPU (`perf`: 2.6 s for one snapshot module, under a 4-worker task-queue run)
    # taken from the calls, to save disk. The entries stay at the baseline level instead.
    text = (f"[cache]\ndirectory = \"{wasmtime_dir.as_posix()}\"\n"
            f"baseline-compression-level = {_ZSTD_LEVEL}\n"
            f"optimized-compression-level = {_ZSTD_LEVEL}\n")
    if not cfg.exists() or cfg.read_text() != text:
        cfg.write_text(text)
    return cfg


#: zstd level of Extism's compiled-module cache entries (wasmtime's baseline level).
_ZSTD_LEVEL = 3


def use_project_caches() -> None:
    """Point Extism's module cache at ``cache_dir()`` unless the user chose one already."""
    os.environ.setdefault("EXTISM_CACHE_CONFIG", str(extism_cache_config()))


def path_exists(text: str | os.PathLike) -> bool:
    """``Path(text).exists()``, but False, never an error, for text no path could be (too long
    for a file name, a NUL byte: JSON or source code given inline)."""
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False
