"""The nd-notebook commands lab, build (folders, .ndp) and run, as real subprocesses.

Go builds run offline (GOPROXY=off); `lab` starts a real JupyterLab on 127.0.0.1 once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from test_cli import WAT, nd_notebook

from nd_notebook import Host
from nd_notebook.commands import TUTORIALS, lab_command
from nd_notebook.kernel import KERNEL_NAME

PLUGIN_GO = """package main

import (
	"example.com/shout/loud"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

type request struct {
	Name string `json:"name"`
}

//go:wasmexport shout
func shout() int32 {
	var req request
	if err := pdk.InputJSON(&req); err != nil {
		pdk.SetError(err)
		return 1
	}
	pdk.Log(pdk.LogInfo, "shouting at "+req.Name)
	_ = host.CacheSetString("last", req.Name, 60)
	_ = pdk.OutputJSON(map[string]string{"shout": loud.Up(req.Name)})
	return 0
}

func main() {}
"""
LOUD_GO = 'package loud\n\nimport "strings"\n\nfunc Up(s string) string { return strings.ToUpper(s) + "!" }\n'
MANIFEST = {"name": "Shout", "author": "tests", "version": "1.0.0",
            "permissions": {"cache": {"reason": "remembers the last name"}}}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("GOPROXY", "off")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("projects") / "shout"
    (folder / "loud").mkdir(parents=True)
    (folder / "go.mod").write_text("module example.com/shout\n\ngo 1.25\n")
    (folder / "main.go").write_text(PLUGIN_GO + f"// {uuid.uuid4()}\n")
    (folder / "loud" / "loud.go").write_text(LOUD_GO)
    (folder / "manifest.json").write_text(json.dumps(MANIFEST))
    return folder


@pytest.fixture(scope="module")
def ndp(project, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "shout.ndp"
    result = nd_notebook("build", str(project), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


# -- --help --------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["lab"], ["demo"], ["build"], ["run"], ["package"],
                                     ["kernel"], ["kernel", "install"]])
def test_help_of_each_command_exits_zero_with_its_usage(command):
    result = nd_notebook(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: nd-notebook {' '.join(command)}")


# -- lab -----------------------------------------------------------------------------------------
def test_lab_command_opens_the_tutorials_with_the_navidrome_kernel():
    argv, env = lab_command(TUTORIALS, port=8123, browser=False, extra=["--ServerApp.token=t"])
    assert argv == [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={TUTORIALS}",
                    f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
                    "--ServerApp.port=8123", "--no-browser", "--ServerApp.token=t"]
    spec = Path(env["JUPYTER_PATH"].split(os.pathsep)[0]) / "kernels" / KERNEL_NAME
    kernel = json.loads((spec / "kernel.json").read_text())
    assert kernel["argv"][0] == sys.executable
    assert kernel["display_name"] == "Navidrome Plugins"


def test_lab_dry_run_prints_the_jupyterlab_command():
    result = nd_notebook("lab", "--dry-run", "--no-browser", "--", "--ServerApp.token=abc")
    assert result.returncode == 0, result.stderr
    command = result.stdout.splitlines()[1]
    assert command.endswith(f"-m jupyterlab --ServerApp.root_dir={TUTORIALS} "
                            f"--MappingKernelManager.default_kernel_name={KERNEL_NAME} "
                            "--no-browser --ServerApp.token=abc")


def test_lab_on_a_missing_folder_exits_two_in_one_line(tmp_path):
    result = nd_notebook("lab", str(tmp_path / "nope"), "--dry-run")
    assert result.returncode == 2
    assert result.stderr == f"nd-notebook lab: {tmp_path / 'nope'}: no such file or folder\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_lab_starts_jupyterlab_that_answers_on_loopback(tmp_path):
    port, token = free_port(), uuid.uuid4().hex
    script = Path(sys.executable).parent / "nd-notebook"
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # containers
    proc = subprocess.Popen(
        [str(script), "lab", "--port", str(port), "--no-browser", "--", *root,
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         "--ServerApp.port_retries=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                specs = get_json(f"{base}/api/kernelspecs?token={token}")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "JupyterLab did not answer in 120 s"
                time.sleep(0.5)
        assert specs["default"] == KERNEL_NAME
        assert specs["kernelspecs"][KERNEL_NAME]["spec"]["display_name"] == "Navidrome Plugins"
        listing = get_json(f"{base}/api/contents?token={token}")
        names = {item["name"] for item in listing["content"]}
        assert "01-first-plugin.ipynb" in names
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=5) as page:
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)  # `lab` became JupyterLab (exec): this stops it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# -- build ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_build_folder_to_ndp_packages_the_folders_manifest(ndp, tmp_path):
    with Host(tmp_path / "data") as host:
        plugin = host.load(ndp)
        assert (plugin.id, plugin.manifest.name) == ("shout", "Shout")
        assert plugin.call("shout", {"name": "bo"}) == {"shout": "BO!"}


@pytest.mark.slow
def test_build_folder_to_wasm(project, tmp_path):
    result = nd_notebook("build", str(project), "-o", str(tmp_path / "shout.wasm"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "shout.wasm").read_bytes()[:4] == b"\0asm"


def test_build_missing_source_exits_two_in_one_line(tmp_path):
    result = nd_notebook("build", str(tmp_path / "nope"), "-o", str(tmp_path / "x.wasm"))
    assert result.returncode == 2
    assert result.stderr == f"nd-notebook build: {tmp_path / 'nope'}: no such file or folder\n"


def test_build_to_an_unknown_suffix_exits_two(tmp_path):
    (tmp_path / "p.wat").write_text(WAT)
    result = nd_notebook("build", str(tmp_path / "p.wat"), "-o", str(tmp_path / "p.zip"))
    assert result.returncode == 2
    assert "the output must end in .wasm or .ndp" in result.stderr


def test_package_to_a_name_not_ending_in_ndp_exits_two(tmp_path):
    # It wrote a .ndp zip under the .wasm name, which `run` then read as a broken module.
    (tmp_path / "p.wat").write_text(WAT)
    (tmp_path / "m.json").write_text(json.dumps(MANIFEST))
    result = nd_notebook("package", str(tmp_path / "p.wat"), "--manifest",
                         str(tmp_path / "m.json"), "-o", str(tmp_path / "p.wasm"))
    assert result.returncode == 2
    assert result.stderr == (f"nd-notebook package: -o {tmp_path / 'p.wasm'}: a package's name "
                             "ends in .ndp (its plugin ID is the name before it); for the "
                             "module alone: nd-notebook build\n")
    assert not (tmp_path / "p.wasm").exists()


def test_a_manifest_that_is_not_json_is_a_usage_error_naming_it(tmp_path):
    (tmp_path / "p.wat").write_text(WAT)
    (tmp_path / "m.json").write_text("{not json")
    for command in ("build", "package"):
        result = nd_notebook(command, str(tmp_path / "p.wat"), "--manifest",
                             str(tmp_path / "m.json"), "-o", str(tmp_path / "p.ndp"))
        assert result.returncode == 2
        assert result.stderr.startswith(f"nd-notebook {command}: {tmp_path / 'm.json'}: "
                                        "parsing manifest JSON: ")


def test_check_of_a_missing_package_exits_two_in_one_line(tmp_path):
    result = nd_notebook("check", str(tmp_path / "nope.ndp"))
    assert result.returncode == 2
    assert result.stderr == f"nd-notebook check: {tmp_path / 'nope.ndp'}: no such file or folder\n"


def test_run_with_a_data_dir_it_cannot_make_exits_two_in_one_line(tmp_path):
    (tmp_path / "probe.wat").write_text(WAT)
    (tmp_path / "file").write_text("not a folder")
    result = nd_notebook("run", str(tmp_path / "probe.wat"), "--call", "nd_get_artist_url",
                         "--data-dir", str(tmp_path / "file" / "data"))
    assert result.returncode == 2
    assert result.stderr == (f"nd-notebook run: --data-dir {tmp_path / 'file' / 'data'}: cannot "
                             "make or use it (Not a directory)\n")


def test_build_ndp_without_a_manifest_says_where_to_put_one(tmp_path):
    (tmp_path / "p.wat").write_text(WAT)
    result = nd_notebook("build", str(tmp_path / "p.wat"), "-o", str(tmp_path / "p.ndp"))
    assert result.returncode == 2
    assert "a .ndp needs a manifest: pass --manifest manifest.json" in result.stderr


def test_build_wat_to_ndp_with_manifest(tmp_path):
    (tmp_path / "p.wat").write_text(WAT)
    (tmp_path / "m.json").write_text(json.dumps({**MANIFEST, "name": "Wat"}))
    result = nd_notebook("build", str(tmp_path / "p.wat"), "-o", str(tmp_path / "wat-one.ndp"),
                         "--manifest", str(tmp_path / "m.json"))
    assert result.returncode == 0, result.stderr
    with Host(tmp_path / "data") as host:
        assert host.load(tmp_path / "wat-one.ndp").manifest.name == "Wat"


@pytest.mark.slow
def test_build_folder_compile_error_exits_one_naming_the_file(project, tmp_path):
    broken = tmp_path / "broken"
    (broken / "loud").mkdir(parents=True)
    for rel in ("go.mod", "main.go"):
        (broken / rel).write_text((project / rel).read_text())
    (broken / "loud" / "loud.go").write_text(LOUD_GO.replace("strings.ToUpper(s)", "upper(s)"))
    result = nd_notebook("build", str(broken), "-o", str(tmp_path / "x.wasm"))
    assert result.returncode == 1
    assert "loud/loud.go:5:35: undefined: upper" in result.stderr


# -- run -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_run_folder_prints_output_host_calls_and_logs(project):
    result = nd_notebook("run", str(project), "--call", "shout", "--input", '{"name": "al"}')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("plugin 'shout': no capabilities; permissions: cache\n"
                          'call shout {"name": "al"}\n'
                          'output {"shout": "AL!"}\n')
    assert "host calls (1)" in out
    assert 'cache_setstring  {"key": "last", "value": "al", "ttlSeconds": 60}' in out
    assert "logs (1)\n  info    plugin   shouting at al" in out


@pytest.mark.slow
def test_run_quiet_prints_only_the_output(ndp):
    result = nd_notebook("run", str(ndp), "--call", "shout", "--input", '{"name": "q"}', "-q")
    assert (result.returncode, result.stdout) == (0, '{"shout": "Q!"}\n')


@pytest.mark.slow
def test_run_plugin_error_exits_one_with_navidromes_text(ndp):
    result = nd_notebook("run", str(ndp), "--call", "whisper", "-q")
    assert result.returncode == 1
    assert result.stderr.startswith("error: function not found: whisper\n")
    assert "\nexports of plugin " in result.stderr  # the notebook's notes too


def test_run_wat_without_manifest_grants_what_it_imports(tmp_path):
    (tmp_path / "probe.wat").write_text(WAT)
    result = nd_notebook("run", str(tmp_path / "probe.wat"), "--call", "nd_get_artist_url")
    assert result.returncode == 1  # the module answers -2: not implemented
    assert "permissions: cache (auto: no manifest)" in result.stdout
    assert result.stderr == "error: function not implemented: nd_get_artist_url\n"


def test_run_records_then_replays_a_plugins_http_from_a_cassette(tmp_path):
    from test_builtin_http import RAW_WAT
    from test_cassette import local_server

    wasm = tmp_path / "fetch.wasm"
    wasm.write_bytes(RAW_WAT)
    cassette = tmp_path / "fetch.json"
    with local_server() as server:
        request = json.dumps({"url": server.base + "/page", "method": "GET", "headers": {}})
        args = ("run", str(wasm), "--call", "fetch", "--input", request, "-q",
                "--permissions", "http:requiredHosts=127.0.0.1")
        recorded = nd_notebook(*args, "--record", str(cassette))
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith("GET /page  #1")
    replayed = nd_notebook(*args, "--cassette", str(cassette))  # the server is gone
    assert (replayed.returncode, replayed.stdout) == (0, recorded.stdout)
    both = nd_notebook(*args, "--cassette", str(cassette), "--record", str(cassette))
    assert both.returncode == 2
    assert "--cassette replays and --record records: give one of them" in both.stderr


def test_run_ignore_param_leaves_a_timestamp_out_of_cassette_matching(tmp_path):
    from test_builtin_http import RAW_WAT
    from test_cassette import local_server

    wasm = tmp_path / "fetch.wasm"
    wasm.write_bytes(RAW_WAT)
    cassette = tmp_path / "fetch.json"

    def args(base, stamp):
        request = json.dumps({"url": f"{base}/page?t={stamp}", "method": "GET", "headers": {}})
        return ("run", str(wasm), "--call", "fetch", "--input", request, "-q",
                "--permissions", "http:requiredHosts=127.0.0.1")

    with local_server() as server:
        base = server.base
        recorded = nd_notebook(*args(base, 1), "--record", str(cassette), "--ignore-param", "t")
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(cassette.read_text())["ignoreParams"] == ["t"]
    replayed = nd_notebook(*args(base, 2), "--cassette", str(cassette))
    assert (replayed.returncode, replayed.stdout) == (0, recorded.stdout)
    alone = nd_notebook(*args(base, 2), "--ignore-param", "t")
    assert alone.returncode == 2
    assert "--ignore-param applies to a cassette: give --cassette or --record" in alone.stderr
    for text, problem in (("{not json", "Expecting property name enclosed in double quotes"),
                          ('{"version": 1}', "not an nd-notebook cassette (no 'interactions' list)")):
        cassette.write_text(text)
        bad = nd_notebook(*args(base, 2), "--cassette", str(cassette))
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        assert f"--cassette {cassette}: " in bad.stderr and problem in bad.stderr


def test_run_auto_permissions_warn_that_extisms_http_request_needs_hosts(tmp_path):
    from test_builtin_http import RAW_WAT

    wasm = tmp_path / "fetch.wasm"
    wasm.write_bytes(RAW_WAT)
    result = nd_notebook("run", str(wasm), "--call", "status")
    assert "permissions: http (auto: no manifest)" in result.stdout
    assert "permissions='auto' cannot know them" in result.stdout


def test_run_input_that_is_not_json_exits_two(tmp_path):
    (tmp_path / "probe.wat").write_text(WAT)
    result = nd_notebook("run", str(tmp_path / "probe.wat"), "--call", "x", "--input", "{name}")
    assert result.returncode == 2
    assert result.stderr.startswith("nd-notebook run: --input is not JSON (")


def test_run_without_call_is_a_usage_error(tmp_path):
    (tmp_path / "probe.wat").write_text(WAT)
    result = nd_notebook("run", str(tmp_path / "probe.wat"))
    assert result.returncode == 2
    assert "the following arguments are required: --call" in result.stderr


def test_run_missing_plugin_exits_two_in_one_line(tmp_path):
    result = nd_notebook("run", str(tmp_path / "gone.ndp"), "--call", "x")
    assert result.returncode == 2
    assert result.stderr == f"nd-notebook run: {tmp_path / 'gone.ndp'}: no such file or folder\n"


def test_build_errors_of_a_source_file_name_the_file(tmp_path):
    (tmp_path / "bad.go").write_text("package main\nfunc main() {\n\tx := 1\n}\n")
    (tmp_path / "bad.wat").write_text('(module (func (export "x") (result i32) i32.const))')
    result = nd_notebook("build", str(tmp_path / "bad.go"), "-o", str(tmp_path / "b.wasm"))
    assert result.returncode == 1
    assert "bad.go line 3, col 2: declared and not used: x" in result.stderr
    result = nd_notebook("build", str(tmp_path / "bad.wat"), "-o", str(tmp_path / "b.wasm"))
    assert result.returncode == 1
    assert "bad.wat line 1, col 50: expected a i32" in result.stderr
