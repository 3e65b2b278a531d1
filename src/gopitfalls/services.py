"""Layer 5: the other processes a lesson needs beside the program under test.

:class:`Upstream` is the engine's controllable HTTP upstream (``gotools/upstream``):
``ok``, ``slow``, ``hang`` (accept, read, never answer) or ``big`` (stream a huge body).
It runs locally, on a free loopback port, with the probe injected, so its expvar counters
(``conns_accepted``, ``conns_open``, ``requests``) arrive as a time series too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .backends import Limits, get_backend
from .build import tool
from .network import free_port, wait_for_port
from .telemetry import ProbeKey


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
        self.probe_key = ProbeKey()
        self.process = get_backend("local").start(
            tool("upstream"), args, dict(self.probe_key.env),
            Limits(memory_mb=1024, nofile=65536, timeout_s=600), self._line,
            stdin=self.probe_key.stdin)
        if not wait_for_port(self.port, 10, lambda: self.process.poll() is None):
            self.process.stop()
            raise RuntimeError("the upstream did not start: " + " / ".join(self.lines[-5:]))

    def _line(self, stream: str, line: str, t: float) -> None:
        sample = self.probe_key.parse(line)
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
