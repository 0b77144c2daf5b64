"""Compiler output rewritten in the cell's terms: ``cell line 7, col 2: undefined: foo``.

Positions in the generated ``plugin.go`` become cell lines, positions in the bundled PDK say
so, and anything else is kept as the compiler wrote it. The raw output is never discarded:
callers keep it next to the mapped message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .source import CellSource

GO_FILE = "plugin.go"

# A file position as Go prints it: ``./plugin.go:12:5``, ``plugin.go:3:8``, ``go.mod:8``,
# ``../../pdk/go/host/x.go:4:2`` or an absolute path.
_GO_POSITION = re.compile(r"(?P<path>[^\s:\"'()]+\.(?:go|mod|s)):(?P<line>\d+)(?::(?P<col>\d+))?")
# Lines that only frame the real diagnostics: package headers and module lookups.
_NOISE = re.compile(r"^(# \S+|go: finding module for package \S+)\s*$")
_WAT_POSITION = re.compile(r"^\s*--> .*?:(?P<line>\d+):(?P<col>\d+)\s*$")

OFFLINE_HINT = (
    "(builds are offline: a plugin can import the Go standard library and the bundled "
    "Navidrome PDK only)"
)


def map_go_output(output: str, cell: CellSource, *, workdir: Path, pdk_dir: Path) -> str:
    """The diagnostics of a failed ``go build``/``tinygo build`` in the cell's line numbers."""
    # Go prints paths relative to its physical working folder: compare resolved paths.
    workdir = Path(workdir).resolve()
    pdk_dir = Path(pdk_dir).resolve()

    def rewrite(match: re.Match) -> str:
        return _describe_go_position(match, cell, workdir, pdk_dir)

    lines = []
    for raw in output.splitlines():
        if not raw.strip() or _NOISE.match(raw):
            continue
        lines.append(_GO_POSITION.sub(rewrite, raw))
    if "module lookup disabled by GOPROXY=off" in output:
        lines.append(OFFLINE_HINT)
    return "\n".join(lines)


def map_wat_error(text: str, cell: CellSource) -> str:
    """A wasmtime ``wat2wasm`` error with its ``--> <anon>:L:C`` turned into the cell line."""
    lines = text.splitlines()
    if not lines:
        return text
    head, rest = lines[0], lines[1:]
    for i, line in enumerate(rest):
        m = _WAT_POSITION.match(line)
        if m:
            where = cell_position(cell, int(m.group("line")), int(m.group("col")))
            excerpt = [r for r in rest[i + 1 :] if r.strip() not in ("|", "")]
            return "\n".join([f"{where}: {head}", *excerpt])
    return text


def cell_position(cell: CellSource, line: int, col: int | None) -> str:
    """``cell line L, col C`` for a line of the compiled file (or the generated part's name)."""
    user = cell.cell_line(line)
    where = f"{cell.label} line {user}" if user is not None else cell.generated_part(line)
    return f"{where}, col {col}" if col is not None else where


def _describe_go_position(m: re.Match, cell: CellSource, workdir: Path, pdk_dir: Path) -> str:
    path = Path(m.group("path"))
    line = int(m.group("line"))
    col = int(m.group("col")) if m.group("col") else None
    full = Path(os.path.normpath(path if path.is_absolute() else workdir / path))
    if full == workdir / GO_FILE:
        return cell_position(cell, line, col)
    if full == workdir / "go.mod":
        return f"generated go.mod line {line}"
    if full.is_relative_to(pdk_dir):
        pos = f"{line}:{col}" if col is not None else f"{line}"
        return f"bundled PDK file {full.relative_to(pdk_dir).as_posix()}:{pos}"
    return m.group()


# -- projects (a folder, or %%ndplugin with %%ndfile cells) --------------------------------------
_MISSING_MODULE = re.compile(
    r"(?P<mod>[A-Za-z0-9][^\s:@\"']*\.[^\s:@\"']+)@(?P<ver>v[^\s:]+): (?P<why>.+)"
    r"|(?:cannot find module providing package|no required module provides package) "
    r"(?P<pkg>[^\s:;]+)"
)
_GO_TOO_OLD = re.compile(r"requires go >= (?P<want>\S+) \(running go (?P<have>[^;\s]+)")
_DOWNLOADING = re.compile(r"^go: (downloading|finding module for package) ")
_DOWNLOADED = re.compile(r"(?m)^go: downloading (?P<mod>\S+) (?P<ver>v\S+)$")
# How a failed module download reads (offline, proxy off, not in the proxy or cache).
_FETCH_FAILED = re.compile(r"module lookup disabled|dial tcp|no such host|: not found|"
                           r"reading (?:https?|file)://|connection refused|i/o timeout|"
                           r"unrecognized import path|no such file or directory")


def map_project_output(output: str, sources: dict, *, workdir: Path, pdk_dir: Path,
                       go_mod_generated: bool, goproxy: str, vendored: bool,
                       cwd: Path | None = None) -> str:
    """The diagnostics of a failed project build, positions named as the user knows them.

    ``sources`` maps files written from notebook cells to ``(label, CellSource)``: their
    positions become ``<label> line L``; other files of the folder keep ``path:line:col``
    relative to it. A missing module gets the ways to provide one. ``cwd`` is where the
    compiler ran (the package's folder, below ``workdir`` when the module root is above it).
    """
    workdir = Path(workdir).resolve()
    cwd = Path(cwd).resolve() if cwd is not None else workdir
    pdk_dir = Path(pdk_dir).resolve()

    def rewrite(m: re.Match) -> str:
        line, col = int(m.group("line")), int(m.group("col")) if m.group("col") else None
        path = Path(m.group("path"))
        full = Path(os.path.normpath(path if path.is_absolute() else cwd / path))
        if full.is_relative_to(pdk_dir):
            pos = f"{line}:{col}" if col is not None else f"{line}"
            return f"bundled PDK file {full.relative_to(pdk_dir).as_posix()}:{pos}"
        if not full.is_relative_to(workdir):
            return m.group()
        rel = full.relative_to(workdir).as_posix()
        if rel in sources:
            label, cell = sources[rel]
            user = cell.cell_line(line)
            where = f"{label} line {user}" if user is not None else \
                f"{label}: {cell.generated_part(line)}"
            return f"{where}, col {col}" if col is not None else where
        if rel == "go.mod" and go_mod_generated:
            return f"generated go.mod line {line}"
        return f"{rel}:{line}:{col}" if col is not None else f"{rel}:{line}"

    local, output_rest = _missing_local_packages(output, cwd or workdir, workdir)
    lines = [_GO_POSITION.sub(rewrite, raw) for raw in output.splitlines()
             if raw.strip() and not _NOISE.match(raw) and not _DOWNLOADING.match(raw)]
    lines += local
    lines += _newer_pdk_methods(output, workdir)
    lines += _binary_data_hint(output, workdir)
    lines += _project_hints(output_rest, goproxy, vendored)
    return "\n".join(lines)


# ``main.go:6:2: github.com/davecgh/go-spew@v1.1.1: module lookup disabled``: Go looked for the
# package of that import in the modules of the build list (and could not fetch one of them).
_IMPORT_LOOKUP = re.compile(r"(?m)^(?P<path>[^\s:]+\.go):(?P<line>\d+):(?P<col>\d+): "
                            r"[A-Za-z0-9][^\s:@]*@v\S+: .*$")
_MODULE_LINE = re.compile(r"(?m)^\s*module\s+\"?(?P<path>[^\s\"]+)")


_MISSING_METHOD = re.compile(r"does not implement (?P<pkg>\w+)\.(?P<iface>\w+) "
                             r"\(missing method (?P<method>\w+)\)")
_PDK_REQUIRE = re.compile(r"github\.com/navidrome/navidrome/plugins/pdk/go\s+(?P<ver>v\S+)")


def _newer_pdk_methods(output: str, workdir: Path) -> list[str]:
    """A capability interface method the plugin lacks because the PDK gained it after the
    version the plugin was written against: say when, and that the bundled PDK is the newest."""
    from .. import abi, versions

    try:
        pinned = _PDK_REQUIRE.search((workdir / "go.mod").read_text("utf-8", "replace"))
    except OSError:
        pinned = None
    hints = []
    for m in _MISSING_METHOD.finditer(output):
        row = next((e for e in abi.EXPORTS if e.method == m["method"]
                    and abi.capability(e.capability).package == m["pkg"]), None)
        change = versions.target("head").introduced_by("exports", row.name) if row else None
        if change is None:
            continue
        asked = f" (its go.mod asks for {pinned['ver']})" if pinned else ""
        hint = (f"{m['pkg']}.{m['iface']} gained {m['method']} ({row.name}) in Navidrome "
                f"{change.commit}, {change.date or 'date not recorded'}: the bundled PDK is "
                f"Navidrome's newest, whatever PDK version the plugin was written "
                f"against{asked}; add the method (Navidrome calls it) to build here")
        if hint not in hints:
            hints.append(hint)
    return hints


# ``"binary:" + req.Data (mismatched types untyped string and []byte)``, ``cannot use req.Data
# (variable of type []byte) as string value``...: a string expected where Data is []byte.
_BYTES_AS_STRING = re.compile(r"mismatched types [^\n]*\[\]byte|\[\]byte\) as string")


BINARY_DATA_HINT = (
    "websocket.OnBinaryMessageRequest.Data is []byte in Navidrome's newest PDK, which is the one "
    "bundled (older PDKs held the frame as base64 text in a string; the JSON is the same): use "
    "the bytes, or base64.StdEncoding.EncodeToString(req.Data) for the old string")


def _binary_data_hint(output: str, workdir: Path) -> list[str]:
    """Older PDKs gave ``websocket.OnBinaryMessageRequest.Data`` as a string of base64 text;
    Navidrome's newest has ``[]byte`` (the JSON is the same): say so when a plugin using it
    fails on a []byte where it wanted a string."""
    if not _BYTES_AS_STRING.search(output):
        return []
    try:
        uses = any("OnBinaryMessageRequest" in f.read_text("utf-8", "replace")
                   for f in workdir.rglob("*.go") if f.is_file())
    except OSError:
        uses = False
    if not uses:
        return []
    return [BINARY_DATA_HINT]


def _missing_local_packages(output: str, cwd: Path, workdir: Path) -> tuple[list[str], str]:
    """An import of the plugin's own module whose folder is missing: Go looks for it in every
    module of the build list, and offline names one it could not fetch, which is not what is
    missing. Returns the lines saying what is (with where it is imported), and the output
    without the lookups those lines explain."""
    try:
        module = _MODULE_LINE.search((workdir / "go.mod").read_text("utf-8", "replace"))
    except OSError:
        return [], output
    if module is None:
        return [], output
    own = module["path"]
    found, explained = [], set()
    for m in _IMPORT_LOOKUP.finditer(output):
        try:
            text = (cwd / m["path"]).read_text("utf-8", "replace").splitlines()[int(m["line"]) - 1]
        except (OSError, IndexError):
            continue
        spec = re.match(r'\s*(?:[\w.]+\s+)?"([^"]+)"', text[int(m["col"]) - 1:])
        imported = spec.group(1) if spec else ""
        if imported == own or imported.startswith(own + "/"):
            folder = imported[len(own) + 1:] or "."
            found.append(f"package {imported} is not in the plugin: its module {own} has no Go "
                         f"files in {folder}/ (imported at {m['path']}:{m['line']})")
            explained.add(m.group())
    rest = "\n".join(line for line in output.splitlines() if line not in explained)
    return found, rest


def _project_hints(output: str, goproxy: str, vendored: bool) -> list[str]:
    """What to do about a missing module or a go.mod asking for a newer Go."""
    hints = []
    old = _GO_TOO_OLD.search(output)
    if old:
        hints.append(f"(the plugin's go.mod asks for Go {old['want']} and this build runs go "
                     f"{old['have']}: lower its `go` line, or build with a newer Go: go=PATH "
                     "or ND_NOTEBOOK_GO)")
    missing = []
    if _FETCH_FAILED.search(output):  # Go names the module only in its "downloading" line
        missing += [f"{m['mod']} {m['ver']}" for m in _DOWNLOADED.finditer(output)]
    for m in _MISSING_MODULE.finditer(output):
        name = f"{m['mod']} {m['ver']}" if m["mod"] else m["pkg"]
        if name not in missing and not (m["mod"] and "bundled" in (m["why"] or "")):
            missing.append(name)
    if missing:
        which = ", ".join(missing)
        if vendored:
            hints.append(f"missing Go module: {which} is not in the plugin's vendor/ folder; "
                         "run `go mod vendor` in the plugin folder again")
        else:
            hints += [
                f"missing Go module: {which}. To provide {'them' if len(missing) > 1 else 'it'}:",
                (f"  - with network: through the module proxy GOPROXY (now {goproxy or 'unset'};"
                 " Go's default is https://proxy.golang.org,direct)"),
                "  - offline: a vendor/ folder in the plugin (`go mod vendor`), used as is",
                ("  - offline: a local module cache, GOPROXY=file://<GOPATH>/pkg/mod/cache/download"
                 " (modules fetched once also stay in nd-notebook's own module cache)"),
            ]
    return hints
