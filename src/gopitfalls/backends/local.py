"""The ``local`` backend: a subprocess in its own process group, for Binder, Colab and
laptops without Docker. The memory cap is an RSS watchdog (:mod:`.guard`) plus an
address-space limit (RLIMIT_AS) that stops a bomb faster than the watchdog can look."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import registry
from ..build import Binary
from . import Backend, BackendUnavailable, Exit, KilledBy, Limits, LineSink, Process
from .guard import Guard


class LocalBackend(Backend):
    name = "local"

    def __init__(self) -> None:
        registry.reap()
        registry.ensure_guardian()

    def enforcement(self, limits: Limits, race: bool = False) -> dict[str, str]:
        return {
            "memory": f"{limits.memory_mb} MB RSS cap, enforced by a 20 ms watchdog (SIGKILL)"
                      + ("" if race else "; address-space limit "
                         f"{self._as_limit(limits) // 2**20} MB as a hard guard"),
            "nofile": f"RLIMIT_NOFILE hard limit {limits.nofile}",
            "pids": "not enforced (Go stops at 10000 threads on its own)",
            "cpu": "not enforced (shares the machine)",
            "network": "loopback listen enforced by the listen guard",
            "filesystem": f"runs as your user; its own temp dir (TMPDIR, cwd), removed after "
                          f"the run and capped at {limits.disk_mb} MB; no file may grow past "
                          f"{limits.disk_mb} MB (RLIMIT_FSIZE)",
            "processes": "every process it starts ends with the run, whatever session or "
                         "group it moved to (a marker in their environment)",
            "timeout": f"{limits.timeout_s:.0f} s",
        }

    @staticmethod
    def _as_limit(limits: Limits) -> int:
        # A Go program reserves about 1.2 GB of address space it never touches.
        return (limits.memory_mb + 1536) * 2**20

    def start(self, binary: Binary, args: list[str], env: dict[str, str], limits: Limits,
              sink: LineSink, ports: tuple[int, ...] = (), stdin: bytes = b"") -> Process:
        # ``ports`` needs nothing here: the program shares our network namespace.
        as_limit = None if binary.race else self._as_limit(limits)
        # Raising a hard limit needs privileges; ask for no more than we have.
        nofile = min(limits.nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])

        def preexec() -> None:  # runs in the child between fork and exec
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            fsize = limits.disk_mb * 2**20  # a write past it fails with EFBIG (Go ignores SIGXFSZ)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            if as_limit:
                resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
            if sys.platform.startswith("linux"):
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with our thread

        workdir = registry.make_temp_dir("cwd")
        child_env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir),
                     **env, registry.RUN_MARKER_ENV: workdir.name}
        try:
            popen = subprocess.Popen(
                [str(binary.path), *args], env=child_env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=preexec, cwd=workdir,
            )
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise BackendUnavailable(f"could not start {binary.path}: {exc}") from exc
        if stdin:
            try:  # a few bytes: the pipe's buffer holds them whether or not they are read
                popen.stdin.write(stdin)
                popen.stdin.close()
            except OSError:
                pass  # it died at once; the exit says why
        return LocalProcess(popen, binary, workdir, limits, sink, as_limit,
                            self.enforcement(limits, binary.race))


def _pump(stream, name: str, sink: LineSink, guard: Guard) -> None:
    """Read a byte stream line by line into the sink (decoded, newline stripped)."""
    for raw in iter(stream.readline, b""):
        guard.count_output(len(raw))
        sink(name, raw.decode("utf-8", "replace").rstrip("\n"), time.time())


class LocalProcess(Process):
    backend = "local"

    def __init__(self, popen: subprocess.Popen, binary: Binary, workdir: Path, limits: Limits,
                 sink: LineSink, as_limit: int | None, enforcement: dict[str, str]):
        super().__init__(popen.pid, limits, enforcement)
        self.popen, self.workdir, self.as_limit = popen, workdir, as_limit
        self.marker = workdir.name
        self.pidfile = registry.write_pidfile(popen.pid, binary.name, marker=self.marker)
        self.started = registry.process_start(popen.pid)
        self.out_of_address_space = False
        self.guard = Guard(popen.pid, limits, self.kill, watch_rss=True, disk_dir=workdir)

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

    def _has_exited(self) -> bool:
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

    def _collect_exit(self) -> Exit:
        self._hard_kill()  # any grandchildren go too
        registry.kill_marked(self.marker)  # and those that left its group or were orphaned
        self.guard.close()
        for t in self.pumps:
            t.join(timeout=2)
        self.pidfile.unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        ended = self._exit_for(self.popen.returncode)
        if ended.killed_by is None and self.out_of_address_space:
            ended.killed_by = KilledBy.ADDRESS_SPACE_GUARD
            ended.detail = (f"the Go runtime ran out of its {self.as_limit // 2**20} MB "
                            "address-space limit (RLIMIT_AS) before the RSS watchdog saw it")
        return ended
