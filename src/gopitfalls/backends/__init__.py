"""Layer 4: run a built binary with limits, stream its output, report how it ended.

Two backends share one interface, :class:`Backend`: ``start()`` returns a :class:`Process`,
whose ``wait()`` and ``stop()`` return an :class:`Exit`.

* ``docker`` (:mod:`.docker`): the binary alone in a ``FROM scratch`` image (nothing is
  pulled); memory cap with swap off, so a runaway gets a real cgroup OOM kill
  (``State.OOMKilled``); pids, CPU and nofile limits, read-only root, every capability
  dropped. Host networking on Linux, ports published on 127.0.0.1 elsewhere.
* ``local`` (:mod:`.local`): a subprocess in its own process group, for Binder, Colab and
  laptops without Docker. A watchdog thread kills it when its RSS passes the cap, and an
  address-space limit (RLIMIT_AS) stops a bomb faster than the watchdog can look.

Both kill a program that listens on a non-loopback address, that floods its output, or
that outlives its timeout (:mod:`.guard`), and say so in :class:`Exit`.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..build import Binary

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
    disk_mb: int = 256  # the most one file, and the run's temp dir in all, may hold


class KilledBy(StrEnum):
    """Who ended a program that did not exit by itself (``Exit.killed_by``; None when it
    exited on its own)."""

    OOM = "oom"  # the kernel's OOM killer, at the cgroup memory limit (docker)
    MEMORY_WATCHDOG = "memory-watchdog"  # the RSS watchdog (local)
    ADDRESS_SPACE_GUARD = "address-space-guard"  # RLIMIT_AS: Go ran out of memory (local)
    TIMEOUT = "timeout"
    LISTEN_GUARD = "listen-guard"  # it listened on a non-loopback address
    OUTPUT_FLOOD = "output-flood"
    DISK_GUARD = "disk-guard"  # its temp dir passed Limits.disk_mb (local)
    # It survived the whole run and the engine stopped it at the end, as planned.
    STOPPED_AT_END = "stopped-at-end"

    @classmethod
    def _missing_(cls, value):
        return cls.STOPPED_AT_END if value == "stopped" else None  # runs saved under the old name

    @property
    def is_kill(self) -> bool:
        """Whether the program was killed, rather than stopped at the end of its run."""
        return self is not KilledBy.STOPPED_AT_END


# A program killed for its memory: docker's kernel OOM kill, local's watchdog or guard.
MEMORY_KILLS = frozenset({KilledBy.OOM, KilledBy.MEMORY_WATCHDOG, KilledBy.ADDRESS_SPACE_GUARD})


@dataclass
class Exit:
    code: int | None
    killed_by: KilledBy | None = None  # None: it exited by itself
    oom_killed: bool = False
    detail: str = ""

    def __post_init__(self) -> None:
        if self.killed_by is not None:  # a saved run gives a plain string
            self.killed_by = KilledBy(self.killed_by)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def describe_exit_code(code: int | None) -> str:
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


class Process(ABC):
    """A running program, whichever backend runs it. ``wait()`` and ``stop()`` return its
    :class:`Exit`. The subclasses say how to look at, signal and kill the program; this
    class decides how a run ends and how that is told: the first reason to kill it wins
    (a watchdog's, the timeout's, or :attr:`KilledBy.STOPPED_AT_END` when the engine ends
    the run)."""

    backend = ""
    poll_interval_s = 0.02

    def __init__(self, pid: int | None, limits: Limits, enforcement: dict[str, str]):
        self.pid, self.limits, self.enforcement = pid, limits, enforcement
        self._deadline = time.monotonic() + limits.timeout_s
        self._lock = threading.Lock()
        self._collect_lock = threading.Lock()
        self._kill_reason: KilledBy | None = None
        self._kill_detail = ""
        self._final_exit: Exit | None = None  # set once, by the caller that collects it
        _track(self)

    # -- what a backend provides
    @abstractmethod
    def _has_exited(self) -> bool:
        """Whether the program is gone (asks the OS or the daemon, every poll)."""

    @abstractmethod
    def _terminate(self, grace_s: float) -> None:
        """Ask the program to stop (SIGTERM), killing it after ``grace_s``."""

    @abstractmethod
    def _hard_kill(self) -> None:
        """SIGKILL the program at once."""

    @abstractmethod
    def _collect_exit(self) -> Exit:
        """Once it has exited: release everything and say how it ended."""

    @abstractmethod
    def send_signal(self, sig: int) -> None:
        """Deliver a signal (SIGTERM for a graceful-shutdown lesson, say) to the program."""

    # -- shared
    def kill(self, reason: KilledBy, detail: str) -> None:
        with self._lock:
            if self._kill_reason is None and self._final_exit is None:
                self._kill_reason, self._kill_detail = reason, detail
        self._hard_kill()

    def wait(self, timeout: float | None = None) -> Exit | None:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._final_exit is not None:
                return self._final_exit
            if self._has_exited():
                with self._collect_lock:  # one caller collects; the others get its Exit
                    if self._final_exit is None:
                        self._final_exit = self._collect_exit()
                _untrack(self)
                return self._final_exit
            if time.monotonic() > self._deadline:
                self.kill(KilledBy.TIMEOUT, f"still running after the "
                          f"{self.limits.timeout_s:.0f} s timeout")
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(self.poll_interval_s)

    def poll(self) -> Exit | None:
        return self.wait(0)

    def stop(self, grace_s: float = 2.0) -> Exit:
        if self._final_exit is None and not self._has_exited():
            with self._lock:
                if self._kill_reason is None:
                    self._kill_reason = KilledBy.STOPPED_AT_END
                    self._kill_detail = "stopped by the engine at the end of the run"
            self._terminate(grace_s)
        return self.wait(None)

    def _exit_for(self, code: int | None, oom: bool = False) -> Exit:
        """The Exit for an exit code, with the recorded reason if the engine killed it."""
        return Exit(code=code, killed_by=self._kill_reason, oom_killed=oom,
                    detail=self._kill_detail or describe_exit_code(code))


class Backend(ABC):
    """What the engine asks of a backend: run a binary under limits, and say how each
    limit is enforced."""

    name = ""

    @abstractmethod
    def enforcement(self, limits: Limits, race: bool = False) -> dict[str, str]:
        """How each limit (memory, nofile, pids, cpu, network, filesystem, timeout) is
        enforced here, one line each: recorded in every Run, printed by ``doctor``."""

    @abstractmethod
    def start(self, binary: Binary, args: list[str], env: dict[str, str], limits: Limits,
              sink: LineSink, ports: tuple[int, ...] = (), stdin: bytes = b"") -> Process:
        """Start ``binary``; each output line goes to ``sink``. ``ports`` are the loopback
        ports it will listen on (a backend that isolates the network publishes them).
        ``stdin`` is written on its standard input (the probe's key), then closed."""


# ---------------------------------------------------------------- tracking

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


# ---------------------------------------------------------------- selection

_backends: dict[str, Backend] = {}


def get_backend(name: str | None = None) -> Backend:
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
        from .docker import DockerBackend

        backend = DockerBackend()
    else:
        from .local import LocalBackend

        backend = LocalBackend()
    _backends[name] = backend
    return backend
