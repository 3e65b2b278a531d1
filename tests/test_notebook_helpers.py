"""What the engine gives notebooks so they need not write it: traffic, reading a run, Go's
own reports, go test, figures, the knobs widget."""

import http.server
import re
import textwrap
import threading
import time
from types import SimpleNamespace

import pytest

from gopitfalls import goreports, plots, traffic
from gopitfalls.course import lesson
from gopitfalls.gotest import go_test
from gopitfalls.widgets import knobs

from .test_engine_units import make_run

# Real output of Go 1.27: `go run -race` of two goroutines incrementing one int, and a
# map written from four goroutines.
RACE = textwrap.dedent("""\
    ==================
    WARNING: DATA RACE
    Read at 0x0000005a77d8 by goroutine 6:
      main.bump()
          /tmp/gorep/race/main.go:9 +0x74
      main.main.gowrap1()
          /tmp/gorep/race/main.go:15 +0x2e

    Previous write at 0x0000005a77d8 by goroutine 7:
      main.bump()
          /tmp/gorep/race/main.go:9 +0x8c
      main.main.gowrap2()
          /tmp/gorep/race/main.go:16 +0x2e

    Goroutine 6 (running) created at:
      main.main()
          /tmp/gorep/race/main.go:15 +0xbe
    ==================
    Found 1 data race(s)""").splitlines()
CRASH = textwrap.dedent("""\
    fatal error: concurrent map writes

    goroutine 18 [running]:
    internal/runtime/maps.fatal({0x48180c?, 0x0?})
    \t/usr/lib/go/src/runtime/panic.go:1195 +0x18
    main.write(...)
    \t/tmp/gorep/crash/main.go:9
    created by main.main in goroutine 1
    \t/tmp/gorep/crash/main.go:17 +0x73""").splitlines()
SOURCE = "\n".join(f"// line {i}" for i in range(1, 8)) + "\nfunc bump() {\n\tcounter++\n}\n"


def test_race_reports_parse_into_sections_and_frames():
    (report,) = goreports.race_reports(["noise", *RACE, "after"])
    assert report.title == "WARNING: DATA RACE"
    assert [s.heading.split(" at")[0] for s in report.sections] == [
        "Read", "Previous write", "Goroutine 6 (running) created"]
    assert report.sections[0].frames[0] == goreports.Frame("main.bump",
                                                           "/tmp/gorep/race/main.go", 9)
    shown = report.render(SOURCE, sections=2)
    assert "main.go:9" in shown and "counter++" in shown and "created at" not in shown


def test_crash_report_keeps_the_crashing_goroutine_and_the_reason():
    report = goreports.crash_report(["started", *CRASH])
    assert report.title == "fatal error: concurrent map writes"
    assert report.sections[0].heading == "goroutine 18 [running]:"
    assert [f.func for f in report.frames(("main.", "internal/runtime/maps."))] == [
        "internal/runtime/maps.fatal", "main.write"]
    assert goreports.crash_report(["all fine"]) is None


def test_a_run_reads_its_logs_values_and_reports():
    run = make_run([10, 20, 30, 40])
    run.stderr = [(0.1, line) for line in ["listening", *RACE, "listening again"]]
    assert run.value_at("goroutines", 1.2) == 30 and run.value_at("goroutines", -1) == 10
    assert run.count("listening") == 2
    assert run.grep(re.compile(r"^Found \d+ data race")) == ["Found 1 data race(s)"]
    assert len(run.race_reports()) == 1 and run.crash() is None


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(418 if b"tea" in body else 200)
        self.send_header("X-Seen", self.headers.get("X-Trace", "-"))
        self.end_headers()
        self.wfile.write(body.upper())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def test_call_returns_any_status_as_data(server):
    answer = traffic.call(server + "/x", "POST", body={"drink": "tea"}, headers={"X-Trace": "7"})
    assert answer.status == 418 and answer.json() == {"DRINK": "TEA"}
    assert answer.headers["X-Seen"] == "7" and answer.seconds >= 0
    status, text = traffic.call(server, "POST", body="ok")
    assert (status, text) == (200, "OK")


def test_call_reports_a_refused_connection_as_an_answer_without_status(server):
    from gopitfalls.network import free_port

    answer = traffic.call(f"http://127.0.0.1:{free_port()}/", timeout=2)
    assert answer.status is None and answer.failure == "refused" and "Refused" in answer.error


def test_concurrently_keeps_order_and_uses_threads():
    started = time.monotonic()
    assert traffic.concurrently(lambda i: time.sleep(0.2) or i * i, range(8), threads=8) == [
        i * i for i in range(8)]
    assert time.monotonic() - started < 1.0  # 8 sleeps of 0.2 s side by side, not 1.6 s


def test_paced_calls_on_schedule():
    t0 = time.monotonic()
    times = traffic.paced(lambda i: time.monotonic() - t0, rate=20, seconds=0.5)
    assert len(times) == 10
    assert times[-1] >= 0.44 and all(b >= a - 0.02 for a, b in zip(times, times[1:],
                                                                  strict=False))


def test_go_test_reports_each_test_and_the_failures(tmp_path):
    (tmp_path / "go.mod").write_text("module demo\n\ngo 1.24\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "demo_test.go").write_text(textwrap.dedent("""\
        package pkg

        import "testing"

        func TestPasses(t *testing.T) {}

        func TestFails(t *testing.T) { t.Fatal("wanted 2, got 3") }
        """))
    report = go_test(pkg, count=2)
    assert report.results == {"TestPasses": ["pass", "pass"], "TestFails": ["fail", "fail"]}
    assert (report.runs, report.failed, report.passed) == (4, 2, False)
    assert any("demo_test.go:7: wanted 2, got 3" in m for m in report.messages)
    assert go_test(pkg, "^TestPasses$").passed
    with pytest.raises(RuntimeError, match="ran no test"):
        go_test(pkg, "^TestNothing$")


def test_figure_draws_one_panel_per_entry_or_all_on_one():
    seen = []

    def draw(ax, name, data, color):
        seen.append((name, color))
        ax.plot(data, label=name, color=color)

    fig = plots.figure(draw, {"broken": [1, 3], "fixed": [1, 1]}, xlabel="s", ylabel="n")
    assert len(fig.axes) == 2 and [a.get_title() for a in fig.axes] == ["broken", "fixed"]
    assert seen == [("broken", plots.COLORS["broken"]), ("fixed", plots.COLORS["fixed"])]
    fig = plots.figure(draw, {"broken": [1, 3], "fixed": [1, 1]}, one_axis=True,
                       legend={"declined": "#d62728"})
    assert len(fig.axes) == 1 and len(fig.legends) == 1


class _FakeLesson:
    """Enough of a Lesson for knobs: one scenario, named runs, and a record of runs."""

    def __init__(self):
        self.calls = []
        real = lesson("21-graceful-shutdown")
        self.slug, self.runs = real.slug, real.runs
        self.scenario = real.scenario

    def run(self, name, scenario=None, **extra):
        self.calls.append((name, scenario, extra))
        return SimpleNamespace(name=name, summary=lambda: name)


def test_knobs_run_each_run_with_env_and_traffic_values():
    fake = _FakeLesson()

    def hook(workers=8, pause_s=0.5):
        return ("hook", workers, pause_s)

    k = knobs(fake, env={"WORK_TIME": (50, 3000, 50, "ms"), "MODE": ["a", "b"], "NAME": "x"},
              traffic={"workers": (1, 16, 1)}, hook=hook, show=lambda runs: list(runs))
    assert k.values()["traffic"] == {"workers": 8}  # the hook's default
    k.traffic["workers"].value = 3
    runs = k.run()
    assert list(runs) == ["broken", "fixed"]
    name, scenario, extra = fake.calls[0]
    assert extra["during_load"] == ("hook", 3, 0.5)
    assert extra["env"] == {"WORK_TIME": "300ms", "MODE": "a", "NAME": "x"}  # 300: from toml


def test_knobs_refuse_what_they_cannot_vary():
    fake = _FakeLesson()
    with pytest.raises(ValueError, match="not a load or limits field"):
        knobs(fake, workers=(1, 4, 1))
    with pytest.raises(ValueError, match="no run 'goroutines'"):
        knobs(fake, ["goroutines", "fds"])  # the old knobs(lesson, METRICS) call
    with pytest.raises(ValueError, match="not parameters of the hook"):
        knobs(fake, traffic={"threads": (1, 4, 1)}, hook=lambda workers=1: None)


def test_a_lesson_run_outside_a_notebook_shows_no_live_plot(monkeypatch):
    seen = {}
    monkeypatch.setattr("gopitfalls.course.run",
                        lambda *a, **kw: seen.update(kw) or SimpleNamespace(params={}))
    lesson("02-http-client-timeouts").run("broken")
    assert seen["progress"] is None


def test_a_lesson_run_builds_with_the_build_it_is_given(monkeypatch):
    seen = {}
    monkeypatch.setattr("gopitfalls.course.run", lambda program, **kw: seen.update(
        program=program, **kw) or SimpleNamespace(params={}))
    lsn = lesson("02-http-client-timeouts")
    folders = []
    lsn.run("fixed", build=lambda folder: folders.append(folder) or "built binary")
    assert folders == [lsn.program_dir("fixed")] and seen["program"] == "built binary"
    assert "build" not in seen
    lsn.run("fixed", program=lsn.program_dir("broken"), build=folders.append)
    assert folders[-1] == lsn.program_dir("broken")  # the program in the fixed one's place
    lsn.run("fixed")
    assert seen["program"] == lsn.program_dir("fixed")  # no build given: the folder itself


def test_call_says_how_a_connection_failed():
    import socket

    with socket.socket() as srv:  # accepts, reads the request, closes without answering
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]

        def hang_up():
            conn, _ = srv.accept()
            conn.recv(1024)
            conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        answer = traffic.call(f"http://127.0.0.1:{port}/", timeout=3)
    assert (answer.status, answer.failure) == (None, "cut"), answer.error
