"""Layer 8: saved runs, so the course can be read where Go cannot run.

With ``GOPITFALLS_RECORD=DIR`` (``gopitfalls book`` sets it) every ``Lesson.run``,
``Lesson.go_test`` and ``Lesson.remember`` saves what it measured as
``DIR/<slug>/<kind>-<name>-<n>.json.gz``: the lesson, the call (``name`` and the n-th
call of that name in the process, so a notebook that runs "broken" twice keeps both), what
was asked, when and where it was recorded, and the result (:meth:`Run.to_dict`, a
:class:`TestReport`'s fields, or what ``Lesson.remember`` computed).

With ``GOPITFALLS_REPLAY=DIR`` they build and start nothing: they return the saved result,
and say once, visibly, when and where it was recorded. Each call must ask for what was
recorded (a knob moved, a scenario changed: :class:`ReplayMismatch`), and a call that was
never recorded raises :class:`ReplayMissing`, naming the command that records it.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from .experiment import Run
from .gotest import TestReport

RECORD_ENV, REPLAY_ENV = "GOPITFALLS_RECORD", "GOPITFALLS_REPLAY"
FORMAT = 1

# kind -> (result to a JSON-ready dict, and back)
_KINDS = {
    "run": (Run.to_dict, Run.from_dict),
    "go_test": (asdict, lambda d: TestReport(**d)),
    # Lesson.remember: a Run (gopitfalls.run of another program) or plain JSON data
    "value": (lambda v: {"run": v.to_dict()} if isinstance(v, Run) else {"value": v},
              lambda d: Run.from_dict(d["run"]) if "run" in d else d["value"]),
}
_calls: Counter = Counter()  # (slug, kind, name) -> how many calls so far in this process
_announced = False


class ReplayMissing(FileNotFoundError):
    """Replaying, and this call was never recorded."""


class ReplayMismatch(ValueError):
    """Replaying, and this call asks for something else than the saved one."""


def replay_dir() -> Path | None:
    return _dir(REPLAY_ENV)


def record_dir() -> Path | None:
    return _dir(RECORD_ENV)


def _dir(var: str) -> Path | None:
    value = os.environ.get(var)
    if value and os.environ.get(RECORD_ENV if var == REPLAY_ENV else REPLAY_ENV):
        raise ValueError(f"set {RECORD_ENV} or {REPLAY_ENV}, not both")
    return Path(value) if value else None


def saved(slug: str, kind: str, name: str, request: dict):
    """When replaying, the saved result of this call (a Run or a TestReport), else None."""
    folder = replay_dir()
    if folder is None:
        return None
    path = folder / slug / _file_name(slug, kind, name)
    recorded = sorted(path.parent.glob(path.name.rsplit("-", 1)[0] + "-*.json.gz"))
    if not path.is_file() and recorded:
        # A kernel that runs the cells again asks for a call beyond the recorded ones: it
        # gets them again, in order (run-broken-3 of 2 recorded is run-broken-1).
        n = int(path.name.rsplit("-", 1)[1].split(".")[0])
        path = path.with_name(f"{path.name.rsplit('-', 1)[0]}-{(n - 1) % len(recorded) + 1}"
                              ".json.gz")
    if not path.is_file():
        number = slug.split("-", 1)[0]
        raise ReplayMissing(
            f"no saved {kind} {name!r} of {slug} ({path} is missing). Record it where Go "
            f"runs: gopitfalls book --lessons {number} --out SITE (the runs land in "
            f"SITE/runs), then replay with {REPLAY_ENV}=SITE/runs or gopitfalls book "
            f"--replay SITE/runs")
    with gzip.open(path, "rt") as f:
        record = json.load(f)
    if record["request"] != _plain(request):
        raise ReplayMismatch(
            f"{path} was recorded for {record['request']}, this call asks for "
            f"{_plain(request)}: a saved run replays only what was recorded (run it where "
            "Go runs to try other settings)")
    _announce(record["recorded"])
    return _KINDS[kind][1](record["result"])


def record(slug: str, kind: str, name: str, request: dict, result) -> None:
    """When recording, save this call's result (see the module's docstring)."""
    folder = record_dir()
    if folder is None:
        return
    text = json.dumps({
        "format": FORMAT, "lesson": slug, "kind": kind, "name": name,
        "request": _plain(request), "recorded": _here_and_now(),
        "result": _KINDS[kind][0](result)})  # raises on a value JSON cannot hold: never lossy
    path = folder / slug / _file_name(slug, kind, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.write(text)


def _file_name(slug: str, kind: str, name: str) -> str:
    _calls[slug, kind, name] += 1
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name)
    return f"{kind}-{safe}-{_calls[slug, kind, name]}.json.gz"


def _plain(request: dict) -> dict:
    """What a call asked for, as JSON: a function by its name (a hook or a build), so the
    same notebook asks for the same thing in every process."""
    def name_of(value):
        return getattr(value, "__qualname__", None) or type(value).__name__
    return json.loads(json.dumps(request, default=name_of, sort_keys=True))


def _here_and_now() -> dict:
    return {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.node()} ({platform.system()} {platform.machine()}, "
                       f"{os.cpu_count()} CPUs)"}


def _announce(recorded: dict) -> None:
    global _announced
    if not _announced:
        _announced = True
        print(f"replaying a run recorded on {recorded['at']}, {recorded['machine']} "
              f"(nothing is built or started: {REPLAY_ENV} is set)")
