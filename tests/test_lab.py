"""`make lab` gives learners their JupyterLab and `make teacher` gives teachers theirs.

Each test runs the Makefile's own target, as the current user (root or not), with
``LAB_ARGS`` for 127.0.0.1, a free port, a token and ``--no-browser``; it skips the
install prerequisite (``make -o``) and points ``VENV`` at the environment running the
tests. It then reads what the browser would get over loopback: the ``/lab`` page's
``jupyter-config-data`` (which lab extensions are disabled), the notification settings
(no "get Jupyter news?" pop-up, no update check) and whether nbgrader's formgrader is
served. The server's whole process group is stopped at the end, whatever happened.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = "@jupyter/nbgrader"  # nbgrader's lab extension: its menu, Create Assignment, formgrader panels
SERVER_START_S, STOP_S = 60, 20
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to 127.0.0.1


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect comes back as an HTTPError with its 3xx code


_NO_PROXY_NO_REDIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


@dataclass
class Lab:
    """A running JupyterLab: its address, its token and its log file."""

    url: str
    token: str
    log: Path

    def get(self, path: str) -> tuple[int, bytes]:
        """HTTP status and body of GET ``path`` (redirects are not followed)."""
        try:
            with _NO_PROXY_NO_REDIRECT.open(f"{self.url}{path}?token={self.token}", timeout=10) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, b""

    def page_config(self) -> dict:
        """The ``jupyter-config-data`` JSON that the /lab page hands to the front end."""
        status, body = self.get("/lab")
        assert status == 200, f"GET /lab answered {status}"
        found = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', body, re.S)
        assert found, "the /lab page has no jupyter-config-data script"
        return json.loads(found.group(1))

    def setting_defaults(self, plugin: str) -> dict:
        """The defaults the front end starts from for ``plugin`` (schema defaults after overrides)."""
        status, body = self.get(f"/lab/api/settings/{plugin}")
        assert status == 200, f"GET /lab/api/settings/{plugin} answered {status}"
        settings = json.loads(body)
        assert settings["settings"] == {}, "the test's user settings directory should be empty"
        return {name: spec.get("default") for name, spec in settings["schema"]["properties"].items()}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group (make and JupyterLab), SIGKILL what is left after STOP_S seconds."""
    pgid = process.pid  # start_new_session: make leads its own group
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if _group_alive(pgid):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + STOP_S
        while time.monotonic() < deadline and (process.poll() is None or _group_alive(pgid)):
            time.sleep(0.2)
        if not _group_alive(pgid):
            break
    process.wait(timeout=STOP_S)
    assert not _group_alive(pgid), f"processes of group {pgid} survived SIGKILL"


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """A function that runs ``make TARGET`` with a test port and token and returns the running Lab.

    User-level Jupyter folders point into ``tmp_path`` so that neither the user's settings
    change what the test sees nor the test leaves anything in the user's home.
    """
    if shutil.which("make") is None:
        pytest.skip("`make` is not installed: the Makefile's JupyterLab targets cannot be run here")
    servers: list[subprocess.Popen] = []

    def start(target: str, *variables: str) -> Lab:
        home = tmp_path / f"jupyter-{target}"
        drop = {"JUPYTER_CONFIG_PATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"), PYTHONUNBUFFERED="1")
        port, token = _free_port(), secrets.token_hex(16)
        lab_args = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
                    f"--IdentityProvider.token={token}")
        venv = Path(sys.prefix)
        command = ["make", "--no-print-directory", "-o", f"{venv}/bin/.installed", target,
                   f"VENV={venv}", f"LAB_ARGS={lab_args}", *variables]
        log = tmp_path / f"{target}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        servers.append(server)
        lab = Lab(f"http://127.0.0.1:{port}", token, log)
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"`make {target}` exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if lab.get("/api/status")[0] == 200:
                    return lab
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"`make {target}` did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")

    try:
        yield start
    finally:
        for server in servers:
            _stop_group(server)


def test_make_lab_opens_chapters_with_learner_tools_only_and_no_news_popup(make_lab):
    lab = make_lab("lab")

    config = lab.page_config()
    assert Path(config["serverRoot"]) == ROOT / "chapters", "make lab should open chapters/"
    assert NBGRADER in [ext["name"] for ext in config["federated_extensions"]], "nbgrader's lab extension is installed"
    assert NBGRADER in config["disabledExtensions"], "learners should not see nbgrader's menu and panels"
    assert lab.get("/formgrader")[0] == 404, "learners' server should not load nbgrader's server extensions"
    notification = lab.setting_defaults("@jupyterlab/apputils-extension:notification")
    assert notification["fetchNews"] == "false", "JupyterLab would ask 'get notified about Jupyter news?'"
    assert notification["checkForUpdates"] is False


def test_make_teacher_opens_the_course_folder_with_nbgrader_tools(make_lab, tmp_path):
    course = tmp_path / "course"  # formgrader takes this folder as the course: nothing is written in the repository
    course.mkdir()
    lab = make_lab("teacher", f"COURSE={course}")

    config = lab.page_config()
    assert Path(config["serverRoot"]) == course
    assert NBGRADER in [ext["name"] for ext in config["federated_extensions"]]
    assert not [name for name in config["disabledExtensions"] if name.startswith(NBGRADER)], (
        f"teachers should get nbgrader's lab extension, disabled: {config['disabledExtensions']}")
    assert lab.get("/formgrader")[0] in (200, 302), "teachers' server should serve nbgrader's formgrader"
    notification = lab.setting_defaults("@jupyterlab/apputils-extension:notification")
    assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False
