"""``%%ndfile NAME``: more files for the plugin the next ``%%ndplugin`` cell builds.

A plugin of several files is written one cell per file::

    %%ndfile greeting/greeting.go          %%ndfile go.mod
    package greeting                       module example.com/hello
    ...                                    go 1.25

then the ``%%ndplugin hello`` cell is its ``package main`` file. The files collected since the
last ``%%ndplugin`` go to that plugin and stay with it: running its cell again rebuilds with
them (an ``%%ndfile`` cell run again replaces its file). ``%ndfile --list`` shows them,
``%ndfile --clear`` forgets them all. A ``manifest.json`` file is the plugin's manifest unless
``--manifest`` says otherwise. Compiler messages name the file's cell: ``helper.go (cell [3])
line 4, col 2: undefined: x``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand

__all__ = ["NDFileMagics", "build_with_files", "register", "unregister"]

MAIN_FILE = "plugin.go"  # the %%ndplugin cell's own file in the module
_HELP_FLAGS = ("-h", "--help")


def register(ip) -> None:
    """Add ``%%ndfile``/``%ndfile`` to the shell ``ip``."""
    ip.register_magics(NDFileMagics)


def unregister(ip) -> None:
    mm = ip.magics_manager
    mm.registry.pop(NDFileMagics.__name__, None)
    for kind in ("line", "cell"):
        mm.magics[kind].pop("ndfile", None)


def build_with_files(shell, name: str, cell: str, *, lang: str, force: bool):
    """Build the ``%%ndplugin NAME`` cell with NAME's ``%%ndfile`` files, if it has any.

    Returns ``(BuildResult, manifest dict or None)``; the leading newline of the cell text
    stands for the magic line, so compiler messages count lines as the notebook shows them.
    """
    from .build import SourceFile, build_cells, build_detailed

    magics = shell.magics_manager.registry.get(NDFileMagics.__name__) if shell else None
    extra = magics.take(name) if magics is not None else []
    if not extra:
        return build_detailed("\n" + cell, lang=lang, force=force), None
    main = SourceFile(MAIN_FILE, "\n" + cell, "cell")
    built = build_cells([main, *extra], lang=lang, force=force)
    built = dataclasses.replace(built, files=tuple(f.path for f in extra))
    manifest = None
    for f in extra:
        if f.path == "manifest.json":
            try:
                manifest = json.loads(f.text)
            except json.JSONDecodeError as e:
                raise UsageError(f"%%ndfile {f.label}: not JSON: {e.msg} at line "
                                 f"{e.lineno}") from None
    return built, manifest


@magics_class
class NDFileMagics(Magics):
    """The files written by ``%%ndfile`` cells: pending ones, and those given to each plugin."""

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell, **kwargs)
        self.pending: dict = {}  # path -> SourceFile, for the next %%ndplugin
        self.attached: dict[str, dict] = {}  # plugin name -> its files

    @no_var_expand
    @cell_magic("ndfile")
    def ndfile_cell(self, line: str, cell: str):
        """Keep the cell as file NAME of the next ``%%ndplugin`` plugin.

        Usage: ``%%ndfile NAME`` where NAME is a path inside the plugin's module:
        ``helper.go`` (package main; the clause may be left out), ``sub/pkg/x.go``,
        ``go.mod``, ``manifest.json``... See ``%ndfile --help`` for listing and clearing.
        """
        from .build import SourceFile
        from .build.project import safe_relative

        argv = _split(line, "%%ndfile")
        if any(a in _HELP_FLAGS for a in argv):
            print(inspect.cleandoc(self.ndfile_cell.__doc__))
            return
        if len(argv) != 1:
            raise UsageError("%%ndfile: expected one file name, e.g. %%ndfile helper.go")
        try:
            path = safe_relative(argv[0])
        except ValueError as e:
            raise UsageError(f"%%ndfile: {e}") from None
        if path == MAIN_FILE:
            raise UsageError(f"%%ndfile: {MAIN_FILE} is the %%ndplugin cell's own file; "
                             "name this file differently")
        count = getattr(self.shell, "execution_count", None)
        label = f"{path} (cell [{count}])" if count else f"{path} (%%ndfile cell)"
        self.pending[path] = SourceFile(path, "\n" + cell, label)
        lines = cell.rstrip("\n").count("\n") + 1 if cell.strip() else 0
        names = ", ".join(self.pending)
        print(f"%%ndfile {path}: {lines} line{'s' if lines != 1 else ''} kept for the next "
              f"%%ndplugin cell (pending: {names})")

    @no_var_expand
    @line_magic("ndfile")
    def ndfile_line(self, line: str):
        """List or forget the files written by ``%%ndfile`` cells.

            %ndfile --list    the pending files and each plugin's files
            %ndfile --clear   forget them all (the next %%ndplugin builds its cell alone)

        Write a file with the cell magic: ``%%ndfile NAME`` (see ``%%ndfile?``).
        """
        argv = _split(line, "%ndfile")
        if not argv or argv[0] in _HELP_FLAGS:
            print(inspect.cleandoc(self.ndfile_line.__doc__))
            return
        if argv == ["--list"]:
            print(self.describe())
        elif argv == ["--clear"]:
            count = len(self.pending) + sum(len(f) for f in self.attached.values())
            self.pending.clear()
            self.attached.clear()
            print(f"%ndfile: forgot {count} file{'s' if count != 1 else ''}")
        else:
            raise UsageError(f"%ndfile: unknown arguments {line.strip()!r}; use --list or "
                             "--clear (files are written with the cell magic %%ndfile NAME)")

    def take(self, plugin: str) -> list:
        """The files of ``plugin``'s next build: its own, updated with the pending ones."""
        if self.pending:
            self.attached[plugin] = {**self.attached.get(plugin, {}), **self.pending}
            self.pending = {}
        return list(self.attached.get(plugin, {}).values())

    def describe(self) -> str:
        """The text of ``%ndfile --list``."""
        def names(files: dict) -> str:
            return ", ".join(f.label for f in files.values())

        lines = [f"pending (for the next %%ndplugin): {names(self.pending) or 'none'}"]
        lines += [f"{plugin}: {names(files)}" for plugin, files in self.attached.items()]
        return "\n".join(lines)


def _split(line: str, label: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as e:
        raise UsageError(f"{label}: {e}") from None
