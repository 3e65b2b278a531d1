"""pytest configuration for the whole checkout.

- nbval's notebook kernels use IPC sockets (see tests/kernels.py for why) and run the
  lessons on the local backend unless GOPITFALLS_BACKEND says otherwise: nbval executes each
  notebook once, where Binder, Colab and JupyterHub learners run it (README, "What CI
  proves"); tests/test_fix_matters.py runs its claims again on docker.
- Each notebook's time (all its cells, kernel start included) is summed and printed at the
  end, slowest first; with GOPITFALLS_TIMINGS=FILE also written there as JSON (.ci/run).
"""

import json
import os
import time
from collections import defaultdict

import nbval.kernel

from tests.kernels import IPCKernelManager


class NbvalKernelManager(IPCKernelManager):
    def start_kernel(self, **kw):
        backend = os.environ.get("GOPITFALLS_BACKEND") or "local"
        kw.setdefault("env", {**os.environ, "GOPITFALLS_BACKEND": backend})
        return super().start_kernel(**kw)


nbval.kernel.KernelManager = NbvalKernelManager

_seconds: dict[str, float] = defaultdict(float)


def _timed_name(item) -> str | None:
    """'nbval notebooks/NN-slug.ipynb' for a notebook cell, 'fix-matters NN-slug' for that
    test's run of one notebook; None for everything else."""
    if item.path.suffix == ".ipynb":
        return f"nbval {item.path.parent.name}/{item.path.name}"
    if item.path.name == "test_fix_matters.py" and "[" in item.name and "judge" not in item.name:
        return f"fix-matters {item.name.split('[', 1)[1].rstrip(']')}"
    return None


_names: dict[str, str] = {}  # test id -> the notebook run it belongs to


def pytest_collection_modifyitems(items):
    for item in items:
        name = _timed_name(item)
        if name:
            _names[item.nodeid] = name


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
