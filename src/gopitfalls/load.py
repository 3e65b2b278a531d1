"""Layer 6: drive a server with the Go load generator (``gotools/loadgen``).

Open model (``rate`` > 0): requests are sent on a fixed schedule and latency is measured
from each request's *intended* send time, so a stalled server cannot hide its queueing
(no coordinated omission). Closed model (``rate`` = 0): ``concurrency`` workers send back
to back. The generator prints one JSON summary per interval and one for the whole run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .backends import Limits, get_backend
from .build import tool


@dataclass
class Load:
    rate: float = 0.0  # requests per second; 0 selects the closed model
    concurrency: int = 10
    duration_s: float = 5.0
    timeout_s: float = 5.0  # per-request client timeout
    path: str = "/"
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    keepalive: bool = True
    max_inflight: int = 10000
    requests: int = 0  # optional cap on the total count
    interval_s: float = 0.1

    def args(self, base_url: str) -> list[str]:
        args = [
            f"-url={base_url.rstrip('/')}{self.path}",
            f"-method={self.method}",
            f"-rate={self.rate:g}",
            f"-concurrency={self.concurrency}",
            f"-duration={self.duration_s:g}s",
            f"-timeout={self.timeout_s:g}s",
            f"-interval={self.interval_s * 1000:g}ms",
            f"-max-inflight={self.max_inflight}",
            f"-keepalive={'true' if self.keepalive else 'false'}",
        ]
        if self.requests:
            args.append(f"-requests={self.requests}")
        for k, v in self.headers.items():
            args.append(f"-header={k}: {v}")
        if self.body is not None:
            args.append(f"-body={self.body}")
        return args

    def to_dict(self) -> dict:
        return asdict(self)


class LoadRun:
    """A running load generator; ``intervals`` fill in as its JSON lines arrive."""

    def __init__(self, spec: Load, base_url: str, t0: float):
        self.spec, self.t0 = spec, t0
        self.intervals: list[dict] = []
        self.summary: dict | None = None
        self.errors: list[str] = []
        self.started_at: float | None = None
        limits = Limits(memory_mb=2048, nofile=65536, timeout_s=spec.duration_s
                        + spec.timeout_s + 30)
        self.process = get_backend("local").start(tool("loadgen"), spec.args(base_url), {},
                                                  limits, self._line)

    def _line(self, stream: str, line: str, t: float) -> None:
        if stream == "stderr":
            self.errors.append(line)
            return
        try:
            record = json.loads(line)
        except ValueError:
            self.errors.append(line)
            return
        if self.started_at is None:
            self.started_at = t - float(record.get("t", 0))
        record["t"] = self.started_at + float(record.get("t", 0)) - self.t0
        if record.get("type") == "summary":
            self.summary = record
        else:
            self.intervals.append(record)

    def done(self) -> bool:
        return self.process.poll() is not None

    def finish(self) -> None:
        ended = self.process.wait(self.spec.duration_s + self.spec.timeout_s + 20)
        if ended is None:
            self.process.stop()
        elif ended.code != 0:
            raise RuntimeError("the load generator failed: " + " / ".join(self.errors[-5:]))
