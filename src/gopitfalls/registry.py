"""Who owns what the engine starts, so nothing outlives the kernel that started it.

Each process the engine starts gets a pidfile under ``<cache>/run/``, each container the
labels ``gopitfalls.owner`` / ``gopitfalls.owner_start``, each temp dir a name with the
owner's pid. The owner is the Python process that drives the run, identified by pid and
start time (so a reused pid is not mistaken for it).

Three nets catch leftovers:
1. ``atexit`` and context managers stop what a live engine started;
2. a small guardian process (``python -m gopitfalls.guardian PID``) waits for its
   owner to die, even by SIGKILL, and then reaps that owner's leftovers;
3. every backend start reaps the leftovers of owners that are gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from .toolchain import cache_root

LABEL = "gopitfalls"
TEMP_PREFIX = "gopitfalls-"


def run_dir() -> Path:
    path = cache_root() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def owner_identity() -> dict:
    pid = os.getpid()
    return {"owner": pid, "owner_start": process_start(pid)}


def same_process_running(pid: int, started: float | None) -> bool:
    """Whether pid is running and is the process that started at `started` (pids are
    reused: a different start time means a different process). None skips that check."""
    start = process_start(pid)
    if start is None:
        return False
    return started is None or abs(start - started) < 1.0


def write_pidfile(pid: int, program: str, stop_signal: int | None = None,
                  marker: str | None = None) -> Path:
    """Record a process the engine started (the leader of its own process group).

    ``stop_signal``: a signal to send it before SIGKILL when it is reaped, for a server
    that cleans up on it what SIGKILL would leave behind (PostgreSQL's SysV segment).
    ``marker``: the run marker in its environment (:func:`kill_marked`)."""
    record = {"pid": pid, "pgid": pid, "program": program, "started": process_start(pid),
              **owner_identity()}
    if stop_signal is not None:
        record["stop_signal"] = int(stop_signal)
    if marker is not None:
        record["marker"] = marker
    path = run_dir() / f"{pid}.json"
    path.write_text(json.dumps(record))
    return path


def make_temp_dir(purpose: str) -> Path:
    """A temp dir that the reaper removes if its owner dies without cleaning up."""
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-{purpose}-"))


def kill_group(pgid: int, started: float | None = None) -> bool:
    """SIGKILL a process group the engine started, and the leader's descendants that left
    the group (PostgreSQL's children each start a session of their own); False if the
    group was already gone."""
    if started is not None and not same_process_running(pgid, started):
        return False  # the leader's pid now belongs to some other process
    try:
        descendants = psutil.Process(pgid).children(recursive=True)
    except psutil.Error:
        descendants = []
    try:
        os.killpg(pgid, signal.SIGKILL)
        killed = True
    except (ProcessLookupError, PermissionError):
        killed = False
    for child in descendants:
        try:
            child.kill()  # psutil checks the pid still names the same process
        except psutil.Error:
            pass
    return killed


# Every process of a local run carries this variable, inherited by whatever it starts: a
# child that moved to a session or process group of its own, or was orphaned when its
# parent exited, is still found by it (kill_marked) and ends with the run.
RUN_MARKER_ENV = "GOPITFALLS_RUN"


def kill_marked(marker: str) -> int:
    """SIGKILL every process of ours whose environment carries ``RUN_MARKER_ENV=marker``;
    how many there were."""
    killed = 0
    me = os.getuid()
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] is None or proc.info["uids"].real != me and me != 0:
                continue
            if proc.environ().get(RUN_MARKER_ENV) == marker:
                proc.kill()
                killed += 1
        except psutil.Error:
            pass  # gone meanwhile, a zombie, or not ours to read
    return killed


STOP_GRACE_S = 3.0


def _exited(pid: int, started: float | None) -> bool:
    if not same_process_running(pid, started):
        return True
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def stop_recorded(info: dict, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop the process of a pidfile record: its ``stop_signal`` first, if it has one,
    for up to ``grace_s``, then SIGKILL to its group. False if it was already gone."""
    stopped = _stop_group(info, grace_s)
    if info.get("marker"):  # whatever the program started, wherever it went
        stopped = kill_marked(info["marker"]) > 0 or stopped
    return stopped


def _stop_group(info: dict, grace_s: float) -> bool:
    pid, started = info["pid"], info.get("started")
    sig = info.get("stop_signal")
    if not sig or _exited(pid, started):
        return kill_group(info["pgid"], started)
    try:
        descendants = psutil.Process(pid).children(recursive=True)
        os.kill(pid, sig)
    except (psutil.Error, ProcessLookupError, PermissionError):
        descendants = []
    deadline = time.monotonic() + grace_s
    while not _exited(pid, started) and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_group(info["pgid"], started)
    for child in descendants:  # any that outlived their leader
        try:
            child.kill()
        except psutil.Error:
            pass
    return True


def docker_client(timeout: float = 10):
    """The one way the engine connects to Docker (backend, reaper, ``clean``, tests): a
    client of the daemon ``DOCKER_HOST`` names that has answered a ping. Raises when none
    answers (or the SDK is missing)."""
    import docker

    _check_docker_socket()
    client = docker.from_env(timeout=timeout)
    client.ping()
    return client


def _check_docker_socket() -> None:
    """Raise at once when a local daemon's socket does not accept: the SDK's failed ping
    leaves its socket unclosed (a ResourceWarning at the next garbage collection)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        probe.connect(host.removeprefix("unix://"))  # OSError: no daemon there


def _docker_client_or_none():
    try:
        return docker_client()
    except Exception:
        return None


def pidfiles() -> Iterator[tuple[Path, dict | None]]:
    """Each pidfile of a program the engine started, with its record (None if unreadable)."""
    for path in run_dir().glob("*.json"):
        try:
            yield path, json.loads(path.read_text())
        except (OSError, ValueError):
            yield path, None


def temp_dirs() -> Iterator[tuple[Path, int]]:
    """Each temp dir the engine made, with the pid of the process that made it."""
    for path in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            yield path, int(path.name[len(TEMP_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue


def temp_dir_owner(path: str | Path) -> int | None:
    """The pid that made the engine temp dir ``path`` is in (or was in, if removed), or
    None when ``path`` is not inside one."""
    root = Path(tempfile.gettempdir())
    try:
        first = Path(path).relative_to(root).parts[0]
    except (ValueError, IndexError):
        return None
    try:
        return int(first[len(TEMP_PREFIX):].split("-", 1)[0]) if first.startswith(
            TEMP_PREFIX) else None
    except ValueError:
        return None


def container_owner(container: dict) -> tuple[int, float | None]:
    """(pid, start time) of the process that started an engine container (0 if unlabelled)."""
    labels = container.get("Labels") or {}
    try:
        return (int(labels.get(f"{LABEL}.owner", "0")),
                float(labels.get(f"{LABEL}.owner_start") or 0) or None)
    except ValueError:
        return 0, None


def reap(only_dead_owners: bool = True, client=None) -> list[str]:
    """Remove leftovers: processes, containers and temp dirs whose owner is gone.

    With ``only_dead_owners=False`` (``gopitfalls clean``) everything the engine ever
    started is removed, live owners included. Returns a line per thing removed.
    """
    removed = []
    for pidfile, info in pidfiles():
        if info is None:
            pidfile.unlink(missing_ok=True)
            continue
        if only_dead_owners and same_process_running(info["owner"], info.get("owner_start")):
            continue
        if stop_recorded(info):
            removed.append(f"process {info['pid']} ({info.get('program', '?')})")
        pidfile.unlink(missing_ok=True)

    for path, owner in temp_dirs():
        if only_dead_owners and process_start(owner) is not None:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(f"temp dir {path}")

    client = client if client is not None else _docker_client_or_none()
    for c in engine_containers(client):
        labels = c.get("Labels") or {}
        owner, owner_start = container_owner(c)
        if only_dead_owners and owner and same_process_running(owner, owner_start):
            continue
        try:
            client.api.remove_container(c["Id"], force=True)
            removed.append(f"container {c['Id'][:12]} ({labels.get(f'{LABEL}.program', '?')})")
        except Exception:
            pass  # removed meanwhile
    return removed


def engine_containers(client) -> list[dict]:
    """The engine's containers, running or not, as the daemon lists them (no inspect per
    container, so one removed meanwhile cannot fail the listing)."""
    if client is None:
        return []
    try:
        return client.api.containers(all=True, filters={"label": LABEL})
    except Exception:
        return []


_guardian: subprocess.Popen | None = None


def ensure_guardian() -> None:
    """Start (once per process) the guardian that reaps our leftovers after we die."""
    global _guardian
    if _guardian is not None and _guardian.poll() is None:
        return
    _guardian = subprocess.Popen(
        [sys.executable, "-m", "gopitfalls.guardian", str(os.getpid())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives our process group being killed
    )
