"""The bundled Navidrome-compatible Go PDK (``go/``), generated from the ABI tables.

``GO_DIR`` is the module folder a build points its ``replace`` directive at; ``MODULE`` the
upstream module path it stands in for. Regenerate with ``python -m nd_notebook.pdk.generate``.
"""

from __future__ import annotations

from pathlib import Path

MODULE = "github.com/navidrome/navidrome/plugins/pdk/go"
GO_DIR = Path(__file__).resolve().parent / "go"
# Stand-in for github.com/extism/go-pdk v1.1.3 (a nested module requiring nothing; GO_DIR's
# pdk package aliases its types, as Navidrome's does upstream's).
EXTISM_MODULE = "github.com/extism/go-pdk"
EXTISM_DIR = GO_DIR / "_extism-go-pdk"

__all__ = ["EXTISM_DIR", "EXTISM_MODULE", "GO_DIR", "MODULE"]
