"""The ``nd-notebook`` command: a demonstration, the kernelspec, and build/package helpers.

    nd-notebook demo                       build, load and call the bundled sample plugin
    nd-notebook kernel install [--user | --sys-prefix | --prefix P]
    nd-notebook build SRC -o OUT.wasm [--lang go|tinygo|wat] [--force]
    nd-notebook package SRC --manifest M -o OUT.ndp [--lang ...]
    nd-notebook --version
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import __version__

SAMPLES = Path(__file__).resolve().parent / "samples"
LANGS = ("go", "tinygo", "wat")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    from .errors import NDError

    try:
        return args.run(args)
    except NDError as e:
        print(f"nd-notebook {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def demo(args) -> int:
    """Build samples/hello.go, load it into a fresh Host, call its capabilities, report."""
    from .build import build_detailed
    from .errors import PluginCallError
    from .runtime.host import Host

    source = SAMPLES / "hello.go"
    print(f"nd-notebook demo: the sample Navidrome plugin {source.name} "
          f"(Go, Navidrome's Go PDK)\n")
    built = build_detailed(source.read_text(), lang="go")
    how = "cache hit" if built.cached else "compiled"
    print(f"build   {built.toolchain}: {_size(len(built.wasm))} of wasm "
          f"in {built.seconds:.2f} s ({how})")

    config = {"greeting": "Welcome"}
    with tempfile.TemporaryDirectory(prefix="nd-notebook-demo-") as data_dir, \
            Host(data_dir) as host:
        plugin = host.load(built.wasm, manifest=SAMPLES / "hello.manifest.json",
                           config=config, name="hello")
        print(f"load    plugin {plugin.id!r} in {plugin.load_seconds:.2f} s")
        print(f"        capabilities: {', '.join(plugin.capabilities)}")
        print(f"        permissions:  {_permissions_text(plugin.permissions)}")
        print(f"        config:       {json.dumps(config)}")

        print("\ncalls (input -> output, or Navidrome's error text)")
        for export, request in _demo_calls(plugin.exports):
            try:
                result = _compact(plugin.call(export, request))
            except PluginCallError as e:
                result = f"error: {e}"
            print(f"  {export} {_compact(request)}\n    -> {result}")

        calls = host.host_calls(plugin.id)
        print(f"\nhost calls made by the plugin ({len(calls)})")
        print(_host_call_table(calls))
    print("\ndone: the plugin ran against the emulated Navidrome host.")
    return 0


def kernel_install(args) -> int:
    """Install the "Navidrome Plugins" kernelspec."""
    from .kernel import DISPLAY_NAME, install_kernelspec

    prefix = sys.prefix if args.sys_prefix else args.prefix
    path = install_kernelspec(user=prefix is None, prefix=prefix)
    print(f"installed kernelspec {DISPLAY_NAME!r} in {path}")
    return 0


def build_cmd(args) -> int:
    """Compile SRC to OUT.wasm."""
    built = _build_source(Path(args.src), args.lang, args.force)
    if built is None:
        return 1
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(built.wasm)
    how = "cache hit" if built.cached else "compiled"
    print(f"wrote {out} ({_size(len(built.wasm))}, {how} in {built.seconds:.2f} s)")
    return 0


def package_cmd(args) -> int:
    """Compile SRC (or take a .wasm) and write it with a manifest as a .ndp package."""
    from .manifest import Manifest
    from .package import write_package

    src = Path(args.src)
    if src.suffix == ".wasm":
        wasm = src.read_bytes()
    else:
        built = _build_source(src, args.lang, args.force)
        if built is None:
            return 1
        wasm = built.wasm
    manifest = Manifest.parse(Path(args.manifest).read_bytes())
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = write_package(out, manifest, wasm)
    print(f"wrote {written or out} (plugin ID {out.stem!r}, {_size(len(wasm))} of wasm)")
    return 0


# -- helpers -----------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nd-notebook",
        description="Write, run and test Navidrome plugins in Jupyter against an emulated "
                    "Navidrome plugin host.")
    parser.add_argument("--version", action="version", version=f"nd-notebook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="build, load and call the bundled sample plugin",
                       description=demo.__doc__)
    p.set_defaults(run=demo)

    p = sub.add_parser("kernel", help="manage the 'Navidrome Plugins' Jupyter kernel")
    ksub = p.add_subparsers(dest="kernel_command", metavar="ACTION", required=True)
    k = ksub.add_parser("install", help="install the kernelspec",
                        description="Install the 'Navidrome Plugins' kernelspec (IPython with "
                                    "the nd_notebook extension preloaded).")
    where = k.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true",
                       help="for the current user (the default)")
    where.add_argument("--sys-prefix", action="store_true",
                       help="into this Python environment (sys.prefix)")
    where.add_argument("--prefix", metavar="P", default=None,
                       help="into P/share/jupyter/kernels")
    k.set_defaults(run=kernel_install)

    p = sub.add_parser("build", help="compile a plugin source to wasm",
                       description=build_cmd.__doc__)
    p.add_argument("src", metavar="SRC", help="a .go or .wat file")
    p.add_argument("-o", "--output", metavar="OUT.wasm", required=True)
    p.add_argument("--lang", choices=LANGS, default=None,
                   help="default: wat for .wat/.wast files, else go")
    p.add_argument("--force", action="store_true", help="ignore the build cache")
    p.set_defaults(run=build_cmd)

    p = sub.add_parser("package", help="build a plugin and write a .ndp package",
                       description=package_cmd.__doc__ + " The plugin ID is OUT's file name.")
    p.add_argument("src", metavar="SRC", help="a .go, .wat or .wasm file")
    p.add_argument("--manifest", metavar="M", required=True, help="manifest.json")
    p.add_argument("-o", "--output", metavar="OUT.ndp", required=True)
    p.add_argument("--lang", choices=LANGS, default=None)
    p.add_argument("--force", action="store_true")
    p.set_defaults(run=package_cmd)
    return parser


def _build_source(src: Path, lang: str | None, force: bool):
    """Build a source file; print a compile error and return None on failure."""
    from .build import build_detailed
    from .errors import CompileError

    lang = lang or ("wat" if src.suffix in (".wat", ".wast") else "go")
    try:
        return build_detailed(src.read_text(), lang=lang, force=force)
    except CompileError as e:
        print(f"{src}: compile error\n{e}", file=sys.stderr)
        return None


# Sample inputs for the metadata exports, in the shape Navidrome sends them.
_ARTIST = {"id": "ar-1", "name": "Nina Simone"}
_ALBUM = {"name": "Pastel Blues", "artist": "Nina Simone"}
_DEMO_INPUTS: dict[str, dict] = {
    "nd_get_artist_biography": _ARTIST,
    "nd_get_artist_url": _ARTIST,
    "nd_get_artist_mbid": _ARTIST,
    "nd_get_similar_artists": {**_ARTIST, "limit": 5},
    "nd_get_artist_images": _ARTIST,
    "nd_get_artist_top_songs": {**_ARTIST, "count": 5},
    "nd_get_album_info": _ALBUM,
    "nd_get_album_images": _ALBUM,
    "nd_get_similar_songs_by_track": {"id": "mf-1", "name": "Sinnerman",
                                      "artist": "Nina Simone", "count": 5},
    "nd_get_similar_songs_by_album": {"id": "al-1", **_ALBUM, "count": 5},
    "nd_get_similar_songs_by_artist": {**_ARTIST, "count": 5},
}


def _demo_calls(exports: list[str]) -> list[tuple[str, dict]]:
    """The biography twice (the second answer comes from the cache), then every other export."""
    calls = [("nd_get_artist_biography", _ARTIST)] * 2 if "nd_get_artist_biography" in exports \
        else []
    calls += [(e, _DEMO_INPUTS[e]) for e in exports
              if e in _DEMO_INPUTS and e != "nd_get_artist_biography"]
    return calls


def _host_call_table(frame) -> str:
    """The host-call events as a fixed-width text table (long values shortened)."""
    if frame is None or len(frame) == 0:
        return "  (none)"
    rows = []
    for i, rec in enumerate(frame.to_dict("records"), 1):
        error = rec.get("error")
        answer = f"error: {error}" if isinstance(error, str) and error else \
            _compact(rec.get("response"))
        rows.append((str(i), str(rec.get("service", "")), str(rec.get("function", "")),
                     _compact(rec.get("request")), answer))
    header = ("#", "service", "function", "request", "response / error")
    limits = (4, 12, 24, 50, 60)
    rows = [tuple(_shorten(c, n) for c, n in zip(r, limits)) for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def _compact(value: Any) -> str:
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


def _size(n: int) -> str:
    from .magics import describe_size

    return describe_size(n)


def _permissions_text(perms: dict[str, Any]) -> str:
    from .magics import describe_permissions

    return describe_permissions(perms)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
