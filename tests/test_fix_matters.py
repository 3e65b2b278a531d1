"""Each lesson's claims must depend on its fix: with the broken program in the fixed one's
place, a claim about the fix has to fail, and every claim about the broken program still
holds.

A threshold that also holds when the "fix" changes nothing proves nothing; this catches one
that was loosened until it always passes. The claims are the lesson's own
(go-samples/NN-slug/claims.py), judged on every named run made again, no notebook. It runs
on the other backend from nbval's (see README, "What CI proves"): nbval runs the lessons on
local, this runs them on docker, so the claims about the broken program are proven in a
container too.
"""

import types

import pytest

from gopitfalls.claims import judge
from gopitfalls.course import lesson, lessons

from .conftest import IN_CI, docker_available


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
def test_assertions_fail_when_the_fix_does_nothing(slug):
    problems = judge_claims_without_the_fix(slug, fix_matters_backend())
    assert not problems, "\n".join(problems)


# ---- the judge itself can fail: tiny claims with a known outcome

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
