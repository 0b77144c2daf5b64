"""docs/abi.md is generated from the ABI tables and must not drift from them."""

from pathlib import Path

from nd_notebook.abi.docs import render
from nd_notebook.services import emulation_status

DOC = Path(__file__).resolve().parent.parent / "docs" / "abi.md"


def test_abi_reference_is_fresh():
    assert DOC.read_text() == render(emulation_status), \
        "regenerate: python -m nd_notebook.abi.docs > docs/abi.md"


def test_abi_reference_lists_every_host_function():
    text = DOC.read_text()
    assert "14 services, 51 functions" in text
    assert "| `task_createqueue` |" in text and "| `storage_getstoragepath` |" in text


def test_every_host_function_is_emulated():
    from nd_notebook.abi import HOST_FUNCTIONS

    assert [f.import_name for f in HOST_FUNCTIONS
            if not emulation_status(f).startswith("emulated")] == []
