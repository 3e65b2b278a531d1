"""Does the whole course fit Binder's 2 GB? Every lesson notebook (and with --labs every lab
notebook: its starter's check) run on the local backend inside a memory cgroup of 2 GB with
no swap, one after the other as one Binder learner would.

    flock /tmp/gopitfalls-heavy.lock python benchmarks/notebooks_in_2gb.py --small --labs

Needs root and a writable cgroup file system (v2, or v1's memory controller). Each notebook
gets a fresh cgroup with the limit, so its peak is its own: the notebook's executor starts
inside it, and its kernel, the Go programs, the load generator and the database servers
the kernel starts are its children, so they are counted too. The cgroup must be empty when
the notebook is done (anything left is reported and killed) and is removed, even on error.

Per notebook: passed or the error, wall time (kernel start included), the peak the kernel
counted (page cache included, as Binder's limit counts it), the peak of anonymous memory
(sampled every 0.2 s: what cannot be reclaimed), and OOM kills. Written as JSON (default
docs/measured/notebooks-2gb-small.json or -full.json); docs/workshop/ is generated from it
(python -m gopitfalls.workshop). A measurement, not a test: CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GiB = 1 << 30


class MemoryCgroup:
    """A fresh memory cgroup with a hard limit and no swap; v2 where the memory controller
    is there, else v1's (under this process's own memory cgroup)."""

    def __init__(self, name: str, limit_bytes: int):
        v2_root = Path("/sys/fs/cgroup")
        if "memory" in _read(v2_root / "cgroup.controllers").split():
            self.v2, parent = True, v2_root
            files = {"memory.max": limit_bytes, "memory.swap.max": 0}
        else:
            own = next((line.split(":", 2)[2] for line in
                        Path("/proc/self/cgroup").read_text().splitlines()
                        if line.split(":")[1] == "memory"), None)
            if own is None or not Path("/sys/fs/cgroup/memory").is_dir():
                raise SystemExit("no cgroup v2 memory controller and no cgroup v1 memory "
                                 "hierarchy: cannot make a 2 GB cgroup here")
            self.v2, parent = False, Path("/sys/fs/cgroup/memory") / own.lstrip("/")
            # memsw = memory + swap: equal to the limit means no swap
            files = {"memory.limit_in_bytes": limit_bytes,
                     "memory.memsw.limit_in_bytes": limit_bytes}
        self.path = parent / name
        self.path.mkdir()
        try:
            for file, value in files.items():
                (self.path / file).write_text(str(value))
        except OSError:
            self.remove()
            raise

    @property
    def version(self) -> str:
        return "v2" if self.v2 else "v1"

    def enter(self) -> None:
        """Move the calling process into the cgroup (a child's preexec_fn)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def pids(self) -> list[int]:
        return [int(p) for p in _read(self.path / "cgroup.procs").split()]

    def peak(self) -> int:
        return int(_read(self.path / ("memory.peak" if self.v2 else "memory.max_usage_in_bytes")))

    def anon(self) -> int:
        stat = dict(line.split() for line in _read(self.path / "memory.stat").splitlines())
        return int(stat["anon"] if self.v2 else stat["total_rss"])

    def oom_kills(self) -> int:
        text = _read(self.path / ("memory.events" if self.v2 else "memory.oom_control"))
        return int(dict(line.split() for line in text.splitlines()).get("oom_kill", 0))

    def remove(self) -> list[int]:
        """Kill what is left in it 5 s after the notebook (the processes it left behind:
        they are ours), then remove it; the pids that were left."""
        deadline = time.monotonic() + 5   # a kernel's guardian exits a moment after it
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.pids()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(100):
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:   # busy until the killed processes are gone
                time.sleep(0.05)
        return left


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def execute(notebook: Path) -> None:
    """Run one notebook's cells (the child inside the cgroup) as the book does, its kernel on
    IPC sockets (tests/kernels.py says why)."""
    sys.path.insert(0, str(ROOT))
    from gopitfalls.nbexec import execute as execute_notebook
    from tests.kernels import IPCKernelManager

    nb, error = execute_notebook(notebook, kernel_manager_class=IPCKernelManager)
    if error:
        sys.exit(error)   # the last line of stderr: measure() reports it
    said = any("Small mode (GOPITFALLS_SMALL=1)" in out.get("text", "")
               for cell in nb.cells for out in cell.get("outputs", []))
    print(json.dumps({"said_small_mode": said}))   # the one line small mode prints


def measure(notebook: Path, limit_bytes: int, env: dict) -> dict:
    """One notebook in its own cgroup: what it took, and whether it passed."""
    group = MemoryCgroup(f"gopitfalls-2gb-{os.getpid()}-{notebook.parent.name}-{notebook.stem}",
                         limit_bytes)
    anon_peak, done = [0], threading.Event()

    def sample_anon():
        while not done.wait(0.2):
            anon_peak[0] = max(anon_peak[0], group.anon())

    sampler = threading.Thread(target=sample_anon, daemon=True)
    t0 = time.monotonic()
    try:
        sampler.start()
        try:
            proc = subprocess.run([sys.executable, __file__, "--execute", str(notebook)],
                                  env=env, preexec_fn=group.enter, capture_output=True,
                                  text=True, timeout=900)
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            code, stdout, stderr = None, "", "timed out after 900 s"
        wall = time.monotonic() - t0
        done.set()
        sampler.join()
        lines = [ln for ln in stderr.splitlines() if ln.strip()] or [f"exit {code}"]
        error = "" if code == 0 else lines[-1][:500]
        result = {"notebook": str(notebook.relative_to(ROOT)), "passed": code == 0,
                  "error": error, "wall_s": round(wall, 1),
                  "peak_mb": round(group.peak() / 2**20),
                  "peak_anon_mb": round(anon_peak[0] / 2**20), "oom_kills": group.oom_kills(),
                  "said_small_mode": '"said_small_mode": true' in stdout}
    finally:
        done.set()
        left = group.remove()
    result["left_processes"] = len(left)
    return result


def summary(notebooks: list[dict]) -> dict:
    return {"peak_mb": max((r["peak_mb"] for r in notebooks), default=0),
            "peak_anon_mb": max((r["peak_anon_mb"] for r in notebooks), default=0),
            "oom_kills": sum(r["oom_kills"] for r in notebooks),
            "left_processes": sum(r["left_processes"] for r in notebooks),
            "passed": sum(r["passed"] for r in notebooks), "notebooks_run": len(notebooks),
            "wall_s": round(sum(r["wall_s"] for r in notebooks), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="GOPITFALLS_SMALL=1, as on Binder")
    parser.add_argument("--labs", action="store_true", help="the lab notebooks too")
    parser.add_argument("--only", nargs="*", default=None, help="notebook stems or lab slugs")
    parser.add_argument("--memory-gb", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--execute", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute:
        execute(args.execute)
        return 0
    # Stopped with SIGTERM, still remove the cgroup (the finally clauses run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped (SIGTERM)"))
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    if args.labs:
        notebooks += sorted((ROOT / "labs").glob("[0-9][0-9]-*/lab.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if nb.stem in args.only or nb.parent.name in args.only]
    mode = "small" if args.small else "full"
    out = args.out or ROOT / "docs" / "measured" / f"notebooks-2gb-{mode}.json"
    env = {**os.environ, "GOPITFALLS_BACKEND": "local", "PYTHONUNBUFFERED": "1"}
    if env.get("PYTHONPATH"):   # the kernels run in the notebooks' folders
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve())
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    env.pop("GOPITFALLS_SMALL", None)
    if args.small:
        env["GOPITFALLS_SMALL"] = "1"
    limit = int(args.memory_gb * GiB)
    results = []
    for nb in notebooks:
        r = measure(nb, limit, env)
        results.append(r)
        print(f"{'ok  ' if r['passed'] else 'FAIL'} {r['notebook']:60} {r['wall_s']:6.1f} s  "
              f"peak {r['peak_mb']:5} MB  anon {r['peak_anon_mb']:5} MB  oom {r['oom_kills']}  "
              f"left {r['left_processes']}  {r['error']}", flush=True)
    command = ("python benchmarks/notebooks_in_2gb.py" + " --small" * args.small
               + " --labs" * args.labs)
    if args.only and out.exists():   # a partial rerun replaces those notebooks' entries
        old = json.loads(out.read_text())
        mine = {r["notebook"] for r in results}
        results = sorted([r for r in old["notebooks"] if r["notebook"] not in mine] + results,
                         key=lambda r: r["notebook"])
        command = old["command"]
    report = {
        "command": command, "mode": mode, "backend": "local",
        "memory_limit_mb": round(limit / 2**20), "swap_mb": 0, "cgroup": _cgroup_version(),
        "kernel": platform.release(), "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **summary(results), "notebooks": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"peak {report['peak_mb']} MB (anonymous {report['peak_anon_mb']} MB) of "
          f"{report['memory_limit_mb']} MB, {report['oom_kills']} OOM kills, "
          f"{report['passed']}/{report['notebooks_run']} passed, {report['wall_s']} s; {out}")
    ok = report["passed"] == report["notebooks_run"] and not report["oom_kills"]
    return 0 if ok and not report["left_processes"] else 1


def _cgroup_version() -> str:
    return "v2" if "memory" in _read(Path("/sys/fs/cgroup/cgroup.controllers")).split() else "v1"


if __name__ == "__main__":
    sys.exit(main())
