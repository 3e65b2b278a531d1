"""Layer 11 (beside cli): build every Go program the course runs before a learner needs it.

``gopitfalls warm`` builds the engine's tools and each lesson's and lab's programs, in the
flavours their runs use (race builds where a run asks for ``race=True``), into the build
cache every later run reuses: a warm run then pays only Go's up-to-date check. The Binder
image does it in ``postBuild``; on a laptop it is one command, run once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .build import TOOLS_DIR, BuildError, build
from .course import lessons
from .labs import load_labs

TOOLS = ("loadgen", "upstream", "logsink")


def targets() -> list[tuple[str, Path, bool, bool]]:
    """(label, folder, race, probe) for every build the course's runs make."""
    found: dict[tuple[Path, bool, bool], str] = {}
    for name in TOOLS:
        found[(TOOLS_DIR / name, False, name != "loadgen")] = f"engine tool {name}"
    for slug, lsn in lessons().items():
        flavours = {("broken", False), ("fixed", False)}
        for spec in lsn.runs.values():
            if "build" not in spec.overrides:  # a lesson that builds its own way (19)
                flavours.add((spec.variant, bool(spec.overrides.get("race"))))
        for variant, race in sorted(flavours):
            found.setdefault((lsn.program_dir(variant), race, True),
                             f"{slug}/{variant}" + (" (race)" if race else ""))
    for slug, the_lab in load_labs().items():
        races = {bool(spec.overrides.get("race")) for spec in the_lab.runs.values()
                 if "build" not in spec.overrides} or {False}  # lab 19 builds its own way
        for race in sorted(races):
            found.setdefault((the_lab.folder, race, True),
                             f"lab {slug}" + (" (race)" if race else ""))
    return [(label, folder, race, probe) for (folder, race, probe), label in found.items()]


def warm(report: Callable[[str], None] = print) -> tuple[int, list[str]]:
    """Build them all; returns (builds made, the labels of those that failed to compile, as
    a learner's edited lab may)."""
    todo = targets()
    failed = []
    started = time.monotonic()
    for i, (label, folder, race, probe) in enumerate(todo, 1):
        t = time.monotonic()
        try:
            build(folder, race=race, probe=probe)
            took = f"{time.monotonic() - t:5.1f} s"
        except BuildError:
            failed.append(label)
            took = "does not compile (a lab you are editing?)"
        bar = "#" * (20 * i // len(todo))
        report(f"[{bar:20s}] {i:3d}/{len(todo)}  {label:48s} {took}")
    report(f"warm: {len(todo)} builds in {time.monotonic() - started:.0f} s"
           + (f"; {len(failed)} did not compile: {', '.join(failed)}" if failed else ""))
    return len(todo), failed
