"""IPython magics: ``%%ndplugin`` turns a cell into a loaded Navidrome plugin, ``%ndplugin``
manages the loaded ones.

Load with ``%load_ext nd_notebook`` (the "Navidrome Plugins" kernel preloads it). Mistakes in a
magic line are ``UsageError`` one-liners; compile, manifest, load and call errors show their
message without an internal traceback, so a plugin can never take the kernel down with it.
Everything heavy (the runtime, the build backends, pandas) is imported on first use.
"""

from __future__ import annotations

import argparse
import html
import inspect
import json
import keyword
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments

__all__ = ["NDPluginMagics", "PluginSummary", "load_ipython_extension",
           "unload_ipython_extension"]

LANGS = ("go", "tinygo", "wat")
_HELP_FLAGS = ("-h", "--help")


def load_ipython_extension(ip) -> None:
    """Register ``%%ndplugin`` and ``%ndplugin`` in the shell ``ip``."""
    ip.register_magics(NDPluginMagics)
    from .ndfile import register

    register(ip)  # %%ndfile: more files for the next %%ndplugin
    from .cellout import enable

    enable(ip)  # plugin log lines and stdout/stderr under the cell that made the call
    if _help_without_body not in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.append(_help_without_body)


def unload_ipython_extension(ip) -> None:
    """Remove the magics and close the default Host (its plugins are unloaded)."""
    mm = ip.magics_manager
    magics = mm.registry.pop(NDPluginMagics.__name__, None)
    for kind in ("line", "cell"):
        mm.magics[kind].pop("ndplugin", None)
    from .ndfile import unregister

    unregister(ip)
    if magics is not None:
        magics.close()
    from .cellout import disable

    disable()
    if _help_without_body in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.remove(_help_without_body)


def _help_without_body(lines: list[str]) -> list[str]:
    """``%%ndplugin --help`` (or ``%%ndfile --help``) alone in a cell: give it an empty body,
    so the magic prints its help instead of IPython refusing a cell magic without a body."""
    if len(lines) == 1 and lines[0].startswith(("%%ndplugin", "%%ndfile")) and \
            any(flag in lines[0].split() for flag in _HELP_FLAGS):
        return [lines[0].rstrip("\n") + "\n", "\n"]
    return lines


@magics_class
class NDPluginMagics(Magics):
    """The nd-notebook magics of one IPython shell; owns that shell's default Host."""

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell, **kwargs)
        self._default_host = None

    @property
    def default_host(self):
        """The shell's Host, created on first use (a temporary data folder, real time)."""
        if self._default_host is None:
            from .runtime.host import Host

            self._default_host = Host()
        return self._default_host

    def close(self) -> None:
        """Close the default Host if one was created."""
        if self._default_host is not None:
            self._default_host.close()
            self._default_host = None

    # -- %%ndplugin ------------------------------------------------------------------------
    @magic_arguments(name="%ndplugin")
    @argument("name", metavar="NAME", nargs="?", default=None,  # required: see _take_back
              help="plugin ID, and the variable the loaded plugin is bound to")
    @argument("--lang", choices=LANGS, default=None,
              help="source language: go (default; wat when the cell starts with '(module'), "
                   "tinygo, or wat (WebAssembly text)")
    @argument("--permissions", metavar="LIST|auto", default=None,
              help="permissions added to the manifest, e.g. "
                   "'cache,kvstore:maxSize=10KB,http:requiredHosts=api.example.com'; "
                   "'auto' grants exactly what the module imports (and 'users' for a "
                   "scrobbler)")
    @argument("--manifest", metavar="VAR_OR_PATH", default=None,
              help="manifest: a variable holding a dict or Manifest, or a manifest.json path "
                   "(default: a minimal manifest named after NAME)")
    @argument("--config", metavar="KEY=VALUE", nargs="+", action="append", default=None,
              help="plugin configuration; VALUE is parsed as JSON when it can be, "
                   "else taken as a string; a bare VAR names a dict variable to merge in")
    @argument("--force", action="store_true", help="rebuild even when the build cache has it")
    @argument("--export", metavar="PATH", default=None,
              help="after loading, write the plugin as a .ndp package to PATH")
    @argument("--host", metavar="VAR", default=None,
              help="load into the Host bound to VAR instead of the notebook's default Host")
    @no_var_expand
    @cell_magic("ndplugin")
    def ndplugin_cell(self, line: str, cell: str):
        """Compile the cell into a Navidrome plugin, load it and bind it to NAME.

        The cell is Go source written against Navidrome's Go PDK (or WebAssembly text with
        --lang wat). An unchanged cell is a build-cache hit. The plugin is loaded into the
        notebook's default Host (or --host), replacing a plugin already loaded as NAME, and a
        summary shows its capabilities, exports, imports, permissions, size and timings.

        Example::

            %%ndplugin hello --permissions cache,kvstore --config greeting=Hi
            package main
            ...
        """
        args = _parse(self.ndplugin_cell.parser, line, "%%ndplugin")
        if args is None:
            return
        _take_back(args, "name", self.shell.user_ns, "%%ndplugin")
        name = args.name
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"%%ndplugin: NAME must be a Python identifier (it becomes a "
                             f"variable), got {name!r}")
        if not cell.strip():
            raise UsageError("%%ndplugin: the cell is empty; write the plugin source below "
                             "the magic line")
        host = self._host(args.host)
        manifest = self._manifest(args.manifest)
        permissions = _permissions(args.permissions)
        config = _config(args.config, self.shell.user_ns)
        lang = args.lang or ("wat" if cell.lstrip().startswith("(module") else "go")

        from .ndfile import build_with_files

        # With the %%ndfile files collected for NAME, if any. Compiler messages count lines
        # the way the notebook shows the cell (line 1 = "%%ndplugin ...").
        try:
            built, file_manifest = build_with_files(self.shell, name, cell, lang=lang,
                                                    force=args.force)
        except KeyboardInterrupt:
            from .errors import Interrupted

            raise Interrupted(f"build of {name} interrupted by a kernel interrupt "
                              "(KeyboardInterrupt); nothing was loaded") from None
        manifest = file_manifest if manifest is None else manifest
        if lang == "go":  # panics in this plugin then name cell lines (runtime/traps.py)
            from .build.source import normalize, prepare_go
            from .runtime.traps import remember_source

            remember_source(built.wasm, prepare_go(normalize("\n" + cell)))
        loaded_before = name in host.plugins
        try:
            plugin = host.load(built.wasm, manifest=manifest, config=config, name=name,
                               permissions=permissions)
        except Exception:
            if loaded_before and name not in host.plugins:
                print(f"(the plugin {name!r} loaded before is unloaded too: Navidrome unloads a "
                      "plugin before it loads it again; fix the cell and run it again)",
                      file=sys.stderr)
            raise
        self.shell.user_ns[name] = plugin
        exported = None
        if args.export:
            exported = plugin.export(args.export)
        _display(PluginSummary(plugin, build=built, exported=exported))

    # -- %ndplugin -------------------------------------------------------------------------
    @no_var_expand
    @line_magic("ndplugin")
    def ndplugin_line(self, line: str):
        """Manage Navidrome plugins loaded in this notebook.

        Subcommands (each takes --help)::

            %ndplugin load PATH [--name N] [--permissions LIST|auto] [--manifest VAR_OR_PATH]
                                [--config KEY=VALUE ...] [--host VAR]
                load a .ndp or .wasm file and bind the plugin to N (default: the file name)
            %ndplugin list [--host VAR]          table of the loaded plugins
            %ndplugin unload NAME [--host VAR]   unload a plugin
            %ndplugin call NAME EXPORT [JSON]    call an export; JSON (or a variable name)
                                                 is the input, the decoded output is returned
            %ndplugin cache [--info | --clear]   show or empty the build cache
            %ndplugin host                       the notebook's default Host object

        Cells are compiled and loaded with the cell magic, see ``%%ndplugin?``.
        """
        try:
            argv = shlex.split(_quote_json_words(line))
        except ValueError as e:
            raise UsageError(f"%ndplugin: {e}") from None
        if not argv or argv[0] in _HELP_FLAGS:
            print(inspect.cleandoc(self.ndplugin_line.__doc__))
            return None
        command = argv[0]
        if command == "call":
            return self._call(line)
        parser = _LINE_PARSERS.get(command)
        if parser is None:
            raise UsageError(f"%ndplugin: unknown subcommand {command!r}; "
                             f"use one of {', '.join(_SUBCOMMANDS)} (or --help)")
        args = _parse(parser, argv[1:], f"%ndplugin {command}")
        if args is None:
            return None
        run = {"load": self._load, "list": self._list, "unload": self._unload,
               "cache": self._cache, "host": self._host_object}[command]
        return run(args)

    def _load(self, args):
        """``%ndplugin load``: returns the plugin and binds it when its ID is an identifier."""
        _take_back(args, "path", self.shell.user_ns, "%ndplugin load")
        host = self._host(args.host)
        plugin = host.load(args.path, manifest=self._manifest(args.manifest),
                           config=_config(args.config, self.shell.user_ns), name=args.name,
                           permissions=_permissions(args.permissions))
        if plugin.id.isidentifier() and not keyword.iskeyword(plugin.id):
            self.shell.user_ns[plugin.id] = plugin
        return plugin

    def _list(self, args):
        """``%ndplugin list``: one row per loaded plugin."""
        host = self._host(args.host)
        if not host.plugins:
            print("no plugins loaded")
            return None
        import pandas as pd

        rows = []
        for plugin in host.plugins.values():
            rows.append({"name": plugin.id,
                         "capabilities": ", ".join(plugin.capabilities),
                         "exports": len(plugin.exports),
                         "imports": ", ".join(plugin.imports),
                         "permissions": describe_permissions(plugin.permissions),
                         "size": describe_size(plugin.size)})
        return pd.DataFrame(rows).set_index("name")

    def _unload(self, args):
        """``%ndplugin unload``: the variable goes too when it still holds that plugin."""
        host = self._host(args.host)
        plugin = self._plugin(host, args.name)
        host.unload(args.name)
        if self.shell.user_ns.get(args.name) is plugin:
            del self.shell.user_ns[args.name]
        print(f"unloaded {args.name}")

    def _call(self, line: str):
        """``%ndplugin call``: parsed from the raw line so that JSON keeps its quotes."""
        rest = line.strip()[len("call"):].strip()
        if rest.split(None, 1)[:1] in (["-h"], ["--help"]):
            print(_CALL_HELP)
            return None
        m = _CALL_LINE.match(rest)
        if m is None:
            raise UsageError("%ndplugin call: expected [--host VAR] NAME EXPORT [JSON]")
        plugin = self._plugin(self._host(m["host"]), m["name"])
        payload = self._call_input((m["input"] or "").strip())
        return plugin.call(m["export"], payload)

    def _call_input(self, text: str):
        """Nothing, a variable of the user namespace, or JSON text."""
        if not text:
            return None
        if text.isidentifier() and text in self.shell.user_ns:
            return self.shell.user_ns[text]
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"%ndplugin call: input is neither JSON nor a variable name "
                             f"({e.msg} at column {e.colno}): {text}") from None

    def _cache(self, args):
        """``%ndplugin cache``: the build cache's folder and size, or empty it."""
        from . import build as buildpkg

        if args.clear:
            removed = buildpkg.clear_cache()
            print(f"build cache cleared ({_count(removed, 'entry', 'entries')} removed)")
            return
        info = buildpkg.cache_info()
        print(f"build cache: {info.path}\n"
              f"  {_count(info.entries, 'build', 'builds')}, {describe_size(info.bytes)}\n"
              f"Go build cache: {info.go_build_cache}\n"
              f"  {describe_size(info.go_build_cache_bytes)}")

    def _host_object(self, args):
        return self.default_host

    # -- helpers ---------------------------------------------------------------------------
    def _host(self, var: str | None):
        if var is None:
            return self.default_host
        from .runtime.host import Host

        value = self.shell.user_ns.get(var)
        if value is None:
            raise UsageError(f"--host {var}: no variable named {var!r}")
        if not isinstance(value, Host):
            raise UsageError(f"--host {var}: {var!r} is a {type(value).__name__}, not a Host")
        return value

    def _manifest(self, ref: str | None):
        if ref is None:
            return None
        ns = self.shell.user_ns
        if ref.isidentifier() and ref in ns:
            value = ns[ref]
            if isinstance(value, (str, Path)):
                return self._manifest_path(str(value), ref)
            if isinstance(value, dict) or hasattr(value, "to_dict"):
                return value
            raise UsageError(f"--manifest {ref}: {ref!r} is a {type(value).__name__}; "
                             f"expected a dict, a Manifest or a path")
        return self._manifest_path(ref, ref)

    @staticmethod
    def _manifest_path(path: str, ref: str) -> str:
        p = Path(path).expanduser()
        if not p.is_file():
            raise UsageError(f"--manifest {ref}: no variable or file named {path!r}")
        return str(p)

    @staticmethod
    def _plugin(host, name: str):
        plugin = host.plugins.get(name)
        if plugin is None:
            loaded = ", ".join(sorted(host.plugins)) or "none"
            raise UsageError(f"no plugin named {name!r} is loaded (loaded: {loaded})")
        return plugin


NO_CAPABILITY = ("no capability: the plugin exports none of the functions Navidrome calls "
                 "(nd_on_init, nd_get_artist_biography, nd_scrobbler_scrobble, ...), so "
                 "Navidrome loads it and never calls it")


class PluginSummary:
    """What ``%%ndplugin`` shows after loading: HTML in a notebook, text elsewhere."""

    def __init__(self, plugin, build=None, exported: str | Path | None = None):
        self.plugin = plugin
        self.build = build
        self.exported = exported

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) pairs, in display order."""
        p = self.plugin
        m = p.manifest
        rows = [("manifest", f"{m.name} {m.version} by {m.author}"),
                ("capabilities", ", ".join(p.capabilities) or "none"),
                ("exports", ", ".join(p.exports) or "none"),
                ("imports", ", ".join(p.imports) or "none"),
                ("permissions", describe_permissions(p.permissions)),
                ("size", describe_size(p.size))]
        if self.build is not None and getattr(self.build, "files", ()):
            rows.append(("files", ", ".join(self.build.files)))
        if self.build is not None:
            b = self.build
            hit = "cache hit" if b.cached else "compiled"
            rows.append(("build", f"{b.lang}, {b.seconds:.2f} s ({hit})"))
            rows += [("warning", w) for w in getattr(b, "warnings", ())]
        if not p.capabilities:
            rows.append(("warning", NO_CAPABILITY))
        rows.append(("load", f"{p.load_seconds:.2f} s"))
        if self.exported is not None:
            rows.append(("exported", str(self.exported)))
        return rows

    def __repr__(self) -> str:
        width = max(len(label) for label, _ in self.rows())
        body = "\n".join(f"  {label:<{width}}  {text}" for label, text in self.rows())
        return f"plugin {self.plugin.id!r} loaded\n{body}"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
            for label, text in self.rows())
        return (f"<div class='nd-plugin-summary'><p>plugin <b>{html.escape(self.plugin.id)}"
                f"</b> loaded</p><table>{cells}</table></div>")


# -- argument parsing --------------------------------------------------------------------------
def _quote_json_words(line: str) -> str:
    """``line`` with each unquoted word that starts with ``{`` quoted up to its closing brace,
    so ``--config {"a": "b c"}`` reaches the parser as written (the shell's rules would drop
    its quotes and split it at spaces)."""
    out, i, quote, word_start = [], 0, "", True
    while i < len(line):
        c = line[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "{" and word_start:
            end = _json_end(line, i)
            if end is not None:
                out.append(shlex.quote(line[i:end]))
                i, word_start = end, False
                continue
        word_start = not quote and c.isspace()
        out.append(c)
        i += 1
    return "".join(out)


def _json_end(text: str, start: int) -> int | None:
    """The index just after the brace closing the one at ``start`` (JSON strings skipped)."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _parse(parser: argparse.ArgumentParser, line: str | list[str], label: str):
    """Parse a magic line with shell quoting; print the help and return None for --help.

    ``label`` names the magic in error messages (``%%ndplugin``, ``%ndplugin load``).
    """
    if isinstance(line, str):
        try:
            argv = shlex.split(_quote_json_words(line))
        except ValueError as e:
            raise UsageError(f"{label}: {e}") from None
    else:
        argv = line
    if any(a in _HELP_FLAGS for a in argv):
        print(parser.format_help())
        return None
    try:
        return parser.parse_args(argv)
    except UsageError as e:  # argparse's message, named after the magic it belongs to
        raise UsageError(f"{label}: {e}") from None


def _line_parsers() -> dict[str, argparse.ArgumentParser]:
    """One parser per %ndplugin subcommand (``call`` is parsed by hand: its JSON keeps quotes)."""
    parsers = {}

    def new(command: str, description: str) -> MagicArgumentParser:
        p = MagicArgumentParser(prog=f"ndplugin {command}", description=description)
        parsers[command] = p
        return p

    p = new("load", "Load a .ndp or .wasm file into the Host and bind it to its name.")
    p.add_argument("path", metavar="PATH", nargs="?", default=None,  # see _take_back
                   help=".ndp package or .wasm module")
    p.add_argument("--name", metavar="N", default=None,
                   help="plugin ID and variable name (default: the file name without suffix)")
    p.add_argument("--permissions", metavar="LIST|auto", default=None,
                   help="permissions added to the manifest, or 'auto'")
    p.add_argument("--manifest", metavar="VAR_OR_PATH", default=None,
                   help="manifest replacing the package's own (a dict/Manifest variable or a path)")
    p.add_argument("--config", metavar="KEY=VALUE", nargs="+", action="append", default=None,
                   help="plugin configuration (VALUE parsed as JSON when it can be)")
    p.add_argument("--host", metavar="VAR", default=None, help="a Host variable to load into")
    p = new("list", "Show the loaded plugins as a table.")
    p.add_argument("--host", metavar="VAR", default=None)
    p = new("unload", "Unload a plugin and drop its variable.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--host", metavar="VAR", default=None)
    p = new("cache", "Show the build cache (--info, the default) or empty it (--clear).")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--info", action="store_true", help="folder, entries and size")
    group.add_argument("--clear", action="store_true", help="delete every cached build")
    new("host", "Return the notebook's default Host (created on first use).")
    return parsers


_CALL_HELP = """usage: %ndplugin call [--host VAR] NAME EXPORT [JSON]

Call EXPORT of the loaded plugin NAME and return its decoded output. JSON is the rest of the
line, taken literally (quotes included); a variable name passes that variable instead.
Errors carry Navidrome's texts, e.g. 'function not implemented: nd_get_artist_mbid'."""

_LINE_PARSERS = _line_parsers()
_SUBCOMMANDS = ("load", "list", "unload", "call", "cache", "host")
_CALL_LINE = re.compile(r"(?:--host[= ](?P<host>\S+)\s+)?(?P<name>\S+)\s+(?P<export>\S+)"
                        r"(?:\s+(?P<input>.*))?$", re.DOTALL)


def _permissions(spec: str | None):
    """``--permissions`` as the runtime takes it: None, ``"auto"`` or a permissions dict."""
    if spec is None or spec == "auto":
        return spec
    from .manifest import parse_permission_spec

    try:
        return parse_permission_spec(spec)
    except ValueError as e:
        raise UsageError(f"--permissions: {e}") from None


def _config(groups: list[list[str]] | None, user_ns: dict | None = None) -> dict[str, Any] | None:
    """``--config`` pairs as a dict; values are JSON when they parse, strings otherwise.
    A bare name holding a dict in the notebook (``--config settings``) is merged in, so values
    computed in Python (a local server's URL) reach the plugin."""
    if not groups:
        return None
    config: dict[str, Any] = {}
    for item in (i for group in groups for i in group):
        if item.lstrip().startswith("{"):  # --config '{"a": 1}'
            config.update(_json_object(item))
            continue
        key, sep, raw = item.partition("=")
        if not sep and isinstance((user_ns or {}).get(item), dict):
            config.update(user_ns[item])
            continue
        if not sep or not key:
            raise UsageError(f"--config expects KEY=VALUE or a dict variable, got {item!r}")
        try:
            config[key] = json.loads(raw)
        except json.JSONDecodeError:
            config[key] = raw
    return config


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--config: not a JSON object ({e.msg} at column {e.colno}): "
                         f"{text}") from None
    if not isinstance(value, dict):
        raise UsageError(f"--config: not a JSON object: {text}")
    return value


def _take_back(args, dest: str, user_ns: dict, label: str) -> None:
    """Give back the positional argument ``--config`` swallowed.

    ``--config`` takes several words (nargs="+"), so argparse hands it every word after it,
    NAME included (``--config greeting=hi cfg``). The last word that is no config item
    (KEY=VALUE, a JSON object, a dict variable) is the positional; none means it is missing.
    """
    if getattr(args, dest) is not None:
        return
    for group in reversed(args.config or []):
        for i in range(len(group) - 1, -1, -1):
            item = group[i]
            if not ("=" in item or item.lstrip().startswith("{")
                    or isinstance(user_ns.get(item), dict)):
                setattr(args, dest, group.pop(i))
                args.config = [g for g in args.config if g] or None
                return
    raise UsageError(f"{label}: the following arguments are required: {dest.upper()}")


def _required_in_usage(parser: argparse.ArgumentParser, metavar: str) -> None:
    """Show a positional that is optional only to argparse (see _take_back) as required."""
    rest = parser.format_usage().split(parser.prog, 1)[1].rstrip()
    parser.usage = "%(prog)s" + rest.replace(f"[{metavar}]", metavar)


_required_in_usage(_LINE_PARSERS["load"], "PATH")
_required_in_usage(NDPluginMagics.ndplugin_cell.parser, "NAME")
NDPluginMagics.ndplugin_cell.__doc__ = NDPluginMagics.ndplugin_cell.parser.format_help()


# -- output ------------------------------------------------------------------------------------
def _display(obj) -> None:
    from IPython.display import display

    display(obj)


def describe_permissions(perms: dict[str, Any]) -> str:
    """``cache, kvstore (maxSize=10KB)``: permission keys with their options, reasons left out;
    keys Navidrome does not read are named as ignored (``websocket (ignored: allowedUrls)``)."""
    from . import abi

    known = {p.key: {o.name for o in p.options} for p in abi.PERMISSIONS}
    parts = []
    for key, options in perms.items():
        opts = {k: v for k, v in options.items() if k != "reason"} \
            if isinstance(options, dict) else {}
        inner = [f"{k}={_option_text(v)}" for k, v in opts.items() if k in known.get(key, ())]
        ignored = [k for k in opts if k not in known.get(key, ())]
        if ignored:
            inner.append(f"ignored: {', '.join(ignored)}")
        parts.append(f"{key} ({', '.join(inner)})" if inner else key)
    return ", ".join(parts) or "none"


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(_option_text, value))
    return str(value)


def describe_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
