"""Inspection (Shift-Tab, the contextual help panel) for Navidrome plugin cells.

In a ``%%ndplugin`` cell the kernel's ``inspect_request`` answers with the PDK name under the
cursor: its Go signature, what it does, and how Navidrome treats it (wasm import, permission,
JSON, the export a capability method serves, the versions that have it). On the magic line it
explains the option, permission key or permission option under the cursor, else the magic.
Any other cell goes to IPython's inspector unchanged. The hook wraps the running ipykernel's
``do_inspect``; outside a kernel there is nothing to wrap.
"""

from __future__ import annotations

import functools
import inspect as _inspect
import re

from .gocell import Resolver, cell_context, expression_at, scan_variables
from .pdkindex import Symbol, index

__all__ = ["describe", "disable", "enable", "inspect_cell"]

_ORIGINAL = "_nd_notebook_original_do_inspect"


def enable(ip) -> None:
    """Route the kernel's inspect requests for plugin cells here (once per kernel)."""
    kernel = getattr(ip, "kernel", None)
    original = getattr(kernel, "do_inspect", None)
    if original is None or hasattr(original, _ORIGINAL):
        return

    def answer(code, cursor_pos, detail_level=0, omit_sections=()):
        try:
            return inspect_cell(code, cursor_pos, detail_level, shell=ip)
        except Exception:  # noqa: BLE001 - inspection must never break the kernel
            return None

    if _inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def do_inspect(code, cursor_pos, detail_level=0, omit_sections=()):
            reply = answer(code, cursor_pos, detail_level, omit_sections)
            if reply is None:
                return await original(code, cursor_pos, detail_level, omit_sections)
            return reply
    else:
        @functools.wraps(original)
        def do_inspect(code, cursor_pos, detail_level=0, omit_sections=()):
            reply = answer(code, cursor_pos, detail_level, omit_sections)
            if reply is None:
                return original(code, cursor_pos, detail_level, omit_sections)
            return reply

    setattr(do_inspect, _ORIGINAL, original)
    kernel.do_inspect = do_inspect


def disable(ip) -> None:
    kernel = getattr(ip, "kernel", None)
    original = getattr(getattr(kernel, "do_inspect", None), _ORIGINAL, None)
    if original is not None:
        kernel.do_inspect = original


def inspect_cell(code: str, cursor_pos: int | None, detail_level: int = 0, *,
                 shell=None) -> dict | None:
    """An ``inspect_reply`` content for a plugin cell, or None when IPython should answer."""
    cursor_pos = len(code) if cursor_pos is None else cursor_pos
    before = code[:cursor_pos]
    line, column = before.count("\n"), len(before.rsplit("\n", 1)[-1])
    ctx = cell_context(code, line, column)
    if ctx is None:
        return None
    if ctx.where == "magic":
        text = _magic_help(code.split("\n")[line], column)
    elif ctx.where == "line-magic":
        from ..magics import NDPluginMagics

        text = _inspect.cleandoc(NDPluginMagics.ndplugin_line.__doc__ or "")
    else:
        body = ctx.before + ctx.after
        expr = expression_at(body, len(ctx.before))
        variables = scan_variables(ctx.before)
        sym = Resolver(index(), variables).symbol(expr) if expr else None
        if sym is None and expr in variables:
            text = _variable(expr, variables[expr], detail_level)
        else:
            text = describe(sym, detail_level) if sym is not None else None
    found = bool(text)
    return {"status": "ok", "found": found, "metadata": {},
            "data": {"text/plain": text} if found else {}}


def describe(sym: Symbol, detail_level: int = 0) -> str:
    """Plain text for one PDK name: signature, doc, Navidrome semantics (and detail at 1)."""
    lines = [f"{sym.qualified} ({sym.kind})", sym.signature]
    if sym.doc:
        lines += ["", sym.doc]
    if sym.notes:
        lines += ["", "Navidrome:"] + [f"  - {note}" for note in sym.notes]
    if sym.detail and (detail_level > 0 or sym.kind in ("struct", "interface")):
        lines += [""] + list(sym.detail)
    if detail_level > 0 and sym.kind != "package":
        lines += ["", index().packages[sym.package].signature]
    return "\n".join(lines)


def _variable(name: str, ref: tuple[str, str], detail_level: int) -> str:
    idx = index()
    named = idx.named_type(*ref)
    text = f"{name} {ref[0]} (variable)"
    if named is not None:
        text += "\n\n" + describe(idx.lookup(*named), detail_level)
    return text


def _magic_help(line: str, column: int) -> str:
    """The option, permission key or permission option under the cursor; else the magic."""
    from .. import abi
    from ..magics import NDPluginMagics

    parser = NDPluginMagics.ndplugin_cell.parser
    start = len(re.search(r"[^\s,:=]*$", line[:column])[0])
    end = re.match(r"[^\s,:=]*", line[column:]).end()
    word = line[column - start:column + end]
    option = next((a for a in parser._actions if word in a.option_strings), None)
    if option is not None:
        meta = f" {option.metavar}" if option.metavar else ""
        choices = f" {{{','.join(option.choices)}}}" if option.choices else ""
        return f"%%ndplugin {word}{meta}{choices}\n\n{option.help}"
    if "--permissions" in line[:column - start]:
        try:
            perm = abi.permission(word)
        except KeyError:
            perm = None
        if perm is not None:
            return _permission_help(perm)
        for perm in abi.PERMISSIONS:
            for opt in perm.options:
                if opt.name == word:
                    default = f" (default {opt.default})" if opt.default is not None else ""
                    return f"{perm.key}:{opt.name}={opt.type}{default}\n\n{opt.doc}"
    return parser.format_help()


def _permission_help(perm) -> str:
    lines = [f"permission '{perm.key}' (service {perm.service or '-'})", "", perm.doc]
    if perm.options:
        lines += ["", "options:"] + [f"  {o.name} ({o.type}): {o.doc}" for o in perm.options]
    if perm.requires:
        lines.append(f"requires the permission(s): {', '.join(perm.requires)}")
    if perm.requires_export:
        lines.append(f"requires the plugin to export {perm.requires_export}")
    if perm.since == "head":
        lines.append("new at Navidrome HEAD: older Navidrome versions lack it")
    return "\n".join(lines)
