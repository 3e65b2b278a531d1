"""Layer 4: run a built binary with limits, stream its output, report how it ended.

Two backends share one interface (:class:`Backend.start` returns a :class:`Process`):

* ``docker``: the binary alone in a ``FROM scratch`` image (nothing is pulled); memory
  cap with swap off, so a runaway gets a real cgroup OOM kill (``State.OOMKilled``);
  pids, CPU and nofile limits, read-only root, every capability dropped. Host
  networking on Linux, ports published on 127.0.0.1 elsewhere.
* ``local``: a subprocess in its own process group, for Binder, Colab and laptops
  without Docker. A watchdog thread kills it when its RSS passes the cap, and an
  address-space limit (RLIMIT_AS) stops a bomb faster than the watchdog can look.

Both kill a program that listens on a non-loopback address, that floods its output, or
that outlives its timeout, and say so in :class:`Exit`.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from . import registry
from .build import Binary

LineSink = Callable[[str, str, float], None]  # (stream "stdout"|"stderr", line, unix time)


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here; the message names the fix."""


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 256
    nofile: int = 1024
    pids: int = 512
    cpus: float = 1.0
    timeout_s: float = 120.0
    output_mb: int = 64  # more output than this is a flood: the program is stopped


@dataclass
class Exit:
    code: int | None
    killed_by: str | None = None  # oom | memory-watchdog | address-space-guard | timeout |
    #                              listen-guard | output-flood | stopped | None (exited itself)
    oom_killed: bool = False
    detail: str = ""

    @property
    def crashed(self) -> bool:
        return self.killed_by not in (None, "stopped") or (self.code not in (0, None))

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(eq=False)
class Process:
    """A running program. ``stop()`` and ``wait()`` return its :class:`Exit`."""

    backend: str
    pid: int | None
    enforcement: dict[str, str]
    _stop: Callable[[float], Exit] = field(repr=False)
    _wait: Callable[[float | None], Exit | None] = field(repr=False)
    _signal: Callable[[int], None] = field(repr=False)

    def wait(self, timeout: float | None = None) -> Exit | None:
        return self._wait(timeout)

    def poll(self) -> Exit | None:
        return self._wait(0)

    def stop(self, grace_s: float = 2.0) -> Exit:
        return self._stop(grace_s)

    def send_signal(self, sig: int) -> None:
        """Deliver a signal (SIGTERM for a graceful-shutdown lesson, say) to the program."""
        self._signal(sig)


_live: set[Process] = set()
_live_lock = threading.Lock()


def _track(process: Process) -> None:
    with _live_lock:
        _live.add(process)


def _untrack(process: Process) -> None:
    with _live_lock:
        _live.discard(process)


@atexit.register
def stop_all() -> None:
    """Stop everything this Python process started (also used by tests and the CLI)."""
    with _live_lock:
        live = list(_live)
    for p in live:
        try:
            p.stop(0.5)
        except Exception:
            pass


# ---------------------------------------------------------------- shared watchdog

def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1") or ip.startswith(
        "::ffff:127.")


def public_listeners(pid: int) -> list[str]:
    """Listening sockets of ``pid`` bound to anything other than loopback."""
    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
    return [f"{c.laddr.ip or '0.0.0.0'}:{c.laddr.port}" for c in conns
            if c.status == psutil.CONN_LISTEN and not _is_loopback(c.laddr.ip)]


class _Guard:
    """Polls a running program: RSS cap (local only), listen address, output volume."""

    def __init__(self, pid: int, limits: Limits, kill: Callable[[str, str], None],
                 watch_rss: bool):
        self.pid, self.limits, self.kill, self.watch_rss = pid, limits, kill, watch_rss
        self.output_bytes = 0
        self.peak_rss = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"guard-{pid}")
        self._thread.start()

    def count_output(self, n: int) -> None:
        self.output_bytes += n
        if self.output_bytes > self.limits.output_mb * 2**20:
            self.kill("output-flood", f"the program wrote more than {self.limits.output_mb} MB "
                      "of output; it was stopped so the notebook stays responsive")

    def close(self) -> None:
        self._done.set()

    def _loop(self) -> None:
        cap = self.limits.memory_mb * 2**20
        try:
            proc = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        tick = 0
        while not self._done.wait(0.02):
            tick += 1
            try:
                if self.watch_rss:
                    rss = proc.memory_info().rss
                    self.peak_rss = max(self.peak_rss, rss)
                    if rss > cap:
                        self.kill("memory-watchdog",
                                  f"RSS {rss / 2**20:.0f} MB passed the {self.limits.memory_mb} MB "
                                  "cap; the watchdog sent SIGKILL")
                        return
                if tick % 10 == 1:  # every 200 ms
                    bad = public_listeners(self.pid)
                    if bad:
                        self.kill("listen-guard",
                                  f"the program listened on {', '.join(bad)} (all interfaces). "
                                  "The lab allows loopback only: listen on os.Getenv(\"ADDR\") "
                                  "(127.0.0.1:PORT)")
                        return
            except psutil.NoSuchProcess:
                return


def _pump(stream, name: str, sink: LineSink, guard: _Guard | None) -> None:
    """Read a byte stream line by line into the sink (decoded, newline stripped)."""
    for raw in iter(stream.readline, b""):
        if guard is not None:
            guard.count_output(len(raw))
        sink(name, raw.decode("utf-8", "replace").rstrip("\n"), time.time())


# ---------------------------------------------------------------- local backend

class LocalBackend:
    name = "local"

    def __init__(self) -> None:
        registry.reap()
        registry.ensure_guardian()

    def describe(self, limits: Limits, race: bool = False) -> dict[str, str]:
        return {
            "memory": f"{limits.memory_mb} MB RSS cap, enforced by a 20 ms watchdog (SIGKILL)"
                      + ("" if race else "; address-space limit "
                         f"{self._as_limit(limits) // 2**20} MB as a hard guard"),
            "nofile": f"RLIMIT_NOFILE hard limit {limits.nofile}",
            "pids": "not enforced (Go stops at 10000 threads on its own)",
            "cpu": "not enforced (shares the machine)",
            "network": "loopback listen enforced by the listen guard",
            "filesystem": "not isolated (runs as your user)",
            "timeout": f"{limits.timeout_s:.0f} s",
        }

    @staticmethod
    def _as_limit(limits: Limits) -> int:
        # A Go program reserves about 1.2 GB of address space it never touches.
        return (limits.memory_mb + 1536) * 2**20

    def start(self, binary: Binary, args: list[str], env: dict[str, str], limits: Limits,
              sink: LineSink) -> Process:
        as_limit = None if binary.race else self._as_limit(limits)
        # Raising a hard limit needs privileges; ask for no more than we have.
        nofile = min(limits.nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])

        def preexec() -> None:  # runs in the child between fork and exec
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if as_limit:
                resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
            if sys.platform.startswith("linux"):
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with our thread

        workdir = registry.make_temp_dir("cwd")
        child_env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), **env}
        try:
            popen = subprocess.Popen(
                [str(binary.path), *args], env=child_env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=preexec, cwd=workdir,
            )
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise BackendUnavailable(f"could not start {binary.path}: {exc}") from exc
        pidfile = registry.write_pidfile(popen.pid, binary.name)
        started = registry.process_start(popen.pid)
        state: dict = {"killed_by": None, "detail": ""}
        lock = threading.Lock()

        def kill(reason: str, detail: str) -> None:
            with lock:
                if state["killed_by"] is None and popen.poll() is None:
                    state["killed_by"], state["detail"] = reason, detail
            registry.kill_group(popen.pid, started)

        guard = _Guard(popen.pid, limits, kill, watch_rss=True)

        def watching_sink(stream: str, line: str, t: float) -> None:
            # A Go program that hits RLIMIT_AS dies with "fatal error: out of memory".
            if stream == "stderr" and as_limit and "out of memory" in line:
                state["address_space"] = True
            sink(stream, line, t)

        pumps = [threading.Thread(target=_pump, args=(s, n, watching_sink, guard), daemon=True)
                 for s, n in ((popen.stdout, "stdout"), (popen.stderr, "stderr"))]
        for t in pumps:
            t.start()
        deadline = time.monotonic() + limits.timeout_s
        finished: dict = {}

        def finish(code: int) -> Exit:
            if finished:
                return finished["exit"]
            registry.kill_group(popen.pid, started)  # any grandchildren go too
            guard.close()
            for t in pumps:
                t.join(timeout=2)
            pidfile.unlink(missing_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
            _untrack(process)
            killed_by, detail = state["killed_by"], state["detail"]
            if killed_by is None and state.get("address_space"):
                killed_by = "address-space-guard"
                detail = (f"the Go runtime ran out of its {as_limit // 2**20} MB address-space "
                          "limit (RLIMIT_AS) before the RSS watchdog saw it")
            exit_ = Exit(code=code, killed_by=killed_by, detail=detail or _describe_code(code))
            finished["exit"] = exit_
            return exit_

        def wait(timeout: float | None) -> Exit | None:
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                code = popen.poll()
                if code is not None:
                    return finish(code)
                if time.monotonic() > deadline:
                    kill("timeout", f"still running after the {limits.timeout_s:.0f} s timeout")
                if end is not None and time.monotonic() >= end:
                    return None
                time.sleep(0.01)

        def stop(grace_s: float) -> Exit:
            if popen.poll() is None:
                with lock:
                    if state["killed_by"] is None:
                        state["killed_by"] = "stopped"
                        state["detail"] = "stopped by the engine at the end of the run"
                try:
                    os.killpg(popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                if wait(grace_s) is None:
                    registry.kill_group(popen.pid, started)
            return wait(None)

        def send_signal(sig: int) -> None:
            if popen.poll() is None:
                popen.send_signal(sig)

        process = Process(backend=self.name, pid=popen.pid,
                          enforcement=self.describe(limits, binary.race), _stop=stop, _wait=wait,
                          _signal=send_signal)
        _track(process)
        return process


def _describe_code(code: int | None) -> str:
    if code is None:
        return ""
    if code < 0:
        try:
            return f"terminated by {signal.Signals(-code).name}"
        except ValueError:
            return f"terminated by signal {-code}"
    if code == 2:
        return "exit code 2 (a Go fatal error or panic exits with 2)"
    return f"exit code {code}"


# ---------------------------------------------------------------- docker backend

DOCKERFILE = b"FROM scratch\nCOPY app /app\nUSER 65534:65534\nENTRYPOINT [\"/app\"]\n"


class DockerBackend:
    name = "docker"

    def __init__(self) -> None:
        try:
            import docker
        except ImportError as exc:  # pragma: no cover - docker is a dependency
            raise BackendUnavailable("the docker SDK is missing: pip install docker") from exc
        try:
            self.client = docker.from_env(timeout=30)
            self.client.ping()
        except Exception as exc:
            raise BackendUnavailable(
                "no Docker daemon answers (" + str(exc).split("(")[0].strip() + "). Fix: start "
                "Docker (sudo dockerd --bridge=none --iptables=false), or use the local backend: "
                "GOPITFALLS_BACKEND=local"
            ) from exc
        # Host networking only works when the daemon runs on this Linux machine.
        self.host_network = sys.platform.startswith("linux") and platform.system() == "Linux"
        registry.reap(docker_client=self.client)
        registry.ensure_guardian()

    def describe(self, limits: Limits, race: bool = False) -> dict[str, str]:
        return {
            "memory": f"{limits.memory_mb} MB cgroup limit, swap off (kernel OOM kill)",
            "nofile": f"ulimit nofile {limits.nofile}",
            "pids": f"pids limit {limits.pids}",
            "cpu": f"{limits.cpus:g} CPU",
            "network": "host network, loopback listen enforced by the listen guard"
                       if self.host_network else "ports published on 127.0.0.1 only",
            "filesystem": "read-only root, no capabilities, user nobody",
            "timeout": f"{limits.timeout_s:.0f} s",
        }

    def image_for(self, binary: Binary) -> str:
        data = binary.path.read_bytes()
        tag = f"gopitfalls-run:{hashlib.sha256(data).hexdigest()[:16]}"
        try:
            self.client.images.get(tag)
            return tag
        except Exception:
            pass
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, content, mode in (("Dockerfile", DOCKERFILE, 0o644), ("app", data, 0o755)):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(content), mode
                tar.addfile(info, io.BytesIO(content))
        buf.seek(0)
        self.client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True,
                                 labels={registry.LABEL: "1"})
        return tag

    def start(self, binary: Binary, args: list[str], env: dict[str, str], limits: Limits,
              sink: LineSink, ports: tuple[int, ...] = ()) -> Process:
        import docker

        image = self.image_for(binary)
        owner = registry.owner_identity()
        kwargs: dict = dict(
            command=args, environment=env, detach=True,
            mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
            pids_limit=limits.pids, nano_cpus=int(limits.cpus * 1e9),
            ulimits=[docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile)],
            read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={registry.LABEL: "1", f"{registry.LABEL}.owner": str(owner["owner"]),
                    f"{registry.LABEL}.owner_start": str(owner["owner_start"] or ""),
                    f"{registry.LABEL}.program": binary.name},
            log_config=docker.types.LogConfig(type="json-file",
                                              config={"max-size": "20m", "max-file": "1"}),
        )
        if self.host_network:
            kwargs["network_mode"] = "host"
        else:
            kwargs["ports"] = {f"{p}/tcp": ("127.0.0.1", p) for p in ports}
        container = self.client.containers.run(image, **kwargs)
        container.reload()
        pid = container.attrs["State"].get("Pid") or None
        state: dict = {"killed_by": None, "detail": ""}
        lock = threading.Lock()

        def kill(reason: str, detail: str) -> None:
            with lock:
                if state["killed_by"] is None:
                    state["killed_by"], state["detail"] = reason, detail
            try:
                container.kill()
            except Exception:
                pass

        # The local RSS watchdog is not needed here: the cgroup enforces the cap.
        guard = _Guard(pid, limits, kill, watch_rss=False) if pid and self.host_network else None

        def follow(stdout: bool) -> None:
            name = "stdout" if stdout else "stderr"
            try:
                pending = b""
                for chunk in container.logs(stream=True, follow=True, stdout=stdout,
                                            stderr=not stdout):
                    if guard is not None:
                        guard.count_output(len(chunk))
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    now = time.time()
                    for raw in lines:
                        sink(name, raw.decode("utf-8", "replace"), now)
                if pending:
                    sink(name, pending.decode("utf-8", "replace"), time.time())
            except Exception:
                pass

        pumps = [threading.Thread(target=follow, args=(s,), daemon=True) for s in (True, False)]
        for t in pumps:
            t.start()
        deadline = time.monotonic() + limits.timeout_s
        finished: dict = {}

        def finish() -> Exit:
            if finished:
                return finished["exit"]
            for t in pumps:
                t.join(timeout=3)
            if guard is not None:
                guard.close()
            container.reload()
            st = container.attrs["State"]
            try:
                container.remove(force=True)
            except Exception:
                pass
            _untrack(process)
            code = st.get("ExitCode")
            oom = bool(st.get("OOMKilled"))
            killed_by, detail = state["killed_by"], state["detail"]
            if oom:
                killed_by = "oom"
                detail = (f"the kernel OOM killer stopped it at the {limits.memory_mb} MB cgroup "
                          "limit (Docker State.OOMKilled=true)")
            exit_ = Exit(code=code, killed_by=killed_by, oom_killed=oom,
                         detail=detail or _describe_code(code))
            finished["exit"] = exit_
            return exit_

        def wait(timeout: float | None) -> Exit | None:
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                if finished:
                    return finished["exit"]
                container.reload()
                if container.status in ("exited", "dead"):
                    return finish()
                if time.monotonic() > deadline:
                    kill("timeout", f"still running after the {limits.timeout_s:.0f} s timeout")
                if end is not None and time.monotonic() >= end:
                    return None
                time.sleep(0.05)

        def stop(grace_s: float) -> Exit:
            if not finished:
                with lock:
                    if state["killed_by"] is None:
                        state["killed_by"] = "stopped"
                        state["detail"] = "stopped by the engine at the end of the run"
                try:
                    container.stop(timeout=max(1, int(round(grace_s))))
                except Exception:
                    pass
            return wait(None)

        def send_signal(sig: int) -> None:
            try:
                container.kill(signal=int(sig))
            except Exception:
                pass  # already gone

        process = Process(backend=self.name, pid=pid,
                          enforcement=self.describe(limits, binary.race), _stop=stop, _wait=wait,
                          _signal=send_signal)
        _track(process)
        return process


# ---------------------------------------------------------------- selection

_backends: dict[str, object] = {}


def get_backend(name: str | None = None):
    """The backend to use: ``name``, else ``GOPITFALLS_BACKEND``, else docker when a daemon
    answers, else local."""
    name = name or os.environ.get("GOPITFALLS_BACKEND") or "auto"
    if name not in ("auto", "docker", "local"):
        raise BackendUnavailable(f"unknown backend {name!r}: use 'docker', 'local' or 'auto'")
    if name in _backends:
        return _backends[name]
    if name == "auto":
        try:
            backend = get_backend("docker")
        except BackendUnavailable:
            backend = get_backend("local")
    elif name == "docker":
        backend = DockerBackend()
    else:
        backend = LocalBackend()
    _backends[name] = backend
    return backend
