"""Layer 5: the other processes a lesson needs beside the program under test.

:class:`Upstream` is the engine's controllable HTTP upstream (``gotools/upstream``):
``ok``, ``slow``, ``hang`` (accept, read, never answer) or ``big`` (stream a huge body).
It runs locally, on a free loopback port, with the probe injected, so its expvar counters
(``conns_accepted``, ``conns_open``, ``requests``) arrive as a time series too.

:class:`LogSink` is the engine's slow log collector (``gotools/logsink``): a TCP server on
a free loopback port that reads at most ``bytes_per_s``, so a program writing its logs to
it synchronously is held back like one behind a congested log pipeline. Its counters
(``bytes``, ``lines``) arrive through the probe; the lines it received are read back when
it stops.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .backends import Limits, get_backend
from .build import tool
from .network import free_port, wait_for_port
from .telemetry import parse_probe


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
        self.process = get_backend("local").start(
            tool("upstream"), args, {}, Limits(memory_mb=1024, nofile=65536, timeout_s=600),
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


@dataclass
class LogSink:
    bytes_per_s: float = 200_000  # what it reads at most; 0 reads as fast as it can
    max_lines: int = 50_000  # the most received lines kept

    def to_dict(self) -> dict:
        return asdict(self)


class LogSinkServer:
    """The running collector: ``addr`` (host:port, the program's ``LOG_ADDR``),
    ``samples`` (its probe), and ``received()`` (its lines, once stopped)."""

    def __init__(self, spec: LogSink):
        self.spec = spec
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.samples: list[dict] = []
        self.lines: list[str] = []
        self._dir = Path(tempfile.mkdtemp(prefix="gopitfalls-logsink-"))
        self._out = self._dir / "received.log"
        args = [f"-addr={self.addr}", f"-rate={spec.bytes_per_s:g}", f"-out={self._out}",
                f"-max-lines={int(spec.max_lines)}"]
        self.process = get_backend("local").start(
            tool("logsink"), args, {}, Limits(memory_mb=512, nofile=4096, timeout_s=600),
            self._line)
        if not wait_for_port(self.port, 10, lambda: self.process.poll() is None):
            self.process.stop()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise RuntimeError("the log sink did not start: " + " / ".join(self.lines[-5:]))
        self._received: list[str] | None = None

    def _line(self, stream: str, line: str, t: float) -> None:
        sample = parse_probe(line)
        if sample is not None:
            self.samples.append(sample)
        elif len(self.lines) < 1000:
            self.lines.append(line)

    def stop(self) -> None:
        """Stop it (it writes out what it received first) and read its lines back."""
        if self._received is not None:
            return
        self.process.stop(2.0)
        try:
            text = self._out.read_text(errors="replace") if self._out.exists() else ""
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._received = text.splitlines()

    def received(self) -> list[str]:
        self.stop()
        return list(self._received or [])

    def __enter__(self) -> LogSinkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
