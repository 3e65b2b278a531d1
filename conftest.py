"""pytest configuration for the whole checkout.

- nbval's notebook kernels use IPC sockets (see tests/kernels.py for why) and run the
  lessons on the local backend unless GOPITFALLS_BACKEND says otherwise: nbval executes each
  notebook once, where Binder, Colab and JupyterHub learners run it (README, "What CI
  proves"); tests/test_fix_matters.py runs its claims again on docker.
- After each notebook's cells, one more item checks that its lesson.check() cells judged
  every claim of the lesson's claims.py.
- Each notebook's time (all its cells, kernel start included) is summed and printed at the
  end, slowest first; with GOPITFALLS_TIMINGS=FILE also written there as JSON (.ci/run).
"""

import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbval.kernel
import pytest

from tests.kernels import IPCKernelManager

# Each lesson.check() in a notebook kernel appends the claims it judged here (course.py);
# the item added after each notebook's cells reads it.
JUDGED_LOG = Path(tempfile.gettempdir()) / f"gopitfalls-judged-{os.getpid()}.jsonl"


class NbvalKernelManager(IPCKernelManager):
    def start_kernel(self, **kw):
        backend = os.environ.get("GOPITFALLS_BACKEND") or "local"
        kw.setdefault("env", {**os.environ, "GOPITFALLS_BACKEND": backend,
                              "GOPITFALLS_JUDGED_LOG": str(JUDGED_LOG)})
        return super().start_kernel(**kw)


class EveryClaimJudged(pytest.Item):
    """Runs after a notebook's last cell: every claim of the lesson's claims.py was judged
    by one of its lesson.check() cells (so no claim is only ever judged by the fix-matters
    test, out of the learner's sight)."""

    def __init__(self, *, slug: str, **kw):
        super().__init__(**kw)
        self.slug = slug

    def runtest(self) -> None:
        from gopitfalls.claims import claims_of
        from gopitfalls.course import lesson

        judged = set()
        if JUDGED_LOG.exists():
            records = [json.loads(line) for line in JUDGED_LOG.read_text().splitlines()]
            judged = {r["claim"] for r in records if r["lesson"] == self.slug}
        claims = {f.__name__ for f in claims_of(lesson(self.slug).claims)}
        missing = sorted(claims - judged)
        assert not missing, (f"notebooks/{self.slug}.ipynb judged no lesson.check() of "
                             f"{missing} (claims.py); judge every claim in the notebook")

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, None, f"{self.slug}: every claim judged"


nbval.kernel.KernelManager = NbvalKernelManager

_seconds: dict[str, float] = defaultdict(float)


def _timed_name(item) -> str | None:
    """'nbval notebooks/NN-slug.ipynb' for a notebook cell ('nbval course-map.ipynb' for the
    map, at the root), 'fix-matters NN-slug' for that test's run of one notebook; None for
    everything else."""
    if item.path.suffix == ".ipynb":
        folder = "" if item.path.parent == Path(__file__).parent else f"{item.path.parent.name}/"
        return f"nbval {folder}{item.path.name}"
    if item.path.name == "test_fix_matters.py" and "[" in item.name and "judge" not in item.name:
        return f"fix-matters {item.name.split('[', 1)[1].rstrip(']')}"
    return None


_names: dict[str, str] = {}  # test id -> the notebook run it belongs to


def pytest_collection_modifyitems(items):
    last_cell = {}
    for i, item in enumerate(items):
        name = _timed_name(item)
        if name:
            _names[item.nodeid] = name
        if item.path.suffix == ".ipynb" and item.path.parent.name == "notebooks":
            last_cell[item.path] = i  # a lesson's notebook (a lab's judges the learner's)
    for path, i in sorted(last_cell.items(), key=lambda kv: -kv[1]):  # from the end
        items.insert(i + 1, EveryClaimJudged.from_parent(items[i].parent, name="every claim judged",
                                                         slug=path.stem))


def pytest_sessionfinish():
    JUDGED_LOG.unlink(missing_ok=True)


def pytest_runtest_logreport(report):
    name = _names.get(report.nodeid)
    if name:
        _seconds[name] += report.duration  # setup (kernel start), call and teardown


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    ranked = sorted(_seconds.items(), key=lambda kv: -kv[1])
    terminalreporter.section("notebook times, slowest first")
    for name, seconds in ranked:
        terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
    path = os.environ.get("GOPITFALLS_TIMINGS")
    if path:
        with open(path, "w") as out:
            json.dump({"finished": time.time(), "notebooks": dict(ranked)}, out, indent=1)
