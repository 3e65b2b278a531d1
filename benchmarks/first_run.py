#!/usr/bin/env python3
"""A learner's first minute: what a lesson's first run costs beyond its own experiment.

For one lesson (``--lesson``, default 02-http-client-timeouts), in one invocation:

1. cold: a lesson run with an empty Go build cache (``GOCACHE``) and an empty engine cache
   (``GOPITFALLS_CACHE``), both fresh temp folders, as on a new laptop;
2. ``gopitfalls warm`` on another pair of empty caches (what warming costs), then again
   (what it costs when everything is warm, as at each ``gopitfalls lab``);
3. warm: the same lesson run on those warmed caches.

Each run reports its wall time, the experiment's planned duration (baseline + load +
cooldown of its scenario and overrides), the overhead (wall - planned, and wall / planned)
and the part of it spent in builds (every build() the run made: program, upstream, load
generator, log sink). ``--all`` then makes the first named run of every lesson on the warmed
caches: the acceptance figure is its build column (about 1 s at most).

Usage: python benchmarks/first_run.py [--lesson SLUG] [--all] [--backend local|docker]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from gopitfalls import experiment
from gopitfalls.course import lesson, lessons
from gopitfalls.warm import warm

building = importlib.import_module("gopitfalls.build")  # the module (the package exports build())


@contextmanager
def fresh_caches():
    """Empty Go and engine caches for what runs inside, removed afterwards."""
    saved = {k: os.environ.get(k) for k in ("GOCACHE", "GOPITFALLS_CACHE")}
    tmp = Path(tempfile.mkdtemp(prefix="gopitfalls-first-run-"))
    os.environ["GOCACHE"], os.environ["GOPITFALLS_CACHE"] = str(tmp / "go"), str(tmp / "engine")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def counting_builds():
    """While inside: seconds spent in build() (the program, the engine's tools, with their
    stamp checks) in ``spent["build"]``, and the ``go build`` commands it ran, with their
    seconds, in ``spent["go"]`` (these also catch a lesson that builds its own way, 19)."""
    spent = {"build": 0.0, "go": []}
    real_build, real_go_build = building.build, building._go_build

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_build(*args, **kwargs)
        finally:
            spent["build"] += time.perf_counter() - started

    def timed_go(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_go_build(*args, **kwargs)
        finally:
            spent["go"].append(time.perf_counter() - started)

    # tool() looks build up in its module, run() in experiment's
    building.build, experiment.build, building._go_build = timed, timed, timed_go
    try:
        yield spent
    finally:
        building.build, experiment.build = real_build, real_build
        building._go_build = real_go_build


def first_run_name(lsn) -> str:
    return next(iter(lsn.runs), "broken")


def planned_seconds(lsn, name: str) -> float:
    """baseline + load + cooldown, as Lesson.run will ask run() for them."""
    spec = lsn.runs.get(name)
    scenario = lsn.scenario(spec.scenario if spec else "default")
    overrides = spec.overrides if spec else {}
    load_s = overrides.get("duration_s", scenario.load.duration_s) if scenario.load else 0.0
    return (overrides.get("baseline_s", scenario.baseline_s) + load_s
            + overrides.get("cooldown_s", scenario.cooldown_s))


def measure(slug: str, backend: str) -> dict:
    lsn = lesson(slug)
    name = first_run_name(lsn)
    with counting_builds() as spent:
        started = time.perf_counter()
        lsn.run(name, backend=backend, progress=None)
        wall = time.perf_counter() - started
    planned = planned_seconds(lsn, name)
    return dict(slug=slug, run=name, wall=wall, planned=planned, overhead=wall - planned,
                ratio=wall / planned if planned else float("nan"),
                # build() holds any go build it runs; a lesson that builds its own way (19)
                # calls a build() imported before this count began: its go builds count
                build=max(spent["build"], sum(spent["go"])), go_builds=len(spent["go"]))


def row(m: dict) -> str:
    return (f"| {m['slug']} ({m['run']}) | {m['wall']:.1f} | {m['planned']:.1f} | "
            f"{m['overhead']:.1f} | {m['ratio']:.2f} | {m['build']:.2f} | {m['go_builds']} |")


HEADER = ("| lesson (first run) | wall s | planned s | overhead s | wall / planned | "
          "in builds s | go builds run |\n|---|---|---|---|---|---|---|")


def timed_warm() -> tuple[float, int, list[str]]:
    started = time.perf_counter()
    count, failed = warm(lambda line: None)
    return time.perf_counter() - started, count, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lesson", default="02-http-client-timeouts")
    parser.add_argument("--all", action="store_true",
                        help="then the first run of every lesson on the warmed caches")
    parser.add_argument("--backend", default="local")
    args = parser.parse_args()

    with fresh_caches():
        cold = measure(args.lesson, args.backend)
    with fresh_caches():
        warm_cold = timed_warm()
        warm_warm = timed_warm()
        warmed = measure(args.lesson, args.backend)
        print(f"gopitfalls warm, empty caches: {warm_cold[0]:.0f} s for {warm_cold[1]} builds"
              + (f" ({len(warm_cold[2])} did not compile: {warm_cold[2]})" if warm_cold[2]
                 else ""))
        print(f"gopitfalls warm, again (all warm): {warm_warm[0]:.2f} s")
        print(HEADER.replace("lesson (first run)", "run"))
        print(row({**cold, "slug": f"cold {cold['slug']}"}))
        print(row({**warmed, "slug": f"warm {warmed['slug']}"}))
        if args.all:
            print("\nfirst run of every lesson, warmed caches:")
            print(HEADER)
            measured = []
            for slug in lessons():
                measured.append(measure(slug, args.backend))
                print(row(measured[-1]), flush=True)
            builds = [m["build"] for m in measured]
            overheads = [m["overhead"] for m in measured]
            print(f"in builds: max {max(builds):.2f} s, median {statistics.median(builds):.2f} s;"
                  f" overhead: max {max(overheads):.1f} s, "
                  f"median {statistics.median(overheads):.1f} s")


if __name__ == "__main__":
    main()
