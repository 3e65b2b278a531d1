"""The course in a real browser: `gopitfalls lab` driven in headless Chromium.

JupyterLab must open on the course map, with no dialog and no prompt (its news prompt
first), and the map's cell must run. A lesson notebook is opened and run cell by cell as a
learner runs it (Run All): no cell may error, the live plot and the comparison images must
appear, the widgets must render, and JupyterLab must not greet the learner with its news
prompt. Then a lab as a learner does it: the starter is replaced with the reference answer
in JupyterLab's own editor, saved, and the lab notebook's check passes. Screenshots go to
build/screenshots/.

Needs Debian's `chromium` (driven by playwright with that executable: playwright cannot
download its own browsers here); CI installs it, elsewhere the test skips with the reason.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from gopitfalls.course import COURSE_MAP, lay_out_course
from gopitfalls.network import free_port

from .conftest import IN_CI, ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "build" / "screenshots"
LESSON = "03-context-goroutine-leak"
LAB = "03-context-goroutine-leak"
TOKEN = "browser-test"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """`gopitfalls lab` on a fresh working copy, with its own Jupyter settings and runtime
    dirs (nothing of the user's is read or written); yields (base url, course folder)."""
    if CHROMIUM is None:
        why = "no chromium on PATH (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI must provide a browser: {why}")
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("browser")
    course = lay_out_course(tmp / "course", source=ROOT).root
    # Every cell rendered, not only those in view (JupyterLab 4 windows long notebooks), so
    # the test can read every prompt and output.
    tracker = tmp / "settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')
    port = free_port()
    env = {**os.environ, "GOPITFALLS_HOME": str(course), "GOPITFALLS_BACKEND": "local",
           "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces")}
    server = subprocess.Popen(
        [sys.executable, "-m", "gopitfalls.cli", "lab", "--no-browser", f"--port={port}",
         f"--ServerApp.token={TOKEN}"], env=env, cwd=course,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("`gopitfalls lab` did not answer within 60 s")
        yield base, course
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            yield tab
        finally:
            browser.close()


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in view


def open_notebook(page, base: str, path: str) -> None:
    page.goto(f"{base}/lab/tree/{path}?reset&token={TOKEN}")  # reset: only this file open
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=60_000)


def run_all_and_wait(page, timeout_s: float) -> None:
    """Run > Run All Cells, then wait until every code cell has its execution count. The
    menu is clicked again when no cell has started after 15 s (a click JupyterLab missed
    while still settling)."""
    prompts: list[str] = []
    deadline = time.monotonic() + timeout_s
    for _attempt in range(3):
        page.click(f"{NOTEBOOK} .jp-Notebook")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        started = time.monotonic()
        while time.monotonic() < deadline:
            prompts = [p.strip() for p in page.locator(
                f"{NOTEBOOK} .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()]
            if prompts and all(p.strip("[]:").strip().isdigit() for p in prompts):
                return
            if time.monotonic() - started > 15 and all(p in ("", "[ ]:") for p in prompts):
                break  # nothing started: click again
            time.sleep(1)
    pytest.fail(f"the notebook did not finish within {timeout_s:.0f} s: prompts {prompts}")


def errors_shown(page) -> list[str]:
    return page.locator("[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()


def test_jupyterlab_opens_on_the_course_map_without_prompts(jupyterlab, page):
    """First of this module's tests: the learner's first visit, to the address `gopitfalls
    lab` sends the browser to."""
    base, _ = jupyterlab
    page.goto(f"{base}/?token={TOKEN}")
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    assert page.url.split("?")[0] == f"{base}/lab/tree/{COURSE_MAP}"
    assert page.locator(f"{NOTEBOOK} h1").first.inner_text().startswith("The course map")
    time.sleep(3)  # JupyterLab's prompts show within a second of opening, when they do
    dialogs = page.locator(".jp-Dialog").all_inner_texts()
    toasts = page.locator(".Toastify__toast").all_inner_texts()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "course-map-opened.png"))  # what the learner first sees
    assert dialogs == [] and toasts == [], f"dialogs {dialogs}, notifications {toasts}"
    run_all_and_wait(page, timeout_s=60)
    page.screenshot(path=str(SHOTS / "course-map.png"), full_page=True)
    assert errors_shown(page) == []
    outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "go:      go1." in outputs and "labs passed" in outputs, outputs[-2000:]
    links = page.locator(f"{NOTEBOOK} .jp-RenderedMarkdown a[href*='notebooks/']").count()
    assert links >= 20, f"{links} lesson links rendered"


def test_a_lesson_runs_in_the_browser(jupyterlab, page):
    base, _ = jupyterlab
    open_notebook(page, base, f"notebooks/{LESSON}.ipynb")
    time.sleep(2)  # the news prompt, when there is one, shows within a second of opening
    assert page.get_by_text("official Jupyter news").count() == 0, "JupyterLab's news prompt"
    run_all_and_wait(page, timeout_s=240)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{LESSON}.png"), full_page=True)
    assert errors_shown(page) == []
    images = page.locator(".jp-OutputArea-output img").count()
    assert images >= 3, f"{images} images: the live plots and the comparison must show"
    assert page.locator(".jp-OutputArea-output .widget-radio-box, "
                        ".jp-OutputArea-output .jupyter-widgets").count() >= 1, \
        "the predict and knobs widgets render"


def test_a_lab_is_solved_in_the_browsers_editor(jupyterlab, page):
    base, course = jupyterlab
    main = course / "labs" / LAB / "main.go"
    answer = (ROOT / "solutions" / LAB / "main.go").read_text()
    page.goto(f"{base}/lab/tree/labs/{LAB}/main.go?reset&token={TOKEN}")
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.wait_for(timeout=60_000)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(answer)
    page.keyboard.press("Control+S")
    for _ in range(40):
        if main.read_text().strip() == answer.strip():
            break
        time.sleep(0.25)
    assert main.read_text().strip() == answer.strip(), "the editor saved the learner's edit"

    open_notebook(page, base, f"labs/{LAB}/lab.ipynb")
    run_all_and_wait(page, timeout_s=180)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"lab-{LAB}.png"), full_page=True)
    assert errors_shown(page) == []
    outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert f"PASS: {LAB}" in outputs, outputs[-2000:]
    assert "1 of" in outputs and "labs passed" in outputs, "the progress widget counts it"

