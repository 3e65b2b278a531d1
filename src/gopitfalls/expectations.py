"""Layer 9: behavioural assertions for notebooks and lab checks.

Each check raises :class:`ExpectationFailed` (an AssertionError) with a sentence saying
what was measured, and returns that sentence when it holds, so a notebook cell can print
the evidence. Thresholds live in the lesson, not here.
"""

from __future__ import annotations

import math

from .backends import MEMORY_KILLS, KilledBy
from .experiment import Run


class ExpectationFailed(AssertionError):
    def _render_traceback_(self) -> list[str]:
        return ["\x1b[31mExpectation failed\x1b[0m: " + str(self)]


def _metric_name(metric: str, source: str) -> str:
    return metric if source == "program" else f"{source} {metric}"


def _check(ok: bool, sentence: str) -> str:
    if not ok:
        raise ExpectationFailed(sentence)
    return "✔ " + sentence


def _window(run: Run, metric: str, source: str, start: float | None, end: float | None):
    ts, vs = run.series(metric, source)
    pairs = [(t, v) for t, v in zip(ts, vs, strict=True)
             if (start is None or t >= start) and (end is None or t <= end)]
    if not pairs:
        raise ExpectationFailed(f"{run.label}: no samples of {_metric_name(metric, source)} "
                                "in the window asked for (did the program start?)")
    return pairs


def load_window(run: Run) -> tuple[float, float]:
    start, stop = run.event_time("load start"), run.event_time("load stop")
    if start is None:
        raise ExpectationFailed(f"{run.label}: load never started ({run.summary()})")
    return start, stop if stop is not None else run.duration_s


def grows(run: Run, metric: str, *, by_at_least: float, source: str = "program") -> str:
    """The metric rose by at least ``by_at_least`` from its value before load to its peak."""
    start, _ = load_window(run)
    before = _window(run, metric, source, None, start)[-1][1]
    peak = max(v for _, v in _window(run, metric, source, start, None))
    return _check(peak - before >= by_at_least,
                  f"{run.label}: {_metric_name(metric, source)} went from {before:g} before "
                  f"load to a peak of {peak:g} (+{peak - before:g}; expected at least "
                  f"+{by_at_least:g})")


def stays_flat(run: Run, metric: str, *, within: float, source: str = "program") -> str:
    """During and after load the metric stayed within ``within`` of its pre-load value."""
    start, _ = load_window(run)
    before = _window(run, metric, source, None, start)[-1][1]
    after = _window(run, metric, source, start, None)
    worst = max(abs(v - before) for _, v in after)
    return _check(worst <= within,
                  f"{run.label}: {_metric_name(metric, source)} stayed within {worst:g} of "
                  f"its pre-load {before:g} (allowed {within:g})")


def returns_to_baseline(run: Run, metric: str, *, within_s: float, tolerance: float = 0,
                        source: str = "program") -> str:
    """After load stopped, the metric came back to (baseline + tolerance) within ``within_s``."""
    start, stop = load_window(run)
    baseline = _window(run, metric, source, None, start)[-1][1]
    after = _window(run, metric, source, stop, None)
    back = next((t for t, v in after if v <= baseline + tolerance), None)
    if back is None:
        return _check(False, f"{run.label}: {_metric_name(metric, source)} never came back to "
                      f"its baseline {baseline:g} (+{tolerance:g}) after load stopped; last "
                      f"value {after[-1][1]:g}")
    return _check(back - stop <= within_s,
                  f"{run.label}: {_metric_name(metric, source)} was back to its baseline "
                  f"{baseline:g} (+{tolerance:g}) {back - stop:.2f} s after load stopped "
                  f"(allowed {within_s:g} s)")


def killed_by_oom(run: Run) -> str:
    """The program was killed for memory: a cgroup OOM kill (docker) or the local guards."""
    ex = run.exit
    ok = ex is not None and ex.killed_by in MEMORY_KILLS
    if ok:
        sentence = f"killed by {ex.killed_by}: {ex.detail}"
    else:
        how = (ex.detail or ex.killed_by or f"exit code {ex.code}") if ex else "no exit recorded"
        sentence = f"not killed for memory ({how})"
    return _check(ok, f"{run.label} on {run.backend}: {sentence}")


def survived(run: Run) -> str:
    """The program ran until the engine stopped it (or exited cleanly by itself)."""
    ex = run.exit
    ok = ex is not None and (ex.killed_by == KilledBy.STOPPED_AT_END
                           or (ex.killed_by is None and ex.code == 0))
    return _check(ok, f"{run.label}: " + ("survived until the end of the run" if ok else
                                         f"did not survive: {ex.detail if ex else '?'}"))


def exited_with(run: Run, code: int) -> str:
    ex = run.exit
    got = ex.code if ex else None
    how = (ex.detail or f"exit code {got}") if ex else "no exit recorded"
    return _check(got == code and ex.killed_by is None,
                  f"{run.label}: {how}; expected exit code {code}")


def at_most(value: float, limit: float, what: str) -> str:
    return _check(not math.isnan(value) and value <= limit,
                  f"{what} was {value:g} (at most {limit:g} expected)")


def at_least(value: float, limit: float, what: str) -> str:
    return _check(not math.isnan(value) and value >= limit,
                  f"{what} was {value:g} (at least {limit:g} expected)")


def holds(condition: bool, what: str) -> str:
    """A yes/no observation on a run (an answer's status and body, say): ``what`` says what
    was seen and what was expected."""
    return _check(bool(condition), what)


def given(condition: bool, what: str) -> str:
    """A fact about the setup, true by construction of the program (the broken service has
    no trace header at all, say): checked, so a changed program is noticed, but shown as
    "· given: ..." and never counted as evidence of the pitfall."""
    if not condition:
        raise ExpectationFailed(f"given: {what}")
    return "· given: " + what


def ratio_at_least(numerator: float, denominator: float, ratio: float, what: str) -> str:
    """numerator / denominator ≥ ratio (a zero denominator counts as 1, to stay finite)."""
    r = numerator / max(denominator, 1e-9 if denominator > 0 else 1)
    return _check(r >= ratio, f"{what}: {numerator:g} vs {denominator:g}, a ratio of "
                  f"{r:.1f} (at least {ratio:g} expected)")
