"""Layer 10 (beside the course, where it finds the gateway): an inference service for the GPU labs (chapter 5), made of
the Go gateway in ``labs/gpu/gateway`` (the dynamic batcher) in front of one model worker
(:mod:`.modelworker`, PyTorch), driven by the engine's load generator.

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
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import inference
from .backends import Exit, Limits, get_backend
from .build import Binary
from .course import course_root
from .experiment import Run, run
from .load import Load
from .network import free_port, wait_for_port
from .plots import LivePlot, in_notebook

GATEWAY = Path("labs") / "gpu" / "gateway"

# What the live plot of a serving run shows.
METRICS = ["load.ok/s", "load.p99_ms", "expvar.queue_length", "expvar.worker_rss_mb"]


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
        import os

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

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def infer(self, inputs: list[list[int]], timeout: float = 120.0) -> dict:
        """One batch straight to the worker (no gateway): its answer."""
        body = json.dumps({"inputs": [{"tokens": t} for t in inputs]}).encode()
        request = urllib.request.Request(self.url + "/batch", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def wait_ready(self) -> float:
        """Wait until /ready answers 200; the seconds since the worker started."""
        deadline = time.time() + self.spec.ready_timeout_s
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("the model worker died while loading: "
                                   + " / ".join(self.lines[-5:]))
            status, body = self.get("/ready")
            if status == 200:
                return time.time() - self.started
            if body.get("failed"):
                raise RuntimeError(f"the model worker could not load its model: "
                                   f"{body['failed']}")
            time.sleep(0.05)
        raise TimeoutError(f"the model worker was not ready in {self.spec.ready_timeout_s} s")

    def stats(self) -> dict:
        return self.get("/stats")[1]

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
          baseline_s: float = 0.3, cooldown_s: float = 0.5) -> Served:
    """Run the gateway with ``batching`` in front of a running ``worker`` under ``load``."""
    label = label or batching.name
    if progress == "live":
        progress = LivePlot(METRICS, f"{label} ({device_label()}): live") \
            if in_notebook() else None
    result = run(_gateway(), label=label, backend="local", load=load,
                 env={**batching.env(), "WORKER_URL": worker.url},
                 limits=limits or Limits(memory_mb=512, nofile=65536, timeout_s=600),
                 baseline_s=baseline_s, cooldown_s=cooldown_s, progress=progress)
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
