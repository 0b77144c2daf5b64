"""Completion and inspection in %%ndplugin cells, through a real "Navidrome Plugins" kernel.

Each cell below marks the cursor with ``‸``; the test sends Jupyter's complete_request or
inspect_request for it and reads the reply, exactly as JupyterLab does on Tab and Shift-Tab.
"""

from __future__ import annotations

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from nd_notebook import abi
from nd_notebook.kernel import KERNEL_NAME, install_kernelspec

CURSOR = "‸"
HEAD = ('%%ndplugin agent --permissions cache,library\npackage main\n\nimport (\n'
        '\t"github.com/navidrome/navidrome/plugins/pdk/go/host"\n'
        '\t"github.com/navidrome/navidrome/plugins/pdk/go/metadata"\n'
        '\t"github.com/navidrome/navidrome/plugins/pdk/go/pdk"\n'
        '\t"github.com/navidrome/navidrome/plugins/pdk/go/scrobbler"\n)\n\n'
        'type agent struct{}\n\n'
        'func (agent) GetArtistBiography(req metadata.ArtistRequest) '
        '(*metadata.ArtistBiographyResponse, error) {\n')


def go(body: str) -> str:
    """A plugin cell whose GetArtistBiography body is ``body`` (which holds the cursor)."""
    return HEAD + "\t" + body + "\n}\n"


@pytest.fixture(scope="module")
def kc(tmp_path_factory):
    """A client of a running kernel started from the installed kernelspec."""
    prefix = tmp_path_factory.mktemp("prefix")
    install_kernelspec(prefix=prefix)
    ksm = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    km.start_kernel()
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    yield client
    client.stop_channels()
    km.shutdown_kernel(now=True)


def complete(kc, cell: str) -> dict:
    code, pos = cell.replace(CURSOR, ""), cell.index(CURSOR)
    reply = kc.complete(code, pos, reply=True, timeout=60)["content"]
    assert reply["status"] == "ok"
    return reply


def matches(kc, cell: str) -> list[str]:
    return complete(kc, cell)["matches"]


def inspect(kc, cell: str, detail_level: int = 0) -> dict:
    code, pos = cell.replace(CURSOR, ""), cell.index(CURSOR)
    reply = kc.inspect(code, pos, detail_level, reply=True, timeout=60)["content"]
    assert reply["status"] == "ok"
    return reply


def help_text(kc, cell: str, detail_level: int = 0) -> str:
    reply = inspect(kc, cell, detail_level)
    assert reply["found"], cell
    return reply["data"]["text/plain"]


# -- completion in the Go body -----------------------------------------------------------------
def test_host_dot_offers_every_host_function_of_the_abi(kc):
    offered = set(matches(kc, go(f"host.{CURSOR}")))
    assert {fn.pdk_name for fn in abi.HOST_FUNCTIONS} <= offered
    assert "HTTPRequest" in offered and "QueueConfig" in offered


def test_host_prefix_completes_only_matching_functions(kc):
    reply = complete(kc, go(f"v, ok, err := host.CacheGetS{CURSOR}"))
    assert reply["matches"] == ["CacheGetString"]
    code = go(f"v, ok, err := host.CacheGetS{CURSOR}")
    assert reply["cursor_start"] == code.index("CacheGetS")


def test_pdk_dot_completes_functions_and_constants(kc):
    offered = matches(kc, go(f"pdk.Lo{CURSOR}"))
    assert {"Log", "LogInfo", "LogError", "LogLevel"} <= set(offered)


def test_capability_package_completes_its_request_and_response_types(kc):
    offered = matches(kc, go(f"_ = metadata.ArtistBio{CURSOR}"))
    assert offered == ["ArtistBiographyProvider", "ArtistBiographyResponse"]


def test_scrobbler_package_completes_register_and_interface(kc):
    assert {"Register", "Scrobbler", "ScrobbleRequest"} <= set(matches(kc, go(f"scrobbler.{CURSOR}")))


def test_request_parameter_completes_its_fields(kc):
    assert sorted(matches(kc, go(f"name := req.{CURSOR}"))) == ["ID", "MBID", "Name"]


def test_host_call_result_completes_its_fields(kc):
    cell = go(f"lib, err := host.LibraryGetLibrary(1)\n\t_ = lib.Total{CURSOR}")
    assert sorted(matches(kc, cell)) == ["TotalAlbums", "TotalArtists", "TotalDuration",
                                         "TotalSize", "TotalSongs"]


def test_nested_fields_and_slice_elements_resolve(kc):
    cell = go(f"var s scrobbler.ScrobbleRequest\n\t_ = s.Track.Artists[0].{CURSOR}")
    assert set(matches(kc, cell)) == {f.go for f in abi.struct("types.ArtistRef").fields}


def test_pdk_request_completes_its_methods(kc):
    cell = go(f'r := pdk.NewHTTPRequest(pdk.MethodGet, "http://x")\n\tr.Set{CURSOR}')
    assert sorted(matches(kc, cell)) == ["SetBody", "SetHeader"]


def test_composite_literal_completes_field_names(kc):
    assert matches(kc, go(f"return &metadata.ArtistBiographyResponse{{Bio{CURSOR}")) == \
        ["Biography"]


def test_import_path_completes_pdk_packages(kc):
    cell = f'%%ndplugin p\npackage main\n\nimport "github.com/navidrome/navidrome/plugins/pdk/go/ta{CURSOR}'
    assert matches(kc, cell) == ["taskworker"]


def test_go_body_offers_go_names_not_python_names(kc):
    assert sorted(matches(kc, go(f"pri{CURSOR}"))) == ["print", "println"]


def test_go_body_leaves_an_unknown_word_as_typed(kc):
    assert matches(kc, go(f"isinst{CURSOR}")) == ["isinst"]  # never Python's isinstance


# -- completion on the magic lines ---------------------------------------------------------------
def test_magic_option_names_complete(kc):
    assert matches(kc, f"%%ndplugin agent --per{CURSOR}\npackage main\n") == ["--permissions"]


def test_lang_values_complete(kc):
    assert matches(kc, f"%%ndplugin agent --lang {CURSOR}\n") == ["go", "tinygo", "wat"]


def test_permission_keys_complete(kc):
    assert matches(kc, f"%%ndplugin agent --permissions cache,kv{CURSOR}\n") == ["kvstore"]


def test_permission_options_complete(kc):
    assert matches(kc, f"%%ndplugin a --permissions cache,taskqueue:max{CURSOR}\n") == \
        ["maxConcurrency="]


def test_manifest_option_completes_dict_variables(kc):
    kc.execute_interactive("bare_manifest = {'name': 'x'}", timeout=60)
    assert matches(kc, f"%%ndplugin a --manifest bare_m{CURSOR}\n") == ["bare_manifest"]


def test_line_magic_completes_subcommands(kc):
    assert sorted(matches(kc, f"%ndplugin ca{CURSOR}")) == ["cache", "call"]


# -- elsewhere: IPython as usual ---------------------------------------------------------------
def test_python_cells_complete_as_in_ipython(kc):
    assert "path" in matches(kc, f"import os\nos.pa{CURSOR}")


def test_python_cells_inspect_as_in_ipython(kc):
    assert "Return the number of items" in help_text(kc, f"len{CURSOR}")


# -- inspection ----------------------------------------------------------------------------------
def test_inspecting_a_host_function_shows_signature_import_and_permission(kc):
    text = help_text(kc, go(f"v, ok, err := host.CacheGet{CURSOR}String(\"k\")"))
    assert "func CacheGetString(key string) (string, bool, error)" in text
    assert "Reads a string stored by SetString." in text
    assert "wasm import extism:host/user cache_getstring" in text
    assert "needs the 'cache' permission in manifest.json" in text


def test_detailed_inspection_adds_the_json_wire_format(kc):
    text = help_text(kc, go(f"host.CacheGetString{CURSOR}"), detail_level=1)
    assert 'request JSON:  {"key": string}' in text
    assert '{"error": "..."} on failure' in text


def test_inspecting_a_head_only_function_says_older_navidrome_lacks_it(kc):
    text = help_text(kc, go(f"host.MatcherMatch{CURSOR}Songs"))
    assert "older Navidrome versions lack it" in text


def test_inspecting_a_struct_shows_its_fields_with_json_tags(kc):
    text = help_text(kc, go(f"var r metadata.ArtistReq{CURSOR}uest"))
    assert 'MBID string `json:"mbid,omitempty"`' in text
    assert "Input of the artist URL, biography and images exports." in text


def test_inspecting_a_provider_names_the_export_navidrome_calls(kc):
    text = help_text(kc, go(f"var _ metadata.ArtistBiographyProv{CURSOR}ider"))
    assert "GetArtistBiography(ArtistRequest) (*ArtistBiographyResponse, error)" in text
    assert "Navidrome calls the export nd_get_artist_biography (MetadataAgent)" in text


def test_inspecting_a_field_of_a_variable_shows_its_json_key(kc):
    text = help_text(kc, go(f"_ = req.MB{CURSOR}ID"))
    assert 'JSON key "mbid", omitted when empty' in text


def test_inspecting_a_permission_key_on_the_magic_line_explains_it(kc):
    text = help_text(kc, f"%%ndplugin a --permissions cache,kvst{CURSOR}ore:maxSize=1MB\n")
    assert "permission 'kvstore'" in text and "maxSize (string)" in text


def test_inspecting_an_option_on_the_magic_line_shows_its_help(kc):
    assert "plugin configuration" in help_text(kc, f"%%ndplugin a --con{CURSOR}fig a=1\n")


def test_inspecting_an_unknown_go_name_finds_nothing(kc):
    assert inspect(kc, go(f"strings.ToUp{CURSOR}per(x)"))["found"] is False


# -- any IPython shell that loads the extension ---------------------------------------------------
def test_the_extension_adds_completion_to_a_plain_ipython_shell():
    from IPython.core.completer import provisionalcompleter
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "nd_notebook")
    try:
        code = go("host.KVStoreGetM")
        with provisionalcompleter():
            texts = [c.text for c in ip.Completer.completions(code, len(code) - 3)]
        assert texts == ["KVStoreGetMany"]
    finally:
        ip.run_line_magic("unload_ext", "nd_notebook")


def test_ndfile_go_cells_complete_pdk_names_too(kc):
    cell = f"%%ndfile helper.go\npackage main\n\nfunc helper() {{\n\thost.KVStoreDel{CURSOR}\n}}\n"
    assert sorted(matches(kc, cell)) == ["KVStoreDelete", "KVStoreDeleteByPrefix"]
