"""Layer 11: a class on one JupyterHub, on this machine.

``Hub`` starts a real JupyterHub (``pip install 'gopitfalls[hub]'``) with the npm
``configurable-http-proxy``, everything on 127.0.0.1 ports the engine chose free:

- ``DummyAuthenticator``: the named learners log in with one shared password;
- ``SimpleLocalProcessSpawner``: each learner's JupyterLab runs as the hub's own user, with a
  home folder ``ROOT/home/NAME`` that holds a laid-out copy of the course (``GOPITFALLS_HOME``)
  and runs its lessons on the ``local`` backend. One user for everyone means no isolation
  between learners (see docs/instructor-guide.md); Go's build cache is shared, so one warm
  cache serves the class;
- idle culling by Jupyter Server itself: idle kernels after 20 minutes, a server with no
  kernel and no activity after an hour (no extra service needed on one machine).

``Hub.learner_tree(name)`` is a learner's processes (the single-user server, its kernels and
every Go program they started); ``run_notebook`` executes a notebook in a learner's server
over the hub's proxy, cell by cell through the kernel websocket (Jupyter messaging protocol),
as JupyterLab's Run All does. ``gopitfalls class`` and benchmarks/class_on_one_hub.py use
them; so does tests/test_jupyterhub.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .course import lay_out_course
from .network import free_port
from .toolchain import find_go

PROXY_PACKAGE = "configurable-http-proxy@5.3.0"  # what .ci/run installs with npm
PROXY_ENV = "GOPITFALLS_PROXY"  # path to the configurable-http-proxy executable
PROXY_PREFIX = Path("~/.cache/gopitfalls/configurable-http-proxy").expanduser()  # npm --prefix
KERNEL_IDLE_S = 20 * 60
SERVER_IDLE_S = 60 * 60


class ClassroomError(RuntimeError):
    pass


def find_proxy() -> Path:
    """The configurable-http-proxy to use: $GOPITFALLS_PROXY, the npm prefix .ci/run uses,
    or one on PATH; ClassroomError naming the install command otherwise."""
    for candidate in (os.environ.get(PROXY_ENV),
                      PROXY_PREFIX / "node_modules/.bin/configurable-http-proxy",
                      shutil.which("configurable-http-proxy")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ClassroomError(
        "configurable-http-proxy not found. Install it (needs node and npm): "
        f"npm install --prefix {PROXY_PREFIX} {PROXY_PACKAGE}, or set {PROXY_ENV}")


def hub_config(root: Path, learners: list[str], password: str, service_token: str,
               port: int) -> str:
    """The text of a jupyterhub_config.py for a class of ``learners`` in folder ``root``."""
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    args = [f"--MappingKernelManager.cull_idle_timeout={KERNEL_IDLE_S}",
            "--MappingKernelManager.cull_interval=60",
            f"--ServerApp.shutdown_no_activity_timeout={SERVER_IDLE_S}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    env = {"GOPITFALLS_BACKEND": "local",
           # one Go build cache for the class: the first learner's build warms everyone's
           "GOCACHE": subprocess.run([str(find_go().binary), "env", "GOCACHE"],
                                     capture_output=True, text=True, check=True).stdout.strip()}
    course_map = "course-map.ipynb" if (root / "home" / learners[0] / "course-map.ipynb").exists() \
        else "notebooks"
    return f'''\
# A class of {len(learners)} on one machine, written by gopitfalls.classroom. Every port on
# 127.0.0.1; learners share one OS user (no isolation between them: docs/instructor-guide.md).
from gopitfalls.network import free_port

c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{str(find_proxy())!r}]
c.JupyterHub.db_url = "sqlite:///{root / "hub" / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{root / "hub" / "cookie_secret"}"
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every learner's server

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {set(learners)!r}

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root / "home"}/{{username}}"
c.Spawner.cmd = [{str(singleuser)!r}]
c.Spawner.args = {args!r}  # idle kernels culled, then idle servers
c.Spawner.environment = {env!r}
c.Spawner.default_url = "/lab/tree/{course_map}"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def _learner(spawner):
    spawner.port = free_port()  # the engine's choice: below the ephemeral range
    spawner.environment = {{**spawner.environment, "GOPITFALLS_HOME": spawner.home_dir}}


c.Spawner.pre_spawn_hook = _learner

# The instructor (and the tests): a service whose token manages learners and their servers.
c.JupyterHub.services = [{{"name": "instructor", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "instructor", "services": ["instructor"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
'''


class Hub:
    """A running JupyterHub for ``learners`` in ``root`` (a context manager: stopped on exit,
    with every learner's server)."""

    def __init__(self, root: Path, learners: list[str], password: str | None = None,
                 port: int | None = None, log=None):
        self.root = Path(root).resolve()
        self.learners = list(learners)
        self.password = password or secrets.token_urlsafe(8)
        self.token = secrets.token_hex(16)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for name in self.learners:
            lay_out_course(self.root / "home" / name)
        (self.root / "hub").mkdir(parents=True, exist_ok=True)
        self.config = self.root / "hub" / "jupyterhub_config.py"
        self.config.write_text(hub_config(self.root, self.learners, self.password, self.token,
                                          self.port))
        self._own_log = None if log is not None else open(self.root / "hub" / "hub.log", "ab")
        log = log if log is not None else self._own_log
        # A session of its own: stop() can reach the proxy and every server if the hub dies.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config)],
            cwd=self.root / "hub", stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            self._wait(lambda: self.api("GET", "/hub/api/"), 60, "the hub did not answer")
        except BaseException:
            self.stop()  # no context manager yet to do it
            raise

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait(self, ready, timeout_s: float, what: str):
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise ClassroomError(f"{what}: the hub exited ({self.process.returncode}); "
                                     f"see {self.root / 'hub' / 'hub.log'}")
            try:
                result = ready()
                if result:
                    return result
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise ClassroomError(f"{what} within {timeout_s:.0f} s; "
                                     f"see {self.root / 'hub' / 'hub.log'}")
            time.sleep(0.5)

    def api(self, method: str, path: str, body=None):
        """A call to the hub or, by path, a learner's server, with the instructor's token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def start_server(self, name: str) -> None:
        """Start a learner's JupyterLab (after a login with the shared password, as the
        learner would) and wait until it answers through the proxy."""
        self.login(name)
        try:
            self.api("POST", f"/hub/api/users/{name}/server")
        except urllib.error.HTTPError as e:
            if e.code != 400:  # 400: already running
                raise
        self._wait(lambda: self.api("GET", f"/user/{name}/api/status"), 120,
                   f"{name}'s server did not answer")

    def login(self, name: str) -> None:
        """The hub's login form, with the shared password: a redirect means it let them in."""
        opener = urllib.request.build_opener(_NoRedirect)
        # the form needs the _xsrf cookie the login page sets
        page = opener.open(self.url + "/hub/login", timeout=30)
        cookie = page.headers.get("Set-Cookie", "").split(";")[0]
        xsrf = cookie.split("=", 1)[1] if cookie.startswith("_xsrf=") else ""
        form = urllib.parse.urlencode({"username": name, "password": self.password,
                                       "_xsrf": xsrf}).encode()
        request = urllib.request.Request(self.url + "/hub/login", data=form,
                                         headers={"Cookie": cookie})
        try:
            opener.open(request, timeout=30)
        except urllib.error.HTTPError as e:
            if e.code == 302:
                return
            raise ClassroomError(f"{name} could not log in: HTTP {e.code}") from e
        raise ClassroomError(f"{name} could not log in (the hub showed the form again)")

    def learner_tree(self, name: str) -> list[psutil.Process]:
        """The learner's single-user server and every process under it (kernels, Go
        programs, builds)."""
        try:
            servers = [p for p in psutil.Process(self.process.pid).children(recursive=True)
                       if _environ(p).get("JUPYTERHUB_USER") == name
                       and _environ(p).get("JUPYTERHUB_SERVICE_URL")]
        except psutil.NoSuchProcess:
            return []
        tree = []
        for server in servers:
            try:
                if server.parent() and server.parent().pid == self.process.pid:
                    tree += [server, *server.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return tree

    def processes(self) -> list[psutil.Process]:
        """The hub and everything under it (proxy, learners' servers)."""
        try:
            hub = psutil.Process(self.process.pid)
            return [hub, *hub.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """SIGTERM the hub (it stops every server and the proxy), then SIGKILL whatever of
        its session is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        if self._own_log:
            self._own_log.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _environ(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return {}


async def run_notebook(hub: Hub, name: str, path: str, cell_timeout_s: float = 300) -> list[str]:
    """Run the notebook at ``path`` (relative to the learner's home) in a new kernel of the
    learner's server, reached through the hub's proxy, one code cell after another; stop
    at the first cell that errors. Returns the errors (none: every cell ran)."""
    import asyncio

    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    base = f"/user/{name}/api"
    notebook = hub.api("GET", f"{base}/contents/{path}")["content"]
    session = hub.api("POST", f"{base}/sessions",
                      {"path": path, "type": "notebook", "kernel": {"name": "python3"}})
    kernel = session["kernel"]["id"]
    client_session = uuid.uuid4().hex
    ws_url = hub.url.replace("http", "ws", 1) + \
        f"{base}/kernels/{kernel}/channels?session_id={client_session}"
    socket = await websocket_connect(HTTPRequest(
        ws_url, headers={"Authorization": f"token {hub.token}"}))
    errors = []
    try:
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            msg_id = uuid.uuid4().hex
            socket.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name,
                           "session": client_session, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": cell["source"], "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False,
                            "stop_on_error": True}}))
            while True:
                raw = await asyncio.wait_for(socket.read_message(), cell_timeout_s)
                if raw is None:
                    errors.append("the kernel's websocket closed")
                    return errors
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "error":
                    content = msg["content"]
                    errors.append(f"cell {cell.get('id')}: {content['ename']}: "
                                  f"{content['evalue']}")
                if msg["msg_type"] == "execute_reply":
                    break
            if errors:
                return errors
    finally:
        socket.close()
        hub.api("DELETE", f"{base}/sessions/{session['id']}")
    return errors


@dataclass
class Learner:
    """What one learner's lesson did and cost: ``idle_mb`` is their server and fresh kernel
    before the first cell, ``peak_mb`` the most their processes held together (RSS summed,
    so libraries shared between them count once per process: an upper bound), ``cpu_s`` the
    CPU seconds of every process seen in their tree (sampled every 0.25 s)."""

    name: str
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    idle_mb: float = 0.0
    peak_mb: float = 0.0
    cpu_s: float = 0.0
    processes_seen: int = 0

    @property
    def passed(self) -> bool:
        return not self.errors


class _Sampler(threading.Thread):
    """Samples each learner's process tree, and the hub's own processes, every 0.25 s."""

    def __init__(self, hub: Hub, learners: dict[str, Learner]):
        super().__init__(daemon=True)
        self.hub, self.learners = hub, learners
        self.cpu: dict[str, dict[int, float]] = {name: {} for name in learners}
        self.hub_peak_mb = 0.0
        self.seen: dict[int, psutil.Process] = {}  # every process of the class, for the end
        self.halt = threading.Event()

    def sample(self) -> None:
        in_trees = set()
        for name, learner in self.learners.items():
            rss = 0
            for proc in self.hub.learner_tree(name):
                in_trees.add(proc.pid)
                self.seen.setdefault(proc.pid, proc)
                try:
                    with proc.oneshot():
                        rss += proc.memory_info().rss
                        times = proc.cpu_times()
                    self.cpu[name][proc.pid] = times.user + times.system
                except psutil.Error:
                    continue
            learner.peak_mb = max(learner.peak_mb, rss / 2**20)
            learner.cpu_s = sum(self.cpu[name].values())
            learner.processes_seen = len(self.cpu[name])
        rest = 0
        for proc in self.hub.processes():
            self.seen.setdefault(proc.pid, proc)
            if proc.pid not in in_trees:
                try:
                    rest += proc.memory_info().rss
                except psutil.Error:
                    pass
        self.hub_peak_mb = max(self.hub_peak_mb, rest / 2**20)

    def run(self) -> None:
        while not self.halt.wait(0.25):
            self.sample()


@dataclass
class ClassRun:
    learners: list[Learner]
    hub_mb: float  # peak RSS of the hub and its proxy
    processes: list[psutil.Process]  # every process of the class seen while it ran


def run_class(hub: Hub, notebook: str) -> ClassRun:
    """Every learner of ``hub`` runs ``notebook`` (a path in the course) at the same time,
    each in their own server, while their processes are sampled."""
    import asyncio

    for name in hub.learners:
        hub.start_server(name)
    learners = {name: Learner(name) for name in hub.learners}
    sampler = _Sampler(hub, learners)

    async def one(learner: Learner) -> None:
        started = time.monotonic()
        try:
            learner.errors = await run_notebook(hub, learner.name, notebook)
        except Exception as e:  # a learner's failure is a result, not the end of the class
            learner.errors = [f"{type(e).__name__}: {e}"]
        learner.wall_s = time.monotonic() - started

    sampler.sample()
    for learner in learners.values():  # servers only, before any kernel
        learner.idle_mb = learner.peak_mb
    sampler.start()
    try:
        asyncio.run(_gather([one(learner) for learner in learners.values()]))
    finally:
        sampler.halt.set()
        sampler.join()
    sampler.sample()
    return ClassRun(list(learners.values()), sampler.hub_peak_mb, list(sampler.seen.values()))


async def _gather(coroutines):
    import asyncio

    await asyncio.gather(*coroutines)


def table(run: ClassRun) -> str:
    """The per-learner figures as a Markdown table."""
    rows = ["| learner | lesson | wall s | server idle MB | peak MB | CPU s | processes |",
            "|---|---|---|---|---|---|---|"]
    for x in run.learners:
        rows.append(f"| {x.name} | {'passed' if x.passed else 'FAILED'} | {x.wall_s:.1f} | "
                    f"{x.idle_mb:.0f} | {x.peak_mb:.0f} | {x.cpu_s:.1f} | {x.processes_seen} |")
    rows.append(f"| hub + proxy | | | | {run.hub_mb:.0f} | | |")
    return "\n".join(rows)


# Per-learner resources for a hub of many nodes, from a measurement saved by
# benchmarks/class_on_one_hub.py (deploy/z2jh/measured.json); deploy/z2jh/config.yaml
# carries exactly these, and tests/test_instructor_guide.py checks it does.
LESSON_SHARE = 0.25  # the part of a class a learner spends running cells (reading, editing,
#                      predicting the rest): an assumption, see docs/instructor-guide.md
MEMORY_STEP_MB = 128


def resources(measured: dict) -> dict[str, str | float]:
    """Kubernetes guarantees and limits for one learner: memory guaranteed = the highest
    peak any learner reached (rounded up to 128 MB), limit twice that (room for a heavier
    lesson, e.g. chapter 3's servers); CPU limit = the cores one learner's lesson used when
    alone (rounded up to half a core), guaranteed a quarter of that (LESSON_SHARE)."""
    peak = max(x["peak_mb"] for run in measured["runs"] for x in run["learners"])
    guarantee_mb = -(-peak // MEMORY_STEP_MB) * MEMORY_STEP_MB
    alone = next(run for run in measured["runs"] if len(run["learners"]) == 1)["learners"][0]
    cores = -(-alone["cpu_s"] / alone["wall_s"] // 0.5) * 0.5
    return {"memory_guarantee": f"{guarantee_mb:.0f}M", "memory_limit": f"{2 * guarantee_mb:.0f}M",
            "cpu_guarantee": cores * LESSON_SHARE, "cpu_limit": cores}
