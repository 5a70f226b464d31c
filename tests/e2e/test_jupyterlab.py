"""End to end in a real browser: a learner opens a chapter in JupyterLab and runs every cell.

The test starts JupyterLab as learners get it from ``make lab`` (the course's
settings in ``jupyter/settings``, nbgrader's extensions off by ``jupyter/learner``)
on 127.0.0.1 (a token, no browser) over a temporary copy of ``chapters/`` whose
outputs are cleared, opens a chapter in Debian's Chromium driven by Playwright,
clicks Run > Run All Cells, waits for the kernel, and checks what the learner
sees: every code cell ran, no cell shows an error, every plot is a rendered
image, every exercise cell prints its checker's feedback. A screenshot is saved
as an artefact.

Needs ``apt-get install chromium chromium-driver`` (Debian/Ubuntu) and the
``playwright`` pin of pyproject.toml; Playwright's own browser download is
never used. Without them the test is skipped with one line saying so, unless the
environment variable ``CI`` is set (to anything but ``0`` or ``false``): CI must run it,
so there it fails with what to install. Everything talks over loopback or pipes, so
the test runs with the network cut off.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Chapter 01 has plots and exercises and runs in about a minute on 2 cores
# (chapter 00 is faster but draws no plot, so it could not prove that images render).
CHAPTER = "01_background.ipynb"
COURSE_SETTINGS = ROOT / "jupyter" / "settings"  # the course's setting defaults (no news pop-up), as in the Makefile
LEARNER_CONFIG = ROOT / "jupyter" / "learner"  # learners' Jupyter config: nbgrader's extensions off
LAB_SETTINGS = {  # JupyterLab user settings for the test server only
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        {"windowingMode": "none"},  # every cell in the DOM, so every output can be inspected
}
SERVER_START_S, RUN_ALL_S = 180, 600
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to 127.0.0.1, whatever *_proxy says


def _playwright_pin() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in dependencies if d.startswith("playwright=="))


def _missing_browser_parts(chromium: Path = CHROMIUM) -> list[str]:
    """What the browser test lacks, each with how to install it; empty when it can run."""
    missing = []
    if not chromium.is_file():
        missing.append(f"no Chromium at {chromium}: install it with `sudo apt-get install chromium chromium-driver` "
                       "(Debian/Ubuntu)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append(f"Playwright for Python is not importable: `.venv/bin/pip install {_playwright_pin()}` "
                       "(or `make install`); do NOT run `playwright install`, the test uses Debian's Chromium")
    return missing


def _ci_requires_browser(environ: Mapping[str, str]) -> bool:
    """True when ``CI`` is set to anything but empty, ``0`` or ``false``: CI must run the browser test."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false")


def _browser_verdict(missing: Sequence[str], environ: Mapping[str, str]) -> tuple[str, str]:
    """``("run", "")``, ``("skip", one line for the test summary)`` or ``("fail", what to install)``."""
    if not missing:
        return "run", ""
    if _ci_requires_browser(environ):
        return "fail", (f"CI={environ['CI']}: the JupyterLab browser test is required under CI and cannot run:\n- "
                        + "\n- ".join(missing))
    return "skip", ("browser test skipped (it would run a chapter in JupyterLab in headless Chromium and check that "
                    "every cell runs, every plot renders and every exercise gives feedback): " + "; ".join(missing)
                    + "; under CI it is required")


def _require_browser() -> None:
    """Skip the browser test when no browser is installed, or fail under CI, which must run it."""
    verdict, message = _browser_verdict(_missing_browser_parts(), os.environ)
    if verdict == "skip":
        pytest.skip(message)
    if verdict == "fail":
        pytest.fail(message, pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Terminate a server and wait for it; kill it if it does not stop within 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture
def start_lab(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """A function that starts JupyterLab on ``root`` and returns its URL with the token.

    Every server it started is stopped when the test ends, whatever happened.
    """
    servers: list[subprocess.Popen] = []

    def start(root: Path) -> str:
        home = tmp_path / "jupyter"
        for name, values in LAB_SETTINGS.items():
            path = home / "lab-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # kernels must plot inline
        env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"), JUPYTER_CONFIG_PATH=str(LEARNER_CONFIG),
                   PYTHONUNBUFFERED="1")
        port, token = _free_port(), secrets.token_hex(16)
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                   f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={COURSE_SETTINGS}",
                   "--LabApp.news_url=None"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        log = tmp_path / "jupyterlab.log"
        with log.open("wb") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"JupyterLab exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with _NO_PROXY.open(f"{url}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        return f"{url}/lab/tree/{{path}}?token={token}"
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise AssertionError(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")

    try:
        yield start
    finally:
        for server in servers:
            _stop(server)


def _student_copy(tmp_path: Path) -> Path:
    """A copy of chapters/ with the tested chapter's saved outputs cleared (so all we see is fresh)."""
    root = tmp_path / "chapters"
    shutil.copytree(ROOT / "chapters", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebook = nbformat.read(root / CHAPTER, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, root / CHAPTER)
    return root


def _artefact_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MMCOURSE_ARTIFACTS") or tmp_path / "artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait_for_saved_outputs(path: Path, timeout: float = 60) -> nbformat.NotebookNode:
    """The notebook as JupyterLab saved it after the run (what the kernel really produced)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notebook = nbformat.read(path, as_version=4)
        if any(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code"):
            return notebook
        time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not save {path.name} within {timeout} s")


# Read in the page: per cell (in notebook order) its type, prompt, output texts, error outputs and images.
_CELLS_JS = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')].map(cell => ({
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {textContent: ''}).textContent.trim(),
    text: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n'),
    stderr: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(o => o.innerText),
    images: [...cell.querySelectorAll('.jp-OutputArea-output img')]
        .map(img => [img.complete, img.naturalWidth, img.naturalHeight]),
}))"""
# The kernel's state as the status bar shows it ("Python 3 (ipykernel) | Idle"): it says Idle only once
# the kernel is connected (the toolbar's execution indicator says idle before that).
_STATUS_JS = """() => {
    const item = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
        .find(e => / \\| /.test(e.textContent));
    return item ? item.textContent.split('|').pop().trim() : null;
}"""
_DONE_JS = f"""() => {{
    const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
        .map(p => p.textContent.trim());
    return ({_STATUS_JS})() === 'Idle' && prompts.length > 0
        && !prompts.some(p => p.includes('*')) && prompts.some(p => /\\d/.test(p));
}}"""


@pytest.mark.parametrize("ci, missing, verdict", [
    (None, [], "run"),
    ("true", [], "run"),
    (None, ["no Chromium"], "skip"),
    ("", ["no Chromium"], "skip"),
    ("0", ["no Chromium"], "skip"),
    ("False", ["no Chromium"], "skip"),
    ("true", ["no Chromium"], "fail"),
    ("1", ["no Playwright"], "fail"),
])
def test_browser_test_skips_without_a_browser_unless_ci_requires_it(ci, missing, verdict):
    environ = {} if ci is None else {"CI": ci}
    got, message = _browser_verdict(missing, environ)
    assert got == verdict
    if verdict == "skip":
        assert "\n" not in message and missing[0] in message and "CI" in message
    if verdict == "fail":
        assert f"CI={ci}" in message and missing[0] in message


def test_missing_chromium_is_reported_with_the_apt_packages_to_install(tmp_path):
    missing = _missing_browser_parts(chromium=tmp_path / "chromium")
    assert any(str(tmp_path / "chromium") in part and "apt-get install chromium chromium-driver" in part
               for part in missing), missing


@pytest.mark.e2e
@pytest.mark.slow
def test_a_chapter_runs_in_jupyterlab_with_plots_feedback_and_no_errors(start_lab, tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    saved = nbformat.read(ROOT / "chapters" / CHAPTER, as_version=4)
    n_code = sum(cell.cell_type == "code" for cell in saved.cells)
    n_images = sum("image/png" in out.get("data", {}) for cell in saved.cells if cell.cell_type == "code"
                   for out in cell.outputs)
    exercises = {i: cell.metadata["nbgrader"]["grade_id"] for i, cell in enumerate(saved.cells)
                 if cell.metadata.get("nbgrader", {}).get("solution")}
    assert n_images > 0 and exercises, (f"chapters/{CHAPTER} should have saved plots and exercise cells to compare "
                                        f"with: regenerate it with `python -m mmcourse release --execute`")

    root = _student_copy(tmp_path)
    url = start_lab(root).format(path=CHAPTER)
    screenshot = _artefact_dir(tmp_path) / "jupyterlab_run_all.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page_errors: list[str] = []
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_function(f"() => ({_STATUS_JS})() === 'Idle'", timeout=120_000, polling=500)

            page.get_by_role("menuitem", name="Run", exact=True).click()  # the menu bar, as a learner does
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.wait_for_function("() => [...document.querySelectorAll('.jp-NotebookPanel .jp-InputArea-prompt')]"
                                   ".some(p => /[*0-9]/.test(p.textContent))", timeout=60_000, polling=200)
            page.wait_for_function(_DONE_JS, timeout=RUN_ALL_S * 1000, polling=1000)

            cells = page.evaluate(_CELLS_JS)
            status = page.evaluate(_STATUS_JS)
            page.get_by_role("menuitem", name="File", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Save Notebook(?! As)")).click()  # name ends in Ctrl+S
            ran = _wait_for_saved_outputs(root / CHAPTER)
            first_image = page.locator(".jp-OutputArea-output img").first
            if first_image.count():
                first_image.scroll_into_view_if_needed()  # a plot in the picture
        finally:
            if page is not None:  # also when something failed: the picture shows what the learner would see
                page.screenshot(path=str(screenshot))
                print(f"\nscreenshot of JupyterLab: {screenshot}")
            browser.close()

    assert len(cells) == len(saved.cells), "the page should show every cell of the notebook"
    code_cells = [cell for cell in cells if cell["code"]]
    assert len(code_cells) == n_code
    failed = [(i, text[-800:]) for i, cell in enumerate(cells) for text in cell["stderr"]
              if "Traceback" in text or "Error" in text]
    assert not failed, f"cells show errors (index, output): {failed}"
    errors = [(i, out.ename, out.evalue) for i, cell in enumerate(ran.cells) if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"the notebook JupyterLab saved has error outputs (cell, exception, message): {errors}"
    not_run = [(i, cell["prompt"]) for i, cell in enumerate(cells)
               if cell["code"] and not any(ch.isdigit() for ch in cell["prompt"])]
    assert not not_run, f"code cells without an execution count after Run All (index, prompt): {not_run}"
    images = [size for cell in cells for size in cell["images"]]
    assert len(images) == n_images, f"expected {n_images} rendered plots, the page shows {len(images)}"
    assert all(complete and width > 0 and height > 0 for complete, width, height in images), images
    for index, name in exercises.items():
        assert f"{name} is not attempted yet" in cells[index]["text"], (
            f"exercise cell {index} ({name}) should show its checker's feedback, shows: {cells[index]['text']!r}")
    assert status == "Idle", f"the kernel should be idle at the end, the status bar says {status!r}"
    assert not page_errors, f"JavaScript errors in the page: {page_errors}"
    assert screenshot.stat().st_size > 10_000, "the screenshot should show the notebook"
