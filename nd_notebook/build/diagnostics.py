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
    where = f"cell line {user}" if user is not None else cell.generated_part(line)
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
