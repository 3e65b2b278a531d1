"""Layer 5 (a process beside the program): the GPU labs' model worker, an HTTP server
around the model of :mod:`.inference`, run as ``python -m gopitfalls.modelworker``.

It is one model instance: one forward pass at a time, over whatever batch the gateway
(``labs/gpu/gateway``) sends. It times its own cold start, so lab gpu-02 can split the
first request's time into its parts:

* ``import_s``: importing PyTorch; ``device_init_s``: the device's first allocation (on a
  GPU, the CUDA context); ``model_load_s``: building the model and moving it to the device;
* ``first_call_ms[size]`` vs ``warm_ms[size]``: the first forward pass of each batch shape
  against the median of the later ones (a GPU picks and loads kernels per shape);
* ``warmup_s``: with ``--warmup``, one pass of every batch size 1..``--max-batch`` before
  ``/ready`` answers 200.

Endpoints (127.0.0.1 only): ``POST /batch`` ``{"inputs": [{"tokens": [...]}, ...]}`` →
``{"outputs": [{"label": n}, ...]}``, padded to the batch's longest input; ``GET /ready``
(503 until the model is loaded, and warmed up when asked); ``GET /stats`` (the timings,
``rss_mb``, ``peak_rss_mb``, ``device_mb``, ``peak_device_mb``,
``oom_errors``). On a GPU a batch that runs
out of device memory answers 507 and the worker lives on; on the CPU the engine's memory
cap kills it.
Each phase is also printed on stdout as one JSON line (``{"phase": ..., "s": ...}``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.perf_counter()  # before PyTorch is imported: the import is part of the cold start

MAX_TOKENS = 1024  # the longest input accepted


class Worker:
    def __init__(self, device: str, max_batch: int, warmup: bool, device_memory_mb: int):
        self.device_name, self.max_batch, self.warmup = device, max_batch, warmup
        self.device_memory_mb = device_memory_mb
        self.lock = threading.Lock()  # one forward pass at a time: one model instance
        self.phases: dict[str, float] = {}
        self.first_call_ms: dict[int, float] = {}
        self.calls_ms: dict[int, list[float]] = {}
        self.ready = False
        self.settled = threading.Event()  # set once loading has ended, loaded or failed
        self.failed: str | None = None
        self.oom_errors = 0
        self.batches = 0
        self.torch = self.net = self.dev = None

    def phase(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.phases[name] = round(now - started, 4)
        print(json.dumps({"phase": name, "s": self.phases[name]}), flush=True)
        return now

    def load(self) -> None:
        """The cold start, in the background: the server answers /stats and /ready (503)
        meanwhile, and a batch waits for it."""
        try:
            t = time.perf_counter()
            self.phases["process_start_s"] = round(t - STARTED, 4)
            import torch

            from . import inference

            self.torch = torch
            t = self.phase("import_s", t)
            self.dev = inference.device(self.device_name)
            inference.use_worker_threads(self.dev)
            torch.zeros(1, device=self.dev.kind)  # the device's first allocation
            if self.dev.kind == "cuda":
                torch.cuda.synchronize()
                if self.device_memory_mb:
                    total = torch.cuda.get_device_properties(0).total_memory
                    torch.cuda.set_per_process_memory_fraction(
                        min(1.0, self.device_memory_mb * 2**20 / total))
            t = self.phase("device_init_s", t)
            self.net = inference.model(self.dev)
            t = self.phase("model_load_s", t)
            if self.warmup:
                for size in range(1, self.max_batch + 1):
                    self.forward(inference.batch(self.dev, size))
                t = self.phase("warmup_s", t)
            self.ready = True
            print(json.dumps({"phase": "ready", "s": round(time.perf_counter() - STARTED, 4)}),
                  flush=True)
        except Exception as exc:  # said on /ready and /stats, and on stderr
            self.failed = f"{type(exc).__name__}: {exc}"
            print(f"modelworker: the model did not load: {self.failed}", file=sys.stderr,
                  flush=True)
        finally:
            self.settled.set()

    def forward(self, tokens) -> list[int]:
        """One forward pass (under the lock), timed per batch size."""
        torch = self.torch
        with self.lock, torch.inference_mode():
            size = tokens.shape[0]
            started = time.perf_counter()
            logits = self.net(tokens)
            labels = logits.argmax(dim=1).tolist()  # waits for the device
            ms = (time.perf_counter() - started) * 1000
            if size in self.first_call_ms:
                self.calls_ms.setdefault(size, []).append(ms)
            else:
                self.first_call_ms[size] = round(ms, 3)
            self.batches += 1
        return labels

    def infer(self, inputs: list[dict]) -> list[dict]:
        self.settled.wait()  # a batch that comes early waits for the model
        if self.failed:
            raise RuntimeError(self.failed)
        rows = [list(item["tokens"])[:MAX_TOKENS] or [0] for item in inputs]
        longest = max(len(row) for row in rows)
        padded = [row + [0] * (longest - len(row)) for row in rows]
        tokens = self.torch.tensor(padded, dtype=self.torch.long, device=self.dev.kind)
        return [{"label": label} for label in self.forward(tokens)]

    def stats(self) -> dict:
        device_mb = peak_device_mb = 0.0
        if self.dev is not None and self.dev.kind == "cuda":
            device_mb = self.torch.cuda.memory_allocated() / 2**20
            peak_device_mb = self.torch.cuda.max_memory_allocated() / 2**20
        warm = {size: round(statistics.median(ms), 3) for size, ms in self.calls_ms.items()}
        return {"ready": self.ready, "failed": self.failed, "phases": self.phases,
                "first_call_ms": self.first_call_ms, "warm_ms": warm,
                "label": self.dev.label if self.dev else None, "batches": self.batches,
                "oom_errors": self.oom_errors, "rss_mb": round(_rss_mb(), 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "device_mb": round(device_mb, 1), "peak_device_mb": round(peak_device_mb, 1)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """The most resident memory this process has held (the kernel's high-water mark: a
    batch's peak, which a poll of rss_mb may miss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def handler(worker: Worker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the gateway reuses one connection
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the
        # body back until the gateway's delayed ACK, 40 ms per batch.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # no line per request
            pass

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/ready":
                self.answer(200 if worker.ready else 503,
                            {"ready": worker.ready, "failed": worker.failed})
            elif self.path == "/stats":
                self.answer(200, worker.stats())
            else:
                self.answer(404, {"error": "GET /ready or /stats"})

        def do_POST(self) -> None:
            if self.path != "/batch":
                self.answer(404, {"error": "POST /batch"})
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
                inputs = json.loads(self.rfile.read(length))["inputs"]
            except (ValueError, KeyError, TypeError) as exc:
                self.answer(400, {"error": f"bad batch: {exc}"})
                return
            try:
                self.answer(200, {"outputs": worker.infer(inputs)})
            except (KeyError, TypeError, ValueError) as exc:
                self.answer(400, {"error": f"bad input: {exc}"})
            except RuntimeError as exc:
                oom = worker.torch and isinstance(exc, worker.torch.cuda.OutOfMemoryError)
                if oom:
                    worker.oom_errors += 1
                    worker.torch.cuda.empty_cache()
                self.answer(507 if oom else 503, {"error": str(exc)[:500]})

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gopitfalls.modelworker",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="listen on 127.0.0.1:PORT")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--max-batch", type=int, default=16,
                        help="the largest batch --warmup runs (the gateway's MAX_BATCH)")
    parser.add_argument("--warmup", action="store_true",
                        help="run every batch size once before /ready answers 200")
    parser.add_argument("--device-memory-mb", type=int, default=0,
                        help="on a GPU, the most device memory this worker may use (0: all)")
    args = parser.parse_args(argv)
    worker = Worker(args.device, args.max_batch, args.warmup, args.device_memory_mb)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(worker))
    server.daemon_threads = True
    threading.Thread(target=worker.load, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
