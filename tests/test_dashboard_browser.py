"""The dashboard end to end: JupyterLab in a real headless Chromium, a Go plugin in real time.

The test starts JupyterLab on 127.0.0.1 (a token, a temporary folder, the "Navidrome Plugins"
kernelspec in a temporary prefix), opens a notebook that loads a Go plugin, shows
``host.dashboard()`` and then enqueues tasks that run on worker threads after the cell has
returned. Selenium drives Debian's ``chromium`` through ``chromium-driver``. The counts rendered
in the page must follow the run to its end (6 completed, 2 failed after their retry); a
screenshot of the dashboard is saved under .cache/test/artifacts/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from nd_notebook import build
from nd_notebook.kernel import KERNEL_NAME, install_kernelspec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parent.parent / ".cache" / "test" / "artifacts"
# Exactly these: no GPU, no sandbox (CI runs as root), and nothing that reaches the network.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")

GO_SOURCE = r'''
package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
)

type live struct{}

func init() {
	lifecycle.Register(live{})
	taskworker.Register(live{})
}

func main() {}

func (live) OnInit() error {
	return host.TaskCreateQueue("work", host.QueueConfig{Concurrency: 2, MaxRetries: 1,
		BackoffMs: 500})
}

// OnTaskExecute: "sleep:MS" works MS milliseconds then succeeds; "fail" always fails.
func (live) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	verb, arg, _ := strings.Cut(string(req.Payload), ":")
	if verb == "fail" {
		pdk.Log(pdk.LogWarn, fmt.Sprintf("attempt %d of %s failed", req.Attempt, req.TaskID))
		return "", fmt.Errorf("upstream down (attempt %d)", req.Attempt)
	}
	ms, _ := strconv.Atoi(arg)
	time.Sleep(time.Duration(ms) * time.Millisecond)
	pdk.Log(pdk.LogInfo, "worked "+arg+" ms")
	return "done", nil
}
'''

MANIFEST = {"name": "live", "author": "nd-notebook tests", "version": "1.0.0",
            "permissions": {"taskqueue": {"maxConcurrency": 2}}}

CELLS = [
    ("from nd_notebook import Host\n\n"
     "host = Host()  # real time: the tasks run on worker threads\n"
     f"plugin = host.load('live.wasm', name='live', manifest={MANIFEST!r})"),
    "host.dashboard()",
    ("import time\nfrom pathlib import Path\n\n"
     "while not Path('start').exists():  # the test starts the run once the page shows the zeros\n"
     "    time.sleep(0.05)\n"
     "ids = [plugin.tasks.enqueue('work', p) for p in [b'sleep:600'] * 6 + [b'fail'] * 2]\n"
     "len(ids)"),
]
LAB_OPTIONS = ("--no-browser", "--allow-root", "--ip=127.0.0.1", "--ServerApp.port_retries=0",
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
               ("--LabApp.check_for_updates_class="
                "jupyterlab.handlers.announcements.NeverCheckForUpdate"))


def chromium_tools() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "needs Debian's chromium and chromium-driver (apt-get install -y chromium " \
                  "chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a folder with the plugin and the notebook: yields (url, token,
    folder)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "live.wasm").write_bytes(build(GO_SOURCE))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": "Navidrome Plugins",
                              "language": "python"}
    nbformat.write(nb, work / "dashboard.ipynb")
    prefix = tmp_path / "prefix"
    install_kernelspec(prefix=prefix)
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("MPLBACKEND", None)
    token, port = secrets.token_hex(16), free_port()
    with open(tmp_path / "lab.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", *LAB_OPTIONS, f"--port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}"],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, token, server, tmp_path / "lab.log")
        yield url, token, work
    finally:
        stop_server(server, url, token)


@pytest.fixture
def browser():
    """Headless Chromium driven by Selenium, with exactly ``CHROMIUM_FLAGS``."""
    chromium, driver_path = chromium_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.set_window_size(1400, 1300)
        yield driver
    finally:
        driver.quit()


def test_dashboard_renders_and_follows_a_real_time_run_in_jupyterlab(lab, browser):
    from selenium.webdriver.common.by import By

    url, token, work = lab
    browser.get(f"{url}/lab/tree/dashboard.ipynb?token={token}")
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 120,
         "the notebook to open")
    wait(lambda: kernel_ready(browser), 120, "the Navidrome Plugins kernel to start")
    run_all_cells(browser)
    try:
        dashboard = wait(lambda: first(browser.find_elements(By.CSS_SELECTOR,
                                                             ".nd-dashboard")),
                         180, "the dashboard widget to render")
    except AssertionError:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard-failed.png"))
        (ARTIFACTS / "dashboard-failed.html").write_text(browser.page_source)
        raise

    zeros = wait(lambda: rendered_counts(browser, "live/work"), 60, "the counts to render")
    assert zeros == dict.fromkeys(zeros, 0) and len(zeros) == 6
    (work / "start").touch()  # the last cell enqueues the tasks now
    seen = [(0, 0)]  # (completed, failed) as the page showed them, oldest first

    def final_counts():
        counts = rendered_counts(browser, "live/work")
        if counts and (not seen or seen[-1] != (counts["completed"], counts["failed"])):
            seen.append((counts["completed"], counts["failed"]))
        return counts if counts and counts["completed"] == 6 and counts["failed"] == 2 \
            else None

    counts = wait(final_counts, 120, "the rendered counts to reach 6 completed, 2 failed")
    time.sleep(1)  # the last redraw (log lines) after the counts
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("arguments[0].scrollIntoView()", dashboard)
    dashboard.screenshot(str(ARTIFACTS / "dashboard.png"))
    browser.save_screenshot(str(ARTIFACTS / "dashboard-page.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert counts == {"pending": 0, "running": 0, "retrying": 0, "completed": 6, "failed": 2,
                      "cancelled": 0}
    # the page was redrawn while the workers ran, not only at the end
    assert [s for s in seen if s not in ((0, 0), (6, 2))], seen
    status = dashboard.find_element(By.CSS_SELECTOR, ".nd-dash-status")
    assert status.get_attribute("data-mode") == "live"
    bars = dashboard.find_elements(By.CSS_SELECTOR, ".nd-dash-timeline rect")
    assert len(bars) == 6 + 2 * 2  # a bar per attempt: the failing tasks tried twice
    logs = dashboard.find_elements(By.CSS_SELECTOR, ".nd-dash-log")
    assert any("WARN attempt 2 of" in line.text for line in logs)



# -- helpers ------------------------------------------------------------------------------------
def run_all_cells(browser) -> None:
    """Run > Run All Cells, through JupyterLab's own menu."""
    from selenium.webdriver.common.by import By

    menu = wait(lambda: first([m for m in browser.find_elements(
        By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if m.text == "Run"]), 60, "the Run menu")
    menu.click()
    item = wait(lambda: first(browser.find_elements(
        By.CSS_SELECTOR, "li.lm-Menu-item[data-command='runmenu:run-all']")), 30,
        "Run All Cells")
    item.click()


def kernel_ready(browser) -> bool:
    """True once the notebook's kernel is idle; accepts JupyterLab's kernel dialog if asked."""
    from selenium.webdriver.common.by import By

    for button in browser.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept"):
        button.click()
    status = browser.find_elements(By.CSS_SELECTOR, ".jp-StatusBar-TextItem")
    return any(s.text == "Navidrome Plugins | Idle" for s in status)


def rendered_counts(browser, queue: str) -> dict[str, int] | None:
    """The count cells of ``queue`` as the page shows them (None before they render)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        cells = browser.find_elements(By.CSS_SELECTOR, f"td.nd-count[data-queue='{queue}']")
        counts = {c.get_attribute("data-state"): int(c.text) for c in cells}
    except (StaleElementReferenceException, ValueError):  # redrawn while read
        return None
    return counts or None


def first(items):
    return items[0] if items else None


def wait(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, token: str, server, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"JupyterLab did not answer in 120 s:\n{log.read_text()[-3000:]}")


def stop_server(server, url: str, token: str) -> None:
    """Shut the kernels and the server down (the API first, then signals to its group)."""
    try:
        httpx.post(f"{url}/api/shutdown", headers={"Authorization": f"token {token}"},
                   timeout=10)
        server.wait(timeout=20)
    except (httpx.HTTPError, subprocess.TimeoutExpired):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=10)
                return
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue

