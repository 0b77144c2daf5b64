"""Shared test set-up: every cache goes into the repository's own .cache/ folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "test"
os.environ.setdefault("ND_NOTEBOOK_CACHE_DIR", str(CACHE))
os.environ.setdefault("MPLCONFIGDIR", str(CACHE / "matplotlib"))
os.environ.setdefault("XDG_CACHE_HOME", str(CACHE / "xdg"))
os.environ.setdefault("IPYTHONDIR", str(CACHE / "ipython"))
os.environ.setdefault("JUPYTER_DATA_DIR", str(CACHE / "jupyter-data"))
os.environ.setdefault("JUPYTER_CONFIG_DIR", str(CACHE / "jupyter-config"))
os.environ.setdefault("JUPYTER_RUNTIME_DIR", str(CACHE / "jupyter-runtime"))
os.environ.setdefault("MPLBACKEND", "Agg")
CACHE.mkdir(parents=True, exist_ok=True)
