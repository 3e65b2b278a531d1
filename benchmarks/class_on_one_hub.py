#!/usr/bin/env python3
"""A class on one JupyterHub, measured: for each class size, that many learners log in to
a real JupyterHub on this machine (gopitfalls.classroom, as `gopitfalls class` starts it)
and run one lesson at the same time, each in their own server, on the local backend. Prints
per learner whether the lesson passed, its wall time, the memory of their processes (server,
kernel, Go programs; RSS summed and sampled every 0.25 s) and their CPU seconds, then the
per-learner Kubernetes resources these figures give (gopitfalls.classroom.resources).

Usage: python benchmarks/class_on_one_hub.py [--learners 1 3 5] [--lesson 04]
       [--save deploy/z2jh/measured.json]   (the figures deploy/z2jh/config.yaml carries)
Needs the `hub` extra and configurable-http-proxy (see gopitfalls.classroom.find_proxy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import psutil

from gopitfalls.classroom import Hub, resources, run_class, table
from gopitfalls.course import lesson


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--lesson", default="04")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    notebook = f"notebooks/{lesson(args.lesson).slug}.ipynb"
    measured = {"lesson": notebook, "command": "python benchmarks/class_on_one_hub.py "
                f"--learners {' '.join(map(str, args.learners))} --lesson {args.lesson}",
                "machine": f"{os.cpu_count()} cores, "
                           f"{psutil.virtual_memory().total / 2**30:.0f} GB, {platform.machine()}",
                "date": time.strftime("%Y-%m-%d"), "runs": []}
    for size in args.learners:
        with tempfile.TemporaryDirectory(prefix="gopitfalls-class-") as tmp:
            started = time.monotonic()
            with Hub(Path(tmp), [f"learner{i}" for i in range(1, size + 1)]) as hub:
                run = run_class(hub, notebook)
            print(f"\n{size} learner(s), {notebook}, {time.monotonic() - started:.0f} s in all:")
            print(table(run), flush=True)
            measured["runs"].append({"learners": [asdict(x) | {"passed": x.passed}
                                                  for x in run.learners],
                                     "hub_mb": run.hub_mb})
    if any(len(r["learners"]) == 1 for r in measured["runs"]):
        measured["resources"] = resources(measured)
        print("\nper learner on Kubernetes:", measured["resources"])
    if args.save:
        args.save.write_text(json.dumps(measured, indent=1) + "\n")
        print("saved to", args.save)


if __name__ == "__main__":
    main()
