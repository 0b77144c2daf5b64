"""The ``nd-notebook`` commands that work on a plugin project or start Jupyter: ``build``,
``run`` and ``lab`` (``cli.py`` parses the command line and calls these).

Exit codes: 0 success, 1 the plugin failed (compile, load or call error), 2 a usage error
(a wrong path, input that is not JSON...), raised here as :class:`UsageProblem` and shown as
one line.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: The tutorials folder of a source checkout (``nd-notebook lab`` opens it when present).
TUTORIALS = Path(__file__).resolve().parent.parent / "notebooks"
PLUGIN_SUFFIXES = (".ndp", ".wasm", ".go", ".wat", ".wast")


class UsageProblem(Exception):
    """A mistake in the command line: printed as one line, exit status 2."""


# -- build -------------------------------------------------------------------------------------
def build_cmd(args) -> int:
    """Compile SOURCE (a .go/.wat file or a plugin folder) to OUT.wasm, or package it as
    OUT.ndp with its manifest (--manifest, else the folder's manifest.json)."""
    src = existing(args.src)
    out = Path(args.output)
    if out.suffix not in (".wasm", ".ndp"):
        raise UsageProblem(f"-o {args.output}: the output must end in .wasm or .ndp")
    manifest_path = existing(args.manifest) if args.manifest else None
    built = build_source(src, args.lang, args.force)
    if built is None:
        return 1
    how = "cache hit" if built.cached else "compiled"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".wasm":
        out.write_bytes(built.wasm)
        print(f"wrote {out} ({_size(len(built.wasm))}, {how} in {built.seconds:.2f} s)")
        return 0
    from .package import write_package

    manifest_path = manifest_path or built.manifest or _beside(src)
    if manifest_path is None:
        raise UsageProblem(f"{out}: a .ndp needs a manifest: pass --manifest manifest.json or "
                           f"put manifest.json in the plugin folder ({src})")
    manifest = read_manifest_file(manifest_path)
    written = write_package(out, manifest, built.wasm)
    print(f"wrote {written or out} (plugin ID {out.stem!r}, manifest {manifest_path}, "
          f"{_size(len(built.wasm))} of wasm, {how} in {built.seconds:.2f} s)")
    return 0


def build_source(src: Path, lang: str | None, force: bool):
    """Build a source file or folder; print a compile error and return None on failure."""
    from .build import build_detailed
    from .errors import CompileError

    lang = lang or ("wat" if src.suffix in (".wat", ".wast") else "go")
    try:
        built = build_detailed(src, lang=lang, force=force)
    except CompileError as e:
        print(f"{src}: compile error\n{e}", file=sys.stderr)
        return None
    for warning in built.warnings:
        print(f"{src}: warning: {warning}", file=sys.stderr)
    return built


# -- run ---------------------------------------------------------------------------------------
def run_cmd(args) -> int:
    """Load PLUGIN (.ndp, .wasm, .go/.wat or a plugin folder) into a fresh emulated Navidrome
    host, call EXPORT once with the JSON input, and print the output, the host calls the
    plugin made and its log lines."""
    from .cassette import Cassette
    from .errors import PluginCallError, explained
    from .runtime.host import Host

    src = existing(args.plugin)
    payload = _input(args.input)
    config = _config(args.config or [])
    permissions = _permissions(args.permissions)
    manifest: Any = read_manifest_file(existing(args.manifest)) if args.manifest else None
    name = args.name or _plugin_id(src)

    if src.is_dir() or src.suffix in (".go", ".wat", ".wast"):
        built = build_source(src, args.lang, args.force)
        if built is None:
            return 1
        source: Any = built.wasm
        manifest = manifest or built.manifest or (_beside(src) if src.is_file() else None)
    elif src.suffix in (".ndp", ".wasm"):
        source = src
    else:
        raise UsageProblem(f"{args.plugin}: expected a plugin folder or a "
                           f"{', '.join(PLUGIN_SUFFIXES)} file")
    has_manifest = manifest is not None or src.suffix == ".ndp"
    if permissions is None and not has_manifest:
        permissions = "auto"  # no manifest to take them from: grant what the module imports

    if args.cassette and args.record:
        raise UsageProblem("--cassette replays and --record records: give one of them")
    if args.ignore_param and not (args.cassette or args.record):
        raise UsageProblem("--ignore-param applies to a cassette: give --cassette or --record")
    cassette = None
    if args.cassette:
        try:
            cassette = Cassette.replaying(existing(args.cassette), ignore_params=args.ignore_param)
        except ValueError as e:  # not JSON, or not a cassette's shape
            raise UsageProblem(f"--cassette {args.cassette}: {e}") from None
    if args.data_dir:
        try:
            Path(args.data_dir).expanduser().mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageProblem(f"--data-dir {args.data_dir}: cannot make or use it "
                               f"({e.strerror or e})") from None
    with tempfile.TemporaryDirectory(prefix="nd-notebook-run-") as tmp, \
            Host(args.data_dir or tmp, cassette=cassette) as host, \
            (host.recording(args.record, ignore_params=args.ignore_param) if args.record
             else contextlib.nullcontext()):
        plugin = host.load(source, manifest=manifest, config=config, name=name,
                           permissions=permissions)
        if not args.quiet:
            print(f"plugin {plugin.id!r}: {', '.join(plugin.capabilities) or 'no capabilities'};"
                  f" permissions: {_permissions_text(plugin.permissions)}"
                  f"{' (auto: no manifest)' if permissions == 'auto' else ''}")
            print(f"call {args.call} {json.dumps(payload, ensure_ascii=False)}")
        status = 0
        try:
            output = plugin.call(args.call, payload, raw=True)
        except PluginCallError as e:
            print(f"error: {explained(e)}", file=sys.stderr)
            status = 1
        else:
            print(_output_text(output) if args.quiet else f"output {_output_text(output)}")
        if not args.quiet:
            _report(host, plugin.id)
    return status


def _report(host, plugin_id: str) -> None:
    """The host calls and log lines of the run, as text tables."""

    calls = host.host_calls(plugin_id)
    print(f"\nhost calls ({len(calls)})\n{host_call_table(calls)}")
    try:
        logs = host.logs(plugin_id)
    except Exception:  # noqa: BLE001 - the log frame is optional output
        return
    rows = logs.to_dict("records") if logs is not None else []
    print(f"\nlogs ({len(rows)})")
    for rec in rows or []:
        print(f"  {rec.get('level', '')!s:<7} {rec.get('source', '')!s:<8} "
              f"{rec.get('message', '')}")
    if not rows:
        print("  (none)")


# -- lab ---------------------------------------------------------------------------------------
def lab_cmd(args) -> int:
    """Start JupyterLab on the tutorials with the "Navidrome Plugins" kernel as the default."""
    import importlib.util

    root = existing(args.dir) if args.dir else (TUTORIALS if TUTORIALS.is_dir() else Path.cwd())
    if not root.is_dir():
        raise UsageProblem(f"{args.dir}: not a folder")
    argv, env = lab_command(root.resolve(), port=args.port, browser=not args.no_browser,
                            extra=getattr(args, "passthrough", []))
    if args.dry_run:
        print(f"JUPYTER_PATH={env['JUPYTER_PATH']}")
        print(" ".join(argv))
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        print("nd-notebook lab: JupyterLab is not installed: pip install jupyterlab "
              "(it comes with pip install -e '.[dev]')", file=sys.stderr)
        return 1
    print(f"nd-notebook lab: JupyterLab on {root} (kernel 'Navidrome Plugins')", flush=True)
    if os.name == "posix":  # become JupyterLab: signals and Ctrl-C reach it directly
        os.execve(argv[0], argv, env)
    return subprocess.call(argv, env=env)


def lab_command(root: Path, *, port: int | None = None, browser: bool = True,
                extra: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line and environment ``nd-notebook lab`` runs.

    The kernelspec (pointing at this interpreter) is written below ``cache_dir()`` and put
    first on ``JUPYTER_PATH``, so the kernel is there without installing anything.
    """
    from .kernel import KERNEL_NAME

    data = kernel_data_dir()
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
            f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}"]
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not browser:
        argv.append("--no-browser")
    argv += list(extra or [])
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(data), env.get("JUPYTER_PATH")) if p)
    return argv, env


def kernel_data_dir() -> Path:
    """A Jupyter data folder holding only the "Navidrome Plugins" kernelspec."""
    from .kernel import KERNEL_NAME, kernelspec_dict
    from .paths import cache_dir

    data = cache_dir() / "jupyter-path"
    spec = data / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    text = json.dumps(kernelspec_dict(), indent=2) + "\n"
    if not (spec / "kernel.json").is_file() or (spec / "kernel.json").read_text() != text:
        (spec / "kernel.json").write_text(text)
    return data


# -- helpers -----------------------------------------------------------------------------------
def read_manifest_file(path) -> Any:
    """The manifest.json at ``path``, parsed as Navidrome parses one. Not JSON: a usage error
    (exit 2); JSON Navidrome refuses: a ManifestError (exit 1); both name the file."""
    from .errors import ManifestError
    from .manifest import Manifest

    data = Path(path).read_bytes()
    try:
        return Manifest.parse(data)
    except ManifestError as e:
        try:
            json.loads(data)
        except ValueError:
            raise UsageProblem(f"{path}: {e}") from None
        raise ManifestError(f"{path}: {e}") from None


def existing(path: str) -> Path:
    """``path`` as a Path, or a one-line usage error when nothing is there."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageProblem(f"{path}: no such file or folder")
    return p


def _beside(src: Path) -> Path | None:
    """manifest.json next to a source file, when there is one."""
    candidate = src.parent / "manifest.json" if src.is_file() else src / "manifest.json"
    return candidate if candidate.is_file() else None


def _plugin_id(src: Path) -> str:
    return (src.resolve().name if src.is_dir() else src.stem).lower().replace(" ", "-")


def _input(text: str | None) -> Any:
    if text is None:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageProblem(f"--input is not JSON ({e.msg} at column {e.colno}): {text}") from None


def _config(items: list[str]) -> dict[str, Any] | None:
    config: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--config expects KEY=VALUE, got {item!r}")
        try:
            config[key] = json.loads(raw)
        except json.JSONDecodeError:
            config[key] = raw
    return config or None


def _permissions(spec: str | None):
    if spec is None or spec == "auto":
        return spec
    from .manifest import parse_permission_spec

    try:
        return parse_permission_spec(spec)
    except ValueError as e:
        raise UsageProblem(f"--permissions: {e}") from None


def _output_text(output: bytes) -> str:
    text = output.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


def _size(n: int) -> str:
    from .magics import describe_size

    return describe_size(n)


def _permissions_text(perms: dict[str, Any]) -> str:
    from .magics import describe_permissions

    return describe_permissions(perms)


# -- text tables shared with cli.py ---------------------------------------------------------

def host_call_table(frame) -> str:
    """The host-call events as a fixed-width text table (long values shortened)."""
    if frame is None or len(frame) == 0:
        return "  (none)"
    rows = []
    for i, rec in enumerate(frame.to_dict("records"), 1):
        error = rec.get("error")
        answer = f"error: {error}" if isinstance(error, str) and error else \
            compact(rec.get("response"))
        rows.append((str(i), str(rec.get("service", "")), str(rec.get("function", "")),
                     compact(rec.get("request")), answer))
    header = ("#", "service", "function", "request", "response / error")
    limits = (4, 12, 24, 50, 60)
    rows = [tuple(_shorten(c, n) for c, n in zip(r, limits)) for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def compact(value: Any) -> str:
    """JSON text of a value (strings that hold JSON are shown as that JSON)."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    try:
        return json.dumps(value, ensure_ascii=False, default=_wire)
    except TypeError:
        return str(value)


def _wire(value: Any) -> Any:
    """JSON for values json cannot encode: bytes as base64, as they cross the wasm boundary."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(type(value).__name__)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
