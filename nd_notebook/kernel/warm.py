"""Warm nd-notebook's caches for notebooks: ``python -m nd_notebook.kernel.warm NOTEBOOK...``.

Binder's ``postBuild`` runs it, so that the first run of every tutorial is fast: each
``%%ndplugin`` cell (with the ``%%ndfile`` cells before it) goes through the magics themselves,
so it is compiled exactly as in the notebook (filling the Go build cache and nd-notebook's
content-addressed wasm cache) and loaded once (filling Extism's compiled-module cache under
``cache_dir()/wasmtime``). A cell that still fails is reported and skipped.
"""

from __future__ import annotations

import argparse
import ast
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WarmResult", "main", "plugin_cells", "warm"]


@dataclass(frozen=True)
class WarmResult:
    """What warming one ``%%ndplugin`` cell did: ``status`` is "ok" or "skipped"."""

    notebook: str
    name: str
    status: str
    detail: str = ""


def main(argv: list[str] | None = None) -> int:
    """Command line: warm the caches for the given notebooks; exit 0 even when cells skip."""
    parser = argparse.ArgumentParser(prog="python -m nd_notebook.kernel.warm",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"warm: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = warm(args.notebooks, report=print)
    ok = sum(r.status == "ok" for r in results)
    print(f"warmed {ok} of {len(results)} plugin cells in {time.perf_counter() - started:.1f} s")
    return 0


def warm(notebooks, *, report=None) -> list[WarmResult]:
    """Run every ``%%ndfile`` and ``%%ndplugin`` cell of ``notebooks`` through the magics of a
    headless IPython shell, one fresh extension per notebook; one result per plugin cell.

    The ``%%ndplugin`` lines keep NAME, ``--lang`` and ``--permissions`` (default ``auto``):
    options naming notebook variables (``--host``, ``--config``, ``--manifest``) and
    ``--export`` change how a plugin is loaded or saved, never what is compiled.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    results = []
    for path in notebooks:
        shell.run_line_magic("load_ext", "nd_notebook")
        try:
            for magic, line, body in magic_cells(path):
                if magic == "ndfile":
                    with capture_output():
                        shell.run_cell_magic("ndfile", line, body)
                    continue
                name, build_line = _build_line(line)
                started = time.perf_counter()
                try:
                    with capture_output():
                        shell.run_cell_magic("ndplugin", build_line, body)
                    result = WarmResult(str(path), name, "ok",
                                        f"{time.perf_counter() - started:.1f} s")
                except Exception as e:  # noqa: BLE001 - one bad cell must not stop the others
                    text = str(e).strip()
                    result = WarmResult(str(path), name, "skipped",
                                        text.splitlines()[0] if text else type(e).__name__)
                results.append(result)
                if report is not None:
                    report(f"{Path(path).name}: {name}: {result.status} ({result.detail})")
        finally:
            shell.run_line_magic("unload_ext", "nd_notebook")
    return results


def magic_cells(path) -> list[tuple[str, str, str]]:
    """``(magic, line, body)`` of each ``%%ndplugin`` and ``%%ndfile`` code cell, in order,
    exactly as IPython passes them to the magic."""
    from IPython.core.inputtransformer2 import TransformerManager

    nb = json.loads(Path(path).read_text(encoding="utf-8"))  # nbformat 4 (no extra dependency)
    cells = []
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") != "code" or \
                not source.lstrip().startswith(("%%ndplugin", "%%ndfile")):
            continue
        # IPython's own transformation, so the body is byte for byte what the magic receives.
        code = TransformerManager().transform_cell(source)
        call = ast.parse(code).body[0].value
        magic, line, body = (ast.literal_eval(a) for a in call.args)
        if magic in ("ndplugin", "ndfile"):
            cells.append((magic, line, body))
    return cells


def plugin_cells(path) -> list[tuple[str, str]]:
    """``(magic line, body)`` of each ``%%ndplugin`` cell."""
    return [(line, body) for magic, line, body in magic_cells(path) if magic == "ndplugin"]


def _build_line(line: str) -> tuple[str, str]:
    """NAME, and the magic line that builds and loads the cell as its notebook would."""
    from ..magics import NDPluginMagics, _take_back

    try:
        args = NDPluginMagics.ndplugin_cell.parser.parse_args(shlex.split(line))
        _take_back(args, "name", {}, "%%ndplugin")
    except Exception:  # noqa: BLE001 - let the magic itself report the line's mistake
        return "?", line
    argv = [args.name] + (["--lang", args.lang] if args.lang else [])
    return args.name, shlex.join(argv + ["--permissions", args.permissions or "auto"])


if __name__ == "__main__":
    sys.exit(main())
