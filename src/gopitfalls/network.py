"""Loopback ports (below the backends, in layer 3 with telemetry): a free port for a
program to listen on, and waiting until it does. Used by the experiment, the services and
notebooks that start servers of their own."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

PORTS_FROM = 20000  # in the registered-port range, above the usual fixed service ports


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on host for a program to listen on.

    Chosen below the kernel's ephemeral range where it can: a port from bind(0) comes from
    that range, and between this call and the program's own bind an outgoing connection
    (a lesson makes thousands) may be given the same port; below the range it never is."""
    low = _ephemeral_range()[0]
    if low - PORTS_FROM > 1000:
        for port in random.sample(range(PORTS_FROM, low), 64):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue  # taken: try another
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535  # the IANA range, as macOS and Windows use


def wait_for_port(port: int, timeout_s: float, alive=lambda: True, host: str = "127.0.0.1") -> bool:
    """True once something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False
