"""Completion for Navidrome plugin cells, as an IPython matcher (any IPython kernel or shell).

Inside a ``%%ndplugin`` cell the Go body completes PDK names (``host.``, ``pdk.``, capability
packages and ``types.``), fields and methods of values whose type the cell declares (``req.``
after ``req metadata.ArtistRequest``, ``lib.`` after ``lib, err := host.LibraryGetLibrary(1)``),
struct fields inside a composite literal, and import paths; the magic line completes its
options and their values (``--lang``, ``--permissions`` keys and options, ``--host`` Host
variables). ``%ndplugin`` lines complete subcommands, options, plugin and export names.
Everywhere else the matcher answers nothing and IPython completes as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .gocell import (
    CellContext,
    Resolver,
    cell_context,
    composite_literal_type,
    scan_variables,
)
from .pdkindex import index

__all__ = ["Completions", "PluginCellMatcher", "complete", "disable", "enable"]

IDENTIFIER = "nd_notebook.plugin_cells"
GO_KEYWORDS = ("break", "case", "chan", "const", "continue", "default", "defer", "else",
               "fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map",
               "package", "range", "return", "select", "struct", "switch", "type", "var")
GO_BUILTINS = ("any", "append", "bool", "byte", "cap", "clear", "close", "complex", "copy",
               "delete", "error", "false", "float32", "float64", "imag", "int", "int8", "int16",
               "int32", "int64", "iota", "len", "make", "max", "min", "new", "nil", "panic",
               "print", "println", "real", "recover", "rune", "string", "true", "uint", "uint8",
               "uint16", "uint32", "uint64", "uintptr")
_KINDS = {"package": "module", "func": "function", "method": "function", "struct": "class",
          "interface": "class", "type": "class", "const": "instance", "field": "property"}


@dataclass
class Completions:
    """What to insert in place of ``fragment`` (the text just before the cursor)."""

    fragment: str
    items: list[tuple[str, str]]  # (text, Jupyter completion type)
    exclusive: bool = False  # Go source: never let Python names in, even when nothing matches

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.items]


def enable(ip) -> None:
    """Add the matcher to the shell's completer (once)."""
    completer = getattr(ip, "Completer", None)
    if completer is None:
        return
    if not any(getattr(m, "matcher_identifier", None) == IDENTIFIER
               for m in completer.custom_matchers):
        completer.custom_matchers.insert(0, PluginCellMatcher(ip))


def disable(ip) -> None:
    completer = getattr(ip, "Completer", None)
    if completer is not None:
        completer.custom_matchers[:] = [
            m for m in completer.custom_matchers
            if getattr(m, "matcher_identifier", None) != IDENTIFIER]


class PluginCellMatcher:
    """An IPython v2 matcher; suppresses the Python matchers when it has an answer."""

    matcher_api_version = 2
    matcher_identifier = IDENTIFIER
    matcher_priority = 0

    def __init__(self, shell=None):
        self.shell = shell
        self.__qualname__ = IDENTIFIER  # IPython reads it (as a default) for any matcher

    def __call__(self, context):
        from IPython.core.completer import SimpleCompletion

        try:
            found = complete(context.full_text, context.cursor_line, context.cursor_position,
                             shell=self.shell)
        except Exception:  # noqa: BLE001 - a completion bug must never reach the notebook
            found = None
        if found is None or not (found.items or found.exclusive and found.fragment):
            return {"completions": []}
        # IPython lets a matcher suppress the others only when it has a completion: in Go,
        # "nothing matches" is the typed word itself, so no Python name is offered.
        items = found.items or [(found.fragment, "text")]
        return {"completions": [SimpleCompletion(t, type=k) for t, k in items],
                "matched_fragment": found.fragment, "suppress": True}


def complete(cell: str, line: int, column: int, *, shell=None) -> Completions | None:
    """Completions at ``column`` of ``line`` (0-based) of ``cell``; None when not ours."""
    ctx = cell_context(cell, line, column)
    if ctx is None:
        return None
    if ctx.where == "magic":
        return _magic_line(ctx.before, shell)
    if ctx.where == "line-magic":
        return _line_magic(ctx.before, shell)
    found = _go(ctx)
    found.exclusive = True
    return found


# -- Go body ----------------------------------------------------------------------------------
_IMPORT = re.compile(r'"github\.com/navidrome/navidrome/plugins/pdk/go/(\w*)$')
_CHAIN = re.compile(r"((?:[A-Za-z_]\w*(?:\([^()]*\))?(?:\[[^\]]*\])*\.)+)(\w*)$")
_WORD = re.compile(r"\w*$")


def _go(ctx: CellContext) -> Completions:
    idx = index()
    line = ctx.before.rsplit("\n", 1)[-1]
    if (m := _IMPORT.search(line)) is not None:
        return _matching(m[1], [(p, "module") for p in idx.packages])
    if _in_comment_or_string(line):
        return Completions("", [])
    variables = scan_variables(ctx.body_before)
    resolver = Resolver(idx, variables)
    if (m := _CHAIN.search(line)) is not None:
        members = resolver.members(m[1][:-1])
        return _matching(m[2], [(name, _KINDS.get(sym.kind, "statement"))
                                for name, sym in members.items()])
    word = _WORD.search(line)[0]
    literal = composite_literal_type(ctx.body_before[:len(ctx.body_before) - len(word)], resolver)
    if literal is not None:
        fields = idx.attributes(*literal)
        return _matching(word, [(n, "property") for n, s in fields.items() if s.kind == "field"])
    names = [(p, "module") for p in idx.packages]
    names += [(k, "keyword") for k in GO_KEYWORDS] + [(b, "keyword") for b in GO_BUILTINS]
    seen = {n for n, _ in names}
    names += [(v, "instance") for v in variables if v not in seen]
    own = set(re.findall(r"[A-Za-z_]\w*", ctx.body_before[:len(ctx.body_before) - len(word)]
                         + ctx.after))
    names += [(w, "statement") for w in sorted(own - seen - set(variables)) if len(w) > 2]
    return _matching(word, names) if word else Completions("", [])


def _in_comment_or_string(line: str) -> bool:
    """Whether the end of ``line`` is inside a // comment or a string literal."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif line.startswith("//", i):
            return True
        i += 1
    return quote is not None


def _matching(prefix: str, candidates: list[tuple[str, str]]) -> Completions:
    seen, items = set(), []
    for text, kind in candidates:
        if text.startswith(prefix) and text not in seen:
            seen.add(text)
            items.append((text, kind))
    return Completions(prefix, items)


# -- %%ndplugin line ----------------------------------------------------------------------------
def _magic_line(before: str, shell) -> Completions | None:
    from ..magics import NDPluginMagics

    parser = NDPluginMagics.ndplugin_cell.parser
    tokens = before.split()
    current = "" if before.endswith((" ", "\t")) else (tokens.pop() if tokens else "")
    if tokens and tokens[0].startswith("%%"):
        tokens.pop(0)
    return _options(parser, tokens, current, shell)


def _options(parser, tokens: list[str], current: str, shell) -> Completions | None:
    """Option names, or the value of the option being written."""
    actions = {s: a for a in parser._actions for s in a.option_strings}
    option, value = None, current
    if current.startswith("--") and "=" in current:
        option, _, value = current.partition("=")
    elif current.startswith("-"):
        names = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
        return _matching(current, [(n, "param") for n in names])
    elif tokens and tokens[-1] in actions and actions[tokens[-1]].nargs != 0:
        option = tokens[-1]
    elif len(tokens) >= 2 and tokens[-2] == "--config" or \
            tokens and tokens[-1] == "--config":
        option = "--config"
    if option is None or option not in actions:
        return None
    action = actions[option]
    if action.choices:
        return _matching(value, [(str(c), "instance") for c in action.choices])
    if option == "--permissions":
        return _permissions(value)
    if option in ("--host", "--manifest", "--config"):
        return _variables(value, option, shell)
    return None


def _permissions(value: str) -> Completions:
    """``cache,kvstore:maxSize=1MB,http:requiredHosts=...``: keys, option names, bool values."""
    from .. import abi

    item = value.rsplit(",", 1)[-1]
    if ":" not in item:
        keys = [(p.key, "instance") for p in abi.PERMISSIONS]
        if item == value:
            keys.append(("auto", "instance"))
        return _matching(item, keys)
    key, *options = item.split(":")
    try:
        perm = abi.permission(key)
    except KeyError:
        return Completions(options[-1], [])
    current = options[-1]
    if "=" in current:
        name, _, typed = current.partition("=")
        opt = next((o for o in perm.options if o.name == name), None)
        values = ["true", "false"] if opt is not None and opt.type == "bool" else []
        return _matching(typed, [(v, "instance") for v in values])
    names = [o.name for o in perm.options] + [o.name for o in abi.COMMON_OPTIONS]
    return _matching(current, [(f"{n}=", "param") for n in names])


def _variables(prefix: str, option: str, shell) -> Completions:
    """Notebook variables fit for ``--host`` (Host), ``--manifest``/``--config`` (dict...)."""
    ns = getattr(shell, "user_ns", None) or {}
    names = []
    for name, value in ns.items():
        if name.startswith("_"):
            continue
        kind = type(value).__name__
        if option == "--host" and kind == "Host" or option == "--manifest" and (isinstance(value, dict) or kind == "Manifest") or option == "--config" and isinstance(value, dict) and "=" not in prefix:
            names.append(name)
    return _matching(prefix, [(n, "instance") for n in sorted(names)])


# -- %ndplugin lines ----------------------------------------------------------------------------
def _line_magic(before: str, shell) -> Completions | None:
    from ..magics import _LINE_PARSERS, _SUBCOMMANDS

    tokens = before.split()
    current = "" if before.endswith((" ", "\t")) else (tokens.pop() if tokens else "")
    tokens = tokens[1:]  # drop "%ndplugin"
    if not tokens:
        return _matching(current, [(s, "keyword") for s in (*_SUBCOMMANDS, "--help")])
    command, args = tokens[0], tokens[1:]
    if current.startswith("-") or (args and args[-1].startswith("-")):
        parser = _LINE_PARSERS.get(command)
        return _options(parser, args, current, shell) if parser is not None else None
    positional = [a for a in args if not a.startswith("-")]
    if command in ("call", "unload") and not positional:
        return _matching(current, [(n, "instance") for n in _loaded(shell)])
    if command == "call" and len(positional) == 1:
        plugin = _loaded(shell).get(positional[0])
        return _matching(current, [(e, "function") for e in getattr(plugin, "exports", [])])
    return None


def _loaded(shell) -> dict:
    """The plugins loaded in the shell's default Host (none when no Host was made yet)."""
    magics = getattr(getattr(shell, "magics_manager", None), "registry", {}).get(
        "NDPluginMagics")
    host = getattr(magics, "_default_host", None)
    return dict(host.plugins) if host is not None else {}
