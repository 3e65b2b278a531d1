"""Layer 9: a lesson's claims, written once and judged wherever they are needed.

A lesson keeps its claims next to its Go programs, in ``go-samples/NN-slug/claims.py``:

    from gopitfalls import expectations as expect
    from gopitfalls.claims import RunSpec, claim

    RUNS = {"broken": RunSpec("broken"), "fixed": RunSpec("fixed"),
            "broken_big": RunSpec("broken", "big-body")}

    @claim("broken")
    def goroutines_pile_up(broken):
        return [expect.grows(broken, "goroutines", by_at_least=100)]

    @claim("fixed")
    def the_fix_holds_none(broken, fixed):
        return [expect.ratio_at_least(broken.final("goroutines"), fixed.final("goroutines"),
                                      10, "final goroutines, broken vs fixed")]

``RUNS`` names every run the claims need (a variant, a scenario, overrides); a claim's
parameters are the names of the runs it judges, and it returns the sentences of the
expectations that held (each expectation raises when it does not). Claims of the stage
"broken" describe the pitfall; claims of the stage "fixed" can only hold when the fix works.

The same claims are judged by the lesson's notebook (``lesson.check("fixed", broken=...,
fixed=...)``), by the test that the fix matters (every run again, with the broken program
in place of the fixed one: the "broken" claims must still hold, a "fixed" claim must fail),
and by the lab checker (a learner's program in place of the fixed one).
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from .expectations import ExpectationFailed
from .experiment import Run

STAGES = ("broken", "fixed")


@dataclass(frozen=True)
class RunSpec:
    """How to make one named run of a lesson: ``lesson.run(name)`` runs this."""

    variant: str
    scenario: str = "default"
    overrides: dict = field(default_factory=dict)  # any argument of Lesson.run


def claim(stage: str) -> Callable[[Callable], Callable]:
    """Mark a function of a lesson's claims module as a claim of ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"a claim's stage is one of {STAGES}, not {stage!r}")

    def mark(func: Callable) -> Callable:
        func.claim_stage = stage
        return func

    return mark


def claims_of(module, stage: str | None = None) -> list[Callable]:
    """The claims a module defines, in the order they are written."""
    found = [f for f in vars(module).values() if callable(f) and hasattr(f, "claim_stage")]
    found.sort(key=lambda f: f.__code__.co_firstlineno)
    return [f for f in found if stage is None or f.claim_stage == stage]


def runs_needed(func: Callable) -> list[str]:
    return list(inspect.signature(func).parameters)


@dataclass
class Verdict:
    claim: str  # the function's name, which says what is claimed
    stage: str
    evidence: list[str]  # the sentences of the expectations that held
    failure: str | None = None  # the sentence of the one that did not

    @property
    def held(self) -> bool:
        return self.failure is None


@dataclass
class Judgement:
    """The verdicts on one stage's claims; shows as ✔/✘ lines in a notebook."""

    verdicts: list[Verdict]

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.held]

    def lines(self) -> list[str]:
        out = []
        for v in self.verdicts:
            out += [s if s.startswith(("✔", "·")) else f"✔ {s}" for s in v.evidence]
            if v.failure:
                out.append(f"✘ {v.claim.replace('_', ' ')}: {v.failure}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        colors = {"✘": "#b00020", "·": "#555555"}
        rows = [f'<div style="color:{colors.get(ln[:1], "#1a7f37")}">'
                f"{html.escape(ln)}</div>" for ln in self.lines()]
        return '<div style="font-family:monospace;font-size:12px">' + "".join(rows) + "</div>"

    def raise_if_failed(self) -> Judgement:
        if self.failed:
            raise ExpectationFailed("\n".join(self.lines()))
        return self


def judge(module, stage: str, runs: dict[str, Run], *, all_claims: bool = True) -> Judgement:
    """Judge the claims of ``stage`` in a lesson's claims module on the given runs. With
    ``all_claims=False`` (a notebook, whose runs come one by one) only the claims whose runs
    are all given are judged; otherwise a missing run is an error."""
    verdicts = []
    for func in claims_of(module, stage):
        missing = [name for name in runs_needed(func) if name not in runs]
        if missing and not all_claims:
            continue
        if missing:
            raise KeyError(f"claim {func.__name__} judges the runs {missing}; pass them "
                           f"(it has {sorted(runs)})")
        verdicts.append(verdict_of(func, runs))
    if not verdicts:
        raise KeyError(f"no {stage} claim judges only the runs {sorted(runs)}")
    return Judgement(verdicts)


def verdict_of(func: Callable, runs: dict[str, Run]) -> Verdict:
    """Judge one claim on the runs it names (all of them in ``runs``)."""
    try:
        said = func(**{name: runs[name] for name in runs_needed(func)})
        evidence = [said] if isinstance(said, str) else list(said or [])
        return Verdict(func.__name__, func.claim_stage, evidence)
    except ExpectationFailed as failed:
        return Verdict(func.__name__, func.claim_stage, [], str(failed))
