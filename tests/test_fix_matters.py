"""Each lesson's claims must depend on its fix: with the broken program in the fixed one's
place, a claim about the fix has to fail, and every claim about the broken program still
holds.

A threshold that also holds when the "fix" changes nothing proves nothing; this catches one
that was loosened until it always passes. It runs on the other backend from nbval's (see
README, "What CI proves"): nbval runs the lessons on local, this runs them on docker, so the
claims about the broken program are proven in a container too.

A lesson whose claims live next to its programs (go-samples/NN-slug/claims.py) is judged
from those claims: each named run again, no notebook. A lesson not yet moved to that shape
is judged from its notebook, executed against a copy of the course whose fixed/ is broken/:
no cell before the fix section may fail, and an expectation after it must.
"""

import shutil
import types

import nbformat
import pytest

from gopitfalls.claims import judge
from gopitfalls.course import lesson, lessons

from .conftest import IN_CI, ROOT, docker_available
from .kernels import execute

# A failed expectation on measured behaviour; a plain `assert` on source text would prove
# only that the files differ.
FAILED_CLAIMS = ("ExpectationFailed",)
FIX_SECTION = "## The fix"  # DESIGN.md's template: everything before it is the broken run


def cell_errors(nb) -> list[tuple[int, str, str]]:
    """(cell index, exception name, first line of its message) of each failed cell."""
    return [(index, out["ename"], ((out.get("evalue") or "").splitlines() or [""])[0])
            for index, cell in enumerate(nb.cells) for out in cell.get("outputs", [])
            if out.get("output_type") == "error"]


def fix_section_start(nb) -> int:
    return next((i for i, c in enumerate(nb.cells)
                 if c.cell_type == "markdown" and FIX_SECTION in "\n" + c.source), len(nb.cells))


def judge_fix_matters(name: str, nb) -> list[str]:
    """What is wrong with an executed notebook whose fixed/ was the broken program: no
    claim failed, or something failed before the fix section. Empty when it is as it must be."""
    errors = cell_errors(nb)
    fix_at = fix_section_start(nb)
    problems = [f"{name}: cell {i} failed before the fix section ({ename}: {msg[:120]})"
                for i, ename, msg in errors if i < fix_at]
    if not [e for e in errors if e[0] >= fix_at and e[1] in FAILED_CLAIMS]:
        problems.append(f"{name}: with fixed/ = broken/, no expectation on the run failed, so "
                        f"no claim depends on the fix (errors: {errors})")
    return problems


def fix_matters_backend() -> str:
    """docker where a daemon answers (in CI it must), else local with the reason printed."""
    why = docker_available()
    if why is None:
        return "docker"
    if IN_CI:
        pytest.fail(f"CI must provide a Docker daemon: {why}")
    print(f"fix-matters runs on local: {why}")
    return "local"


def judge_claims_without_the_fix(slug: str, backend: str) -> list[str]:
    """Every named run of the lesson, the fixed ones with the broken program, judged."""
    lsn = lesson(slug)
    broken_program = lsn.program_dir("broken")
    runs = {name: lsn.run(name, backend=backend,
                          program=broken_program if spec.variant == "fixed" else None)
            for name, spec in lsn.runs.items()}
    return claims_problems(slug, lsn.claims, runs)


def claims_problems(name: str, claims, runs) -> list[str]:
    """What is wrong with a lesson's claims judged on runs made without the fix: a claim
    about the broken program failed, or no claim about the fix did. Empty when as it must be."""
    problems = [f"{name}: a claim about the broken program failed: {v.failure}"
                for v in judge(claims, "broken", runs).failed]
    without_fix = judge(claims, "fixed", runs)
    if not without_fix.failed:
        problems.append(f"{name}: with the broken program as the fix, every claim about the "
                        f"fix still held:\n{without_fix}")
    for verdict in without_fix.failed:
        print(f"{name}: without the fix, {verdict.claim} failed: {verdict.failure[:120]}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(lessons()))
def test_assertions_fail_when_the_fix_does_nothing(slug, tmp_path, monkeypatch):
    backend = fix_matters_backend()
    if lesson(slug).claims is not None:
        problems = judge_claims_without_the_fix(slug, backend)
        assert not problems, "\n".join(problems)
        return
    home = tmp_path / "course"
    shutil.copytree(ROOT / "go-samples", home / "go-samples")
    fixed = home / "go-samples" / slug / "fixed"
    shutil.rmtree(fixed)
    shutil.copytree(home / "go-samples" / slug / "broken", fixed)
    monkeypatch.setenv("GOPITFALLS_HOME", str(home))  # the kernel's course_root()
    monkeypatch.setenv("GOPITFALLS_BACKEND", backend)

    nb = nbformat.read(ROOT / "notebooks" / f"{slug}.ipynb", as_version=4)
    execute(nb, ROOT / "notebooks", allow_errors=True)
    problems = judge_fix_matters(slug, nb)
    assert not problems, "\n".join(problems)
    claims = [e for e in cell_errors(nb) if e[1] in FAILED_CLAIMS]
    print(f"{slug}: {len(claims)} claims failed without the fix: "
          + "; ".join(f"cell {i}: {msg[:90]}" for i, _, msg in claims))


# ---- the judges themselves can fail: tiny claims and notebooks with a known outcome

def _claims_module(broken_claim: str, fixed_claim: str):
    source = ("from gopitfalls import expectations as expect\n"
              "from gopitfalls.claims import claim\n"
              f"@claim('broken')\ndef pitfall(broken):\n    return [{broken_claim}]\n"
              f"@claim('fixed')\ndef fix(broken, fixed):\n    return [{fixed_claim}]\n")
    module = types.ModuleType("tiny_claims")
    exec(source, module.__dict__)
    return module


@pytest.mark.parametrize("broken_claim, fixed_claim, expected", [
    # a claim about the fix that does not depend on the runs holds without the fix
    ("expect.grows(broken, 'goroutines', by_at_least=5)",
     "expect.at_least(5, 1, 'a number that does not come from the run')", "still held"),
    # the pitfall did not happen
    ("expect.grows(broken, 'goroutines', by_at_least=500)",
     "expect.ratio_at_least(broken.final('goroutines'), fixed.final('goroutines'), 10, 'r')",
     "a claim about the broken program failed"),
    # as it must be: the broken program is no fix
    ("expect.grows(broken, 'goroutines', by_at_least=5)",
     "expect.ratio_at_least(broken.final('goroutines'), fixed.final('goroutines'), 10, 'r')",
     None),
])
def test_the_claims_judge_can_fail(broken_claim, fixed_claim, expected):
    from .test_engine_units import make_run

    leaky = make_run([1, 1, 50, 90, 90, 90])  # the broken program, in both places
    runs = {"broken": leaky, "fixed": make_run([1, 1, 50, 90, 90, 90], label="demo/fixed")}
    problems = claims_problems("tiny", _claims_module(broken_claim, fixed_claim), runs)
    if expected is None:
        assert problems == []
    else:
        assert problems and expected in "\n".join(problems), problems

def _tiny_notebook(after_fix: str, before_fix: str = "x = 1"):
    cells = [nbformat.v4.new_markdown_cell("# 99 · tiny"),
             nbformat.v4.new_code_cell("from gopitfalls import expectations as expect\n"
                                       + before_fix),
             nbformat.v4.new_markdown_cell("## The fix, in three steps"),
             nbformat.v4.new_code_cell(after_fix)]
    return nbformat.v4.new_notebook(cells=cells)


@pytest.mark.parametrize("after_fix, before_fix, expected", [
    # a claim that does not depend on the program: it passes whatever the fix is
    ("expect.at_least(5, 1, 'a number that does not come from the run')", "x = 1",
     "no expectation on the run failed"),
    # a plain assert on text is not a claim on measured behaviour
    ("assert 'timeout' in 'no timeout at all' and False", "x = 1",
     "no expectation on the run failed"),
    # a claim about the broken program fails: the pitfall did not happen on this backend
    ("expect.at_least(0, 1, 'requests that failed')", "expect.at_least(0, 3, 'goroutines')",
     "failed before the fix section"),
    # as it must be: only the claim about the fix fails
    ("expect.at_least(0, 1, 'requests that failed')", "x = 1", None),
])
def test_the_fix_matters_judge_can_fail(after_fix, before_fix, expected, tmp_path):
    nb = execute(_tiny_notebook(after_fix, before_fix), tmp_path, allow_errors=True)
    problems = judge_fix_matters("tiny", nb)
    if expected is None:
        assert problems == []
    else:
        assert problems and expected in "\n".join(problems), problems
