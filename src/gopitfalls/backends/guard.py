"""The watchdog both backends share: it polls a running program for its RSS (local
only: docker has the cgroup), its listen addresses, its output volume and the disk its
temp dir uses (local only: docker's root is read-only), and kills it through its
:class:`~gopitfalls.backends.Process` when one passes its limit."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

from . import KilledBy, Limits


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


class Guard:
    """Polls a running program: RSS cap (local only), listen address, output volume."""

    def __init__(self, pid: int, limits: Limits, kill: Callable[[KilledBy, str], None],
                 watch_rss: bool, disk_dir: Path | None = None):
        self.pid, self.limits, self.kill, self.watch_rss = pid, limits, kill, watch_rss
        self.disk_dir = disk_dir
        self.output_bytes = 0
        self.peak_rss = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"guard-{pid}")
        self._thread.start()

    def count_output(self, n: int) -> None:
        self.output_bytes += n
        if self.output_bytes > self.limits.output_mb * 2**20:
            self.kill(KilledBy.OUTPUT_FLOOD, f"the program wrote more than "
                      f"{self.limits.output_mb} MB of output; it was stopped so the notebook "
                      "stays responsive")

    def close(self) -> None:
        self._done.set()

    def _loop(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        tick = 0
        while not self._done.wait(0.02):
            tick += 1
            try:
                if self.watch_rss and self._rss_passed_cap(proc):
                    return
                if tick % 10 == 1 and self._listens_publicly():  # every 200 ms
                    return
                if tick % 5 == 3 and self._disk_passed_cap():  # every 100 ms
                    return
            except psutil.NoSuchProcess:
                return

    def _rss_passed_cap(self, proc: psutil.Process) -> bool:
        rss = proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        if rss <= self.limits.memory_mb * 2**20:
            return False
        self.kill(KilledBy.MEMORY_WATCHDOG, f"RSS {rss / 2**20:.0f} MB passed the "
                  f"{self.limits.memory_mb} MB cap; the watchdog sent SIGKILL")
        return True

    def _listens_publicly(self) -> bool:
        bad = public_listeners(self.pid)
        if bad:
            self.kill(KilledBy.LISTEN_GUARD,
                      f"the program listened on {', '.join(bad)} (all interfaces). "
                      "The lab allows loopback only: listen on os.Getenv(\"ADDR\") "
                      "(127.0.0.1:PORT)")
        return bool(bad)

    def _disk_passed_cap(self) -> bool:
        if self.disk_dir is None:
            return False
        used = disk_used(self.disk_dir)
        if used <= self.limits.disk_mb * 2**20:
            return False
        self.kill(KilledBy.DISK_GUARD, f"its temp dir held {used / 2**20:.0f} MB, past the "
                  f"{self.limits.disk_mb} MB disk limit; it was stopped and the dir removed")
        return True


def disk_used(root: Path) -> int:
    """Bytes of disk the files under ``root`` take (allocated blocks: a sparse file counts
    for what it really holds)."""
    used = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                used += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass  # removed meanwhile
    return used
