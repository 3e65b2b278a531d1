"""Layer 10 (beside the course, where it finds the gateway): an inference service for the
GPU labs (chapter 5), made of the Go gateway in ``labs/gpu/gateway`` (the dynamic batcher)
in front of one model worker (:mod:`.modelworker`, PyTorch), driven by the engine's load
generator.

The worker runs under the local backend with the engine's memory cap (an RSS watchdog: a
CPU batch that grows past it is killed, as a GPU's would fail with out-of-memory); the
gateway runs as any lesson program does, so its counters (queue length, batch sizes,
rejections, and the worker's memory, which it polls) arrive through the probe, and the
live plot, the Run and its saved form are the engine's. Both listen on 127.0.0.1 only.

:func:`serve` runs the gateway once under a load; :func:`sweep` runs it at several
concurrencies against one warm worker; :class:`WorkerProcess` is the worker alone (lab
gpu-02 times its cold start).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import inference, traffic
from .backends import Exit, Limits, get_backend
from .build import Binary
from .course import course_root
from .experiment import Run, run
from .load import Load
from .network import free_port, wait_for_port
from .plots import LivePlot, in_notebook

GATEWAY = Path("labs") / "gpu" / "gateway"

# What the live plot of a serving run shows.
METRICS = ["load:ok", "load:p99_ms", "expvar.queue_length", "expvar.worker_rss_mb"]


@dataclass(frozen=True)
class Batching:
    """The gateway's settings (its environment; see labs/gpu/gateway/main.go)."""

    max_batch: int = 1  # 1: no batching; 0: no limit (lab gpu-03's pitfall)
    max_delay_ms: int = 2  # how long a batch's first request waits for more
    max_queue: int = 0  # requests waiting at most; past it 429 + Retry-After; 0: no limit
    retry_after_s: int = 1

    def env(self) -> dict[str, str]:
        return {"MAX_BATCH": str(self.max_batch), "MAX_DELAY_MS": str(self.max_delay_ms),
                "MAX_QUEUE": str(self.max_queue), "RETRY_AFTER_S": str(self.retry_after_s)}

    def but(self, **changes) -> Batching:
        return replace(self, **changes)

    @property
    def name(self) -> str:
        if self.max_batch == 1:
            return "no batching"
        size = "no limit" if self.max_batch == 0 else f"≤ {self.max_batch}"
        queue = "unbounded queue" if self.max_queue == 0 else f"queue ≤ {self.max_queue}"
        return f"batch {size}, {self.max_delay_ms} ms delay, {queue}"


NO_BATCHING = Batching(max_batch=1)


@dataclass(frozen=True)
class Worker:
    """How the model worker is started."""

    device: str = "auto"  # auto: CUDA when PyTorch sees one (GOPITFALLS_DEVICE=cpu forces)
    warmup: bool = False  # run every batch size 1..max_batch before /ready
    max_batch: int = 16
    memory_mb: int = 3072  # the engine's RSS cap on the worker
    device_memory_mb: int = 0  # on a GPU, its share of device memory (0: all)
    ready_timeout_s: float = 180.0

    def args(self, port: int) -> list[str]:
        return ["-m", "gopitfalls.modelworker", f"--port={port}", f"--device={self.device}",
                f"--max-batch={self.max_batch}", f"--device-memory-mb={self.device_memory_mb}",
                *(["--warmup"] if self.warmup else [])]


class WorkerProcess:
    """The model worker, running: ``url``, ``started`` (time.time() at its start),
    ``phases`` (the JSON phase lines it printed, with the time each arrived), ``exit``
    once stopped or dead. A context manager: it always ends with the block."""

    def __init__(self, spec: Worker = Worker()):
        self.spec = spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.phases: list[tuple[float, dict]] = []
        self.exit: Exit | None = None
        python = Binary(path=Path(sys.executable), name="modelworker", source=Path(__file__),
                        race=False, probe=False, build_seconds=0.0)
        # The worker imports this package: from where this process imported it.
        env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1]),
               "PYTHONUNBUFFERED": "1"}
        if os.environ.get("GOPITFALLS_DEVICE"):
            env["GOPITFALLS_DEVICE"] = os.environ["GOPITFALLS_DEVICE"]
        limits = Limits(memory_mb=spec.memory_mb, nofile=4096, timeout_s=1800)
        self.started = time.time()
        self.process = get_backend("local").start(python, spec.args(self.port), env, limits,
                                                  self._line)
        if not wait_for_port(self.port, 30, self.alive):
            self.stop()
            raise RuntimeError("the model worker did not start: " + " / ".join(self.lines[-5:]))

    def _line(self, stream: str, line: str, t: float) -> None:
        if stream == "stdout" and line.startswith("{"):
            try:
                self.phases.append((t - self.started, json.loads(line)))
                return
            except ValueError:
                pass
        if len(self.lines) < 1000:
            self.lines.append(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def get(self, path: str, timeout: float = 2.0) -> tuple[int | None, dict | None]:
        """GET one of the worker's paths: its status and JSON body (None, None when no
        answer came: it is busy importing PyTorch, or gone)."""
        answer = traffic.call(self.url + path, timeout=timeout)
        return answer.status, answer.json()

    def infer(self, inputs: list[list[int]], timeout: float = 120.0) -> dict:
        """One batch straight to the worker (no gateway): its answer."""
        answer = traffic.call(self.url + "/batch", "POST", timeout=timeout,
                              body={"inputs": [{"tokens": t} for t in inputs]})
        if answer.status != 200:
            raise RuntimeError(f"the model worker answered {answer.status or answer.error}: "
                               f"{answer.text[:200]}")
        return answer.json()

    def wait_ready(self) -> float:
        """Wait until /ready answers 200; the seconds since the worker started."""
        deadline = time.time() + self.spec.ready_timeout_s
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("the model worker died while loading: "
                                   + " / ".join(self.lines[-5:]))
            status, body = self.get("/ready")  # None while it is busy importing PyTorch
            if status == 200:
                return time.time() - self.started
            if body and body.get("failed"):
                raise RuntimeError(f"the model worker could not load its model: "
                                   f"{body['failed']}")
            time.sleep(0.05)
        raise TimeoutError(f"the model worker was not ready in {self.spec.ready_timeout_s} s")

    def stats(self) -> dict:
        status, body = self.get("/stats")
        if body is None:
            raise RuntimeError(f"the model worker did not answer /stats (status {status})")
        return body

    def stop(self) -> Exit:
        if self.exit is None:
            self.exit = self.process.stop(2.0)
        return self.exit

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Served:
    """One serving run: the gateway's :class:`~gopitfalls.experiment.Run` (its load and
    counters), the worker's stats at the end (None if it died) and how the worker ended."""

    batching: Batching
    run: Run
    worker_stats: dict | None
    worker_exit: Exit | None = None
    label: str = field(default="")

    @property
    def batch_sizes(self) -> dict[int, int]:
        """How many batches of each size the gateway formed (from its last sample)."""
        sizes = self.run.samples[-1].get("expvar", {}).get("batch_sizes", {}) \
            if self.run.samples else {}
        return {int(k): int(v) for k, v in sorted(sizes.items(), key=lambda kv: int(kv[0]))}

    @property
    def worker_died(self) -> bool:
        return self.worker_exit is not None and self.worker_exit.killed_by is not None \
            and self.worker_exit.killed_by.is_kill

    def row(self) -> dict:
        """The load's summary as a table row."""
        s = self.run.load_summary or {}
        sizes = self.batch_sizes
        formed = sum(sizes.values())
        return {"run": self.label or self.batching.name,
                "answered/s": round(s.get("ok", 0) / max(s.get("load_s") or 1e-9, 1e-9), 1),
                "p50 ms": s.get("p50_ms"), "p99 ms": s.get("p99_ms"),
                "errors": s.get("done", 0) - s.get("ok", 0),
                "mean batch": round(sum(k * v for k, v in sizes.items()) / formed, 1)
                if formed else None}


def _gateway() -> Path:
    return course_root() / GATEWAY


def serve(batching: Batching, load: Load, worker: WorkerProcess, *, label: str = "",
          progress: str | None = "live", limits: Limits | None = None,
          baseline_s: float = 0.3, cooldown_s: float = 0.5, during_load=None) -> Served:
    """Run the gateway with ``batching`` in front of a running ``worker`` under ``load``
    (``during_load``: as :func:`~gopitfalls.experiment.run`'s)."""
    label = label or batching.name
    if progress == "live":
        progress = LivePlot(METRICS, f"{label} ({device_label()}): live") \
            if in_notebook() else None
    result = run(_gateway(), label=label, backend="local", load=load,
                 env={**batching.env(), "WORKER_URL": worker.url},
                 limits=limits or Limits(memory_mb=512, nofile=65536, timeout_s=600),
                 baseline_s=baseline_s, cooldown_s=cooldown_s, progress=progress,
                 during_load=during_load)
    result.params["batching"] = asdict(batching)
    stats = worker.stats() if worker.alive() else None
    return Served(batching, result, stats, None if worker.alive() else worker.stop(), label)


def sweep(batching: Batching, concurrencies: list[int], worker: WorkerProcess, *,
          duration_s: float = 3.0, body: str | None = None) -> list[Served]:
    """The same closed-model load (``concurrency`` clients sending back to back) at each
    concurrency, against one warm worker."""
    body = body or inference.request_body(inference.device().sizes.tokens)
    return [serve(batching, infer_load(concurrency=c, duration_s=duration_s, body=body),
                  worker, label=f"{batching.name}, concurrency {c}", progress=None)
            for c in concurrencies]


def infer_load(body: str, **fields) -> Load:
    """A load of inference requests (POST /v1/infer with ``body``)."""
    return Load(**{"path": "/v1/infer", "method": "POST", "body": body,
                   "headers": {"Content-Type": "application/json"}, "timeout_s": 30.0,
                   **fields})


def device_label() -> str:
    """What every figure carries: "CPU, 2 cores" or "GPU: <name>"."""
    return inference.device().label


# ---- lab gpu-03
# The event serve_watched marks on the run's time axis ("killed..." is drawn as a kill).
WORKER_KILLED = "killed: the model worker"


def serve_watched(batching: Batching, load: Load, worker: WorkerProcess, *, label: str = "",
                  progress: str | None = "live") -> Served:
    """:func:`serve`, watched as a client would: one request sent every half second until
    the gateway turns one away records what a client then gets, in ``run.data["rejected"]``
    (``{"t", "status", "retry_after"}``; absent if none was); and when the worker died, the
    moment the gateway lost it is marked on the run (the event :data:`WORKER_KILLED`)."""
    def ask(control) -> None:
        started = time.time()
        while "rejected" not in control.data and time.time() - started < load.duration_s:
            # A short timeout: a request still queued is not the answer this waits for.
            answer = traffic.call(control.url + load.path, "POST", body=load.body or "",
                                  headers=load.headers, timeout=0.3)
            if answer.status in (429, 503):
                control.data["rejected"] = {"t": round(control.now(), 2),
                                            "status": answer.status,
                                            "retry_after": answer.headers.get("Retry-After")}
            time.sleep(0.2)

    served = serve(batching, load, worker, label=label, progress=progress, during_load=ask)
    if served.worker_died:
        # The gateway polls the worker every 100 ms: it was lost when worker_up last fell
        # to 0 (a poll can also time out while the worker is busy; it came back then).
        ts, up = served.run.series("expvar.worker_up")
        lost = [t for t, u, before in zip(ts[1:], up[1:], up, strict=False) if not u and before]
        if lost:
            served.run.events.append((lost[-1], WORKER_KILLED))
            served.run.events.sort()
    return served


def errors_per_s(run: Run) -> tuple[list[float], list[float]]:
    """Failed requests (any status but 2xx/3xx, or no answer) per second, per interval of
    the load generator: times and rates."""
    rows = [r for r in run.load if r.get("type") != "summary"]
    points = []
    for before, row in zip([None, *rows], rows, strict=False):
        dt = row["t"] - before["t"] if before else row["t"] - (run.event_time("load start") or 0)
        if dt > 0:
            points.append((row["t"], (row["done"] - row["ok"]) / dt))
    return [t for t, _ in points], [v for _, v in points]


def kill_time(run: Run) -> float | None:
    """When the gateway lost its worker (run time; :func:`serve_watched`), or None."""
    return run.event_time(WORKER_KILLED)


def plot_admission(runs: dict[str, Served], memory_mb: int, title: str,
                   memory: str = "worker_rss_mb"):
    """Errors/s, p99, the worker's memory (``memory``: its RSS, or ``worker_device_mb`` on a
    GPU) against its cap, and the queue over time, each run aligned on the start of its
    load, the moment the gateway lost its worker dotted."""
    from .plots import figure

    def series(run: Run, what: str):
        if what == "errors":
            return errors_per_s(run)
        if what == "p99_ms":
            return run.series("p99_ms", "load")
        return run.series(f"expvar.{what}")

    def draw(ax, panel, what, _color):
        for name, served in runs.items():
            shift = served.run.event_time("load start") or 0.0
            ts, vs = series(served.run, what)
            line, = ax.plot([t - shift for t in ts], vs, label=name, linewidth=1.6)
            killed = kill_time(served.run)
            if killed is not None:
                ax.axvline(killed - shift, color=line.get_color(), linewidth=2, linestyle=":")
        if what == memory:
            ax.axhline(memory_mb, color="black", linewidth=1, linestyle="--")
            ax.annotate("memory cap", (0, memory_mb), textcoords="offset points",
                        xytext=(2, -10), fontsize=8)
        if what == "errors":
            ax.legend(frameon=False, fontsize=8, loc="upper left")

    panels = {"errors per s": "errors", "p99 (ms)": "p99_ms",
              f"worker {'RSS' if memory == 'worker_rss_mb' else 'device memory'} (MB)": memory,
              "queue length": "queue_length"}
    return figure(draw, panels, title=title, xlabel="seconds since load started",
                  sharey=False, size=(15, 3.6))


def peak_memory_mb(stats: dict) -> float:
    """The most memory the worker has held where its batches live: device memory on a
    GPU, resident memory on the CPU (from its /stats)."""
    return stats["peak_device_mb"] if stats.get("label", "").startswith("GPU") \
        else stats["peak_rss_mb"]


def measure_batch(worker: WorkerProcess, length: int, size: int = 16) -> dict:
    """One input, then one batch of ``size`` inputs of ``length`` tokens, straight to the
    worker: its peak memory after each, the memory one more input costs, and the batch's
    items per second."""
    worker.infer([inference.tokens(length)])
    one = peak_memory_mb(worker.stats())
    started = time.perf_counter()
    worker.infer([inference.tokens(length, seed) for seed in range(size)])
    seconds = time.perf_counter() - started
    many = peak_memory_mb(worker.stats())
    return {"peak after 1 input (MB)": one, f"peak after {size} inputs (MB)": many,
            "MB per input": round((many - one) / (size - 1), 1),
            "items/s": round(size / seconds, 1)}


# ---- lab gpu-02: the cold start, measured once and kept for gpu-04's simulation

# What gpu-04 adds to the in-server part: the pod scheduled, the image pulled from the node's
# cache and the container started, assumed (a cached image starts in tens of seconds; a
# pull of several GB takes minutes, which this figure leaves out).
INFRA_COLD_START_S = 45.0
ASSUMED_COLD_START_S = 60.0  # the whole cold start, when nothing here can be measured


def first_answer(worker: WorkerProcess) -> dict:
    """Wait for ``worker`` (just started) to be ready, send it one request of one item at
    once: its cold start split into parts, in seconds since the process started."""
    ready_s = worker.wait_ready()
    started = time.time()
    worker.infer([list(range(inference.device().sizes.tokens))])
    request_s = time.time() - started
    phases = {p["phase"]: p["s"] for _, p in worker.phases}
    # The interpreter and the worker's own imports, before its clock (STARTED) began.
    ready_at = next(t for t, p in worker.phases if p["phase"] == "ready")
    return {"label": device_label(), "warmup": worker.spec.warmup,
            "process_start_s": round(ready_at - phases["ready"], 4),
            "import_s": phases["import_s"], "device_init_s": phases["device_init_s"],
            "model_load_s": phases["model_load_s"], "warmup_s": phases.get("warmup_s", 0.0),
            "ready_s": round(ready_s, 4), "first_request_s": round(request_s, 4),
            "first_answer_s": round(ready_s + request_s, 4)}


def cold_start_file() -> Path:
    from .toolchain import cache_root

    return cache_root() / "gpu" / "cold-start.json"


def save_cold_start(measured: dict) -> Path:
    """Keep a :func:`first_answer` measurement for lab gpu-04 (in the course's cache)."""
    path = cold_start_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=1))
    return path


def load_cold_start() -> dict | None:
    try:
        return json.loads(cold_start_file().read_text())
    except (OSError, ValueError):
        return None


def calibrated_cold_start(measure: bool = True) -> tuple[float, str]:
    """gpu-04's cold start: the assumed infrastructure part plus the in-server part that
    gpu-02 saved, or measured now (a cold worker to its first answer) when PyTorch is
    installed; else the whole of it assumed. The seconds, and a sentence saying which."""
    import importlib.util

    saved = load_cold_start()
    source = "measured by lab gpu-02"
    if saved is None and measure and importlib.util.find_spec("torch") is not None:
        with WorkerProcess(Worker()) as worker:
            saved = first_answer(worker)
        save_cold_start(saved)
        source = "measured just now"
    if saved is None:
        return ASSUMED_COLD_START_S, (f"cold start {ASSUMED_COLD_START_S:.0f} s, all assumed "
                                      f"(PyTorch is not installed, so nothing was measured)")
    total = round(INFRA_COLD_START_S + saved["first_answer_s"], 1)
    return total, (f"cold start {total:g} s = {INFRA_COLD_START_S:.0f} s assumed (pod, "
                   f"cached image, container) + {saved['first_answer_s']:.1f} s in the server, "
                   f"{source} ({saved['label']}: process start to first answer)")


# ---- lab gpu-01


class DeviceMonitor:
    """The GPU's utilization (%) and memory in use (MB, the whole device's: the model
    lives in the worker process), sampled every ``every_s`` while the block runs: from
    ``nvidia-smi`` where it is installed, else from PyTorch (``torch.cuda.utilization()``,
    which needs pynvml, and ``torch.cuda.mem_get_info()``). On the CPU it samples nothing:
    ``samples`` stays empty and :meth:`summary` is None."""

    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.samples: list[tuple[float, float | None, float]] = []  # (t, util %, MB)
        self._stop = None

    def sample(self) -> tuple[float | None, float]:
        import shutil
        import subprocess

        if shutil.which("nvidia-smi"):
            out = subprocess.run(["nvidia-smi", "-i", "0", "--format=csv,noheader,nounits",
                                  "--query-gpu=utilization.gpu,memory.used"],
                                 capture_output=True, text=True, timeout=5, check=True).stdout
            util, used = (float(x) for x in out.split(","))
            return util, used
        import torch

        try:
            util = float(torch.cuda.utilization(0))
        except Exception:  # no pynvml: memory only
            util = None
        free, total = torch.cuda.mem_get_info(0)
        return util, (total - free) / 2**20

    def _loop(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every_s):
            try:
                self.samples.append((time.monotonic() - started, *self.sample()))
            except Exception:  # a sample that failed is skipped, not fatal to the run
                pass

    def __enter__(self) -> DeviceMonitor:
        import threading

        if inference.device().kind == "cuda":
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join()

    def summary(self) -> dict | None:
        if not self.samples:
            return None
        utils = [u for _, u, _ in self.samples if u is not None]
        return {"GPU util % (mean)": round(sum(utils) / len(utils)) if utils else "n/a",
                "GPU util % (max)": round(max(utils)) if utils else "n/a",
                "GPU memory MB (max)": round(max(mb for *_, mb in self.samples))}


def plot_sweep(curves: dict[str, list[Served]], concurrencies: list[int], title: str = ""):
    """Answered/s and p99 against concurrency, one line per setting (each a :func:`sweep`
    over ``concurrencies``); the title carries the device's label."""
    from .plots import figure

    def draw(ax, panel, _data, _color):
        for name, runs in curves.items():
            ax.plot(concurrencies, [s.row()[panel] for s in runs], marker="o",
                    label=name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
        ax.legend(frameon=False, fontsize=8)

    return figure(draw, dict.fromkeys(["answered/s", "p99 ms"]), sharey=False,
                  xlabel="concurrency (clients sending back to back)",
                  title=f"{title or 'no batching vs dynamic batching'} ({device_label()})")
