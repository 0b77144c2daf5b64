"""The pytest fixtures nd-notebook offers plugin authors (registered through pytest11)."""

from __future__ import annotations

from watplugins import _ENV, _HELPERS

WAT = "(module\n" + _ENV + _HELPERS + """
  (func (export "nd_on_init") (result i32) (i32.const 0)))"""


def test_nd_build_compiles_source_and_files(nd_build, tmp_path):
    path = tmp_path / "plugin.wat"
    path.write_text(WAT)
    assert nd_build(path) == nd_build(WAT, lang="wat")


def test_nd_build_builds_a_plugin_folder_and_names_a_files_errors(nd_build, tmp_path):
    # nd_build(folder) raised IsADirectoryError (it read the path as text), and a file's
    # compile errors said "cell line".
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "main.go").write_text('package main\n\nimport pdk "github.com/extism/go-pdk"\n\n'
                                    "//go:wasmexport hi\nfunc hi() int32 { pdk.OutputString("
                                    "shout()); return 0 }\n\nfunc main() {}\n")
    (folder / "helper.go").write_text('package main\n\nfunc shout() string { return "HI" }\n')
    assert nd_build(folder).startswith(b"\0asm")
    assert nd_build(str(folder)) == nd_build(folder)
    import pytest

    from nd_notebook.errors import CompileError

    with pytest.raises(CompileError, match=r"^main\.go line 6, col 36: undefined: shout"):
        nd_build(folder / "main.go")  # a file alone builds alone, as nd_notebook.build does


def test_nd_host_loads_into_a_temporary_data_folder(nd_host, nd_build):
    plugin = nd_host.load(nd_build(WAT, lang="wat"), name="fixture")
    assert plugin.capabilities == ["Lifecycle"]
    # Its files (KVStore, TaskQueue, storage) would go under the Host's temporary folder.
    assert plugin.ctx.data_dir == nd_host.data_dir / "plugins" / "fixture"
    assert nd_host.data_dir.is_dir()
    assert not nd_host.clock.is_virtual


def test_nd_virtual_host_runs_on_virtual_time(nd_virtual_host):
    start = nd_virtual_host.now()
    nd_virtual_host.run_for(hours=1)
    assert nd_virtual_host.now() - start == 3600


def test_nd_build_takes_a_long_one_line_source_as_source(nd_build):
    # One line longer than any file name: Path(source).exists() once raised OSError here.
    one_line = '(module (func (export "nd_on_init") (result i32)' + " " * 300 + "(i32.const 0)))"
    assert nd_build(one_line, lang="wat").startswith(b"\0asm")


def test_path_exists_is_false_for_text_no_path_could_be(tmp_path):
    from nd_notebook.paths import path_exists

    file = tmp_path / "x.json"
    file.write_text("{}")
    assert path_exists(str(file)) and path_exists(tmp_path) and not path_exists(file.with_name("y"))
    assert not path_exists("x" * 5000) and not path_exists("a\0b")
