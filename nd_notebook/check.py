"""``nd-notebook check [--navidrome T] plugin.ndp``: will this package load, and on which Navidrome?

Reports the manifest as Navidrome parses it, the module's host-function imports against the
declared permissions, the capabilities found, whether the package loads on the requested
version (a real load into a throw-away Host of that version, ``nd_on_init`` not called) and the
oldest version it loads on (versions from ``nd_notebook.versions``; each candidate confirmed by
a real load).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import abi, versions
from .build.source import main_registration_warning
from .errors import NDError, explained

__all__ = ["CheckReport", "check_package"]


@dataclass
class CheckReport:
    """What ``check_package`` found; ``lines`` is the printed report."""

    path: Path
    navidrome: str
    loads: bool = False
    oldest: str | None = None
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def check_package(path: str | os.PathLike, navidrome: str = "head") -> CheckReport:
    """Check the ``.ndp`` package at ``path`` against Navidrome version ``navidrome``."""
    from .package import read_package
    from .runtime.builtin_http import imports_http_request
    from .runtime.wasminfo import WasmFormatError, module_info

    path = Path(path)
    target = versions.target(navidrome)
    report = CheckReport(path, target.name)
    say = report.lines.append
    say(f"check {path.name} (navidrome={target.name})")
    try:
        man, wasm, plugin_id = read_package(path, version=target)
    except NDError as e:
        return _fail(report, f"package: {e}")
    say(f"  manifest      ok: {man.name} {man.version} by {man.author}")
    try:
        info = module_info(wasm)
    except WasmFormatError as e:
        return _fail(report, f"plugin.wasm: invalid wasm module: {e}")
    imports = info.imported_functions(abi.USER_NAMESPACE)
    needed = abi.required_permissions(imports, transitive=True)
    # Extism's own http_request may reach only http.requiredHosts (its allowed hosts): it
    # needs the permission too, though Navidrome loads the plugin without it.
    builtin_http = imports_http_request(info)
    wanted = dict(needed)
    if builtin_http:
        wanted.setdefault("http", []).append("http_request (Extism)")
    declared = list(man.permissions)
    say(f"  imports       {', '.join(imports) or 'no Navidrome host functions'}"
        + ("; Extism's http_request" if builtin_http else ""))
    say(f"  permissions   declared: {', '.join(declared) or 'none'}; "
        f"needed by the imports: {', '.join(wanted) or 'none'}")
    for key, names in needed.items():
        if not man.has_permission(key):
            report.problems.append(f"imports {', '.join(names)} but the manifest does not "
                                   f"declare the '{key}' permission")
    if builtin_http and not man.required_hosts("http"):
        say("  note          imports Extism's http_request but the manifest names no "
            "http.requiredHosts: every such request fails (HTTP request to '<url>' is not "
            "allowed)")
    unused = [k for k in declared if k not in wanted and abi.permission(k).service
              and k != "users" and not abi.permission(k).requires_export]
    if unused:
        say(f"  note          declared but not imported: {', '.join(unused)}")
    exports = set(info.exported_functions)
    found = {c.name: sorted(exports.intersection(c.exports)) for c in abi.CAPABILITIES
             if exports.intersection(c.exports)}
    caps = [name for name, names in found.items() if any(map(target.knows_export, names))]
    say(f"  capabilities  {', '.join(caps) or 'none'}")
    for name, names in found.items():
        if name not in caps:  # exported, but this version never calls it
            why = str(target.not_called(names[0])).removeprefix("nd-notebook: ")
            say(f"  note          {name} is not called: {why}")

    registered = main_registrations(wasm)
    if registered:
        say(f"  warning       {main_registration_warning(registered)}")
    error = _load_error(path, target, plugin_id)
    report.loads = error is None
    say(f"  navidrome={target.name}: " + ("loads" if error is None else "does not load"))
    if error is not None:
        report.problems.append(error)
    report.oldest = _oldest(path, plugin_id, man, info)
    say(f"  oldest target {report.oldest or 'none: it loads on no version'}")
    for problem in report.problems:
        for i, line in enumerate(problem.splitlines()):
            say(("  problem       " if i == 0 else "                ") + line)
    return report


# A Go function name of a PDK package's Register function (the name section writes a package
# path's "/" as "_": github.com_navidrome_navidrome_plugins_pdk_go_metadata.Register).
_PDK_REGISTER = re.compile(r"github\.com_navidrome_navidrome_plugins_pdk_go_(\w+)\.(Register\w*)")


def main_registrations(wasm: bytes) -> list[str]:
    """The PDK ``Register`` functions a Go module's ``main.main`` calls (itself or through
    functions of package main) and no package init does, as ``metadata.Register``: never
    called, since a plugin's main never runs (build.source.registrations_in_main for the
    source). Only what the compiler kept as calls: a small Register inlined into main is not
    seen; a module without a name section has nothing to say."""
    from .runtime.wasmedit import function_name_map
    from .runtime.wasmimports import direct_callees

    names = function_name_map(wasm)
    by_name = {name: index for index, name in names.items()}
    if "main.main" not in by_name:
        return []
    in_main = lambda index: names.get(index, "").startswith("main.")
    reached = direct_callees(wasm, {by_name["main.main"]}, in_main)
    inits = {i for n, i in by_name.items() if n == "main.init" or n.startswith("main.init.")}
    by_init = direct_callees(wasm, inits, in_main) if inits else set()
    found = []
    for index in sorted(reached - by_init):
        m = _PDK_REGISTER.fullmatch(names.get(index, ""))
        if m and f"{m[1]}.{m[2]}" not in found:
            found.append(f"{m[1]}.{m[2]}")
    return found


def _fail(report: CheckReport, problem: str) -> CheckReport:
    report.problems.append(problem)
    report.lines.append(f"  problem       {problem}")
    return report


def _load_error(path: Path, target: versions.Target, plugin_id: str) -> str | None:
    """None when the package loads into a fresh Host of version ``target``, else the error."""
    from .runtime.host import Host

    with tempfile.TemporaryDirectory(prefix="nd-notebook-check-") as data_dir, \
            Host(data_dir, navidrome=target) as host:
        try:
            host.load(path, name=plugin_id, init=False)
        except NDError as e:
            return explained(e)
    return None


def _oldest(path: Path, plugin_id: str, man, info) -> str | None:
    """The oldest version passing the quick checks whose real load succeeds."""
    imports = info.imported_functions(abi.USER_NAMESPACE)
    for t in versions.targets():
        if not _plausible(t, man, imports):
            continue
        if _load_error(path, t, plugin_id) is None:
            return t.name
    return None


def _plausible(t: versions.Target, man, imports: list[str]) -> bool:
    """Cheap necessary conditions: the manifest as ``t`` reads it, every import defined and
    permitted at ``t``."""
    from .manifest import Manifest

    try:
        t.check_imports(imports)
        seen = t.manifest(Manifest.parse(man.raw, version=t))
    except NDError:
        return False
    return all(seen.has_permission(k) for k in abi.required_permissions(imports))
