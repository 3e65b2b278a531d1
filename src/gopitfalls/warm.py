"""Layer 11 (beside cli): build every Go program the course runs before a learner needs it.

``gopitfalls warm`` builds the engine's tools and each lesson's and lab's programs, in the
flavours their runs use (race builds where a run asks for ``race=True``), into the build
cache every later run reuses: a warm run then finds each build's stamp current and does not
invoke Go at all. The Binder image does it in ``postBuild``; on a laptop it is one command,
and ``gopitfalls lab`` starts it in the background (:func:`start_in_background`) when the
course opens.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .build import TOOLS_DIR, BuildError, build
from .course import course_root, lessons
from .labs import load_labs
from .serving import GATEWAY
from .toolchain import cache_root

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
    gateway = course_root() / GATEWAY  # the GPU labs' batcher (serving.serve runs it)
    if gateway.is_dir():  # a learner's copy laid out before the GPU labs has none
        found[(gateway, False, True)] = "GPU labs' gateway"
    return [(label, folder, race, probe) for (folder, race, probe), label in found.items()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, and is someone else's
    return True


def warm(report: Callable[[str], None] = print,
         while_alive: int | None = None) -> tuple[int, list[str]]:
    """Build them all; returns (builds made, the labels of those that failed to compile, as
    a learner's edited lab may). With ``while_alive``, stop once that process has ended."""
    todo = targets()
    failed = []
    started = time.monotonic()
    for i, (label, folder, race, probe) in enumerate(todo, 1):
        if while_alive and not _alive(while_alive):
            report(f"warm: stopped after {i - 1} builds, process {while_alive} has ended")
            return i - 1, failed
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


def _warm_command(parent: int) -> list[str]:
    return [sys.executable, "-m", "gopitfalls.cli", "warm", "--while-alive", str(parent)]


def start_in_background(course: Path) -> Path:
    """Start ``gopitfalls warm`` on ``course`` at the lowest CPU priority, detached from the
    terminal, writing to a log file in the cache folder (returned); it stops once this
    process (JupyterLab, after ``gopitfalls lab`` execs it) has ended. A lesson run that needs
    a binary it is building waits for that build (builds hold a lock per output)."""
    log = cache_root() / "warm.log"
    cmd = _warm_command(os.getpid())
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # it exits at once: the warm process is its child, reparented
        return log
    try:  # the child: a new session (no Ctrl-C from the terminal), then fork the warm process
        os.setsid()
        if os.fork() == 0:
            os.nice(19)
            try:  # Linux: run only when a CPU has nothing else to do
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            except (AttributeError, OSError):
                pass  # nice 19 alone
            os.chdir(course)  # the course the kernels will find
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.execv(sys.executable, cmd)
    finally:
        os._exit(0)  # never return into the caller from a forked child
