"""pytest fixtures for plugin authors: the same emulated Navidrome host, in CI.

Enabled automatically once nd-notebook is installed (a ``pytest11`` entry point)::

    def test_biography(nd_host, nd_build):
        plugin = nd_host.load(nd_build("plugin.go"), name="myplugin", permissions="auto")
        assert plugin.metadata.artist_biography(name="Nina Simone") == {"biography": "..."}

``nd_host`` is a real-time Host over a temporary data folder; ``nd_virtual_host`` runs on
deterministic virtual time. ``nd_build(path_or_source, lang=...)`` compiles with the build cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def nd_host(tmp_path):
    """A Host on real time with its data folder under ``tmp_path``; closed after the test."""
    from .runtime.host import Host

    with Host(tmp_path / "navidrome") as host:
        yield host


@pytest.fixture
def nd_virtual_host(tmp_path):
    """A Host on deterministic virtual time (advance it with ``run_for``/``run_until_idle``)."""
    from .runtime.host import Host

    with Host(tmp_path / "navidrome", clock="virtual") as host:
        yield host


@pytest.fixture
def nd_build():
    """``nd_build(source_or_path, lang=None) -> wasm bytes`` (language from the suffix)."""
    from .build import build

    def _build(source: str | Path, lang: str | None = None) -> bytes:
        path = Path(source) if isinstance(source, Path) or (
            isinstance(source, str) and "\n" not in source and Path(source).exists()) else None
        if path is not None:
            lang = lang or {".wat": "wat", ".go": "go"}.get(path.suffix, "go")
            return build(path.read_text(), lang=lang)
        return build(source, lang=lang or "go")

    return _build
