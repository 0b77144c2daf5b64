"""A small C helper for the hot paths of instances: several libextism calls in one, without the
interpreter lock. Compiled once per machine with cffi when a C compiler is there; without one,
the same libextism calls are made one by one from Python (as before; only slower).

Why: every libextism call made through cffi releases the interpreter lock and takes it back
when it returns. Preparing one snapshot instance ahead took five such calls (create, allow
response headers, its id, the reseed, its error) and freeing it one more; each time the
preparing thread came back it waited for the lock while the calling thread ran Python, so it
fell behind: in ``bench/taskqueue.py``'s virtual run 25-30% of the calls found no instance ready
and made their own (`py-spy`: 28% of the call thread). :func:`prepare` does the five in one call
and :func:`free_all` frees a batch in one. Even then the preparing thread took the lock back
after each, and CPython hands it over on request only after its switch interval (5 ms), so
:class:`NativePool` runs the whole preparing loop on a thread of the helper's own.

The helper is linked to nothing: it gets the addresses of libextism's functions from the
``extism_sys`` module already loaded (:func:`helper` binds them once), so it is built with
only the compiler and Python's headers, in ``<cache>/native/<hash of source and
interpreter>``; ``ND_NOTEBOOK_NATIVE=0`` keeps it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from extism_sys import ffi as _ffi
from extism_sys import lib as _lib

from .. import paths
from .output import format_instance_id

__all__ = ["NativePool", "call", "free_all", "helper", "prepare", "status"]

_CDEF = """
void nd_bind(void *plugin_new, void *call, void *free_, void *allow_headers, void *error,
             void *id, void *output_length, void *output);
void *nd_prepare(void *compiled, const char *init, const uint8_t *input, uint64_t length,
                 uint8_t *id, int32_t *rc, char **err);
void nd_free_all(void **plugins, int64_t count);
int32_t nd_call(void *plugin, const char *name, const uint8_t *input, uint64_t length,
                uint64_t *out);
void nd_bind_pool(void *new_error_free);
void *nd_pool_new(const char *init, int ahead, double max_age, double idle);
int nd_pool_add(void *pool, void *compiled);
void nd_pool_set_input(void *pool, const uint8_t *input, uint64_t length);
void *nd_pool_take(void *pool, int slot, int want, uint8_t *id, double *born, int32_t *failed);
void nd_pool_release(void *pool, int slot, void *plugin);
void nd_pool_hold(void *pool, int on);
int64_t nd_pool_prepared(void *pool);
void nd_pool_close(void *pool);
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

/* A pool: one thread of its own (never the interpreter's lock) keeps `ahead` instances of each
   slot's compiled plugin prepared (nd_prepare with `init` and the current input), frees those
   older than `max_age` seconds and frees behind the instances calls hand back. Slots are the
   lanes of runtime/prepared.py; a slot no call took for `idle` seconds gets no new ones. A
   prepare that fails while no call holds its slot marks the slot failed (no more are prepared
   for it) until nd_pool_take reports it. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define ND_SLOTS 8
#define ND_AHEAD 4

typedef void (*nd_err_free_fn)(char *);
static nd_err_free_fn nd_new_error_free;

void nd_bind_pool(void *new_error_free) {
    nd_new_error_free = (nd_err_free_fn)new_error_free;
}

typedef struct { void *plugin; uint8_t id[16]; double born; } nd_item;

typedef struct {
    void *compiled;
    nd_item ready[ND_AHEAD];
    int head, count, busy, misses;
    int32_t failed;
    double last_take;
} nd_slot;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    char init[64];
    uint8_t *input;
    uint64_t length, generation;  /* generation: of the input, one more at each set */
    nd_slot slots[ND_SLOTS];
    int nslots, ahead, stop, preparing, hold;
    double max_age, idle;
    void **doomed;
    int64_t ndoomed, capdoomed, prepared;
} nd_pool;

static double nd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* lock held */
static void nd_doom(nd_pool *p, void *plugin) {
    if (p->ndoomed == p->capdoomed) {
        int64_t cap = p->capdoomed ? 2 * p->capdoomed : 16;
        void **grown = realloc(p->doomed, (size_t)cap * sizeof(void *));
        if (grown == NULL) {  /* no memory for the list: freed here, lock held */
            nd_free(plugin);
            return;
        }
        p->doomed = grown;
        p->capdoomed = cap;
    }
    p->doomed[p->ndoomed++] = plugin;
}

static void nd_pop(nd_slot *s, nd_item *out) {
    *out = s->ready[s->head];
    s->head = (s->head + 1) % ND_AHEAD;
    s->count--;
}

static void *nd_pool_run(void *arg) {
    nd_pool *p = (nd_pool *)arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        double now = nd_now();
        int waiting = 0;
        for (int i = 0; i < p->nslots; i++) {
            nd_slot *s = &p->slots[i];
            while (s->count && (p->stop || now - s->ready[s->head].born > p->max_age)) {
                nd_item item;
                nd_pop(s, &item);
                nd_doom(p, item.plugin);
            }
            waiting += s->count;
        }
        if (p->ndoomed) {
            void **batch = p->doomed;
            int64_t n = p->ndoomed;
            p->doomed = NULL;
            p->ndoomed = p->capdoomed = 0;
            pthread_mutex_unlock(&p->mu);
            for (int64_t i = 0; i < n; i++)
                nd_free(batch[i]);
            free(batch);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        if (p->stop)
            break;
        int slot = -1;
        if (!p->hold)  /* slots taken from within `idle` seconds */
            for (int i = 0; i < p->nslots && slot < 0; i++)
                if (!p->slots[i].failed && p->slots[i].count < p->ahead
                    && now - p->slots[i].last_take <= p->idle)
                    slot = i;
        if (slot < 0) {
            if (waiting) {  /* wake to free them once they are too old */
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                double at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + p->max_age / 2;
                ts.tv_sec = (time_t)at;
                ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            } else {
                pthread_cond_wait(&p->cv, &p->mu);
            }
            continue;
        }
        uint64_t length = p->length;
        uint8_t *input = length ? malloc(length) : NULL;
        if (length && input == NULL)
            length = 0;
        if (input != NULL)
            memcpy(input, p->input, length);
        void *compiled = p->slots[slot].compiled;
        uint64_t generation = p->generation;
        p->preparing = 1;
        pthread_mutex_unlock(&p->mu);
        uint8_t id[16];
        int32_t rc = 0;
        char *err = NULL;
        void *plugin = nd_prepare(compiled, p->init, input, length, id, &rc, &err);
        free(input);
        if (plugin == NULL && err != NULL)
            nd_new_error_free(err);
        pthread_mutex_lock(&p->mu);
        p->preparing = 0;
        pthread_cond_broadcast(&p->cv);
        nd_slot *s = &p->slots[slot];
        if (plugin == NULL || rc != 0) {
            if (plugin != NULL)
                nd_doom(p, plugin);
            /* A call's deadline on the same compiled plugin can end a reseed: not a failure,
               unless it happens again and again; nor is one with an input replaced since */
            if (generation == p->generation && (!s->busy || ++s->misses >= 3))
                s->failed = plugin == NULL ? 1 : rc;
        } else if (s->count < ND_AHEAD) {
            s->misses = 0;
            nd_item *item = &s->ready[(s->head + s->count) % ND_AHEAD];
            item->plugin = plugin;
            memcpy(item->id, id, 16);
            item->born = nd_now();
            s->count++;
            p->prepared++;
        } else {
            nd_doom(p, plugin);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void *nd_pool_new(const char *init, int ahead, double max_age, double idle) {
    nd_pool *p = calloc(1, sizeof(nd_pool));
    if (p == NULL || strlen(init) >= sizeof(p->init)) {
        free(p);
        return NULL;
    }
    strcpy(p->init, init);
    p->ahead = ahead < 1 ? 1 : ahead > ND_AHEAD ? ND_AHEAD : ahead;
    p->max_age = max_age;
    p->idle = idle;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&p->thread, NULL, nd_pool_run, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

/* The slot of a compiled plugin (its lane), -1 when all are taken. */
int nd_pool_add(void *pool, void *compiled) {
    nd_pool *p = (nd_pool *)pool;
    pthread_mutex_lock(&p->mu);
    int slot = -1;
    if (p->nslots < ND_SLOTS) {
        slot = p->nslots++;
        p->slots[slot].compiled = compiled;
        p->slots[slot].last_take = nd_now();
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return slot;
}

void nd_pool_set_input(void *pool, const uint8_t *input, uint64_t length) {
    nd_pool *p = (nd_pool *)pool;
    uint8_t *copy = length ? malloc(length) : NULL;
    if (length && copy == NULL)
        length = 0;
    if (copy != NULL)
        memcpy(copy, input, length);
    pthread_mutex_lock(&p->mu);
    free(p->input);
    p->input = copy;
    p->length = length;
    p->generation++;
    for (int i = 0; i < p->nslots; i++)  /* failures with the old input are moot */
        p->slots[i].failed = p->slots[i].misses = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* A prepared instance of the slot (NULL: none ready, or `want` is 0), its id and when it was
   made; the slot is held by a call until nd_pool_release. *failed: the failure of a prepare,
   reported once. */
void *nd_pool_take(void *pool, int slot, int want, uint8_t *id, double *born, int32_t *failed) {
    nd_pool *p = (nd_pool *)pool;
    void *plugin = NULL;
    pthread_mutex_lock(&p->mu);
    nd_slot *s = &p->slots[slot];
    s->last_take = nd_now();
    s->busy++;  /* a count: past MAX_LANES calls share the last lane */
    *failed = s->failed;
    s->failed = 0;
    s->misses = 0;
    if (want && s->count) {
        nd_item item;
        nd_pop(s, &item);
        plugin = item.plugin;
        memcpy(id, item.id, 16);
        *born = item.born;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return plugin;
}

/* The call on the slot ended; `plugin` (may be NULL) is freed behind. */
void nd_pool_release(void *pool, int slot, void *plugin) {
    nd_pool *p = (nd_pool *)pool;
    pthread_mutex_lock(&p->mu);
    if (p->slots[slot].busy > 0)
        p->slots[slot].busy--;
    if (plugin != NULL)
        nd_doom(p, plugin);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* on: no prepare runs until the matching off (waits for one running to end). */
void nd_pool_hold(void *pool, int on) {
    nd_pool *p = (nd_pool *)pool;
    pthread_mutex_lock(&p->mu);
    if (on) {
        p->hold++;
        while (p->preparing)
            pthread_cond_wait(&p->cv, &p->mu);
    } else {
        p->hold--;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int64_t nd_pool_prepared(void *pool) {
    nd_pool *p = (nd_pool *)pool;
    pthread_mutex_lock(&p->mu);
    int64_t n = p->prepared;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* Stops the thread (after the prepare it is running), frees every instance it holds. */
void nd_pool_close(void *pool) {
    nd_pool *p = (nd_pool *)pool;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->doomed);
    free(p->input);
    free(p);
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
                module.lib.nd_bind_pool(_ffi.addressof(_lib, "extism_plugin_new_error_free"))
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


class NativePool:
    """The helper's pool thread (``nd_pool_*``): for each slot (a compiled plugin: a lane of
    runtime/prepared.py) it keeps ``ahead`` instances created and initialised with ``init``
    (the current :meth:`set_input` its input) and frees what calls hand back, all without the
    interpreter lock: a Python thread doing the same must take the lock back after every
    libextism call and waits for it while the calling thread runs Python (up to the
    interpreter's switch interval, 5 ms), so calls back to back found none ready."""

    def __init__(self, init: str, *, ahead: int, max_age: float, idle: float):
        module = _helper
        self._ffi, self._lib = module.ffi, module.lib
        self._ptr = self._lib.nd_pool_new(init.encode(), ahead, max_age, idle)
        if self._ptr == self._ffi.NULL:
            raise RuntimeError("the helper could not start its pool thread")
        self._compiled: list = []  # what its slots create instances of: alive until close
        self._lock = threading.Lock()
        _POOLS.add(self)

    def _forget_in_child(self) -> None:
        """In a forked child: its thread does not exist there, so the pool is dropped without
        a join (closing it waited forever); calls make their own instances."""
        self._lock = threading.Lock()
        self._ptr = None

    def add(self, compiled) -> int | None:
        """The slot of ``compiled`` (None: the pool has no room for another, or is closed)."""
        with self._lock:
            if self._ptr is None:
                return None
            slot = self._lib.nd_pool_add(self._ptr, compiled.pointer)
            if slot < 0:
                return None
            self._compiled.append(compiled)
            return slot

    def set_input(self, given: bytes) -> None:
        """The init's call input for instances prepared from now on."""
        with self._lock:
            if self._ptr is not None:
                self._lib.nd_pool_set_input(self._ptr, given, len(given))

    def take(self, slot: int, want: bool = True) -> tuple[Any, str, float, int]:
        """``(instance or None, its id, its monotonic birth, failure)``: a prepared instance of
        the slot (none when not ``want``); the slot is held by the call until :meth:`release`.
        ``failure`` is the return code of a prepare that failed while no call held the slot
        (1: libextism could not create one) since the last take, else 0; no more are prepared
        for that slot until a take reports it."""
        ffi = self._ffi
        id_, born, failed = ffi.new("uint8_t[16]"), ffi.new("double *"), ffi.new("int32_t *")
        with self._lock:
            if self._ptr is None:
                return None, "", 0.0, 0
            ptr = self._lib.nd_pool_take(self._ptr, slot, want, id_, born, failed)
        if ptr == ffi.NULL:
            return None, "", 0.0, failed[0]
        return (_ffi.cast("ExtismPlugin *", ptr), format_instance_id(ffi.buffer(id_)[:]),
                born[0], failed[0])

    def release(self, slot: int, ptr) -> None:
        """The call holding the slot ended; ``ptr`` (or None) is freed behind (here, once the
        pool is closed)."""
        with self._lock:
            if self._ptr is not None:
                self._lib.nd_pool_release(self._ptr, slot, self._ffi.NULL if ptr is None else ptr)
                return
        if ptr is not None:
            _lib.extism_plugin_free(ptr)

    @contextlib.contextmanager
    def held(self):
        """No instance is created by the pool inside (one being made is finished first)."""
        with self._lock:
            ptr = self._ptr
            if ptr is not None:
                self._lib.nd_pool_hold(ptr, 1)
        try:
            yield
        finally:
            with self._lock:
                if ptr is not None and self._ptr is ptr:
                    self._lib.nd_pool_hold(ptr, 0)

    @property
    def prepared(self) -> int:
        """Instances the pool has prepared so far."""
        with self._lock:
            return 0 if self._ptr is None else self._lib.nd_pool_prepared(self._ptr)

    def close(self) -> None:
        """Stop its thread (after the instance it is making) and free what it holds."""
        with self._lock:
            if self._ptr is not None:
                self._lib.nd_pool_close(self._ptr)
            self._ptr = None
            self._compiled = []


_POOLS: weakref.WeakSet[NativePool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._forget_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
