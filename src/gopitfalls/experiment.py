"""Layer 7: one experiment, end to end, returned as a :class:`Run`.

``run()`` builds the program (probe injected), starts it on a free loopback port with
the chosen backend and limits, optionally starts an upstream for it, waits until it
accepts connections, idles for a short baseline, drives it with load, lets it cool down,
stops it, and returns everything measured. A Run saves to and loads from a JSON file, so
a recorded run can be plotted where nothing can be run.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .backends import Exit, Limits, Process, get_backend
from .build import Binary, build
from .load import Load, LoadRun
from .services import Upstream, UpstreamServer, free_port, parse_probe, wait_for_port

MAX_KEPT_LINES = 20000


@dataclass
class Run:
    label: str
    backend: str
    enforcement: dict[str, str]
    params: dict
    samples: list[dict] = field(default_factory=list)  # probe samples, t relative to start
    upstream_samples: list[dict] = field(default_factory=list)
    load: list[dict] = field(default_factory=list)  # load generator intervals
    load_summary: dict | None = None
    exit: Exit | None = None
    stdout: list[tuple[float, str]] = field(default_factory=list)
    stderr: list[tuple[float, str]] = field(default_factory=list)
    dropped_lines: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    duration_s: float = 0.0

    # ---- reading the time series
    def series(self, name: str, source: str = "program") -> tuple[list[float], list[float]]:
        """Times and values of a metric: a probe field (``goroutines``, ``rss``, ``fds``,
        ...), ``expvar.NAME`` for a variable the program publishes, or a load field
        (``p99_ms``, ``ok``, ...) with ``source="load"``; ``source="upstream"`` reads the
        upstream's probe."""
        rows = {"program": self.samples, "upstream": self.upstream_samples,
                "load": self.load}[source]
        ts, vs = [], []
        for row in rows:
            if source == "load" and name.endswith("_ms") and not row.get("done"):
                continue  # no request completed in that interval: no latency to show
            value = _lookup(row, name)
            if value is not None:
                ts.append(row["t"])
                vs.append(value)
        return ts, vs

    def values(self, name: str, source: str = "program") -> list[float]:
        return self.series(name, source)[1]

    def peak(self, name: str, source: str = "program") -> float:
        vs = self.values(name, source)
        return max(vs) if vs else float("nan")

    def final(self, name: str, source: str = "program") -> float:
        vs = self.values(name, source)
        return vs[-1] if vs else float("nan")

    def event_time(self, label: str) -> float | None:
        return next((t for t, name in self.events if name == label), None)

    def logs(self, stream: str = "stderr") -> list[str]:
        return [line for _, line in (self.stderr if stream == "stderr" else self.stdout)]

    @property
    def killed(self) -> bool:
        return bool(self.exit and self.exit.killed_by not in (None, "stopped"))

    # ---- persistence
    def to_dict(self) -> dict:
        d = asdict(self)
        d["exit"] = self.exit.to_dict() if self.exit else None
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wt") as f:
            json.dump(self.to_dict(), f)
        return path

    @classmethod
    def load_file(cls, path: str | Path) -> Run:
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            d = json.load(f)
        d["exit"] = Exit(**d["exit"]) if d.get("exit") else None
        for key in ("stdout", "stderr", "events"):
            d[key] = [tuple(x) for x in d.get(key, [])]
        return cls(**d)

    def summary(self) -> str:
        ex = self.exit
        how = "still running" if ex is None else (
            f"killed by {ex.killed_by}: {ex.detail}" if self.killed else ex.detail or "exited")
        return (f"{self.label} on {self.backend}: {len(self.samples)} samples over "
                f"{self.duration_s:.1f} s; {how}")

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.summary())


def _lookup(row: dict, name: str):
    value = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


Progress = Callable[[Run, float], None]  # (run so far, fraction done 0..1)


@dataclass
class Control:
    """Handed to ``during_load``: where the program listens, and a way to signal it."""

    url: str
    process: Process
    t0: float

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def now(self) -> float:
        """Seconds since the run started (the time axis of the Run)."""
        return time.time() - self.t0


def run(
    program: str | Path | Binary,
    *,
    label: str | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    limits: Limits | None = None,
    backend: str | None = None,
    load: Load | None = None,
    upstream: Upstream | None = None,
    race: bool = False,
    baseline_s: float = 0.5,
    cooldown_s: float = 1.0,
    ready_timeout_s: float = 10.0,
    probe_interval_s: float = 0.1,
    progress: Progress | None = None,
    during_load: Callable[[Control], None] | None = None,
) -> Run:
    """Build and run ``program`` under ``load`` and return what was measured.

    The program listens on ``ADDR`` (a free 127.0.0.1 port given in its environment);
    ``UPSTREAM_URL`` points at the upstream when one is asked for. ``during_load`` is
    called with a :class:`Control` once load starts (for traffic of a lesson's own, or to
    signal the program); ``load`` may be None with ``during_load`` doing all the traffic.
    The program is stopped at the end unless it died first; its exit says how.
    """
    binary = program if isinstance(program, Binary) else build(program, race=race)
    limits = limits or Limits()
    be = get_backend(backend)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    result = Run(
        label=label or binary.name, backend=be.name,
        enforcement=be.describe(limits, binary.race),
        params={"args": list(args), "env": dict(env or {}), "limits": asdict(limits),
                "load": load.to_dict() if load else None,
                "upstream": upstream.to_dict() if upstream else None,
                "race": binary.race, "port": port},
    )
    upstream_server = UpstreamServer(upstream) if upstream else None
    t0 = time.time()
    lock = threading.Lock()

    def sink(stream: str, line: str, t: float) -> None:
        sample = parse_probe(line) if stream == "stderr" else None
        with lock:
            if sample is not None:
                sample["t"] = sample["t"] - t0
                result.samples.append(sample)
                return
            target = result.stdout if stream == "stdout" else result.stderr
            if len(target) < MAX_KEPT_LINES:
                target.append((t - t0, line))
            else:
                result.dropped_lines += 1

    child_env = {"ADDR": f"127.0.0.1:{port}",
                 "GOPITFALLS_PROBE_INTERVAL": f"{probe_interval_s * 1000:g}ms", **(env or {})}
    if upstream_server:
        child_env.setdefault("UPSTREAM_URL", upstream_server.url)
    start_kwargs = {} if be.name == "local" else {"ports": (port,)}
    process = None
    load_run = None
    planned = max(0.1, baseline_s + (load.duration_s if load else 0) + cooldown_s)

    def report(fraction: float) -> None:
        if progress:
            with lock:
                result.duration_s = time.time() - t0
                if upstream_server:
                    result.upstream_samples = _relative(upstream_server.samples, t0)
                if load_run:
                    result.load = list(load_run.intervals)
            progress(result, min(1.0, fraction))

    ready_at = None  # when the baseline began: progress is the time since, over `planned`

    def report_elapsed() -> None:
        # 1.0 is reported once, at the end: a hook may run past the planned time
        report(min(0.99, (time.time() - ready_at) / planned) if ready_at else 0.0)

    def idle(seconds: float) -> bool:
        """Wait, reporting progress; False if the program died meanwhile."""
        end = time.time() + seconds
        while time.time() < end:
            if process.poll() is not None:
                return False
            report_elapsed()
            time.sleep(min(0.25, max(0.0, end - time.time())))
        return True

    try:
        process = be.start(binary, list(args), child_env, limits, sink, **start_kwargs)
        result.events.append((time.time() - t0, "start"))
        alive = lambda: process.poll() is None  # noqa: E731
        if not wait_for_port(port, ready_timeout_s, alive):
            if alive():
                result.events.append((time.time() - t0, "never listened"))
        else:
            ready_at = time.time()
            if idle(baseline_s):
                if load or during_load:
                    result.events.append((time.time() - t0, "load start"))
                    if load:
                        load_run = LoadRun(load, base_url, t0)
                    hook = during_load and _Hook(during_load, Control(base_url, process, t0))
                    # The lesson's hook runs in its own thread so that this one keeps
                    # reporting progress (and drawing live plots) while it drives traffic.
                    while (load_run and not load_run.done()) or (hook and hook.running()):
                        if load_run and not load_run.done() and process.poll() is not None:
                            load_run.process.stop(0.5)  # died under load: no point going on
                        report_elapsed()
                        time.sleep(0.1)
                    if hook:
                        hook.reraise()
                    if load_run and process.poll() is None:
                        load_run.finish()
                    result.events.append((time.time() - t0, "load stop"))
                idle(cooldown_s)
    finally:
        if load_run is not None and not load_run.done():
            load_run.process.stop(0.5)
        if process is not None:
            dead_before = process.poll()
            result.exit = process.stop(2.0)
            _explain_crash(result)
            if dead_before is not None and result.exit.killed_by != "stopped":
                label_ = result.exit.killed_by or f"exit {result.exit.code}"
                died_at = _death_time(result)
                result.events.append((died_at, f"killed ({label_})" if result.killed
                                      else label_))
        if upstream_server is not None:
            upstream_server.stop()
            result.upstream_samples = _relative(upstream_server.samples, t0)
    if load_run is not None:
        result.load = load_run.intervals
        result.load_summary = load_run.summary
    result.duration_s = time.time() - t0
    result.events.sort()
    report(1.0)
    return result


class _Hook:
    """A lesson's ``during_load`` callable, run in a thread; its exception is kept for
    the caller to raise."""

    def __init__(self, func: Callable[[Control], None], ctl: Control):
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(func, ctl),
                                        name="gopitfalls-during-load", daemon=True)
        self._thread.start()

    def _run(self, func: Callable[[Control], None], ctl: Control) -> None:
        try:
            func(ctl)
        except BaseException as exc:  # handed to the caller's thread by reraise()
            self.error = exc

    def running(self) -> bool:
        return self._thread.is_alive()

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


def _explain_crash(result: Run) -> None:
    """Add the Go runtime's own reason ("fatal error: ...", "panic: ...") to the exit."""
    ex = result.exit
    if ex is None or ex.killed_by is not None or ex.code in (0, None):
        return
    reason = next((line for _, line in result.stderr
                   if line.startswith(("fatal error:", "panic:", "runtime:"))), None)
    if reason:  # Go exits with 2 on a fatal error or an unrecovered panic
        ex.detail = f"{ex.detail}: {reason}"


def _relative(samples: list[dict], t0: float) -> list[dict]:
    return [dict(s, t=s["t"] - t0) for s in samples]


def _death_time(result: Run) -> float:
    """Best estimate of when the program died: just after its last probe sample."""
    last = result.samples[-1]["t"] if result.samples else 0.0
    started = result.event_time("start") or 0.0
    return max(last, started) + 0.05
