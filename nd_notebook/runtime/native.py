"""A small C helper for the hot paths of instances: several libextism calls in one, without the
interpreter lock. Compiled once per machine with cffi when a C compiler is there; without one,
the same libextism calls are made one by one from Python (as before; only slower).

Why: every libextism call made through cffi releases the interpreter lock and takes it back
when it returns. Preparing one snapshot instance ahead took five such calls (create, allow
response headers, its id, the reseed, its error) and freeing it one more; each time the
preparing thread came back it waited for the lock while the calling thread ran Python, so it
fell behind: in ``bench/taskqueue.py``'s virtual run 25-30% of the calls found no instance ready
and made their own (`py-spy`: 28% of the call thread). :func:`prepare` does the five in one call
and :func:`free_all` frees a batch in one.

The helper is linked to nothing: it gets the addresses of libextism's functions from the
``extism_sys`` module already loaded (:func:`helper` binds them once), so it is built with
only the compiler and Python's headers, in ``<cache>/native/<hash of source and
interpreter>``; ``ND_NOTEBOOK_NATIVE=0`` keeps it off.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

from extism_sys import ffi as _ffi
from extism_sys import lib as _lib

from .. import paths
from .output import format_instance_id

__all__ = ["call", "free_all", "helper", "prepare", "status"]

_CDEF = """
void nd_bind(void *plugin_new, void *call, void *free_, void *allow_headers, void *error,
             void *id, void *output_length, void *output);
void *nd_prepare(void *compiled, const char *init, const uint8_t *input, uint64_t length,
                 uint8_t *id, int32_t *rc, char **err);
void nd_free_all(void **plugins, int64_t count);
int32_t nd_call(void *plugin, const char *name, const uint8_t *input, uint64_t length,
                uint64_t *out);
"""

_SOURCE = r"""
#include <stdint.h>
#include <string.h>

typedef void *(*nd_new_fn)(void *, char **);
typedef int32_t (*nd_call_fn)(void *, const char *, const uint8_t *, uint64_t, void *);
typedef void (*nd_plugin_fn)(void *);
typedef const char *(*nd_error_fn)(void *);
typedef const uint8_t *(*nd_id_fn)(void *);
typedef uint64_t (*nd_length_fn)(void *);

static nd_new_fn nd_new;
static nd_call_fn nd_call_;
static nd_plugin_fn nd_free, nd_allow_headers;
static nd_error_fn nd_error;
static nd_id_fn nd_id, nd_output;
static nd_length_fn nd_output_length;

void nd_bind(void *plugin_new, void *call, void *free_, void *allow_headers, void *error,
             void *id, void *output_length, void *output) {
    nd_new = (nd_new_fn)plugin_new;
    nd_call_ = (nd_call_fn)call;
    nd_free = (nd_plugin_fn)free_;
    nd_allow_headers = (nd_plugin_fn)allow_headers;
    nd_error = (nd_error_fn)error;
    nd_id = (nd_id_fn)id;
    nd_output_length = (nd_length_fn)output_length;
    nd_output = (nd_id_fn)output;
}

/* A new instance of `compiled` that may read HTTP response headers (as Navidrome's), its
   16-byte id copied to `id`, and `init` called with `input` unless `init` is NULL: *rc is
   that call's return code, or -1 when it returned 0 but set an error. NULL when creating the
   instance failed (*err then holds libextism's message). */
void *nd_prepare(void *compiled, const char *init, const uint8_t *input, uint64_t length,
                 uint8_t *id, int32_t *rc, char **err) {
    void *plugin = nd_new(compiled, err);
    if (plugin == NULL)
        return NULL;
    nd_allow_headers(plugin);
    memcpy(id, nd_id(plugin), 16);
    *rc = 0;
    if (init != NULL) {
        *rc = nd_call_(plugin, init, input, length, NULL);
        if (*rc == 0 && nd_error(plugin) != NULL)
            *rc = -1;
    }
    return plugin;
}

void nd_free_all(void **plugins, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        nd_free(plugins[i]);
}

/* The export call, and what is read after it: out[0] the error message's address (0: none),
   out[1] the output's length and out[2] its address (both 0 after an error). */
int32_t nd_call(void *plugin, const char *name, const uint8_t *input, uint64_t length,
                uint64_t *out) {
    int32_t rc = nd_call_(plugin, name, input, length, NULL);
    const char *error = nd_error(plugin);
    out[0] = (uint64_t)(uintptr_t)error;
    out[1] = error == NULL ? nd_output_length(plugin) : 0;
    out[2] = out[1] ? (uint64_t)(uintptr_t)nd_output(plugin) : 0;
    return rc;
}
"""

_lock = threading.Lock()
_helper = None
#: "off" (not tried yet or turned off), "in use", or "not available: <why>".
status = "off"


def helper(*, build: bool = True):
    """The compiled helper's ``lib``, or None. Builds it at the first call with ``build``
    (about half a second, once per machine; later processes load the cached module)."""
    global _helper, status
    if _helper is not None or status.startswith("not available"):
        return _helper
    if not build or not env_flag("ND_NOTEBOOK_NATIVE"):
        return None
    with _lock:
        if _helper is None and not status.startswith("not available"):
            try:
                module = _load()
                module.lib.nd_bind(*(_ffi.addressof(_lib, name) for name in (
                    "extism_plugin_new_from_compiled", "extism_plugin_call_with_host_context",
                    "extism_plugin_free", "extism_plugin_allow_http_response_headers",
                    "extism_plugin_error", "extism_plugin_id", "extism_plugin_output_length",
                    "extism_plugin_output_data")))
                _helper = module
                status = "in use"
            except Exception as e:  # noqa: BLE001 - no compiler, no headers...: plain calls
                status = f"not available: {type(e).__name__}: {e}"
    return _helper


def prepare(compiled, init: str | None, given: bytes = b""):
    """``(instance, id, rc)``: a new instance of ``compiled`` (an extism ``CompiledPlugin``)
    with HTTP response headers allowed, its id as its log lines write it, and ``init`` called
    with ``given`` (``rc``: that call's code, -1 if it set an error; 0 when ``init`` is None).
    Raises PluginCallFailedError when libextism cannot create it."""
    module = _helper
    ffi, lib = module.ffi, module.lib
    id_ = ffi.new("uint8_t[16]")
    rc = ffi.new("int32_t *")
    err = ffi.new("char **")
    ptr = lib.nd_prepare(compiled.pointer, init.encode() if init else ffi.NULL, given,
                         len(given), id_, rc, err)
    if ptr == ffi.NULL:
        raise creation_failed(_ffi.cast("char *", err[0]))
    return _ffi.cast("ExtismPlugin *", ptr), format_instance_id(ffi.buffer(id_)[:]), rc[0]


def creation_failed(err) -> Exception:
    """The error for libextism's failure to create an instance (``err``: its message, freed
    here)."""
    from ..errors import PluginCallFailedError

    msg = _ffi.string(err).decode("utf-8", "replace")
    _lib.extism_plugin_new_error_free(err)
    return PluginCallFailedError(f"plugin call failed: {msg}")


def env_flag(name: str) -> bool:
    """An on/off environment setting, on unless ``0``/``false``/``off``/``no``."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "off", "no")


def call(ptr, export: bytes, data: bytes, limit: int) -> tuple[int, bytes | None, int,
                                                               bytes | None]:
    """``(rc, error, length, output)`` of an export call on ``ptr``: libextism's error message
    (None when it set none), the output's length and its bytes (None when ``length`` is over
    ``limit``; empty after an error), read in the same call when the helper is built."""
    module = _helper
    if module is None:
        rc = _lib.extism_plugin_call_with_host_context(ptr, export, data, len(data), _ffi.NULL)
        err = _lib.extism_plugin_error(ptr)
        if err != _ffi.NULL:
            return rc, _ffi.string(err), 0, b""
        length = _lib.extism_plugin_output_length(ptr)
        if length > limit:
            return rc, None, length, None
        return rc, None, length, bytes(_ffi.buffer(_lib.extism_plugin_output_data(ptr), length))
    out = module.ffi.new("uint64_t[3]")
    rc = module.lib.nd_call(ptr, export, data, len(data), out)
    if out[0]:
        return rc, _ffi.string(_ffi.cast("char *", out[0])), 0, b""
    length = out[1]
    if length > limit:
        return rc, None, length, None
    return rc, None, length, bytes(_ffi.buffer(_ffi.cast("uint8_t *", out[2]), length))


def free_all(ptrs: list) -> None:
    """Free these instances: in one helper call when it is built, else one by one."""
    if not ptrs:
        return
    module = _helper
    if module is None:
        for ptr in ptrs:
            _lib.extism_plugin_free(ptr)
        return
    module.lib.nd_free_all(module.ffi.new("void *[]", ptrs), len(ptrs))


def _load():
    """Import the helper module, compiling it first when its cached build is missing."""
    import cffi

    tag = hashlib.sha256((_CDEF + _SOURCE + sys.version + cffi.__version__
                          + sysconfig.get_platform()).encode()).hexdigest()[:16]
    folder = paths.cache_dir() / "native" / tag
    target = folder / f"{_NAME}{importlib.machinery.EXTENSION_SUFFIXES[0]}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _build(folder, target)
    spec = importlib.util.spec_from_file_location(_NAME, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NAME = "_nd_native"

# Run in a child process: the compiler's own output (and anything distutils prints) stays in
# its pipes, never in this process's fds 1/2, which a running plugin call may be capturing.
_BUILD = """
import os, shutil, sys
from pathlib import Path
import cffi
tmp, target, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
builder = cffi.FFI()
builder.cdef((tmp / "helper.cdef").read_text())
builder.set_source(name, (tmp / "helper.c").read_text())
built = Path(builder.compile(tmpdir=str(tmp), verbose=False))
staged = tmp / ("staged" + target.suffix)
shutil.copyfile(built, staged)
os.replace(staged, target)  # atomic: another process may build it at the same time
"""


def _build(folder: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder, prefix="build-") as tmp:
        (Path(tmp) / "helper.cdef").write_text(_CDEF)
        (Path(tmp) / "helper.c").write_text(_SOURCE)
        run = subprocess.run([sys.executable, "-c", _BUILD, tmp, str(target), _NAME],
                             capture_output=True, text=True, timeout=300, check=False)
    if run.returncode != 0:
        lines = (run.stderr or run.stdout).strip().splitlines()
        raise RuntimeError(f"building it failed: {lines[-1] if lines else run.returncode}")
