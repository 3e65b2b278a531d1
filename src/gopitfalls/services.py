"""Layer 5: the other processes a lesson needs beside the program under test.

:class:`Upstream` is the engine's controllable HTTP upstream (``gotools/upstream``):
``ok``, ``slow``, ``hang`` (accept, read, never answer) or ``big`` (stream a huge body).
It runs locally, on a free loopback port, with the probe injected, so its expvar counters
(``conns_accepted``, ``conns_open``, ``requests``) arrive as a time series too.
"""

from __future__ import annotations

import json
import random
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .backends import Limits, get_backend
from .load import tool

PROBE_PREFIX = "@probe "


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


def parse_probe(line: str) -> dict | None:
    """The JSON of an ``@probe`` line, or None for any other line."""
    if not line.startswith(PROBE_PREFIX):
        return None
    try:
        return json.loads(line[len(PROBE_PREFIX):])
    except ValueError:
        return None


@dataclass
class Upstream:
    mode: str = "ok"  # ok | slow | hang | big
    delay_s: float = 0.0
    body_size: str = "1MiB"

    def to_dict(self) -> dict:
        return asdict(self)


class UpstreamServer:
    def __init__(self, spec: Upstream):
        self.spec = spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.samples: list[dict] = []
        self.lines: list[str] = []
        args = [f"-addr=127.0.0.1:{self.port}", f"-mode={spec.mode}",
                f"-delay={spec.delay_s * 1000:g}ms", f"-body-size={spec.body_size}"]
        self.process = get_backend("local").start(tool("upstream"), args, {},
                                            Limits(memory_mb=1024, nofile=65536, timeout_s=600),
                                            self._line)
        if not wait_for_port(self.port, 10, lambda: self.process.poll() is None):
            self.process.stop()
            raise RuntimeError("the upstream did not start: " + " / ".join(self.lines[-5:]))

    def _line(self, stream: str, line: str, t: float) -> None:
        sample = parse_probe(line)
        if sample is not None:
            self.samples.append(sample)
        elif len(self.lines) < 1000:
            self.lines.append(line)

    def stop(self) -> None:
        self.process.stop(0.5)

    def __enter__(self) -> UpstreamServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
