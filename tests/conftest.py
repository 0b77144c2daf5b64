"""Shared test set-up: every cache goes into the repository's own .cache/ folder, whatever the
caller's environment says (XDG_CACHE_HOME, IPYTHONDIR... are overridden, not defaulted), so a
test run never writes into the home directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "test"
os.environ["ND_NOTEBOOK_CACHE_DIR"] = str(CACHE)
os.environ["MPLCONFIGDIR"] = str(CACHE / "matplotlib")
os.environ["XDG_CACHE_HOME"] = str(CACHE / "xdg")
os.environ["IPYTHONDIR"] = str(CACHE / "ipython")
os.environ["JUPYTER_DATA_DIR"] = str(CACHE / "jupyter-data")
os.environ["JUPYTER_CONFIG_DIR"] = str(CACHE / "jupyter-config")
os.environ["JUPYTER_RUNTIME_DIR"] = str(CACHE / "jupyter-runtime")
os.environ.setdefault("MPLBACKEND", "Agg")
CACHE.mkdir(parents=True, exist_ok=True)
