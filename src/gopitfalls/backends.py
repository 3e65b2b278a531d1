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
import functools
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
from dataclasses import dataclass
from pathlib import Path

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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Process:
    """A running program, whichever backend runs it. ``wait()`` and ``stop()`` return its
    :class:`Exit`. The subclasses say how to look at, signal and kill the program; this
    class decides how a run ends and how that is told: the first reason to kill it wins
    (a watchdog's, the timeout's, or "stopped" when the engine ends the run)."""

    backend = ""
    poll_interval_s = 0.02

    def __init__(self, pid: int | None, limits: Limits, enforcement: dict[str, str]):
        self.pid, self.limits, self.enforcement = pid, limits, enforcement
        self._deadline = time.monotonic() + limits.timeout_s
        self._lock = threading.Lock()
        self._collect_lock = threading.Lock()
        self._killed_by: str | None = None
        self._detail = ""
        self._exit: Exit | None = None
        _track(self)

    # -- what a backend provides
    def _exited(self) -> bool:
        raise NotImplementedError

    def _terminate(self, grace_s: float) -> None:
        """Ask the program to stop (SIGTERM), killing it after ``grace_s``."""
        raise NotImplementedError

    def _hard_kill(self) -> None:
        raise NotImplementedError

    def _collect(self) -> Exit:
        """Once it has exited: release everything and say how it ended."""
        raise NotImplementedError

    def send_signal(self, sig: int) -> None:
        """Deliver a signal (SIGTERM for a graceful-shutdown lesson, say) to the program."""
        raise NotImplementedError

    # -- shared
    def kill(self, reason: str, detail: str) -> None:
        with self._lock:
            if self._killed_by is None and self._exit is None:
                self._killed_by, self._detail = reason, detail
        self._hard_kill()

    def wait(self, timeout: float | None = None) -> Exit | None:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._exit is not None:
                return self._exit
            if self._exited():
                with self._collect_lock:  # one caller collects; the others get its Exit
                    if self._exit is None:
                        self._exit = self._collect()
                _untrack(self)
                return self._exit
            if time.monotonic() > self._deadline:
                self.kill("timeout", f"still running after the {self.limits.timeout_s:.0f} s "
                          "timeout")
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(self.poll_interval_s)

    def poll(self) -> Exit | None:
        return self.wait(0)

    def stop(self, grace_s: float = 2.0) -> Exit:
        if self._exit is None and not self._exited():
            with self._lock:
                if self._killed_by is None:
                    self._killed_by = "stopped"
                    self._detail = "stopped by the engine at the end of the run"
            self._terminate(grace_s)
        return self.wait(None)

    def _ending(self, code: int | None, oom: bool = False) -> Exit:
        """The Exit for an exit code, with the recorded reason if the engine killed it."""
        return Exit(code=code, killed_by=self._killed_by, oom_killed=oom,
                    detail=self._detail or _describe_code(code))


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
        return _LocalProcess(popen, binary, workdir, limits, sink, as_limit,
                             self.describe(limits, binary.race))


class _LocalProcess(Process):
    backend = "local"

    def __init__(self, popen: subprocess.Popen, binary: Binary, workdir: Path, limits: Limits,
                 sink: LineSink, as_limit: int | None, enforcement: dict[str, str]):
        super().__init__(popen.pid, limits, enforcement)
        self.popen, self.workdir, self.as_limit = popen, workdir, as_limit
        self.pidfile = registry.write_pidfile(popen.pid, binary.name)
        self.started = registry.process_start(popen.pid)
        self.out_of_address_space = False
        self.guard = _Guard(popen.pid, limits, self.kill, watch_rss=True)

        def watching_sink(stream: str, line: str, t: float) -> None:
            # A Go program that hits RLIMIT_AS dies with "fatal error: out of memory".
            if stream == "stderr" and as_limit and "out of memory" in line:
                self.out_of_address_space = True
            sink(stream, line, t)

        self.pumps = [threading.Thread(target=_pump, args=(s, n, watching_sink, self.guard),
                                       daemon=True)
                      for s, n in ((popen.stdout, "stdout"), (popen.stderr, "stderr"))]
        for t in self.pumps:
            t.start()

    def _exited(self) -> bool:
        return self.popen.poll() is not None

    def _hard_kill(self) -> None:
        registry.kill_group(self.popen.pid, self.started)

    def _terminate(self, grace_s: float) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            self._hard_kill()

    def send_signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def _collect(self) -> Exit:
        self._hard_kill()  # any grandchildren go too
        self.guard.close()
        for t in self.pumps:
            t.join(timeout=2)
        self.pidfile.unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        exit_ = self._ending(self.popen.returncode)
        if exit_.killed_by is None and self.out_of_address_space:
            exit_.killed_by = "address-space-guard"
            exit_.detail = (f"the Go runtime ran out of its {self.as_limit // 2**20} MB "
                            "address-space limit (RLIMIT_AS) before the RSS watchdog saw it")
        return exit_


def _describe_code(code: int | None) -> str:
    if code is None:
        return ""
    if code < 0:
        try:
            return f"terminated by {signal.Signals(-code).name}"
        except ValueError:
            return f"terminated by signal {-code}"
    if 128 < code < 128 + 65:  # a container's init reports a signal death as 128 + signal
        try:
            return f"exit code {code} (terminated by {signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return f"exit code {code}"


# ---------------------------------------------------------------- docker backend

@functools.lru_cache(maxsize=256)
def _image_tag(path: str, mtime_ns: int, size: int, inode: int) -> str:
    """The image tag for a binary: a hash of its bytes, computed once per version of the
    file (a rebuild changes its mtime), so a warm re-run does not read the binary again."""
    with open(path, "rb") as f:
        return f"gopitfalls-run:{hashlib.file_digest(f, 'sha256').hexdigest()[:16]}"


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
        st = binary.path.stat()
        tag = _image_tag(str(binary.path), st.st_mtime_ns, st.st_size, st.st_ino)
        try:
            self.client.images.get(tag)
            return tag
        except Exception:
            pass
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = binary.path.read_bytes()
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
        return _DockerProcess(container, limits, sink, self.host_network,
                              self.describe(limits, binary.race))


class _DockerProcess(Process):
    backend = "docker"
    poll_interval_s = 0.05

    def __init__(self, container, limits: Limits, sink: LineSink, host_network: bool,
                 enforcement: dict[str, str]):
        container.reload()
        pid = container.attrs["State"].get("Pid") or None
        super().__init__(pid, limits, enforcement)
        self.container = container
        # No RSS watchdog here: the cgroup enforces the cap. The listen guard needs the
        # container's sockets in our network namespace, which host networking gives.
        self.guard = _Guard(pid, limits, self.kill, watch_rss=False) \
            if pid and host_network else None
        self.pumps = [threading.Thread(target=self._follow, args=(s, sink), daemon=True)
                      for s in (True, False)]
        for t in self.pumps:
            t.start()

    def _follow(self, stdout: bool, sink: LineSink) -> None:
        name = "stdout" if stdout else "stderr"
        try:
            pending = b""
            for chunk in self.container.logs(stream=True, follow=True, stdout=stdout,
                                             stderr=not stdout):
                if self.guard is not None:
                    self.guard.count_output(len(chunk))
                pending += chunk
                *lines, pending = pending.split(b"\n")
                now = time.time()
                for raw in lines:
                    sink(name, raw.decode("utf-8", "replace"), now)
            if pending:
                sink(name, pending.decode("utf-8", "replace"), time.time())
        except Exception:
            pass  # the container is gone: the stream just ends

    def _exited(self) -> bool:
        try:
            self.container.reload()
        except Exception:
            return True
        return self.container.status in ("exited", "dead")

    def _hard_kill(self) -> None:
        try:
            self.container.kill()
        except Exception:
            pass

    def _terminate(self, grace_s: float) -> None:
        try:
            self.container.stop(timeout=max(1, int(round(grace_s))))  # SIGTERM, then SIGKILL
        except Exception:
            pass

    def send_signal(self, sig: int) -> None:
        try:
            self.container.kill(signal=int(sig))
        except Exception:
            pass  # already gone

    def _collect(self) -> Exit:
        for t in self.pumps:
            t.join(timeout=3)
        if self.guard is not None:
            self.guard.close()
        try:
            self.container.reload()
            state = self.container.attrs["State"]
        except Exception:
            state = {}
        try:
            self.container.remove(force=True)
        except Exception:
            pass
        oom = bool(state.get("OOMKilled"))
        exit_ = self._ending(state.get("ExitCode"), oom)
        if oom:
            exit_.killed_by = "oom"
            exit_.detail = (f"the kernel OOM killer stopped it at the {self.limits.memory_mb} MB "
                            "cgroup limit (Docker State.OOMKilled=true)")
        return exit_


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
