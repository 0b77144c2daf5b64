"""The ``nd-notebook`` command: a demonstration, the kernelspec, and build/package helpers.

    nd-notebook demo                       build, load and call the bundled sample plugin
    nd-notebook kernel install [--user | --sys-prefix | --prefix P]
    nd-notebook lab [DIR]                  JupyterLab on the tutorials, Navidrome kernel
    nd-notebook build SRC -o OUT.wasm|OUT.ndp [--manifest M] [--lang go|tinygo|wat] [--force]
    nd-notebook run PLUGIN --call EXPORT [--input JSON] [--permissions LIST|auto] ...
    nd-notebook package SRC --manifest M -o OUT.ndp [--lang ...]
    nd-notebook check [--navidrome seed|head|YYYY-MM-DD] PLUGIN.ndp
    nd-notebook --version
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import __version__
from .commands import (
    UsageProblem,
    build_cmd,
    build_source,
    compact,
    existing,
    host_call_table,
    lab_cmd,
    read_manifest_file,
    run_cmd,
)

SAMPLES = Path(__file__).resolve().parent / "samples"
LANGS = ("go", "tinygo", "wat")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    passthrough: list[str] = []
    if argv[:1] == ["lab"] and "--" in argv:  # what follows -- goes to jupyter lab as is
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    args.passthrough = passthrough
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    from .errors import NDError, explained

    try:
        return args.run(args)
    except UsageProblem as e:
        print(f"nd-notebook {args.command}: {e}", file=sys.stderr)
        return 2
    except NDError as e:
        print(f"nd-notebook {args.command}: {type(e).__name__}: {explained(e)}", file=sys.stderr)
        return 1
    except OSError as e:  # a file or folder the command could not read or write
        print(f"nd-notebook {args.command}: {e}", file=sys.stderr)
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
                result = compact(plugin.call(export, request))
            except PluginCallError as e:
                result = f"error: {e}"
            print(f"  {export} {compact(request)}\n    -> {result}")

        calls = host.host_calls(plugin.id)
        print(f"\nhost calls made by the plugin ({len(calls)})")
        print(host_call_table(calls))
    print("\ndone: the plugin ran against the emulated Navidrome host.")
    return 0


def kernel_install(args) -> int:
    """Install the "Navidrome Plugins" kernelspec."""
    from .kernel import DISPLAY_NAME, install_kernelspec

    prefix = sys.prefix if args.sys_prefix else args.prefix
    path = install_kernelspec(user=prefix is None, prefix=prefix)
    print(f"installed kernelspec {DISPLAY_NAME!r} in {path}")
    return 0


def package_cmd(args) -> int:
    """Compile SRC (or take a .wasm) and write it with a manifest as a .ndp package."""
    from .package import write_package

    src = existing(args.src)
    if Path(args.output).suffix != ".ndp":
        raise UsageProblem(f"-o {args.output}: a package's name ends in .ndp (its plugin ID "
                           "is the name before it); for the module alone: nd-notebook build")
    manifest_path = existing(args.manifest)
    if src.suffix == ".wasm":
        wasm = src.read_bytes()
    else:
        built = build_source(src, args.lang, args.force)
        if built is None:
            return 1
        wasm = built.wasm
    manifest = read_manifest_file(manifest_path)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = write_package(out, manifest, wasm)
    print(f"wrote {written or out} (plugin ID {out.stem!r}, {_size(len(wasm))} of wasm)")
    return 0


def check_cmd(args) -> int:
    """Report manifest problems, imports vs permissions, whether the package loads on the
    --navidrome version and the oldest version it loads on. Exit code 1 when it does not load."""
    from .check import check_package

    package = existing(args.package)
    try:
        report = check_package(package, navidrome=args.navidrome)
    except ValueError as e:  # an unknown --navidrome
        print(f"nd-notebook check: {e}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.loads else 1


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

    p = sub.add_parser("lab", help="start JupyterLab on the tutorials with the Navidrome kernel",
                       description=lab_cmd.__doc__)
    p.add_argument("dir", metavar="DIR", nargs="?", default=None,
                   help="folder to open (default: the tutorials, notebooks/)")
    p.add_argument("--port", type=int, default=None, help="port of the Jupyter server")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--dry-run", action="store_true",
                   help="print the JupyterLab command instead of running it")
    p.epilog = "Arguments after -- go to jupyter lab, e.g. -- --ServerApp.token=secret"
    p.set_defaults(run=lab_cmd)

    p = sub.add_parser("build", help="compile a plugin (file or folder) to .wasm or .ndp",
                       description=build_cmd.__doc__ + " The plugin ID of a .ndp is OUT's name.")
    p.add_argument("src", metavar="SRC", help="a .go or .wat file, or a plugin folder "
                   "(a Go module: go.mod, several files and packages, manifest.json)")
    p.add_argument("-o", "--output", metavar="OUT.wasm|OUT.ndp", required=True)
    p.add_argument("--manifest", metavar="M", default=None,
                   help="manifest.json for a .ndp (default: the folder's manifest.json)")
    p.add_argument("--lang", choices=LANGS, default=None,
                   help="default: wat for .wat/.wast files, else go")
    p.add_argument("--force", action="store_true", help="ignore the build cache")
    p.set_defaults(run=build_cmd)

    p = sub.add_parser("run", help="call one export of a plugin against the emulated host",
                       description=run_cmd.__doc__)
    p.add_argument("plugin", metavar="PLUGIN", help="a .ndp, .wasm, .go or .wat file, "
                   "or a plugin folder")
    p.add_argument("--call", metavar="EXPORT", required=True,
                   help="the export to call, e.g. nd_get_artist_biography")
    p.add_argument("--input", metavar="JSON", default=None, help="the call's input (default {})")
    p.add_argument("--permissions", metavar="LIST|auto", default=None,
                   help="permissions added to the manifest, e.g. 'cache,kvstore'; 'auto' "
                   "grants what the module imports (the default without a manifest)")
    p.add_argument("--manifest", metavar="M", default=None, help="manifest.json to load with")
    p.add_argument("--config", metavar="KEY=VALUE", action="append", default=None,
                   help="plugin configuration (repeatable; VALUE parsed as JSON when it can be)")
    p.add_argument("--name", metavar="ID", default=None,
                   help="plugin ID (default: the file or folder name)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="the Host's data folder (default: a temporary one)")
    p.add_argument("--cassette", metavar="FILE", default=None,
                   help="answer the plugin's HTTP (http_send and Extism's http_request) from "
                        "this cassette, no network (docs/testing.md)")
    p.add_argument("--record", metavar="FILE", default=None,
                   help="record the plugin's HTTP exchanges into this cassette")
    p.add_argument("--ignore-param", metavar="NAME", action="append", default=[],
                   help="with --cassette or --record: a query-string or form parameter left "
                        "out when requests are compared, e.g. a timestamp (repeatable)")
    p.add_argument("--lang", choices=LANGS, default=None)
    p.add_argument("--force", action="store_true", help="ignore the build cache")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the output")
    p.set_defaults(run=run_cmd)

    p = sub.add_parser("package", help="build a plugin and write a .ndp package",
                       description=package_cmd.__doc__ + " The plugin ID is OUT's file name.")
    p.add_argument("src", metavar="SRC", help="a .go, .wat or .wasm file, or a plugin folder")
    p.add_argument("--manifest", metavar="M", required=True, help="manifest.json")
    p.add_argument("-o", "--output", metavar="OUT.ndp", required=True)
    p.add_argument("--lang", choices=LANGS, default=None)
    p.add_argument("--force", action="store_true")
    p.set_defaults(run=package_cmd)

    p = sub.add_parser("check", help="will a .ndp load, and on which Navidrome version?",
                       description=check_cmd.__doc__)
    p.add_argument("package", metavar="PLUGIN.ndp")
    p.add_argument("--navidrome", metavar="T", default="head",
                   help="seed, head (the default) or a date YYYY-MM-DD")
    p.set_defaults(run=check_cmd)
    return parser


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


def _size(n: int) -> str:
    from .magics import describe_size

    return describe_size(n)


def _permissions_text(perms: dict[str, Any]) -> str:
    from .magics import describe_permissions

    return describe_permissions(perms)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
