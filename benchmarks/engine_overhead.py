#!/usr/bin/env python3
"""What the lab engine itself costs, measured with the engine's own API.

1. Warm re-run overhead, per backend: run() of an unchanged program with no baseline, no
   load and no cooldown (build cache hit + start + wait until it listens + stop), median
   of N runs after one warm-up run.
2. Probe CPU overhead: the same idle server for D seconds with the probe sampling every
   100 ms and with the probe turned off; the difference in CPU time, as a share of one core.
3. Probe cost under load: closed-model throughput of the hello server with and without the
   probe, alternated, as a ratio.

Usage: python benchmarks/engine_overhead.py [--runs 5] [--idle-s 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import psutil

from gopitfalls import Limits, build, run
from gopitfalls.backends import BackendUnavailable, get_backend
from gopitfalls.load import Load
from gopitfalls.telemetry import ProbeKey

HELLO = Path(__file__).resolve().parent / "hello"


def rerun_overhead(backend: str, runs: int) -> float:
    run(HELLO, backend=backend, baseline_s=0, cooldown_s=0)  # warm: build, image
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(HELLO, backend=backend, baseline_s=0, cooldown_s=0)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def idle_cpu(interval: str, seconds: float) -> float:
    """CPU seconds per wall second of the idle hello server (local backend)."""
    binary = build(HELLO)
    key = ProbeKey()  # without its key the probe stays off
    process = get_backend("local").start(
        binary, [], {"ADDR": "127.0.0.1:0", "GOPITFALLS_PROBE_INTERVAL": interval, **key.env},
        Limits(timeout_s=seconds + 30), lambda *a: None, stdin=key.stdin)
    try:
        time.sleep(1.0)  # past start-up
        proc = psutil.Process(process.pid)
        t0, c0 = time.perf_counter(), sum(proc.cpu_times()[:2])
        time.sleep(seconds)
        t1, c1 = time.perf_counter(), sum(proc.cpu_times()[:2])
    finally:
        process.stop(0.5)
    return (c1 - c0) / (t1 - t0)


def throughput(probe_interval_s: float) -> float:
    r = run(HELLO, backend="local", baseline_s=0.2, cooldown_s=0,
            probe_interval_s=probe_interval_s,
            load=Load(rate=0, concurrency=16, duration_s=3, timeout_s=2))
    return r.load_summary["rps"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=10.0)
    args = parser.parse_args()

    for backend in ("local", "docker"):
        try:
            get_backend(backend)
        except BackendUnavailable as exc:
            print(f"re-run overhead [{backend}]: skipped ({exc})")
            continue
        print(f"re-run overhead [{backend}]: {rerun_overhead(backend, args.runs):.2f} s "
              f"(median of {args.runs}; build unchanged + start + ready + stop)")

    with_probe = idle_cpu("100ms", args.idle_s)
    without = idle_cpu("off", args.idle_s)
    print(f"probe CPU, idle server: {with_probe * 100:.3f} % of a core with the probe, "
          f"{without * 100:.3f} % without: overhead {(with_probe - without) * 100:.3f} %")

    pairs = [(throughput(0.1), throughput(3600)) for _ in range(3)]
    on = statistics.median(p[0] for p in pairs)
    off = statistics.median(p[1] for p in pairs)
    print(f"throughput under load: {on:.0f} req/s with the probe, {off:.0f} without: "
          f"ratio {on / off:.3f}")


if __name__ == "__main__":
    main()
