"""nd-notebook's exception hierarchy. Messages carry Navidrome's exact texts."""

from __future__ import annotations


class NDError(Exception):
    """Base class of every nd-notebook error."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this line instead of an internal traceback: the message is the point.
        return [f"{type(self).__name__}: {self}"]


class ServiceError(NDError):
    """A host service failed; its text travels in-band to the plugin as ``{"error": text}``.

    ``str(err)`` is exactly Navidrome's ``err.Error()`` text.
    """


class ManifestError(NDError):
    """manifest.json is invalid (text as Navidrome's loader reports it)."""


class PackageError(NDError):
    """A ``.ndp`` package cannot be read or written."""


class LoadError(NDError):
    """A plugin could not be loaded (unknown import, missing permission, manifest validation)."""


class PluginNotFoundError(NDError, KeyError):
    """No plugin is loaded under that id: ``plugin "<id>" not found``."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class PluginCallError(NDError):
    """Calling a plugin export failed. ``str(err)`` is Navidrome's exact error text."""

    def __init__(self, message: str, *, export: str = "", code: int | None = None):
        super().__init__(message)
        self.export = export
        self.code = code


class FunctionNotFoundError(PluginCallError):
    """``function not found: <name>``: the module does not export it."""


class NotImplementedByPluginError(PluginCallError):
    """``function not implemented: <name>``: the export returned -2 without an error."""


class ExitCodeError(PluginCallError):
    """``plugin call exited with code <n>``: non-zero return without an error."""


class PluginCallFailedError(PluginCallError):
    """``plugin call failed: <text>``: the guest set an error, trapped or timed out."""


class CompileError(NDError):
    """A plugin source did not compile; carries the compiler's output mapped to cell lines."""

    def __init__(self, message: str, *, output: str = "", lang: str = ""):
        super().__init__(message)
        self.output = output
        self.lang = lang

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of an internal traceback.
        return [str(self)]


class LibraryError(NDError):
    """The mock music library refused an operation (read-only database, missing tables...)."""
