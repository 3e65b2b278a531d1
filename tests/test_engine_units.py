"""Unit tests of the layers above the backends: no Go program needed."""

import math

import pytest

from gopitfalls import expectations as expect
from gopitfalls.backends import Exit, KilledBy
from gopitfalls.course import lesson, lessons
from gopitfalls.experiment import Run
from gopitfalls.load import Load
from gopitfalls.telemetry import ProbeKey


def make_run(values, load_at=(1.0, 3.0), exit_=None, label="demo/broken", metric="goroutines"):
    """A Run with one sample per 0.5 s of ``metric``."""
    samples = [{"t": i * 0.5, metric: v, "expvar": {"hits": v * 2}} for i, v in enumerate(values)]
    events = [(load_at[0], "load start"), (load_at[1], "load stop")] if load_at else []
    return Run(label=label, backend="local", enforcement={}, params={"limits": {}},
               samples=samples, events=events,
               exit=exit_ or Exit(code=None, killed_by=KilledBy.STOPPED_AT_END),
               duration_s=len(values) * 0.5)


def test_series_reads_probe_fields_and_expvar():
    r = make_run([1, 2, 3])
    assert r.series("goroutines") == ([0.0, 0.5, 1.0], [1, 2, 3])
    assert r.values("expvar.hits") == [2, 4, 6]
    assert r.peak("goroutines") == 3 and r.final("goroutines") == 3
    assert r.values("missing") == [] and math.isnan(r.peak("missing"))


def test_load_latency_skips_intervals_without_completions():
    r = make_run([1])
    r.load = [{"t": 1.0, "done": 0, "p99_ms": 0}, {"t": 1.1, "done": 3, "p99_ms": 12.5}]
    assert r.series("p99_ms", "load") == ([1.1], [12.5])


def test_grows_and_its_failure_sentence():
    r = make_run([10, 10, 10, 50, 90, 90])
    assert "from 10 before load to a peak of 90" in expect.grows(r, "goroutines", by_at_least=50)
    with pytest.raises(expect.ExpectationFailed, match=r"\+80; expected at least \+100"):
        expect.grows(r, "goroutines", by_at_least=100)


def test_stays_flat():
    r = make_run([10, 10, 10, 12, 11, 10])
    expect.stays_flat(r, "goroutines", within=2)
    with pytest.raises(expect.ExpectationFailed, match="stayed within 2 of its pre-load 10"):
        expect.stays_flat(r, "goroutines", within=1)


def test_returns_to_baseline():
    # load stops at t=3.0; back to 10 at t=3.5
    r = make_run([10, 10, 10, 80, 80, 80, 80, 10, 10])
    assert "0.50 s after load stopped" in expect.returns_to_baseline(r, "goroutines",
                                                                   within_s=1.0)
    never = make_run([10, 10, 10, 80, 80, 80, 80, 80])
    with pytest.raises(expect.ExpectationFailed, match="never came back"):
        expect.returns_to_baseline(never, "goroutines", within_s=1.0)


def test_killed_by_oom_accepts_memory_kills_only():
    for how in (KilledBy.OOM, KilledBy.MEMORY_WATCHDOG, KilledBy.ADDRESS_SPACE_GUARD):
        expect.killed_by_oom(make_run([1], exit_=Exit(code=137, killed_by=how, detail="x")))
    with pytest.raises(expect.ExpectationFailed, match="not killed for memory"):
        expect.killed_by_oom(make_run([1], exit_=Exit(code=None,
                                                       killed_by=KilledBy.STOPPED_AT_END)))
    with pytest.raises(expect.ExpectationFailed, match="timeout"):
        expect.killed_by_oom(make_run([1], exit_=Exit(code=-9, killed_by=KilledBy.TIMEOUT,
                                                       detail="timeout")))


def test_survived_and_exited_with():
    expect.survived(make_run([1]))
    with pytest.raises(expect.ExpectationFailed, match="did not survive"):
        expect.survived(make_run([1], exit_=Exit(code=2, detail="exit code 2")))
    expect.exited_with(make_run([1], exit_=Exit(code=2)), 2)
    with pytest.raises(expect.ExpectationFailed, match="exit code 0"):
        expect.exited_with(make_run([1], exit_=Exit(code=0)), 2)


def test_ratio_and_bounds():
    assert "ratio of 10.0" in expect.ratio_at_least(100, 10, 10, "x")
    with pytest.raises(expect.ExpectationFailed, match="ratio of 5.0"):
        expect.ratio_at_least(50, 10, 10, "x")
    expect.ratio_at_least(10, 0, 10, "zero counts as one")
    with pytest.raises(expect.ExpectationFailed):
        expect.at_most(float("nan"), 1, "nan never passes")
    expect.at_least(3, 3, "equal passes")


def test_no_load_window_is_a_clear_failure():
    with pytest.raises(expect.ExpectationFailed, match="load never started"):
        expect.grows(make_run([1, 2], load_at=None), "goroutines", by_at_least=1)


def test_run_save_and_load_roundtrip(tmp_path):
    r = make_run([1, 2, 3],
                 exit_=Exit(code=137, killed_by=KilledBy.OOM, oom_killed=True, detail="d"))
    r.stderr = [(0.1, "hello")]
    for name in ("run.json", "run.json.gz"):
        back = Run.load_file(r.save(tmp_path / name))
        assert back.samples == r.samples and back.exit == r.exit
        assert back.events == r.events and back.stderr == [(0.1, "hello")]
        assert back.killed and "killed by oom" in back.summary()
        assert back.exit.killed_by is KilledBy.OOM  # the saved string is read as a KilledBy


def test_killed_by_names_each_ending():
    assert Exit(code=None, killed_by="stopped").killed_by is KilledBy.STOPPED_AT_END  # old runs
    assert not KilledBy.STOPPED_AT_END.is_kill and KilledBy.TIMEOUT.is_kill
    assert not make_run([1]).killed  # survived until the engine stopped it


def test_probe_lines_are_believed_only_with_the_runs_key():
    key = ProbeKey()
    assert key.parse(f'@probe {key.key} {{"t": 1, "goroutines": 3}}') == {"t": 1, "goroutines": 3}
    assert key.parse("hello") is None
    assert key.parse(f"@probe {key.key} {{broken") is None
    assert key.rejected == 0
    # what a program can print: no key, another run's key, a key-shaped guess
    assert key.parse('@probe {"t": 1, "goroutines": 3}') is None
    assert key.parse(f'@probe {ProbeKey().key} {{"t": 1, "goroutines": 3}}') is None
    assert key.parse('@probe ' + "0" * 32 + ' {"t": 1}') is None
    assert key.rejected == 3
    assert key.stdin == (key.key + "\n").encode() and len(key.key) == 32


def test_load_args():
    args = Load(rate=50, duration_s=2, timeout_s=0.5, path="/x", headers={"A": "b"}).args(
        "http://127.0.0.1:9/")
    assert "-url=http://127.0.0.1:9/x" in args and "-rate=50" in args
    assert "-duration=2s" in args and "-timeout=0.5s" in args and "-header=A: b" in args


def test_catalog_is_consistent():
    for slug, lsn in lessons().items():
        assert slug == lsn.slug and lsn.scenarios
        assert lsn.notebook.exists(), f"{slug}: notebook missing"
        for variant in ("broken", "fixed"):
            assert (lsn.program_dir(variant) / "main.go").exists(), f"{slug}/{variant} missing"
        for name, folder in lsn.programs.items():  # the programs its lesson.toml declares
            assert any(lsn.program_dir(name).glob("*.go")), f"{slug}: program {name} ({folder}/)"
    assert lesson("02").slug == "02-http-client-timeouts"
    with pytest.raises(KeyError, match="no lesson"):
        lesson("99")
    with pytest.raises(KeyError, match="has no scenario"):
        lesson("02").scenario("nope")
    with pytest.raises(ValueError, match="variant"):
        lesson("02").program_dir("nope")
    assert lesson("08").program_dir("pattern-precedence").name == "pattern-precedence"


def test_diff_blocks_select_one_fix_step():
    lsn = lesson("02")
    step = lsn.diff(match="NewRequestWithContext")
    assert "NewRequestWithContext" in step and "ReadHeaderTimeout" not in step
    assert "DefaultClient" in lsn.diff()


def test_diff_hunks_merge_nearby_changes_and_keep_distant_ones_apart():
    from gopitfalls.course import diff_hunks

    a = ["a", "x1", "b", "c", "x2", "d", "e", "f", "g", "h", "x3", "i"]
    b = ["a", "y1", "b", "c", "y2", "d", "e", "f", "g", "h", "y3", "i"]
    hunks = diff_hunks(a, b, "main.go", context=2)
    assert len(hunks) == 2  # x1 and x2 are 2 lines apart; x3 is 5 lines after x2
    assert hunks[0] == ["@@ broken/main.go:2 → fixed/main.go:2 @@", " a", "-x1", "+y1", " b",
                        " c", "-x2", "+y2", " d", " e"]
    assert hunks[1] == ["@@ broken/main.go:11 → fixed/main.go:11 @@", " g", " h", "-x3",
                        "+y3", " i"]
    only = diff_hunks(a, b, "main.go", match="y2", context=2)
    assert only == [["@@ broken/main.go:5 → fixed/main.go:5 @@", " b", " c", "-x2", "+y2",
                     " d", " e"]]
    comments = diff_hunks(["f()"], ["// y note", "f()"], "main.go", match="y")
    assert comments == []  # a comment-only change is never a fix step


def test_show_source_highlights():
    html = lesson("02").show_source("broken", highlight=("http.DefaultClient",),
                                    start="func newMux", end="return mux")
    assert "background:#fff3b0" in html and "func main" not in html


def test_catalog_file_with_an_unknown_key_names_the_file(tmp_path):
    from gopitfalls.course import load_catalog

    lesson_dir = tmp_path / "go-samples" / "99-demo"
    lesson_dir.mkdir(parents=True)
    (lesson_dir / "lesson.toml").write_text(
        'title = "t"\nchapter = 1\npitfall = "p"\n[scenarios.default]\n'
        'load = { rate = 1, speed = 2 }\n')
    with pytest.raises(ValueError, match=r"99-demo/lesson.toml: scenario 'default'.*speed"):
        load_catalog(tmp_path)


def test_free_ports_avoid_the_ephemeral_range(monkeypatch):
    """Outgoing connections get their local port from the ephemeral range; a port chosen
    there could be taken before the program binds it."""
    import socket

    from gopitfalls import network

    low, _ = network._ephemeral_range()
    ports = {network.free_port() for _ in range(50)}
    if low - network.PORTS_FROM > 1000:
        assert all(network.PORTS_FROM <= p < low for p in ports), sorted(ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports.pop()))  # free, as promised
    monkeypatch.setattr(network, "_ephemeral_range", lambda: (1024, 65535))
    assert network.free_port() >= 1024  # no room below the range: the kernel's choice


def test_every_lessons_claims_name_runs_it_declares():
    from gopitfalls.claims import STAGES, claims_of, runs_needed

    with_claims = [lsn for lsn in lessons().values() if lsn.claims is not None]
    assert with_claims, "at least one lesson keeps its claims next to its programs"
    for lsn in with_claims:
        stages = {func.claim_stage for func in claims_of(lsn.claims)}
        assert stages == set(STAGES), f"{lsn.slug}: claims of both stages ({stages})"
        for name, spec in lsn.runs.items():
            lsn.scenario(spec.scenario)  # raises if the scenario does not exist
            # a variant, or another program its lesson.toml declares (18's second broken one)
            assert spec.variant in ("broken", "fixed", *lsn.programs), f"{lsn.slug}: run {name}"
        for func in claims_of(lsn.claims):
            assert set(runs_needed(func)) <= set(lsn.runs), f"{lsn.slug}: {func.__name__}"


def test_check_shows_the_evidence_and_fails_on_a_broken_claim():
    from gopitfalls.claims import judge

    lsn = lesson("02")
    leaky = make_run([8, 8, 500, 900, 910, 910], label="02-http-client-timeouts/broken")
    leaky.load_summary = {"sent": 300, "errors": {"timeout": 300}}
    leaky.samples = [{**s, "fds": s["goroutines"], "expvar": {"callers_gone_while_handling": 300}}
                     for s in leaky.samples]
    judged = lsn.check("broken", broken=leaky)
    assert len(judged.lines()) == 4 and all(ln.startswith("✔") for ln in judged.lines())
    leaky.load_summary = {"sent": 300, "errors": {"timeout": 10}}
    with pytest.raises(expect.ExpectationFailed, match="✘ every request leaves .*callers"):
        lsn.check("broken", broken=leaky)
    with pytest.raises(KeyError, match="no fixed claim judges only the runs"):
        lsn.check("fixed", broken=leaky)  # the fixed run is missing
    with pytest.raises(KeyError, match="judges the runs"):
        judge(lsn.claims, "fixed", {"broken": leaky})  # the fix-matters test and the checker


def test_lesson_02_budget_mirrors_the_fixed_program():
    lsn = lesson("02")
    assert "const budget = time.Second" in lsn.source("fixed")
    assert lsn.claims.BUDGET_MS == 1000


def test_holds_states_a_yes_no_observation():
    assert expect.holds(True, "the answer was 431") == "✔ the answer was 431"
    with pytest.raises(expect.ExpectationFailed, match="the answer was 431"):
        expect.holds(False, "the answer was 431")


def test_a_given_is_checked_but_not_shown_as_evidence():
    assert expect.given(True, "the broken service sends no trace header") == \
        "· given: the broken service sends no trace header"
    with pytest.raises(expect.ExpectationFailed, match="given: it has no header"):
        expect.given(False, "it has no header")
