"""nd-notebook's exception hierarchy. Messages carry Navidrome's exact texts."""

from __future__ import annotations


class NDError(Exception):
    """Base class of every nd-notebook error."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of an internal traceback: the message is the point,
        # with the notes added to it (e.g. "did you mean ...").
        return [f"{type(self).__name__}: {self}", *getattr(self, "__notes__", ())]


def explained(err: BaseException) -> str:
    """``str(err)`` followed by its notes (``add_note``: nd-notebook's hints, kept out of the
    message so that it stays exactly Navidrome's text)."""
    return "\n".join([str(err), *getattr(err, "__notes__", ())])


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


class PluginInputError(NDError, ValueError):
    """``plugin.call`` was given an input Navidrome could never send that export."""


class NotImplementedByPluginError(PluginCallError):
    """``function not implemented: <name>``: the export returned -2 without an error."""


class ExitCodeError(PluginCallError):
    """``plugin call exited with code <n>``: non-zero return without an error."""


class PluginCallFailedError(PluginCallError):
    """``plugin call failed: <text>``: the guest set an error, trapped or timed out.

    For a trap, ``<text>`` is the reason (Go panic message, trap, exit code or the failed
    Extism host function's error; see ``nd_notebook.runtime.traps``), ``location`` the failing
    source line (the cell line when the plugin was built from a cell), ``backtrace`` the raw
    wasm backtrace and ``stderr`` what the guest wrote to stderr during the call.
    """

    reason: str | None = None
    location: str | None = None
    backtrace: str | None = None
    exit_code: int | None = None
    stderr: str = ""
    plugin_id: str | None = None

    def _render_traceback_(self) -> list[str]:
        lines = [f"{type(self).__name__}: {self}"]
        if self.location:
            lines.append(f"  at {self.location}")
        if self.export:
            of = f" of plugin {self.plugin_id!r}" if self.plugin_id else ""
            lines.append(f"  in export {self.export!r}{of}")
        if self.backtrace:
            lines.append("  (the raw wasm backtrace is in .backtrace)")
        return lines


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


class DataFolderInUseError(NDError):
    """Another Host (in another process) holds the data folder's lock; says which one."""


class MemoryLimitError(PluginCallFailedError):
    """``plugin call failed: out of memory: ...``: the call's instance reached its
    ``max_memory`` (``nd_notebook.runtime.limits``); ``limit`` is that cap in bytes."""

    limit: int = 0


class OutputLimitError(PluginCallFailedError):
    """The call's output is longer than its ``max_output``; it was refused, never copied."""

    limit: int = 0


class Interrupted(KeyboardInterrupt):
    """A kernel interrupt (Ctrl-C, SIGINT) stopped a plugin call or a run of the Host's clock.

    A ``KeyboardInterrupt``, as Jupyter expects of an interrupt: ``except Exception`` does not
    swallow it, a loop of calls stops, the cell ends as interrupted; its message says what was
    stopped (``nd_notebook.runtime.interrupt``).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class PluginCallInterrupted(Interrupted):
    """A plugin call was cancelled through libextism's cancel handle by a kernel interrupt;
    the Host and the plugin stay usable. ``export``, ``plugin_id`` and ``seconds`` say which
    call and how long it had run."""

    def __init__(self, message: str, *, export: str = "", plugin_id: str | None = None,
                 seconds: float = 0.0):
        super().__init__(message)
        self.export = export
        self.plugin_id = plugin_id
        self.seconds = seconds


class FuzzInterrupted(Interrupted):
    """``plugin.fuzz`` stopped by a kernel interrupt: no more calls are made (the running one
    is cancelled); ``calls`` says how many were made."""

    def __init__(self, message: str, *, calls: int = 0):
        super().__init__(message)
        self.calls = calls


class RunInterrupted(Interrupted):
    """``host.run_for`` / ``run_until_idle`` in virtual time stopped between two events."""
