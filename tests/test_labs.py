"""The labs and their checker: every check is honest.

For each lab (labs/NN-slug/): the starter fails with the check tests/labs/NN-slug/expect.toml
names, the reference answer (solutions/NN-slug/) passes, and each plausible wrong fix kept in
tests/labs/NN-slug/wrong-NAME/ fails with its named check and that check's hint. The
checks run on the local backend, the one a learner on Binder or Colab has (the lessons'
fix-matters test covers docker). Then the commands a learner uses (check, hint, progress,
reset) on a working copy laid out as an install lays it out.
"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gopitfalls.claims import claims_of
from gopitfalls.course import lay_out_course, lessons
from gopitfalls.labs import LAB_VARIANT, PROGRESS_FILE, UNJUDGED, Progress, lab, load_labs

from .conftest import ROOT

WRONG_FIXES = ROOT / "tests" / "labs"
BACKEND = "local"


def expected(slug: str) -> dict:
    path = WRONG_FIXES / slug / "expect.toml"
    return tomllib.loads(path.read_text()) if path.is_file() else {}


def wrong_fixes() -> list[str]:
    return [f"{slug}/wrong-{name}" for slug in sorted(load_labs(ROOT))
            for name in expected(slug).get("wrong", {})]


# ---- the shape of every lab (fast)

def test_every_lesson_has_a_lab():
    missing = sorted(set(lessons()) - set(load_labs(ROOT)))
    assert not missing, f"lessons without a lab in labs/: {missing}"


@pytest.mark.parametrize("slug", sorted(load_labs(ROOT)))
def test_a_lab_has_its_parts(slug):
    the_lab = lab(slug)
    checks = claims_of(the_lab.checks)
    assert checks, f"{slug}/checks.py defines no @check"
    for func in checks:
        assert func.hints and all(len(h) > 20 for h in func.hints), \
            f"{slug}: check {func.__name__} needs hints a learner can act on"
    for name, spec in the_lab.runs.items():
        assert spec.variant == LAB_VARIANT, f"{slug}: RUNS[{name!r}] must run the lab program"
        the_lab.lesson.scenario(spec.scenario)  # raises when the scenario is not in lab.toml
    for rel in the_lab.files:
        assert "TODO" in (the_lab.folder / rel).read_text(), f"{slug}/{rel} marks no TODO"
        assert (the_lab.solution / rel).is_file(), f"solutions/{slug}/{rel} is missing"
    notes = the_lab.solution / "NOTES.md"
    assert notes.is_file() and len(notes.read_text()) > 300, f"solutions/{slug}/NOTES.md"
    want = expected(slug)
    assert want.get("starter") in {f.__name__ for f in checks}, \
        f"tests/labs/{slug}/expect.toml: `starter` names no check of {slug}"
    assert want.get("wrong"), f"tests/labs/{slug}/expect.toml lists no wrong fix"
    for name, check_name in want["wrong"].items():
        assert (WRONG_FIXES / slug / f"wrong-{name}" / "main.go").is_file(), name
        assert check_name in {f.__name__ for f in checks}, f"{slug}: {name}: {check_name}"


@pytest.mark.parametrize("slug", sorted(load_labs(ROOT)))
def test_a_lab_notebook_follows_the_template(slug):
    notebook = json.loads((ROOT / "labs" / slug / "lab.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in notebook["cells"])
    assert f'gp.lab("{slug}")' in code
    for needed in ("predict(", "lab.show_todos()", "lab.check()", "lab.hint()",
                   "progress_widget()"):
        assert needed in code, f"{slug}/lab.ipynb does not call {needed}"
    assert "(main.go)" in text, "the notebook links main.go, which JupyterLab opens to edit"
    assert code.index("predict(") < code.index("lab.check()"), "predict before the check"
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code"), \
        "commit lab notebooks without outputs"


def test_every_lesson_notebook_sends_the_learner_to_its_lab():
    for slug in sorted(lessons()):
        text = (ROOT / "notebooks" / f"{slug}.ipynb").read_text()
        assert f"../labs/{slug}/lab.ipynb" in text, f"notebooks/{slug}.ipynb links no lab"


# ---- every check is honest (each a build and a few seconds of load)

def judged(slug: str, program: Path):
    return lab(slug).check(program, backend=BACKEND, record=False)


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(load_labs(ROOT)))
def test_the_starter_fails_with_the_named_check(slug):
    result = judged(slug, ROOT / "labs" / slug)
    print(result)
    assert result.failed_check == expected(slug)["starter"], str(result)
    assert UNJUDGED not in str(result), "the check must fail on a measurement, not an error"
    assert result.hint, "a failed check shows a hint"


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(load_labs(ROOT)))
def test_the_solution_passes(slug):
    result = judged(slug, ROOT / "solutions" / slug)
    print(result)
    assert result.passed, str(result)
    assert len(result.verdicts) == len(claims_of(lab(slug).checks))


@pytest.mark.slow
@pytest.mark.parametrize("wrong", wrong_fixes())
def test_a_wrong_fix_fails_with_its_own_check(wrong):
    slug, folder = wrong.split("/")
    result = judged(slug, WRONG_FIXES / slug / folder)
    print(result)
    assert result.failed_check == expected(slug)["wrong"][folder.removeprefix("wrong-")], \
        str(result)
    assert UNJUDGED not in str(result), "the check must fail on a measurement, not an error"
    assert result.hint and result.hint in lab(slug).hints_of(result.failed_check)


# ---- the learner's commands, on a working copy laid out as an install does

LAB = "03-context-goroutine-leak"


def gopitfalls(copy: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gopitfalls.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, cwd=copy,
                          env={**__import__("os").environ, "GOPITFALLS_HOME": str(copy),
                               "GOPITFALLS_BACKEND": BACKEND})


@pytest.fixture
def course_copy(tmp_path):
    return lay_out_course(tmp_path / "course", source=ROOT).root


def test_a_compile_error_is_reported_as_file_and_line(course_copy, monkeypatch):
    monkeypatch.setenv("GOPITFALLS_HOME", str(course_copy))
    main = course_copy / "labs" / LAB / "main.go"
    main.write_text(main.read_text().replace("exportsStarted.Add(1)", "exportsStarted.Add(1",
                                             1))
    done = gopitfalls(course_copy, "check", "03")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"main\.go:\d+:\d+: ", done.stdout), done.stdout
    assert "✘ it does not compile" in done.stdout
    assert Progress(course_copy).load()[LAB]["failed"] == "compiles"
    assert "did not compile" in gopitfalls(course_copy, "hint", "03").stdout


@pytest.mark.slow
def test_check_hint_progress_and_reset_as_a_learner_uses_them(course_copy):
    main = course_copy / "labs" / LAB / "main.go"
    starter = main.read_text()
    assert "not started" in gopitfalls(course_copy, "progress").stdout

    done = gopitfalls(course_copy, "check", LAB)
    assert done.returncode == 1 and "hint 1 of 3" in done.stdout, done.stdout + done.stderr
    first, second = (gopitfalls(course_copy, "hint", "03").stdout for _ in range(2))
    assert first.startswith("hint 2 of 3") and second.startswith("hint 3 of 3"), (first, second)
    assert "not yet: exports stop when the caller leaves" in \
        gopitfalls(course_copy, "progress").stdout

    main.write_text((ROOT / "solutions" / LAB / "main.go").read_text())  # the learner's fix
    done = gopitfalls(course_copy, "check", "03")
    assert done.returncode == 0 and "PASS" in done.stdout, done.stdout + done.stderr
    assert re.search(rf"{LAB}\s+passed", gopitfalls(course_copy, "progress").stdout)
    assert json.loads((course_copy / PROGRESS_FILE).read_text())["labs"][LAB]["passed"]

    refused = gopitfalls(course_copy, "reset", "03", stdin="n\n")  # not a terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert main.read_text() != starter, "nothing changes without an answer"
    done = gopitfalls(course_copy, "reset", "03", "--yes")
    assert done.returncode == 0, done.stderr
    assert main.read_text() == starter
    backups = list(main.parent.glob("main.go.backup-*"))
    assert len(backups) == 1 and backups[0].read_text() == \
        (ROOT / "solutions" / LAB / "main.go").read_text(), "the learner's version is kept"
    assert "not started" in gopitfalls(course_copy, "progress").stdout.split(LAB)[1]


@pytest.mark.slow
def test_editing_the_checks_or_the_load_in_a_working_copy_changes_nothing(course_copy):
    """The learner can edit every file of their copy; the lab is judged by what it shipped
    with (the package's or the checkout's lab.toml and checks.py), not by their copy's."""
    folder = course_copy / "labs" / LAB
    (folder / "checks.py").write_text(
        "from gopitfalls.claims import RunSpec\nfrom gopitfalls.labs import check\n"
        "RUNS = {'lab': RunSpec('lab')}\n"
        "@check('nothing to fix here, this hint is long enough')\n"
        "def anything_passes(lab):\n    return ['passed']\n")
    toml = folder / "lab.toml"
    toml.write_text(toml.read_text().replace("rate = 100", "rate = 1"))
    done = gopitfalls(course_copy, "check", "03")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✘ exports stop when the caller leaves" in done.stdout, done.stdout


def test_an_unknown_lab_names_the_labs(course_copy):
    done = gopitfalls(course_copy, "check", "99-nope")
    assert done.returncode == 2 and "no lab '99-nope'" in done.stderr and LAB in done.stderr


def test_a_check_that_raises_fails_with_the_runs_ending_not_a_traceback():
    from gopitfalls.labs import _judged, check

    from .test_engine_units import make_run

    @check("the program has to answer before this can be judged")
    def answers_have_a_body(lab):
        return [lab.load_summary["status"]["200"]]  # no load summary: KeyError / TypeError

    verdict = _judged(answers_have_a_body, {"lab": make_run([1, 2, 3], label="x/lab")})
    assert not verdict.held and verdict.failure.startswith(UNJUDGED)
    assert "x/lab on" in verdict.failure  # how the run ended
