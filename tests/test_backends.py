"""Integration tests of both backends: real programs, real limits, real kills."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from gopitfalls import Limits, run
from gopitfalls.backends import KilledBy
from gopitfalls.experiment import MAX_KEPT_LINES

from .conftest import ROOT, wait_until_clean


def write_program(tmp_path, body: str):
    (tmp_path / "main.go").write_text(textwrap.dedent(body))
    return tmp_path


def test_server_runs_probe_samples_and_is_stopped(backend):
    r = run(ROOT / "go-samples/02-http-client-timeouts/fixed", backend=backend,
            baseline_s=0.8, cooldown_s=0.0)
    assert r.backend == backend
    assert r.exit.killed_by == KilledBy.STOPPED_AT_END
    assert len(r.samples) >= 5  # one every 100 ms
    last = r.samples[-1]
    assert last["goroutines"] > 0 and last["rss"] > 1e6 and last["fds"] > 2
    assert last["expvar"]["upstream_calls"] == 0
    assert any("listening on 127.0.0.1" in line for line in r.logs())
    assert not any(line.startswith("@probe") for line in r.logs())  # probe lines separated
    assert r.enforcement["memory"]


def test_a_program_cannot_forge_the_probes_reports(backend, hostile):
    # It prints "@probe" lines claiming 99999 goroutines and an expvar "forged", with no
    # key, a guessed key and whatever it read from its own stdin after the probe did.
    r = run(hostile("probe_forger"), backend=backend, baseline_s=1.0, cooldown_s=0.0)
    assert len(r.samples) >= 5  # the real probe still reports
    assert max(r.values("goroutines")) < 100
    assert not any("forged" in s["expvar"] for s in r.samples)
    forged = [line for line in r.logs("stderr") if line.startswith("@probe")]
    assert len(forged) >= 30  # three lines per 20 ms on stderr, kept as the program's output
    printed = [line for line in r.logs("stdout") if line.startswith("@probe")]
    assert len(printed) >= 30  # the same on stdout
    assert r.forged_probe_lines == len(forged) + len(printed)  # every one counted, refused
    assert 'stolen=""' in r.logs("stderr")  # the probe had read the key before main ran
    assert any(line.startswith("@probe " + "0" * 32) for line in forged)


def test_exit_code_and_go_fatal_reason_are_reported(backend, tmp_path):
    prog = write_program(tmp_path, """
        package main

        import "os"

        func main() {
            os.Stderr.WriteString("config: DATABASE_URL is required\\n")
            os.Exit(2)
        }
    """)
    r = run(prog, backend=backend, ready_timeout_s=5)
    assert r.exit.code == 2 and r.exit.killed_by is None
    assert "config: DATABASE_URL is required" in r.logs()


def test_panic_reason_in_exit_detail(backend, tmp_path):
    prog = write_program(tmp_path, """
        package main

        func main() {
            var m map[string]int
            m["x"] = 1
        }
    """)
    r = run(prog, backend=backend, ready_timeout_s=5)
    assert r.exit.code == 2
    assert "panic: assignment to entry in nil map" in r.exit.detail


def test_nofile_limit_is_applied(backend, tmp_path):
    prog = write_program(tmp_path, """
        package main

        import (
            "fmt"
            "syscall"
        )

        func main() {
            var l syscall.Rlimit
            syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
            fmt.Println("nofile", l.Cur, l.Max)
        }
    """)
    r = run(prog, backend=backend, limits=Limits(nofile=321), ready_timeout_s=5)
    assert "nofile 321 321" in r.logs("stdout")


# ---------------------------------------------------------------- hostile programs

def test_memory_bomb_is_killed_at_the_cap(backend, hostile):
    started = time.monotonic()
    r = run(hostile("memory_bomb"), backend=backend, limits=Limits(memory_mb=128, timeout_s=30),
            ready_timeout_s=30)
    memory_kills = ({KilledBy.OOM} if backend == "docker"
                    else {KilledBy.MEMORY_WATCHDOG, KilledBy.ADDRESS_SPACE_GUARD})
    assert r.exit.killed_by in memory_kills, r.exit
    if backend == "docker":
        assert r.exit.oom_killed
    assert time.monotonic() - started < 20
    peak = max((s["rss"] for s in r.samples), default=0)
    assert peak < 2 * 128 * 2**20  # it never got far past the cap


def test_goroutine_bomb_is_contained(backend, hostile):
    r = run(hostile("goroutine_bomb"), backend=backend,
            limits=Limits(memory_mb=128, timeout_s=20), ready_timeout_s=30)
    assert r.killed or r.exit.code == 2, r.exit
    assert r.exit.detail


def test_thread_bomb_is_contained(backend, hostile):
    r = run(hostile("thread_bomb"), backend=backend,
            limits=Limits(memory_mb=256, pids=128, timeout_s=20), ready_timeout_s=30)
    assert r.exit.killed_by != KilledBy.TIMEOUT, r.exit
    assert r.killed or r.exit.code == 2, r.exit
    assert r.exit.detail


def test_endless_loop_is_stopped_by_the_timeout(backend, hostile):
    r = run(hostile("endless_loop"), backend=backend, limits=Limits(timeout_s=2),
            ready_timeout_s=30)
    assert r.exit.killed_by == KilledBy.TIMEOUT
    assert "2 s timeout" in r.exit.detail


def test_output_flood_is_stopped_and_bounded(backend, hostile):
    r = run(hostile("output_flood"), backend=backend, limits=Limits(output_mb=8, timeout_s=30),
            ready_timeout_s=30)
    assert r.exit.killed_by == KilledBy.OUTPUT_FLOOD, r.exit
    assert len(r.stdout) <= MAX_KEPT_LINES


def test_a_child_in_a_session_of_its_own_ends_with_the_run(hostile):
    # local only: docker's container ends every process in it by construction
    r = run(hostile("setsid_escape"), backend="local", baseline_s=0.5, cooldown_s=0.0)
    pid = int(next(line for line in r.logs("stdout") if line.startswith("child="))[6:])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the child {pid} outlived the run")


def test_disk_use_is_bounded_and_the_temp_dir_removed(backend, hostile):
    r = run(hostile("disk_filler"), backend=backend, baseline_s=3.0, cooldown_s=0.0,
            limits=Limits(disk_mb=64, timeout_s=30))
    tmpdir = next(line for line in r.logs("stdout") if line.startswith("tmpdir="))[7:]
    errors = [line for line in r.logs("stdout") if line.startswith(("write:", "create:"))]
    if backend == "local":  # each file stops at the limit; the guard stops the sum
        assert any("file too large" in line for line in errors), errors[:3]
        assert r.exit.killed_by == KilledBy.DISK_GUARD, r.exit
        assert not os.path.exists(tmpdir)
    else:  # /tmp is a tmpfs of that size, gone with the container
        assert tmpdir == "/tmp"
        assert any("no space left on device" in line for line in errors), errors[:3]


def test_listening_on_all_interfaces_is_stopped(backend, hostile):
    r = run(hostile("listen_all"), backend=backend, limits=Limits(timeout_s=20),
            ready_timeout_s=15)
    assert r.exit.killed_by == KilledBy.LISTEN_GUARD, r.exit
    assert "0.0.0.0" in r.exit.detail or "::" in r.exit.detail
    assert "ADDR" in r.exit.detail


# ---------------------------------------------------------------- orphans

DRIVER = """
import sys, time
from gopitfalls import run, Limits
run(sys.argv[1], backend=sys.argv[2], limits=Limits(timeout_s=120), ready_timeout_s=100,
    baseline_s=0, cooldown_s=0)
"""


def test_sigkilled_driver_leaves_nothing(backend, hostile, tmp_path):
    """Kill the Python process that drives a run (as a dead kernel would): its guardian
    reaps the program or container within seconds."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(hostile("endless_loop")),
                               backend], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = (_containers_of(driver.pid) if backend == "docker"
                       else _has_child_named(driver.pid, "endless_loop"))
            if started:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the driver never started the program")
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    assert wait_until_clean(15, owner=driver.pid) == []


def _has_child_named(pid: int, name: str) -> bool:
    """Whether a descendant of pid is called name. Short-lived children (go build, the
    guardian starting) may exit between listing and reading their name: skip those."""
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.name() == name:
                return True
        except psutil.NoSuchProcess:
            continue
    return False


def _containers_of(pid: int):
    from gopitfalls import registry

    return registry.docker_client().containers.list(filters={"label": f"gopitfalls.owner={pid}"})


def test_next_start_reaps_orphans_of_dead_owners(hostile, tmp_path):
    """An orphan whose owner died (and whose guardian never ran) is reaped by the next start."""
    import json

    from gopitfalls import registry
    from gopitfalls.backends.local import LocalBackend
    from gopitfalls.build import build

    orphan = subprocess.Popen([str(build(hostile("endless_loop")).path)],
                              start_new_session=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (registry.run_dir() / f"{orphan.pid}.json").write_text(json.dumps({
        "pid": orphan.pid, "pgid": orphan.pid, "program": "endless_loop",
        "started": registry.process_start(orphan.pid), "owner": dead.pid, "owner_start": 1.0}))
    LocalBackend()
    assert orphan.wait(timeout=5) == -signal.SIGKILL
    assert not (registry.run_dir() / f"{orphan.pid}.json").exists()


def test_during_load_can_signal_the_program(backend, tmp_path):
    prog = write_program(tmp_path, """
        package main

        import (
            "fmt"
            "net"
            "os"
            "os/signal"
            "syscall"
        )

        func main() {
            ln, err := net.Listen("tcp", os.Getenv("ADDR"))
            if err != nil {
                panic(err)
            }
            defer ln.Close()
            sigs := make(chan os.Signal, 1)
            signal.Notify(sigs, syscall.SIGTERM)
            <-sigs
            fmt.Println("shutting down gracefully")
        }
    """)
    seen = {}

    def terminate(ctl):
        seen["url"] = ctl.url
        ctl.data["signalled_at"] = ctl.now()  # what a hook measures travels with the run
        ctl.send_signal(signal.SIGTERM)
        ctl.process.wait(10)

    r = run(prog, backend=backend, during_load=terminate, baseline_s=0.2, cooldown_s=0)
    assert seen["url"].startswith("http://127.0.0.1:")
    assert r.exit.code == 0 and r.exit.killed_by is None, r.exit
    assert "shutting down gracefully" in r.logs("stdout")
    assert 0 < r.data["signalled_at"] < r.duration_s
    names = [name for _, name in r.events]
    assert names[:2] == ["start", "load start"] and {"load stop", "exit 0"} <= set(names)


IDLE_SERVER = """
    package main

    import (
        "net"
        "os"
        "time"
    )

    func main() {
        ln, err := net.Listen("tcp", os.Getenv("ADDR"))
        if err != nil {
            panic(err)
        }
        defer ln.Close()
        time.Sleep(time.Minute)
    }
"""


def test_progress_is_reported_while_a_hook_drives_traffic(tmp_path):
    """A notebook's live plot keeps updating during a lesson's own traffic: the hook runs
    in a thread while the caller's thread reports progress with the samples so far."""
    prog = write_program(tmp_path, IDLE_SERVER)
    reports = []
    hook_window = {}

    def hook(ctl):
        hook_window["start"] = time.time()
        time.sleep(1.5)
        hook_window["end"] = time.time()

    r = run(prog, backend="local", during_load=hook, baseline_s=0.1, cooldown_s=0,
            progress=lambda run_, fraction: reports.append(
                (time.time(), fraction, len(run_.samples))))
    during = [rep for rep in reports if hook_window["start"] < rep[0] < hook_window["end"]]
    assert len(during) >= 5, f"only {len(during)} progress reports during the 1.5 s hook"
    assert during[-1][2] > during[0][2], "the samples did not grow between reports"
    fractions = [f for _, f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert r.exit.killed_by == KilledBy.STOPPED_AT_END


def test_an_exception_in_the_hook_reaches_the_caller_and_stops_the_program(tmp_path):
    prog = write_program(tmp_path, IDLE_SERVER)
    seen = {}

    def hook(ctl):
        seen["process"] = ctl.process
        raise ValueError("the lesson's traffic failed")

    with pytest.raises(ValueError, match="the lesson's traffic failed"):
        run(prog, backend="local", during_load=hook, baseline_s=0.1, cooldown_s=0)
    assert seen["process"].poll() is not None


def test_race_builds_run_and_report_races(backend, tmp_path):
    prog = write_program(tmp_path, """
        package main

        import (
            "fmt"
            "sync"
        )

        func main() {
            counter := 0
            var wg sync.WaitGroup
            for range 2 {
                wg.Add(1)
                go func() {
                    defer wg.Done()
                    counter++
                }()
            }
            wg.Wait()
            fmt.Println("counter", counter)
        }
    """)
    r = run(prog, backend=backend, race=True, ready_timeout_s=20)
    assert any("WARNING: DATA RACE" in line for line in r.logs()), r.logs()[:20]
    assert r.exit.code == 66  # the race detector's exit code
    assert "race" in r.params and r.params["race"] is True


def test_probe_counts_fds_even_at_the_limit(backend, tmp_path):
    prog = write_program(tmp_path, """
        package main

        import (
            "fmt"
            "os"
            "time"
        )

        func main() {
            var files []*os.File
            for {
                f, err := os.Open("/proc/self/stat")
                if err != nil {
                    fmt.Println("stopped:", err)
                    break
                }
                files = append(files, f)
            }
            time.Sleep(500 * time.Millisecond)
            fmt.Println("held", len(files))
        }
    """)
    r = run(prog, backend=backend, limits=Limits(nofile=200), ready_timeout_s=10)
    assert any("too many open files" in line for line in r.logs("stdout"))
    assert r.peak("fds") >= 195  # counted at the limit, not reported as 0
    assert r.final("fds") >= 195
    assert r.final("rss") > 0  # read through a handle opened before the program ran


def test_docker_missing_is_a_clear_error_and_auto_falls_back(monkeypatch, tmp_path):
    from gopitfalls import backends

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setattr(backends, "_backends", {})
    with pytest.raises(backends.BackendUnavailable, match="GOPITFALLS_BACKEND=local"):
        backends.get_backend("docker")
    assert backends.get_backend("auto").name == "local"
    with pytest.raises(backends.BackendUnavailable, match="unknown backend"):
        backends.get_backend("podman")
