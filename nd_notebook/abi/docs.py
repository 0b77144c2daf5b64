"""Render the ABI tables as Markdown: ``python -m nd_notebook.abi.docs > docs/abi.md``.

The committed docs/abi.md is checked fresh by a test, so the reference never drifts from the
tables the host and the PDK generator use. ``status`` (given by the command line and the test:
``nd_notebook.services.emulation_status``) adds the column saying how nd-notebook serves each
host function; the ABI package itself knows nothing of the services.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from . import CAPABILITIES, HOST_FUNCTIONS, PERMISSIONS, SERVICES, export
from .model import HostFunction


def render(status: Callable[[HostFunction], str] | None = None) -> str:
    out = ["# Navidrome plugin ABI (generated from nd_notebook/abi; do not edit)", ""]
    out += ["## Host functions", "",
            (f"{len(SERVICES)} services, {len(HOST_FUNCTIONS)} functions. Every function is an "
             "`extism:host/user` import of signature `(i64) -> i64` taking and returning JSON; "
             "every response field is omitted when empty, and failures answer `{\"error\": ...}`."),
            ""]
    for svc in SERVICES:
        perm = f"permission `{svc.permission}`" if svc.permission else "always available"
        head = "| import | Go PDK | request | response |" + (" nd-notebook |" if status else "")
        out += [f"### {svc.name} ({perm}, since {svc.since})", "",
                head, "|---" * head.count(" |") + "|"]
        for fn in svc.functions:
            params = ", ".join(f"`{p.json}`: {p.type}" for p in fn.params) or "`{}`"
            results = ", ".join(f"`{r.json}`: {r.type}" for r in fn.results) or "-"
            sig = ", ".join(f"{p.go} {p.type}" for p in fn.params)
            rets = [r.type for r in fn.results] + (["error"] if fn.returns_error else [])
            ret = rets[0] if len(rets) == 1 else f"({', '.join(rets)})" if rets else ""
            out.append(f"| `{fn.import_name}` | `host.{fn.pdk_name}({sig}) {ret}`".rstrip()
                       + f" | {params} | {results} |" + (f" {status(fn)} |" if status else ""))
        out.append("")
    out += ["## Capabilities", "", "| capability | Go package | export | input | output |",
            "|---|---|---|---|---|"]
    for cap in CAPABILITIES:
        for name in cap.exports:
            e = export(name)
            out.append(f"| {cap.name} | `{cap.package}` | `{name}` | {e.input or '-'} | "
                       f"{e.output or '-'} |")
    out += ["", "## Permissions", "", "| key | service | options | requires | requires export |",
            "|---|---|---|---|---|"]
    for p in PERMISSIONS:
        opts = ", ".join(f"`{o.name}` ({o.type})" for o in p.options) or "-"
        req = ", ".join(f"`{r}`" for r in p.requires) or "-"
        out.append(f"| `{p.key}` | {p.service or '-'} | {opts} | {req} | "
                   f"{'`' + p.requires_export + '`' if p.requires_export else '-'} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    from ..services import emulation_status

    sys.stdout.write(render(emulation_status))
