"""`gopitfalls warm` builds what the course's runs will build, and survives a lab that does not
compile, and starts in the background without getting in a learner's way."""

import os
import subprocess
import sys
import time

from gopitfalls import warm as warming
from gopitfalls.build import BuildError
from gopitfalls.course import lessons
from gopitfalls.labs import load_labs
from gopitfalls.serving import GATEWAY

from .conftest import ROOT


def test_it_builds_every_program_in_the_flavours_the_runs_use():
    targets = {(folder, race) for _, folder, race, _ in warming.targets()}
    for slug, lsn in lessons().items():
        for variant in ("broken", "fixed"):
            assert (lsn.program_dir(variant), False) in targets, (slug, variant)
        for name, spec in lsn.runs.items():
            if "build" not in spec.overrides:
                race = bool(spec.overrides.get("race"))
                assert (lsn.program_dir(spec.variant), race) in targets, (slug, name)
    for the_lab in load_labs().values():
        assert (the_lab.folder, False) in targets or (the_lab.folder, True) in targets
    assert {label for label, *_ in warming.targets()} >= {f"engine tool {t}"
                                                          for t in warming.TOOLS}
    assert (ROOT / GATEWAY, False) in targets, "the GPU labs' gateway, as serving.serve runs it"


def test_a_program_that_does_not_compile_is_reported_not_raised(monkeypatch):
    built = []

    def fake_build(folder, race, probe):
        built.append(folder)
        if len(built) == 2:
            raise BuildError(folder, [], "syntax error")

    monkeypatch.setattr(warming, "build", fake_build)
    lines = []
    count, failed = warming.warm(lines.append)
    assert count == len(built) == len(warming.targets()) and len(failed) == 1
    assert "did not compile" in lines[-1] and failed[0] in lines[-1]


def test_it_stops_once_the_process_it_warms_for_has_ended(monkeypatch):
    built = []
    monkeypatch.setattr(warming, "build", lambda folder, race, probe: built.append(folder))
    ended = subprocess.Popen(["true"])
    ended.wait()
    lines = []
    assert warming.warm(lines.append, while_alive=ended.pid) == (0, [])
    assert built == [] and lines == [f"warm: stopped after 0 builds, process {ended.pid} has ended"]


def test_background_warming_is_detached_niced_and_logged(monkeypatch, tmp_path):
    monkeypatch.setenv("GOPITFALLS_CACHE", str(tmp_path / "cache"))
    # the command it runs, replaced by one that says how it was started
    report = ("import os, sys; print(os.nice(0), os.sched_getscheduler(0) == os.SCHED_IDLE, "
              "os.getsid(0) != int(sys.argv[1]), os.getcwd(), sys.argv[2])")
    monkeypatch.setattr(warming, "_warm_command", lambda parent: [
        sys.executable, "-c", report, str(os.getsid(0)), str(parent)])
    log = warming.start_in_background(tmp_path)
    assert log.parent == tmp_path / "cache"
    deadline = time.monotonic() + 30
    while not log.exists() or not log.read_text().strip():
        assert time.monotonic() < deadline, "the background process wrote nothing"
        time.sleep(0.05)
    assert log.read_text().split() == ["19", "True", "True", str(tmp_path), str(os.getpid())]
