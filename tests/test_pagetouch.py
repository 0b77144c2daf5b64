"""The touch list's learning (runtime/pagetouch.py) on real memory: a file mapped privately,
as wasmtime maps a snapshot module's memory image, read and written here, then read back
through /proc/self/pagemap; and the list's encoding, caps and sampling."""

from __future__ import annotations

import ctypes
import mmap
import struct
from unittest import mock

import pytest

from nd_notebook.runtime import pagetouch

PAGE = mmap.PAGESIZE
WINDOW = 65536 // PAGE
needs_proc = pytest.mark.skipif(not pagetouch.supported(),
                                reason="needs Linux's /proc page states")


def _memory(pages: int) -> bytes:
    """Every page starts with its own number (so each has a value of its own)."""
    return b"".join(struct.pack("<I", 1000 + i).ljust(PAGE, b"\x07") for i in range(pages))


def _entries(touch: pagetouch.TouchList) -> list[tuple[int, int]]:
    return [struct.unpack_from("<II", touch.input, k) for k in range(0, len(touch.input), 8)]


@pytest.fixture
def image(tmp_path):
    """(memory, mapping, base address): a private copy-on-write mapping of a file."""
    memory = _memory(4 * WINDOW)
    path = tmp_path / "image"
    path.write_bytes(memory)
    with open(path, "r+b") as f:
        mapping = mmap.mmap(f.fileno(), len(memory), flags=mmap.MAP_PRIVATE,
                            prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
    try:
        yield memory, mapping, base
    finally:
        mapping.close()


@needs_proc
def test_written_pages_and_read_windows_are_learnt_from_page_states(image):
    memory, mapping, base = image
    touch = pagetouch.TouchList(memory)
    for page in (3, 17, 18):  # written: private copies (none the first of its window)
        mapping[page * PAGE] = mapping[page * PAGE]
    mapping[2 * WINDOW * PAGE + 5 * PAGE]  # read: its window is mapped from the file
    touch.learn(base)
    assert touch.instances_read == 1
    writes = [e for e in _entries(touch) if not e[0] & 1]
    reads = [e for e in _entries(touch) if e[0] & 1]
    # The writes carry each page's own value; they come before the reads.
    assert writes == [(page * PAGE, 1000 + page) for page in (3, 17, 18)]
    assert _entries(touch) == writes + reads
    # The read's window is learnt (which others the kernel mapped around the faults is its
    # own policy); each read entry is the first page of its window that is not written.
    windows = {(address - 1) // PAGE // WINDOW: (address - 1) // PAGE for address, _ in reads}
    assert windows[2] == 2 * WINDOW
    assert all(page == window * WINDOW for window, page in windows.items())  # none written
    assert all(value == 0 for _, value in reads)


@needs_proc
def test_learning_only_adds_and_stops_at_its_caps(image, monkeypatch):
    memory, mapping, base = image
    touch = pagetouch.TouchList(memory)
    mapping[1 * PAGE] = 1
    touch.learn(base)
    first = touch.input
    touch.learn(base)  # nothing new: the same list
    assert touch.input == first and touch.instances_read == 2
    monkeypatch.setattr(pagetouch, "MAX_PAGES", 3)
    monkeypatch.setattr(pagetouch, "MAX_WINDOWS", 1)
    for page in range(20, 30):
        mapping[page * PAGE] = 1
    mapping[3 * WINDOW * PAGE]
    touch.learn(base)
    assert touch.pages == 3
    assert len([e for e in _entries(touch) if e[0] & 1]) == 1


@needs_proc
def test_pages_before_the_image_are_counted_from_the_memory_start(tmp_path):
    # wasmtime's image starts at the page of the first non-zero byte: the learner adds that
    # offset back, so page numbers are the memory's own.
    memory = bytes(2 * PAGE) + _memory(WINDOW)
    touch = pagetouch.TouchList(memory)
    mapped = [0x7F0000000000 + 2 * PAGE, 0x7F0000100000]
    assert touch.memory_base({mapped[1]}, set(mapped)) == 0x7F0000000000
    assert touch.memory_base(set(), set(mapped)) is None  # two new images: whose is whose?
    assert touch.memory_base(set(mapped), set(mapped)) is None
    assert pagetouch.TouchList(bytes(PAGE)).memory_base(set(), {1 << 40}) is None  # all zero


def test_the_first_instances_are_read_then_one_in_learn_every():
    touch = pagetouch.TouchList(_memory(2))
    wanted = [touch.wants() for _ in range(pagetouch.LEARN_FIRST + 3 * pagetouch.LEARN_EVERY)]
    assert all(wanted[:pagetouch.LEARN_FIRST])
    later = [i + 1 for i, w in enumerate(wanted) if w][pagetouch.LEARN_FIRST:]
    assert later == [k * pagetouch.LEARN_EVERY for k in (1, 2, 3)]
    assert not pagetouch.TouchList(bytes(PAGE)).wants()  # nothing mapped from an image


@needs_proc
def test_image_mappings_name_wasmtimes_memory_images_only(image):
    _, _, base = image
    assert base not in pagetouch.image_mappings()  # a plain file mapping is not one
    # (a real instance's image: tests/test_memory_snapshots.py, the touch-list tests)


def test_image_mappings_reads_each_image_lines_start_address():
    maps = (b"7f0000000000-7f0000001000 rw-s 00000000 00:01 17 /memfd:wasm-memory-image (deleted)\n"
            b"55d000000000-55d000021000 r--p 00000000 08:01 99 /usr/bin/python3.11\n"
            b"7f1234560000-7f1234570000 rw-s 00000000 00:01 18 /memfd:wasm-memory-image (deleted)\n"
            b"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
            b"abc000-abd000 r--s 00000000 00:01 19 /memfd:wasm-memory-image (deleted)")
    with mock.patch("builtins.open", mock.mock_open(read_data=maps)):
        assert pagetouch.image_mappings() == {0x7f0000000000, 0x7f1234560000, 0xabc000}
    with mock.patch("builtins.open", mock.mock_open(read_data=b"")):
        assert pagetouch.image_mappings() == set()
