"""Layer 7: one experiment, end to end, returned as a :class:`Run`.

``run()`` builds the program (probe injected), starts it on a free loopback port with
the chosen backend and limits, optionally starts an upstream and a log sink for it, waits
until it
accepts connections, idles for a short baseline, drives it with load, lets it cool down,
stops it, and returns everything measured. A Run saves to and loads from a JSON file, so
a recorded run can be plotted where nothing can be run.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .backends import Backend, Exit, KilledBy, Limits, Process, get_backend
from .build import Binary, build
from .datastores import ActivitySampler, Databases, DatabaseSpec, Postgres, Redis, acquire
from .goreports import GoReport, crash_report, race_reports
from .load import Load, LoadRun
from .network import free_port, wait_for_port
from .services import LogSink, LogSinkServer, Upstream, UpstreamServer
from .telemetry import ProbeKey

MAX_KEPT_LINES = 20000


@dataclass
class Run:
    label: str
    backend: str
    enforcement: dict[str, str]
    params: dict
    samples: list[dict] = field(default_factory=list)  # probe samples, t relative to start
    upstream_samples: list[dict] = field(default_factory=list)
    sink_samples: list[dict] = field(default_factory=list)  # the log sink's probe
    sink_lines: list[str] = field(default_factory=list)  # the lines the log sink received
    # What the databases counted (source "db"): {"t", "postgres": {...}, "redis": {...}}
    db_samples: list[dict] = field(default_factory=list)
    load: list[dict] = field(default_factory=list)  # load generator intervals
    load_summary: dict | None = None
    exit: Exit | None = None
    stdout: list[tuple[float, str]] = field(default_factory=list)
    stderr: list[tuple[float, str]] = field(default_factory=list)
    dropped_lines: int = 0
    # Lines that looked like the probe's but lacked the run's key: the program's own,
    # kept among its output and never read as measurements (telemetry.ProbeKey).
    forged_probe_lines: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    duration_s: float = 0.0
    # What a ``during_load`` hook measured itself (Control.data): its requests' outcomes, a
    # profile it fetched... so a lesson's claims can judge it; saved with the run.
    data: dict = field(default_factory=dict)

    # ---- reading the time series
    def series(self, name: str, source: str = "program") -> tuple[list[float], list[float]]:
        """Times and values of a metric: a probe field (``goroutines``, ``rss``, ``fds``,
        ...), ``expvar.NAME`` for a variable the program publishes, or a load field
        (``p99_ms``, ``ok``, ...) with ``source="load"``; ``source="upstream"`` reads the
        upstream's probe, ``source="sink"`` the log sink's (``expvar.bytes``,
        ``expvar.lines``), ``source="db"`` what the databases counted
        (``postgres.connections``, ``redis.misses``, ...). A name ending in ``/s`` is the
        per-second rate of a counter between consecutive samples (``expvar.db_queries/s``)."""
        if name.endswith("/s"):
            return _rate(*self.series(name.removesuffix("/s"), source))
        rows = {"program": self.samples, "upstream": self.upstream_samples,
                "sink": self.sink_samples, "load": self.load, "db": self.db_samples}[source]
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

    def value_at(self, name: str, t: float, source: str = "program") -> float:
        """The metric's value at time ``t``: the last sample at or before it (the first
        sample when ``t`` comes before all of them)."""
        ts, vs = self.series(name, source)
        if not vs:
            return float("nan")
        before = [v for ts_, v in zip(ts, vs, strict=True) if ts_ <= t]
        return before[-1] if before else vs[0]

    def event_time(self, label: str) -> float | None:
        return next((t for t, name in self.events if name == label), None)

    def logs(self, stream: str = "stderr") -> list[str]:
        """The program's lines on ``"stderr"`` or ``"stdout"``, or ``"sink"``: the lines the
        log sink received (run's ``log_sink``)."""
        if stream == "sink":
            return list(self.sink_lines)
        return [line for _, line in (self.stderr if stream == "stderr" else self.stdout)]

    def lines_during_load(self, after_s: float = 0.2) -> list[str]:
        """The program's own lines (stderr and stdout, in time order, blank ones left out)
        written while its load ran, up to ``after_s`` after it stopped: its start-up and
        shut-down lines, whatever they say, are not among them."""
        start, stop = self.event_time("load start"), self.event_time("load stop")
        return [line for t, line in sorted(self.stderr + self.stdout)
                if start <= t <= stop + after_s and line.strip()]

    def grep(self, pattern: str | re.Pattern, stream: str = "stderr") -> list[str]:
        """The program's log lines containing ``pattern`` (a string, or a compiled regular
        expression to search for)."""
        if isinstance(pattern, re.Pattern):
            return [line for line in self.logs(stream) if pattern.search(line)]
        return [line for line in self.logs(stream) if pattern in line]

    def count(self, pattern: str | re.Pattern, stream: str = "stderr") -> int:
        return len(self.grep(pattern, stream))

    def race_reports(self) -> list[GoReport]:
        """The race detector's reports (a program built with ``race=True``)."""
        return race_reports(self.logs())

    def crash(self) -> GoReport | None:
        """The Go runtime's ``fatal error:`` or ``panic:`` report, with its stacks."""
        return crash_report(self.logs())

    @property
    def killed(self) -> bool:
        """Whether something killed the program (a limit, a guard, the timeout), rather
        than it exiting by itself or surviving until the engine stopped it."""
        return bool(self.exit and self.exit.killed_by and self.exit.killed_by.is_kill)

    # ---- persistence
    def to_dict(self) -> dict:
        d = asdict(self)
        d["exit"] = self.exit.to_dict() if self.exit else None
        d["data"] = _data_to_json(d["data"])  # a hook may keep raw bodies, tuples
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wt") as f:
            json.dump(self.to_dict(), f)
        return path

    @classmethod
    def from_dict(cls, d: dict) -> Run:
        """The Run :meth:`to_dict` gave (after a trip through JSON)."""
        d = dict(d)
        d["exit"] = Exit(**d["exit"]) if d.get("exit") else None
        for key in ("stdout", "stderr", "events"):
            d[key] = [tuple(x) for x in d.get(key, [])]
        d["data"] = _data_from_json(d.get("data", {}))
        return cls(**d)

    @classmethod
    def load_file(cls, path: str | Path) -> Run:
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            return cls.from_dict(json.load(f))

    def summary(self) -> str:
        ex = self.exit
        how = "still running" if ex is None else (
            f"killed by {ex.killed_by}: {ex.detail}" if self.killed else ex.detail or "exited")
        return (f"{self.label} on {self.backend}: {len(self.samples)} samples over "
                f"{self.duration_s:.1f} s; {how}")

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.summary())


def _data_to_json(value):
    """``value`` (what a hook stored) as JSON that gives it back exactly: ``bytes`` as
    ``{"__bytes__": base64}``, a tuple as ``{"__tuple__": [...]}`` (a claim may print one)."""
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"__tuple__": [_data_to_json(v) for v in value]}
    if isinstance(value, dict):
        return {k: _data_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_data_to_json(v) for v in value]
    return value


def _data_from_json(value):
    if isinstance(value, dict):
        if list(value) == ["__bytes__"]:
            return base64.b64decode(value["__bytes__"])
        if list(value) == ["__tuple__"]:
            return tuple(_data_from_json(v) for v in value["__tuple__"])
        return {k: _data_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_data_from_json(v) for v in value]
    return value


def _rate(ts: list[float], vs: list[float]) -> tuple[list[float], list[float]]:
    """A counter's rate per second, at the end of each interval between samples."""
    points = list(zip(ts, vs, strict=True))
    pairs = [(t1, (v1 - v0) / (t1 - t0))
             for (t0, v0), (t1, v1) in zip(points, points[1:], strict=False) if t1 > t0]
    return [t for t, _ in pairs], [r for _, r in pairs]


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
    data: dict = field(default_factory=dict)  # becomes Run.data
    # The other addresses the program listens on (run's ``listen``): env name -> base URL.
    urls: dict[str, str] = field(default_factory=dict)
    # The run's database servers (run's ``databases``), to query or to take down and up.
    postgres: Postgres | None = None
    redis: Redis | None = None
    events: list[tuple[float, str]] | None = None

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def event(self, name: str) -> None:
        """Mark ``name`` on the run's time axis, now (plots draw it)."""
        if self.events is not None:
            self.events.append((self.now(), name))

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
    listen: Sequence[str] = (),
    databases: DatabaseSpec | None = None,
    log_sink: LogSink | None = None,
) -> Run:
    """Build and run ``program`` under ``load`` and return what was measured.

    The program listens on ``ADDR`` (a free 127.0.0.1 port given in its environment);
    ``UPSTREAM_URL`` points at the upstream when one is asked for. ``during_load`` is
    called with a :class:`Control` once load starts (for traffic of a lesson's own, or to
    signal the program); ``load`` may be None with ``during_load`` doing all the traffic.
    ``listen`` names environment variables of more addresses the program listens on (an
    admin port, say): each gets a free 127.0.0.1 port when the run starts, and
    ``Control.urls[name]`` is its base URL.
    ``databases`` names the PostgreSQL and Redis servers the program needs: each run starts
    on a fresh seeded database and an empty Redis, the program gets ``DATABASE_URL`` and
    ``REDIS_ADDR``, and what the servers count is sampled (``Run.series(..., "db")``).
    ``log_sink`` starts the engine's slow log collector: the program gets ``LOG_ADDR``
    (host:port) to write its log lines to, its counters are the source ``"sink"`` and the
    lines it received are ``Run.logs("sink")``.
    The program is stopped at the end unless it died first; its exit says how.
    """
    binary = program if isinstance(program, Binary) else build(program, race=race)
    plan = _Plan(args=list(args), env=dict(env or {}), limits=limits or Limits(), load=load,
                 upstream=upstream, baseline_s=baseline_s, cooldown_s=cooldown_s,
                 ready_timeout_s=ready_timeout_s, probe_interval_s=probe_interval_s,
                 during_load=during_load, listen=tuple(listen), databases=databases,
                 log_sink=log_sink)
    return _Experiment(binary, get_backend(backend), plan, label, progress).execute()


@dataclass(frozen=True)
class _Plan:
    """What :func:`run` was asked to do."""

    args: list[str]
    env: dict[str, str]
    limits: Limits
    load: Load | None
    upstream: Upstream | None
    baseline_s: float
    cooldown_s: float
    ready_timeout_s: float
    probe_interval_s: float
    during_load: Callable[[Control], None] | None
    listen: tuple[str, ...] = ()
    databases: DatabaseSpec | None = None
    log_sink: LogSink | None = None

    def planned_s(self) -> float:
        """The run's expected length once the program is ready (the progress bar's 100 %)."""
        return max(0.1, self.baseline_s + (self.load.duration_s if self.load else 0)
                   + self.cooldown_s)


class _Experiment:
    """One :func:`run`: start, wait until ready, baseline, load, cooldown, stop. Each step
    is a method; the Run fills in as they go, under ``lock`` (output arrives on the
    backend's threads while this one reports progress)."""

    def __init__(self, binary: Binary, backend: Backend, plan: _Plan, label: str | None,
                 progress: Progress | None):
        self.binary, self.backend, self.plan, self.progress = binary, backend, plan, progress
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.more_ports = {name: free_port() for name in plan.listen}
        self.result = Run(
            label=label or binary.name, backend=backend.name,
            enforcement=backend.enforcement(plan.limits, binary.race),
            params={"args": list(plan.args), "env": dict(plan.env), "limits": asdict(plan.limits),
                    "load": plan.load.to_dict() if plan.load else None,
                    "upstream": plan.upstream.to_dict() if plan.upstream else None,
                    "race": binary.race, "port": self.port,
                    "listen": {name: f"127.0.0.1:{p}" for name, p in self.more_ports.items()},
                    "databases": plan.databases.to_dict() if plan.databases else None,
                    "log_sink": plan.log_sink.to_dict() if plan.log_sink else None},
        )
        self.upstream = UpstreamServer(plan.upstream) if plan.upstream else None
        self.sink: LogSinkServer | None = None
        self.databases: Databases | None = None
        self.sampler: ActivitySampler | None = None
        self.t0 = time.time()
        self.lock = threading.Lock()
        self.probe_key = ProbeKey()
        self.process: Process | None = None
        self.load_run: LoadRun | None = None
        self.ready_at: float | None = None  # when the baseline began

    def execute(self) -> Run:
        plan = self.plan
        try:
            self._start()
            if self._wait_until_ready() and self._idle(plan.baseline_s):
                if plan.load or plan.during_load:
                    self._drive()
                self._idle(plan.cooldown_s)
        finally:
            self._stop_everything()
        return self._finish()

    # ---- the steps
    def _start(self) -> None:
        env = {"ADDR": f"127.0.0.1:{self.port}",
               "GOPITFALLS_PROBE_INTERVAL": f"{self.plan.probe_interval_s * 1000:g}ms",
               **self.plan.env,
               **{name: f"127.0.0.1:{port}" for name, port in self.more_ports.items()}}
        if self.upstream:
            env.setdefault("UPSTREAM_URL", self.upstream.url)
        if self.plan.log_sink:
            self.sink = LogSinkServer(self.plan.log_sink)
            env.setdefault("LOG_ADDR", self.sink.addr)
        if self.plan.databases:
            self.databases = acquire(self.plan.databases)
            self.databases.reset(self.plan.databases.seed)
            env = {**self.databases.env(), **env}
            self.sampler = ActivitySampler(self.databases)
        self.process = self.backend.start(self.binary, self.plan.args,
                                          {**env, **self.probe_key.env}, self.plan.limits,
                                          self._record_line,
                                          ports=(self.port, *self.more_ports.values()),
                                          stdin=self.probe_key.stdin)
        self._event("start")

    def _wait_until_ready(self) -> bool:
        if wait_for_port(self.port, self.plan.ready_timeout_s, self._alive):
            self.ready_at = time.time()
            return True
        if self._alive():
            self._event("never listened")
        return False

    def _idle(self, seconds: float) -> bool:
        """Wait, reporting progress; False if the program died meanwhile."""
        end = time.time() + seconds
        while time.time() < end:
            if not self._alive():
                return False
            self._report_elapsed()
            time.sleep(min(0.25, max(0.0, end - time.time())))
        return True

    def _drive(self) -> None:
        """The load phase: the load generator and the lesson's ``during_load`` hook."""
        self._event("load start")
        if self.plan.load:
            self.load_run = LoadRun(self.plan.load, self.base_url, self.t0)
        hook = self.plan.during_load and _Hook(
            self.plan.during_load, Control(
                self.base_url, self.process, self.t0, self.result.data,
                {name: f"http://127.0.0.1:{port}" for name, port in self.more_ports.items()},
                postgres=self.databases and self.databases.postgres,
                redis=self.databases and self.databases.redis, events=self.result.events))
        # The lesson's hook runs in its own thread so that this one keeps reporting
        # progress (and drawing live plots) while it drives traffic.
        load_run = self.load_run
        while (load_run and not load_run.done()) or (hook and hook.running()):
            if load_run and not load_run.done() and not self._alive():
                load_run.process.stop(0.5)  # died under load: no point going on
            self._report_elapsed()
            time.sleep(0.1)
        if hook:
            hook.reraise()
        if load_run and self._alive():
            load_run.finish()
        self._event("load stop")

    def _stop_everything(self) -> None:
        """Whatever happened: stop the load, the program (recording how it ended), the
        upstream and the log sink."""
        if self.load_run is not None and not self.load_run.done():
            self.load_run.process.stop(0.5)
        if self.process is not None:
            died_by_itself = self.process.poll() is not None
            self.result.exit = self.process.stop(2.0)
            _explain_crash(self.result)
            if died_by_itself:
                self._record_death()
        if self.upstream is not None:
            self.upstream.stop()
            self.result.upstream_samples = _relative(self.upstream.samples, self.t0)
        if self.sink is not None:
            self.sink.stop()
            self.result.sink_samples = _relative(self.sink.samples, self.t0)
            self.result.sink_lines = self.sink.received()
        if self.sampler is not None:
            self.result.db_samples = _relative(self.sampler.stop(), self.t0)
        if self.databases is not None and self.databases.postgres is not None:
            self.databases.postgres.up()  # a lesson that took it down gets it back

    def _finish(self) -> Run:
        result = self.result
        if self.load_run is not None:
            result.load = self.load_run.intervals
            result.load_summary = self.load_run.summary
        result.duration_s = time.time() - self.t0
        result.forged_probe_lines = self.probe_key.rejected
        result.events.sort()
        self._report(1.0)
        return result

    # ---- helpers of the steps
    def _alive(self) -> bool:
        return self.process.poll() is None

    def _event(self, name: str) -> None:
        self.result.events.append((time.time() - self.t0, name))

    def _record_line(self, stream: str, line: str, t: float) -> None:
        """The backend's sink: a probe sample, or a line of the program's own output."""
        sample = (self.probe_key.parse(line) if stream == "stderr"
                  else self.probe_key.refuse(line))
        with self.lock:
            if sample is not None:
                sample["t"] = sample["t"] - self.t0
                self.result.samples.append(sample)
                return
            target = self.result.stdout if stream == "stdout" else self.result.stderr
            if len(target) < MAX_KEPT_LINES:
                target.append((t - self.t0, line))
            else:
                self.result.dropped_lines += 1

    def _record_death(self) -> None:
        """Mark on the time axis when a program that did not survive the run died."""
        ended = self.result.exit
        if ended.killed_by == KilledBy.STOPPED_AT_END:
            return
        name = str(ended.killed_by or f"exit {ended.code}")
        self.result.events.append((_death_time(self.result),
                                   f"killed ({name})" if self.result.killed else name))

    def _report(self, fraction: float) -> None:
        if not self.progress:
            return
        with self.lock:
            self.result.duration_s = time.time() - self.t0
            if self.upstream:
                self.result.upstream_samples = _relative(self.upstream.samples, self.t0)
            if self.sink:
                self.result.sink_samples = _relative(self.sink.samples, self.t0)
            if self.sampler:
                self.result.db_samples = _relative(self.sampler.samples, self.t0)
            if self.load_run:
                self.result.load = list(self.load_run.intervals)
        self.progress(self.result, min(1.0, fraction))

    def _report_elapsed(self) -> None:
        # Progress is the time since the baseline began over the planned time; 1.0 is
        # reported once, at the end, since a hook may run past the planned time.
        if self.ready_at is None:
            self._report(0.0)
        else:
            self._report(min(0.99, (time.time() - self.ready_at) / self.plan.planned_s()))


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
    """Best estimate of when the program died: just after its last probe sample, and never
    before "load start", which is recorded only once the program was seen alive after the
    baseline. (A program that exits at once on a signal sent during the load may have
    sent its last sample before the load started.)"""
    last = result.samples[-1]["t"] if result.samples else 0.0
    alive_at = max(result.event_time("start") or 0.0, result.event_time("load start") or 0.0)
    return max(last, alive_at) + 0.05


def json_record(line: str) -> dict | None:
    """A log line as a JSON object, or None when it is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
