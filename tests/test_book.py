"""`gopitfalls book` and replay: a lesson recorded once into a static site, then rebuilt
from its saved runs with Go made unavailable, giving the same figures and verdicts.

One short lesson (03) is recorded once for the module (about 35 s); the replay and the
unit checks of saved runs cost a few seconds more.
"""

import gzip
import json
import os
import re
import subprocess
import sys

import pytest

from gopitfalls import replay
from gopitfalls.claims import judge
from gopitfalls.course import lesson
from gopitfalls.experiment import Run
from gopitfalls.plots import split_metric

SLUG = "03-context-goroutine-leak"
NO_GO = {"GOPITFALLS_GO": "/nonexistent/go"}  # toolchain.find_go fails: Go is unavailable
IMAGE = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
VERDICT = re.compile(r"[✔✘][^<\n]*")


def book(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in (replay.RECORD_ENV, replay.REPLAY_ENV)}
    return subprocess.run([sys.executable, "-m", "gopitfalls.cli", "book", *args],
                          env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    site = tmp_path_factory.mktemp("book") / "site"
    done = book("--out", str(site), "--lessons", "03")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"[1/1] {SLUG}: ok" in done.stdout
    return site


@pytest.fixture
def no_go(monkeypatch):
    from gopitfalls.toolchain import ToolchainError, find_go

    for name, value in NO_GO.items():
        monkeypatch.setenv(name, value)
    find_go.cache_clear()  # an earlier test of this process found Go: forget it
    with pytest.raises(ToolchainError):  # the replay below really has no Go to fall back on
        find_go()
    monkeypatch.setattr(replay, "_calls", replay.Counter())  # call numbers of a fresh kernel
    yield
    find_go.cache_clear()  # the tests after this one find Go again


def test_the_site_has_the_lesson_with_its_figures_and_an_index(recorded):
    index = (recorded / "index.html").read_text()
    assert f'href="{SLUG}.html"' in index and "Chapter 1" in index
    page = (recorded / f"{SLUG}.html").read_text()
    assert len(IMAGE.findall(page)) >= 4  # three live plots and the comparison
    assert any(line.startswith("✔") for line in VERDICT.findall(page))
    saved = sorted(p.name for p in (recorded / "runs" / SLUG).iterdir())
    assert saved == ["run-broken-1.json.gz", "run-fixed-1.json.gz", "run-fixed_patient-1.json.gz"]


def test_replay_without_go_draws_the_same_figures_and_verdicts(recorded, tmp_path):
    done = book("--out", str(tmp_path / "replayed"), "--lessons", "03",
                "--replay", str(recorded / "runs"), env=NO_GO)
    assert done.returncode == 0, done.stdout + done.stderr
    before = (recorded / f"{SLUG}.html").read_text()
    after = (tmp_path / "replayed" / f"{SLUG}.html").read_text()
    assert "replaying a run recorded on" in after
    # The same PNGs, byte for byte: the same series drawn the same way.
    assert IMAGE.findall(after) == IMAGE.findall(before)
    assert VERDICT.findall(after) == VERDICT.findall(before)


def test_a_saved_run_gives_the_same_plot_data_and_verdicts(recorded, no_go, monkeypatch):
    monkeypatch.setenv(replay.REPLAY_ENV, str(recorded / "runs"))
    lsn = lesson(SLUG)
    runs = {name: lsn.run(name, progress=None) for name in ("broken", "fixed", "fixed_patient")}
    with gzip.open(recorded / "runs" / SLUG / "run-broken-1.json.gz", "rt") as f:
        assert json.load(f)["result"] == json.loads(json.dumps(runs["broken"].to_dict()))
    again = {name: Run.from_dict(json.loads(json.dumps(r.to_dict()))) for name, r in runs.items()}
    for name, run in runs.items():
        for metric in lsn.metrics_of(run.params["scenario"]):
            source, field = split_metric(metric)
            assert again[name].series(field, source) == run.series(field, source)
        assert again[name].events == run.events and again[name].exit == run.exit
    for stage in ("broken", "fixed"):
        assert judge(lsn.claims, stage, again).lines() == judge(lsn.claims, stage, runs).lines()


def test_a_run_keeps_the_bytes_and_tuples_a_hook_stored(tmp_path):
    """Lesson 08's hook keeps raw bodies in run.data, lesson 01's (status, text) tuples that
    its claims print: a saved run gives both back exactly."""
    run = Run("x/broken", "local", {}, {}, data={"body": b"\x00\xff", "rows": [{"b": b"ok"}],
                                                 "push": (200, "reloaded", [(1,)])})
    assert Run.load_file(run.save(tmp_path / "run.json.gz")).data == run.data


def test_replay_names_what_records_a_missing_or_different_run(recorded, no_go, monkeypatch,
                                                               tmp_path):
    monkeypatch.setenv(replay.REPLAY_ENV, str(tmp_path))
    with pytest.raises(replay.ReplayMissing, match="gopitfalls book --lessons 03 --out"):
        lesson(SLUG).run("broken", progress=None)
    monkeypatch.setenv(replay.REPLAY_ENV, str(recorded / "runs"))
    with pytest.raises(replay.ReplayMismatch, match="rate"):
        lesson(SLUG).run("broken", rate=5, progress=None)
