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
from dataclasses import asdict, dataclass

from .backends import Limits, get_backend
from .build import tool
from .network import free_port, wait_for_port
from .registry import make_temp_dir
from .telemetry import ProbeKey


@dataclass
class Upstream:
    mode: str = "ok"  # ok | slow | hang | big
    delay_s: float = 0.0
    body_size: str = "1MiB"

    def to_dict(self) -> dict:
        return asdict(self)


class _ToolServer:
    """One of the engine's Go tools running locally beside a program, with the probe: its
    samples in ``samples``, its other output lines in ``lines``."""

    def _start(self, name: str, port: int, args: list[str], limits: Limits) -> None:
        self.samples: list[dict] = []
        self.lines: list[str] = []
        self.probe_key = ProbeKey()
        self.process = get_backend("local").start(
            tool(name), args, dict(self.probe_key.env), limits, self._line,
            stdin=self.probe_key.stdin)
        if not wait_for_port(port, 10, lambda: self.process.poll() is None):
            self.process.stop()
            raise RuntimeError(f"the {name} did not start: " + " / ".join(self.lines[-5:]))

    def _line(self, stream: str, line: str, t: float) -> None:
        sample = self.probe_key.parse(line)
        if sample is not None:
            self.samples.append(sample)
        elif len(self.lines) < 1000:
            self.lines.append(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class UpstreamServer(_ToolServer):
    def __init__(self, spec: Upstream):
        self.spec = spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [f"-addr=127.0.0.1:{self.port}", f"-mode={spec.mode}",
                f"-delay={spec.delay_s * 1000:g}ms", f"-body-size={spec.body_size}"]
        self._start("upstream", self.port, args,
                    Limits(memory_mb=1024, nofile=65536, timeout_s=600))

    def stop(self) -> None:
        self.process.stop(0.5)


@dataclass
class LogSink:
    bytes_per_s: float = 200_000  # what it reads at most; 0 reads as fast as it can
    max_lines: int = 50_000  # the most received lines kept

    def to_dict(self) -> dict:
        return asdict(self)


class LogSinkServer(_ToolServer):
    """The running collector: ``addr`` (host:port, the program's ``LOG_ADDR``),
    ``samples`` (its probe), and ``received()`` (its lines, once stopped)."""

    def __init__(self, spec: LogSink):
        self.spec = spec
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self._dir = make_temp_dir("logsink")  # reaped if this process dies first
        self._out = self._dir / "received.log"
        self._received: list[str] | None = None
        args = [f"-addr={self.addr}", f"-rate={spec.bytes_per_s:g}", f"-out={self._out}",
                f"-max-lines={int(spec.max_lines)}"]
        try:
            self._start("logsink", self.port, args,
                        Limits(memory_mb=512, nofile=4096, timeout_s=600))
        except Exception:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

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
