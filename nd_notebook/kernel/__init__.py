"""The "Navidrome Plugins" Jupyter kernelspec: IPython with the nd_notebook extension preloaded.

``kernel.json`` beside this file is the template; :func:`install_kernelspec` writes a copy whose
``argv`` starts with the running interpreter, so the kernel uses the environment nd-notebook is
installed in. The extension (``%load_ext nd_notebook``, preloaded by the kernelspec) adds
:func:`enable_assist`: PDK completion (``completer``) and inspection (``inspector``) in
``%%ndplugin`` cells, so any IPython kernel that loads it gets them.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "nd-notebook"
DISPLAY_NAME = "Navidrome Plugins"

__all__ = ["DISPLAY_NAME", "KERNEL_NAME", "disable_assist", "enable_assist", "install_kernelspec",
           "kernelspec_dict"]


def install_kernelspec(user: bool = True, prefix: str | Path | None = None) -> str:
    """Install the kernelspec and return the folder it was installed to.

    ``prefix`` installs into ``<prefix>/share/jupyter/kernels`` (``sys.prefix`` for a
    virtualenv-local install); otherwise ``user=True`` installs for the current user and
    ``user=False`` system-wide. An existing spec of the same name is replaced.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory(prefix="nd-notebook-kernel-") as tmp:
        src = Path(tmp) / KERNEL_NAME
        src.mkdir()
        (src / "kernel.json").write_text(json.dumps(kernelspec_dict(), indent=2) + "\n")
        for asset in _HERE.iterdir():
            if asset.name.startswith("logo-"):
                shutil.copy(asset, src / asset.name)
        return KernelSpecManager().install_kernel_spec(
            str(src),
            kernel_name=KERNEL_NAME,
            user=bool(user) and prefix is None,
            prefix=str(prefix) if prefix is not None else None,
        )


def kernelspec_dict(python: str | None = None) -> dict:
    """The kernel.json content with ``argv[0]`` set to ``python`` (default: this interpreter)."""
    spec = json.loads((_HERE / "kernel.json").read_text())
    spec["argv"][0] = python or sys.executable
    return spec


_HERE = Path(__file__).resolve().parent


def enable_assist(ip) -> None:
    """PDK completion and inspection in ``%%ndplugin`` cells of the shell ``ip``."""
    from . import completer, inspector

    completer.enable(ip)
    inspector.enable(ip)


def disable_assist(ip) -> None:
    from . import completer, inspector

    completer.disable(ip)
    inspector.disable(ip)
