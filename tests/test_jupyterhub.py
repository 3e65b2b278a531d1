"""A class on one JupyterHub: three learners run a lesson at the same time.

A real JupyterHub (the `hub` extra) with the npm configurable-http-proxy (.ci/run installs
it), the dummy authenticator and the local spawner, as `gopitfalls class` starts it. Each
learner logs in through the hub's form with the shared password, gets their own JupyterLab
server and runs lesson 04 in a kernel of it through the hub's proxy (the kernel websocket),
all three at once. The lesson's own assertion cells judge its measurements, so "no cell
errored" is "the lesson passed". Memory and CPU per learner are sampled and printed (the
figures of record come from benchmarks/class_on_one_hub.py). After the hub stops, no process
of the hub, of its proxy or of any learner may be left. About 40 s on 2 cores.
"""

import psutil
import pytest

from gopitfalls.classroom import ClassroomError, Hub, find_proxy, run_class, table

from .conftest import IN_CI

LESSON = "notebooks/04-structured-logging-traceid.ipynb"  # short, and measures under load
LEARNERS = ["ada", "grace", "linus"]

pytestmark = pytest.mark.slow


def _needs(what: str, why: str):
    if IN_CI:
        pytest.fail(f"CI must provide {what}: {why}")
    pytest.skip(why)


def test_three_learners_pass_a_lesson_at_once_and_leave_nothing(tmp_path):
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        _needs("JupyterHub", "jupyterhub is not installed: pip install -e '.[hub]'")
    try:
        find_proxy()
    except ClassroomError as e:
        _needs("configurable-http-proxy", str(e))

    with Hub(tmp_path, LEARNERS) as hub:
        run = run_class(hub, LESSON)
    print(table(run))

    for learner in run.learners:
        assert learner.passed, f"{learner.name}'s lesson failed on a shared hub: {learner.errors}"
        # server, kernel and the Go programs the lesson started were all measured
        assert learner.processes_seen >= 3, learner
        assert learner.peak_mb > learner.idle_mb > 0 and learner.cpu_s > 0, learner
    survivors = [p for p in run.processes if _alive(p)]
    assert not survivors, f"left running after the hub stopped: {survivors}"
    # and none that left the tree (an orphaned Go program): its environment names the class
    strays = [p for p in psutil.process_iter() if str(tmp_path) in " ".join(_environ(p).values())]
    assert not strays, f"left running outside the hub's tree: {strays}"
    assert len(run.processes) >= 2 + 3 * len(LEARNERS)  # hub, proxy, each learner's tree


def _environ(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except psutil.Error:
        return {}


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
