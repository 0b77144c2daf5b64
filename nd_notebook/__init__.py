"""nd-notebook: write, run, test and understand Navidrome plugins in Jupyter.

Public API (imported lazily so that ``%load_ext nd_notebook`` stays fast)::

    Host, build, load_ipython_extension
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Host", "__version__", "build", "load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name):
    if name == "Host":
        from .runtime.host import Host

        return Host
    if name == "build":
        from .build import build

        return build
    raise AttributeError(name)


def load_ipython_extension(ip):
    """``%load_ext nd_notebook``: the magics, and PDK completion/inspection in their cells."""
    from .kernel import enable_assist
    from .magics import load_ipython_extension as _load

    _load(ip)
    enable_assist(ip)


def unload_ipython_extension(ip):
    from .kernel import disable_assist
    from .magics import unload_ipython_extension as _unload

    _unload(ip)
    disable_assist(ip)
