"""pytest fixtures for plugin authors: the same emulated Navidrome host, in CI.

Enabled automatically once nd-notebook is installed (a ``pytest11`` entry point)::

    def test_biography(nd_host, nd_build):
        plugin = nd_host.load(nd_build("plugin.go"), name="myplugin", permissions="auto")
        assert plugin.metadata.artist_biography(name="Nina Simone") == {"biography": "..."}

``nd_host`` is a real-time Host over a temporary data folder; ``nd_virtual_host`` runs on
deterministic virtual time. ``nd_build(path_or_source, lang=...)`` compiles with the build cache.

Fuzzing (docs/testing.md): ``requests(export)`` is a hypothesis strategy of the requests
Navidrome may send to a capability export; ``plugin.fuzz(export)`` runs them against the
plugin and returns the shrunk failures. hypothesis is imported only when those are used, so
this pytest plugin stays cheap to load.
"""

from __future__ import annotations

from pathlib import Path

try:  # plugin.fuzz imports this package in notebooks, where pytest may be absent
    import pytest
except ImportError:  # pragma: no cover - exercised only without pytest
    pytest = None

__all__ = ["nd_build", "nd_host", "nd_virtual_host", "requests"]


def requests(export: str, *, navidrome: str = "head"):
    """A hypothesis strategy of valid JSON requests for the capability export ``export``, as
    Navidrome version ``navidrome`` marshals them (see ``nd_notebook.testing.strategies``)."""
    from .strategies import requests as _requests

    return _requests(export, navidrome=navidrome)


if pytest is not None:
    @pytest.fixture
    def nd_host(tmp_path):
        """A Host on real time with its data folder under ``tmp_path``; closed after the test."""
        from ..runtime.host import Host

        with Host(tmp_path / "navidrome") as host:
            yield host

    @pytest.fixture
    def nd_virtual_host(tmp_path):
        """A Host on deterministic virtual time (advance it with ``run_for``/``run_until_idle``)."""
        from ..runtime.host import Host

        with Host(tmp_path / "navidrome", clock="virtual") as host:
            yield host

    @pytest.fixture
    def nd_build():
        """``nd_build(source_or_path, lang=None) -> wasm bytes``: ``nd_notebook.build`` of
        source text, a ``.go``/``.wat`` file or a plugin folder (language from the suffix)."""
        from ..build import build
        from ..paths import path_exists

        def _build(source: str | Path, lang: str | None = None) -> bytes:
            path = Path(source) if isinstance(source, Path) or (
                isinstance(source, str) and "\n" not in source and path_exists(source)) else None
            if path is not None:  # the path itself: a folder builds as one, errors name files
                lang = lang or {".wat": "wat"}.get(path.suffix, "go")
                return build(path, lang=lang)
            return build(source, lang=lang or "go")

        return _build
