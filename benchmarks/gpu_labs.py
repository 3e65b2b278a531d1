"""The GPU labs' figures (chapter 5) on one device, in one run: for a lent GPU machine,
where GPU time is scarce and Go is not installed, and on the CPU here to prove the script.

    # here: build the gateway (with the probe) and the load generator for the device
    python benchmarks/gpu_labs.py --prebuild .devicebin
    # there (the device tool carries .devicebin; PyTorch is that machine's own):
    PYTHONPATH=src python3 benchmarks/gpu_labs.py --prebuilt .devicebin --out $OUT/gpu.json

It measures what each lab claims, with the device's own sizes (inference.GPU_SIZES on a
GPU), and writes one JSON document:

* ``ceiling``: the model alone, items/s per batch size;
* ``batching`` (gpu-01): answered/s, p50, p99 and mean batch per concurrency, no batching
  vs dynamic batching, the ratio at concurrency 16, and on a GPU its utilization and the
  worker's device memory sampled during the batched run at concurrency 16;
* ``cold_start`` (gpu-02): a cold worker's phases, its first answer vs a warm one, the
  first call per batch size vs warm, and how much later readiness comes with warm-up;
* ``admission`` (gpu-03): long inputs above capacity with an unbounded batch vs a bounded
  batch and queue, the worker's memory budget capped (device memory on a GPU).

Each section is measured on its own: one that fails is recorded with its error and the
others still run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gopitfalls import inference, load, serving  # noqa: E402
from gopitfalls.build import Binary, build, tool  # noqa: E402

BINARIES = ("gateway", "loadgen")


def prebuild(folder: Path) -> None:
    """Build what the device machine cannot (it has no Go) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, binary in (("gateway", build(ROOT / serving.GATEWAY)), ("loadgen", tool("loadgen"))):
        shutil.copy2(binary.path, folder / name)
        print(f"{folder / name}: {binary.path.stat().st_size / 2**20:.1f} MB")


def use_prebuilt(folder: Path) -> None:
    """Run the binaries in ``folder`` instead of building them (no Go on the device)."""
    binaries = {name: Binary(path=(folder / name).resolve(), name=name, source=folder,
                             race=False, probe=name == "gateway", build_seconds=0.0)
                for name in BINARIES}
    missing = [str(b.path) for b in binaries.values() if not b.path.is_file()]
    if missing:
        sys.exit(f"missing prebuilt binaries: {missing}; run --prebuild {folder} first")
    serving._gateway = lambda: binaries["gateway"]  # experiment.run takes a Binary as is
    load.tool = lambda name: binaries[name]


def ceiling(dev) -> dict:
    net = inference.model(dev)
    inference.use_worker_threads(dev)
    return {str(size): round(inference.items_per_second(dev, net, size, seconds=1.0), 1)
            for size in dev.sizes.batch_sizes}


def batching(dev, duration_s: float) -> dict:
    batched = serving.Batching(max_batch=max(dev.sizes.batch_sizes), max_delay_ms=10)
    body = inference.request_body(dev.sizes.tokens)
    result = {"settings": {"no batching": serving.NO_BATCHING.env(), "batching": batched.env()}}
    with serving.WorkerProcess(serving.Worker(warmup=True, max_batch=batched.max_batch)) as w:
        w.wait_ready()
        for name, setting in (("no batching", serving.NO_BATCHING), ("batching", batched)):
            rows = []
            for concurrency in dev.sizes.concurrency:
                with serving.DeviceMonitor() as monitor:
                    served = serving.serve(setting, serving.infer_load(
                        body, concurrency=concurrency, duration_s=duration_s), w,
                        progress=None)
                row = {"concurrency": concurrency, **served.row(),
                       "batch_sizes": served.batch_sizes,
                       "worker_device_mb_peak": served.run.peak("expvar.worker_device_mb")}
                if monitor.summary():
                    row["gpu"] = monitor.summary()
                rows.append(row)
                print(name, row, flush=True)
            result[name] = rows
    at = {name: next((r for r in result[name] if r["concurrency"] == 16), None)
          for name in ("no batching", "batching")}
    if all(at.values()):
        result["ratio_at_16"] = round(at["batching"]["answered/s"]
                                      / max(at["no batching"]["answered/s"], 1e-9), 2)
    return result


def cold_start(dev) -> dict:
    max_batch = max(dev.sizes.batch_sizes)
    result = {}
    for warmup in (False, True):
        with serving.WorkerProcess(serving.Worker(warmup=warmup, max_batch=max_batch)) as w:
            anatomy = serving.first_answer(w)  # the cold start, split into its parts
            for size in dev.sizes.batch_sizes:  # each shape once cold, then warm
                for seed in range(4):
                    w.infer([inference.tokens(dev.sizes.tokens, seed)] * size)
            stats = w.stats()
            result["warm-up" if warmup else "no warm-up"] = {
                **anatomy, "first_call_ms": stats["first_call_ms"], "warm_ms": stats["warm_ms"]}
            print("cold start", warmup, result["warm-up" if warmup else "no warm-up"],
                  flush=True)
    return result


def admission(dev, duration_s: float) -> dict:
    """Lab gpu-03's two runs, sized as the lab sizes them: long inputs at 4 x what the
    worker serves, unbounded vs MAX_BATCH from memory (70 % of the budget) and MAX_QUEUE
    from a 2 s wait."""
    long_tokens, budget_mb = (1024, 4096) if dev.kind == "cuda" else (512, 1024)
    worker = (serving.Worker(device_memory_mb=budget_mb, memory_mb=16384)
              if dev.kind == "cuda" else serving.Worker(memory_mb=budget_mb))
    with serving.WorkerProcess(worker) as w:
        w.wait_ready()
        measured = serving.measure_batch(w, long_tokens)
    max_batch = max(1, int((0.7 * budget_mb - measured["peak after 1 input (MB)"])
                           / max(measured["MB per input"], 1e-3)))
    max_queue = max(1, int(2.0 * measured["items/s"]))
    rate = 4 * measured["items/s"]
    result = {"long_tokens": long_tokens, "budget_mb": budget_mb, "measured": measured,
              "max_batch": max_batch, "max_queue": max_queue, "rate_per_s": rate}
    body = inference.request_body(long_tokens)
    for name, setting in (("unbounded", serving.Batching(max_batch=0, max_queue=0)),
                          ("bounded", serving.Batching(max_batch=max_batch,
                                                       max_queue=max_queue))):
        with serving.WorkerProcess(worker) as w:
            w.wait_ready()
            served = serving.serve_watched(setting, serving.infer_load(
                body, rate=rate, duration_s=duration_s), w, label=name, progress=None)
            summary = served.run.load_summary or {}
            result[name] = {
                **served.row(), "status": summary.get("status"),
                "max_ms": summary.get("max_ms"), "worker_died": served.worker_died,
                "worker_killed_by": str(served.worker_exit.killed_by)
                if served.worker_exit else None,
                "worker_oom_errors": (served.worker_stats or {}).get("oom_errors"),
                "worker_peak_mb": serving.peak_memory_mb(served.worker_stats)
                if served.worker_stats else None,
                "largest_batch": max(served.batch_sizes, default=0)}
            print("admission", name, result[name], flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prebuild", type=Path, help="build the binaries into this folder")
    parser.add_argument("--prebuilt", type=Path, help="run the binaries in this folder")
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=("ceiling", "batching", "cold_start", "admission"))
    args = parser.parse_args()
    if args.prebuild:
        prebuild(args.prebuild)
        return
    if args.prebuilt:
        use_prebuilt(args.prebuilt)
    dev = inference.device()
    import torch

    figures = {"device": dev.label, "torch": torch.__version__, "sizes": vars(dev.sizes),
               "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    sections = {"ceiling": lambda: ceiling(dev),
                "batching": lambda: batching(dev, args.duration),
                "cold_start": lambda: cold_start(dev),
                "admission": lambda: admission(dev, 4.0)}  # the lab's 4 s
    for name, measure in sections.items():
        if args.only is not None and name not in args.only:
            continue
        started = time.time()
        try:
            figures[name] = measure()
        except Exception:
            figures[name] = {"error": traceback.format_exc(limit=3)}
            print(figures[name]["error"], file=sys.stderr, flush=True)
        figures[name + "_seconds"] = round(time.time() - started, 1)
        if args.out:  # written after each section: a run cut short keeps what it measured
            args.out.write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
