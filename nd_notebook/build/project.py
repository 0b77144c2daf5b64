"""Build a plugin project: a folder (or notebook cells) holding a Go module of several files.

The folder is copied into a fresh build folder and never written to. Its own ``go.mod`` is
kept line for line (module path, ``go`` version, requirements); only the bundled PDK's
``replace`` directives are appended (a replace of the PDK or go-pdk by a local path the folder
already has is commented out; one by another module, an author's fork, is kept and warned of;
relative replace targets are made absolute). A folder without ``go.mod`` gets
the generated one cells use. Third-party modules come from, in order: the plugin's
``vendor/`` (then the folder is built exactly as vendored), nd-notebook's module cache, a local
Go module cache, and the module proxy of the environment (``GOPROXY``, Go's default when unset;
``GOPROXY=off`` builds offline). The cache key hashes every file of the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CompileError, NDError
from . import cache as _cache
from . import jsonlink
from .diagnostics import map_project_output
from .source import (
    PACKAGE_LINE,
    PDK_MODULE,
    CellSource,
    go_code_only,
    go_warnings,
    normalize,
    prepare_go,
    prepare_plain,
)
from .toolchain import OUTPUT, go_command, go_env, tinygo_command, tinygo_env

#: Go's own default module proxy, used when ``GOPROXY`` is not set.
DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
#: Settings of the environment a project build honours (all other GO* variables are dropped).
PASSED_SETTINGS = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE")
MANIFEST = "manifest.json"
# Folders and files that never take part in a build (version control, notebook leftovers,
# build outputs).
_SKIPPED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints"}
_SKIPPED_SUFFIXES = (".wasm", ".ndp")
_MAIN_CELL = "plugin.go"
SOURCE_SUFFIXES = (".go", ".wat", ".wast")


class SourceNotFoundError(NDError, FileNotFoundError):
    """The plugin source named by a path does not exist (shown as one line)."""


@dataclass(frozen=True)
class SourceFile:
    """A file of a project built from notebook cells.

    ``text`` is the cell below its magic line, with a leading newline standing for that line,
    so that line numbers count as the notebook shows them; ``label`` names the cell in
    compiler messages (``cell`` for the ``%%ndplugin`` cell).
    """

    path: str
    text: str
    label: str


def source_path(source) -> Path | None:
    """The file or folder ``source`` names, or None when it is source text.

    A path-like is always a path; a one-line str is one when it names a folder, or ends in
    .go/.wat/.wast (Go or WebAssembly text of one line cannot end so). A path that does not
    exist raises :class:`SourceNotFoundError`.
    """
    if isinstance(source, os.PathLike):
        path = Path(source).expanduser()
    elif isinstance(source, str) and source and "\n" not in source and source.strip() == source:
        path = Path(source).expanduser()
        try:
            if not path.is_dir() and path.suffix not in SOURCE_SUFFIXES:
                return None
        except OSError:  # too long to be a path: it is source text
            return None
    else:
        return None
    if not path.exists():
        raise SourceNotFoundError(
            f"no such plugin source: {str(source)!r} (expected a .go or .wat file, "
            "or a plugin folder)")
    return path


def build_folder(folder: Path, lang: str, toolchains, *, force: bool, flags: tuple[str, ...],
                 sources: dict[str, tuple[str, CellSource]] | None = None,
                 find_module: bool = True):
    """Build the Go module in ``folder`` (see the module docstring); returns a BuildResult.

    ``toolchains`` is ``(compiler, go, version line)``; ``sources`` maps files written from
    notebook cells to their labels and line bookkeeping, for the compiler messages. With
    ``find_module``, a folder without go.mod below one with it is built as a package of that
    module (cell projects, written to a folder of their own, are not).
    """
    started = time.perf_counter()
    plugin_dir = folder.resolve()
    # The plugin's package may sit below its module's go.mod (go.mod at a repository's root,
    # package main in plugin/, as `go build ./plugin` builds it): the module is built from
    # there, the package where it is.
    folder, package = _module_root(plugin_dir) if find_module else (plugin_dir, "")
    files = _project_files(folder)
    if not any(p.endswith(".go") and posixpath.dirname(p) == package for p in files):
        below = _main_packages(folder, files)
        hint = (f"; package main is in {', '.join(d + '/' for d in below)}: build that folder"
                if below and not package else "")
        raise CompileError(f"{plugin_dir}: no .go file at the top of the plugin folder "
                           f"(the plugin's package main){hint}", lang=lang)
    tc, gotc, toolchain_version = toolchains
    vendored = (folder / "vendor" / "modules.txt").is_file()
    network = network_settings()
    from . import BuildResult, pdk_version

    pdk = pdk_version()
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + hashlib.sha256((folder / rel).read_bytes()).digest())
    material = json.dumps({"project": digest.hexdigest(), "network": network,
                           "vendored": vendored, "package": package}, sort_keys=True)
    key = _cache.build_key(lang, material, flags, toolchain_version, pdk)
    manifest = next((folder / rel for rel in (posixpath.join(package, MANIFEST), MANIFEST)
                     if rel in files), None)
    main_files = [rel for rel in files if rel.endswith(".go") and not rel.endswith("_test.go")
                  and posixpath.dirname(rel) == package]
    warnings = go_warnings([(folder / rel).read_text("utf-8", "replace") for rel in main_files])
    if "go.mod" in files and not vendored:
        warnings += fork_warnings((folder / "go.mod").read_text("utf-8", "replace"))
    extra = {"files": tuple(files), "manifest": manifest, "warnings": warnings}

    if not force:
        hit = _cache.lookup(key)
        if hit is not None:
            return BuildResult(wasm=hit.wasm, lang=lang, key=key, cached=True,
                               seconds=time.perf_counter() - started,
                               output=hit.meta.get("output", ""), toolchain=toolchain_version,
                               path=hit.path, **extra)

    wasm, output = _compile(folder, files, tc, gotc, flags, vendored, network, sources or {},
                            package)
    seconds = time.perf_counter() - started
    path = _cache.store(key, wasm, {"lang": lang, "toolchain": toolchain_version,
                                    "flags": list(flags), "pdk": pdk, "project": str(folder),
                                    "files": files, "seconds": round(seconds, 3),
                                    "output": output, "built_at": time.time()})
    return BuildResult(wasm=wasm, lang=lang, key=key, cached=False, seconds=seconds,
                       output=output, toolchain=toolchain_version, path=path, **extra)


def write_cell_project(folder: Path, files: list[SourceFile]) -> dict[str, tuple[str, CellSource]]:
    """Write notebook cells as the files of a module in ``folder``; returns their line maps.

    The ``%%ndplugin`` cell (path ``plugin.go``) gets ``package main``/``func main() {}`` as a
    lone cell does; other top-level ``.go`` files get ``package main`` when they lack a
    package clause. Without a ``go.mod`` cell the build generates one (module ``ndplugin``).
    """
    sources: dict[str, tuple[str, CellSource]] = {}
    for f in files:
        rel = safe_relative(f.path)
        text = normalize(f.text)
        if rel == _MAIN_CELL:
            cell = prepare_go(text)
        elif rel.endswith(".go") and "/" not in rel:
            cell = _with_package_clause(text)
        else:
            cell = prepare_plain(text)
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(cell.text, "utf-8")
        sources[rel] = (f.label, cell)
    return sources


def network_settings() -> dict[str, str]:
    """Where a project build looks for modules: the environment's proxy settings, Go's
    default proxy when ``GOPROXY`` is unset, and a local Go module cache in front of it."""
    settings = {k: os.environ[k] for k in PASSED_SETTINGS if os.environ.get(k)}
    proxy = settings.get("GOPROXY", DEFAULT_GOPROXY)
    local = local_module_cache()
    if local is not None and proxy != "off":
        proxy = f"{local.as_uri()},{proxy}"
    settings["GOPROXY"] = proxy
    return settings


def local_module_cache() -> Path | None:
    """The download folder of the user's own Go module cache, when there is one."""
    if os.environ.get("GOMODCACHE"):
        root = Path(os.environ["GOMODCACHE"])
    else:
        gopath = os.environ.get("GOPATH", "").split(os.pathsep)[0]
        root = (Path(gopath) if gopath else Path.home() / "go") / "pkg" / "mod"
    download = root / "cache" / "download"
    return download if download.is_dir() else None


def adapt_go_mod(text: str, folder: Path) -> str:
    """The folder's go.mod with the bundled PDK's replace directives appended.

    Lines keep their numbers: replaces of the PDK modules are commented out, relative replace
    targets become absolute (the build runs in a copy), and the additions go at the end. A
    module path below the PDK's (``.../pdk/go/host``: Navidrome's examples once made ``host``
    a module of its own) is the bundled PDK's package: its require and replace go too. A ``go``
    line older than the bundled PDK's is raised to it: else Go, with ``-mod=mod``, raises it
    itself and needs the whole module graph (indirect requires an upstream PDK left behind).
    """
    from ..pdk import EXTISM_DIR, EXTISM_MODULE
    from . import GO_MOD_GO_VERSION, pdk_dir

    ours = {PDK_MODULE, EXTISM_MODULE}

    def below_ours(module: str) -> bool:
        return module.startswith(PDK_MODULE + "/")

    required: set[str] = set()
    forks = dict(forked_replaces(text))
    out, block = [], None
    for line in text.splitlines():
        code = line.split("//", 1)[0].strip()
        if block and code == ")":
            block = None
        elif code in ("replace (", "require ("):
            block = code.split()[0]
        else:
            verb, body = (block, code) if block else (code.split(" ", 1) + [""])[:2]
            body = body.strip() if not block else body
            if verb == "go" and _go_version(body) < _go_version(GO_MOD_GO_VERSION):
                line = line.replace(body, GO_MOD_GO_VERSION, 1) + (
                    f"  // raised by nd-notebook from {body} (the bundled PDK's)")
            elif verb == "require" and body:
                required.add(body.split()[0])
                if below_ours(body.split()[0]):
                    line = f"// (replaced by nd-notebook) {line.strip()}"
            elif verb == "replace" and "=>" in body:
                old, new = (s.strip() for s in body.split("=>", 1))
                if old.split()[0] in forks:
                    pass  # the author's fork: built against it, as `go build` does
                elif old.split()[0] in ours or below_ours(old.split()[0]):
                    line = f"// (replaced by nd-notebook) {line.strip()}"
                elif new.split()[0].startswith(("./", "../")) and len(new.split()) == 1:
                    target = (folder / new).resolve().as_posix()
                    line = line.replace(new, target, 1)
        out.append(line)
    out += ["", "// Added by nd-notebook: Navidrome's Go PDK and go-pdk from the bundled copies."]
    if PDK_MODULE not in required:
        out.append(f"require {PDK_MODULE} v0.0.0")
    if EXTISM_MODULE not in required:
        out.append(f"require {EXTISM_MODULE} v1.1.3")
    out += [f"replace {module} => {target.as_posix()}"
            for module, target in ((PDK_MODULE, pdk_dir()), (EXTISM_MODULE, EXTISM_DIR))
            if module not in forks]
    return "\n".join(out + [""])


def forked_replaces(text: str) -> list[tuple[str, str]]:
    """``(module, "path version")`` of each replace in go.mod ``text`` that points the PDK or
    go-pdk at another module (an author's fork): kept, where a replace by a local path (a
    Navidrome checkout's ``../../pdk/go``) gives way to the bundled copy."""
    from ..pdk import EXTISM_MODULE

    found, block = [], None
    for line in text.splitlines():
        code = line.split("//", 1)[0].strip()
        if block and code == ")":
            block = None
        elif code == "replace (":
            block = "replace"
        elif "=>" in code and (block or code.startswith("replace ")):
            old, new = (x.split() for x in code.removeprefix("replace ").split("=>", 1))
            if old and old[0] in (PDK_MODULE, EXTISM_MODULE) and len(new) == 2:
                found.append((old[0], " ".join(new)))
    return found


def fork_warnings(text: str) -> tuple[str, ...]:
    """What a build says of ``forked_replaces``: it is not the bundled PDK being built."""
    return tuple(f"go.mod replaces {module} with {target}: built against that module (from "
                 f"the module proxy, GOPROXY), not nd-notebook's bundled copy"
                 for module, target in forked_replaces(text))


def _go_version(text: str) -> tuple[int, ...]:
    """``1.23.4`` as ``(1, 23, 4)``; anything else sorts first."""
    parts = re.findall(r"\d+", text.split("rc")[0].split("beta")[0])
    return tuple(int(p) for p in parts) if parts else ()


def _compile(folder: Path, files: list[str], tc, gotc, flags, vendored: bool,
             network: dict[str, str], sources, package: str = "") -> tuple[bytes, str]:
    """Copy the project into a fresh folder, compile its ``package`` (a folder of the module,
    "" for its root) there, return (wasm, output)."""
    workdir = Path(tempfile.mkdtemp(prefix="proj-", dir=_cache.work_root()))
    root = workdir / "module"
    try:
        for rel in files:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / rel, root / rel)
        had_go_mod = "go.mod" in files
        if not had_go_mod:
            from . import go_mod

            (root / "go.mod").write_text(go_mod(True), "utf-8")
        elif not vendored:
            text = (folder / "go.mod").read_text("utf-8")
            (root / "go.mod").write_text(adapt_go_mod(text, folder), "utf-8")
        if tc.kind == "go":
            cmd, env = go_command(tc, flags), go_env(tc)
        else:
            cmd, env = tinygo_command(tc, flags), tinygo_env(tc, gotc)
        env.update(network)
        env["GOFLAGS"] = "-mod=vendor" if vendored else "-mod=mod"
        # A vendored build uses its own go-pdk, never the bundled one (and its stdjson).
        go_texts = ((root / rel).read_text("utf-8", "replace") for rel in files
                    if rel.endswith(".go"))
        proc = jsonlink.compile_module(cmd, root / package, env, tc.kind, go_texts,
                                       bundled=not vendored)
        output = proc.stdout
        wasm_path = root / package / OUTPUT
        if proc.returncode != 0 or not wasm_path.is_file():
            from . import pdk_dir

            message = map_project_output(
                output, sources, workdir=root, pdk_dir=pdk_dir(), go_mod_generated=not had_go_mod,
                goproxy=network.get("GOPROXY", ""), vendored=vendored, cwd=root / package)
            raise CompileError(message or f"{tc.kind} build failed with exit status "
                               f"{proc.returncode}", output=output, lang=tc.kind)
        return wasm_path.read_bytes(), output
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _module_root(folder: Path) -> tuple[Path, str]:
    """``(module root, package folder relative to it)``: the folder itself when it has a
    go.mod, else the nearest folder above it that has one (Go's rule), else the folder."""
    if (folder / "go.mod").is_file():
        return folder, ""
    for parent in folder.parents:
        if (parent / "go.mod").is_file():
            return parent, folder.relative_to(parent).as_posix()
    return folder, ""


def _main_packages(folder: Path, files: list[str]) -> list[str]:
    """The folders below ``folder`` holding a ``package main`` Go file (vendor/ left out)."""
    found = []
    for rel in files:
        where = posixpath.dirname(rel)
        if (rel.endswith(".go") and where and where not in found
                and not rel.startswith("vendor/") and not rel.endswith("_test.go")):
            head = go_code_only((folder / rel).read_text("utf-8", "replace"))
            if re.match(r"\s*package\s+main\b", head):
                found.append(where)
    return found


def _project_files(folder: Path) -> list[str]:
    """Every file of the project (relative posix paths, sorted), outputs and VCS left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in filenames:
            if name.endswith(_SKIPPED_SUFFIXES):
                continue
            found.append((Path(dirpath) / name).relative_to(folder).as_posix())
    return sorted(found)


_UNSAFE = re.compile(r"(^|/)\.\.?(/|$)")
_PACKAGE_CLAUSE = re.compile(r"\s*package\b")


def safe_relative(path: str) -> str:
    """A file name of a cell project: relative, inside the module, posix separators."""
    rel = path.replace("\\", "/").strip()
    if not rel or rel.startswith("/") or _UNSAFE.search(rel) or ":" in rel:
        raise ValueError(f"{path!r} is not a relative file name inside the plugin module")
    return rel


def _with_package_clause(text: str) -> CellSource:
    """An extra top-level Go file: ``package main`` added when it has no package clause."""
    lines = text.count("\n")
    if _PACKAGE_CLAUSE.match(go_code_only(text)):
        return CellSource(text=text, cell_lines=lines)
    return CellSource(text=PACKAGE_LINE + text, cell_lines=lines, offset=1, added_package=True)
