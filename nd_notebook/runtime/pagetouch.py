"""The pages a call writes, written first off the call path (Linux).

An instance of a snapshot module (runtime/snapshot.py) starts with its memory mapped from
wasmtime's copy-on-write image. A call that reads a page before it writes it (most pages Go's
allocator and runtime touch) takes two page faults: the read maps the image's page read-only
(with up to 15 neighbours: the kernel's fault-around), the write then copies it, and that
copy must flush the read-only entry from every core's TLB. While another thread of the process
runs on the other core (the one preparing the next instance), each such flush interrupts it
and waits for it: `perf` put 30% of the call thread's time of bench/taskqueue.py's virtual run
in these faults, for about 20 pages per call.

A page whose first access is a write takes one fault and no flush. So new instances (prepared
ahead, or made by a call that found none ready) are given a *touch list*: the pages calls were
seen to write, each with the 32-bit value the snapshot holds at its start, then one page of
each 64 KiB window calls were seen to read. ``__nd_reseed`` (runtime/wasmedit.py) reads it
from its call input, stores each value where it already is (nothing in memory changes: the
fault loses its flush and, ahead, moves to the background thread; the call finds those pages
writable) and then reads one page per window (the read faults, each mapping its window, move
ahead too).

The list is learnt from instances that served calls: the background thread notes where a new
instance's memory lies (the one new mapping of wasmtime's image, ``/proc/self/maps``) and,
once the call is done and before it frees the instance, which of its pages are private copies
now (written) and which are mapped from the image (read, or mapped with a read's window), from
``/proc/self/pagemap``. The first :data:`LEARN_FIRST` instances are read, then one in
:data:`LEARN_EVERY` (new exports, new inputs), up to :data:`MAX_PAGES` written pages and
:data:`MAX_WINDOWS` read windows. Where any of this is unavailable (not Linux, a module whose
reseed cannot read input, no image mapping), instances get no list: calls are only slower.

Measured with ``bench/taskqueue.py``'s virtual run (16,668 calls of a Go plugin, paired
whole-process runs): the written pages alone took its wall time from 12.9 s to 11.4 s (0.89),
the read windows 0.96 of the rest, the list for instances made in the call 0.91 of that.
"""

from __future__ import annotations

import os
import struct
import threading

__all__ = ["LEARN_EVERY", "LEARN_FIRST", "MAX_PAGES", "TouchList", "image_mappings",
           "supported"]

#: Instances read first, then one in LEARN_EVERY.
LEARN_FIRST = 16
LEARN_EVERY = 64
#: Pages a list holds at most (each costs the background thread one page copy per instance).
MAX_PAGES = 256
#: The name of wasmtime's copy-on-write memory image in /proc/self/maps.
IMAGE_NAME = "memfd:wasm-memory-image"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PRESENT, _FILE_OR_SHARED = 1 << 63, 1 << 61
#: Pages the kernel maps around a read fault (fault_around_bytes: 64 KiB by default).
_WINDOW = 65536 // _PAGE
#: Windows a list reads at most.
MAX_WINDOWS = 64


def supported() -> bool:
    """Whether this system shows mappings and page states (Linux's /proc)."""
    return os.access("/proc/self/maps", os.R_OK) and os.access("/proc/self/pagemap", os.R_OK)


def image_mappings() -> set[int]:
    """Start addresses of the process's mappings of wasmtime memory images."""
    try:
        with open("/proc/self/maps", "rb") as f:
            text = f.read()
    except OSError:
        return set()
    # Found by name, not line by line: the process has hundreds of mappings, a few of them
    # images (read on the call thread while the touch list learns: 0.04 ms instead of 0.3-0.6).
    name, found = IMAGE_NAME.encode(), set()
    at = text.find(name)
    while at != -1:
        start = text.rfind(b"\n", 0, at) + 1
        found.add(int(text[start:text.index(b"-", start)], 16))
        at = text.find(name, at + len(name))
    return found


class TouchList:
    """A snapshot module's touch list, learnt from its instances (see the module docs)."""

    def __init__(self, memory: bytes):
        self._memory = memory
        self._pages = len(memory) // _PAGE
        # wasmtime's image starts at the page of the first non-zero byte (wasmedit writes data
        # segments only for non-zero runs), so an instance's memory starts that far before it.
        first = len(memory) - len(memory.lstrip(b"\0"))
        self._image_offset = (first // _PAGE) * _PAGE if first < len(memory) else None
        self._written: set[int] = set()
        self._read: set[int] = set()  # fault-around windows calls read
        self._lock = threading.Lock()
        self.instances_read = 0
        self._seen = 0
        self.input = b""  # the reseed's call input: the encoded list

    @property
    def pages(self) -> int:
        return len(self._written)

    def wants(self) -> bool:
        """Whether the next instance prepared should be read once its call is done."""
        if self._image_offset is None:
            return False
        with self._lock:
            self._seen += 1
            return self._seen <= LEARN_FIRST or self._seen % LEARN_EVERY == 0

    def memory_base(self, before: set[int], after: set[int]) -> int | None:
        """Where the memory of the instance instantiated between ``before`` and ``after``
        (:func:`image_mappings`) starts; None unless exactly one image mapping is new."""
        new = after - before
        if len(new) != 1 or self._image_offset is None:
            return None
        return next(iter(new)) - self._image_offset

    def learn(self, base: int) -> None:
        """Add the pages of the instance at ``base`` that are private copies now (called after
        its call, before it is freed)."""
        try:
            with open("/proc/self/pagemap", "rb") as f:
                f.seek(base // _PAGE * 8)
                raw = f.read(self._pages * 8)
        except OSError:
            return
        entries = struct.unpack(f"{len(raw) // 8}Q", raw[:len(raw) // 8 * 8])
        written = {i for i, e in enumerate(entries) if e & _PRESENT and not e & _FILE_OR_SHARED}
        read = {i // _WINDOW for i, e in enumerate(entries) if e & _PRESENT and e & _FILE_OR_SHARED}
        with self._lock:
            self.instances_read += 1
            old = (len(self._written), len(self._read))
            if len(self._written) < MAX_PAGES:
                room = MAX_PAGES - len(self._written)
                self._written |= set(sorted(written - self._written)[:room])
            if len(self._read) < MAX_WINDOWS:
                self._read |= set(sorted(read - self._read)[:MAX_WINDOWS - len(self._read)])
            if (len(self._written), len(self._read)) != old:
                self.input = self._encode()

    def _encode(self) -> bytes:
        out = bytearray()
        for page in sorted(self._written):
            address = page * _PAGE
            out += struct.pack("<II", address, int.from_bytes(self._memory[address:address + 4],
                                                               "little"))
        for window in sorted(self._read):  # after the writes: a read maps its window read-only
            pages = [p for p in range(window * _WINDOW, (window + 1) * _WINDOW)
                     if p not in self._written and p < self._pages]
            if pages:
                out += struct.pack("<II", pages[0] * _PAGE + 1, 0)
        return bytes(out)
