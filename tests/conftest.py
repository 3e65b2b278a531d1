import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
IN_CI = bool(os.environ.get("CI"))


def docker_available() -> str | None:
    """None when a daemon answers, else why not."""
    from gopitfalls.backends import BackendUnavailable, get_backend

    try:
        get_backend("docker")
        return None
    except BackendUnavailable as exc:
        return str(exc)


@pytest.fixture(params=["local", "docker"])
def backend(request):
    """Each test using it runs on both backends. Without a daemon the docker half is
    skipped with the reason, except in CI, where .ci/run starts one: there it fails."""
    if request.param == "docker":
        why = docker_available()
        if why:
            if IN_CI:
                pytest.fail(f"CI must provide a Docker daemon: {why}")
            pytest.skip(why)
    return request.param


@pytest.fixture
def hostile():
    return lambda name: HOSTILE / name


def leftovers(owner: int | None = None) -> list[str]:
    """What the engine left behind: pidfiles, engine processes, containers, temp dirs.

    Only what belongs to this test session counts (owned by ``owner``, by default this
    process, or by an owner that has died): other sessions on the same machine may be
    running lessons of their own at the same time."""
    import os

    import psutil

    from gopitfalls import registry
    from gopitfalls.datastores import server_binary_dirs

    me = owner or os.getpid()

    def ours(pid: int, start: float | None = None) -> bool:
        return pid == me or not registry.same_process_running(pid, start)

    found, claimed = [], set()
    for pidfile, info in registry.pidfiles():
        if info is None:
            continue
        claimed.add(info["pid"])
        if ours(info["owner"], info.get("owner_start")):
            found.append(f"pidfile {pidfile.name} ({info.get('program')})")
    found += [f"temp dir {path}" for path, pid in registry.temp_dirs() if ours(pid)]
    cache = str(registry.cache_root() / "bin")
    servers = tuple(str(d) + os.sep for d in server_binary_dirs())
    for proc in psutil.process_iter(["pid", "exe", "cwd"]):
        exe = proc.info.get("exe") or ""
        if proc.info["pid"] in claimed:
            continue
        if exe.startswith(cache):
            found.append(f"process {proc.info['pid']} {exe} (no pidfile)")
        elif servers and exe.startswith(servers):
            # A database server (or one of PostgreSQL's children, each in a session of its
            # own) is ours when it works in a temp dir of ours: other sessions run theirs.
            owner = registry.temp_dir_owner(proc.info.get("cwd") or "")
            if owner is not None and ours(owner):
                found.append(f"process {proc.info['pid']} {exe} in {proc.info['cwd']} "
                             "(no pidfile)")
    if docker_available() is None:
        for c in registry.engine_containers(registry.docker_client()):
            pid, start = registry.container_owner(c)
            if not pid or ours(pid, start):
                labels = c.get("Labels") or {}
                found.append(f"container {c['Id'][:12]} ({labels.get('gopitfalls.program')})")
    return found


def wait_until_clean(timeout_s: float = 10.0, owner: int | None = None) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = leftovers(owner)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def pytest_sessionfinish(session, exitstatus):
    """After everything, notebooks included: no process, container, pidfile or temp dir
    of the engine may remain. (Kernels' guardians reap within a second of the kernel's exit.)"""
    from gopitfalls.datastores import stop_shared

    stop_shared()  # the database servers runs in this process shared (as at its exit)
    left = wait_until_clean(15)
    if left:
        print("\nLEAK: the engine left these behind:\n  " + "\n  ".join(left))
        session.exitstatus = 1
