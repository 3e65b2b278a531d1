"""What lesson 03's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims)."""

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

RUNS = {"broken": RunSpec("broken"), "fixed": RunSpec("fixed")}


def seconds_to_baseline(run, tolerance=3):
    """Seconds from the last request sent until goroutines were back within ``tolerance``
    of their pre-load value (inf if never)."""
    start, _ = expect.load_window(run)
    last_send = start + run.params["load"]["duration_s"]
    times, values = run.series("goroutines")
    base = [v for t, v in zip(times, values, strict=True) if t < start][-1]
    return next((t - last_send for t, v in zip(times, values, strict=True)
                 if t > last_send and v <= base + tolerance), float("inf"))


@claim("broken")
def abandoned_reports_pile_up_and_finish_for_nobody(broken):
    sent = broken.load_summary["sent"]
    return [expect.grows(broken, "goroutines", by_at_least=450),
            expect.at_least(broken.final("expvar.work_finished_after_client_left"), 0.9 * sent,
                            f"reports finished after their caller had left (of {sent} requests)"),
            # Back to baseline only when the last abandoned report is done: about one work
            # time (4 s) after the last request was sent.
            expect.at_least(seconds_to_baseline(broken), 3.0,
                            "seconds after the last request until the broken service was back "
                            "to its baseline")]


@claim("fixed")
def the_fix_stops_the_work_when_the_caller_leaves(broken, fixed):
    return [expect.ratio_at_least(broken.peak("goroutines"), fixed.peak("goroutines"), 10,
                                  "peak goroutines, broken vs fixed"),
            expect.returns_to_baseline(fixed, "goroutines", within_s=1.0, tolerance=3),
            expect.at_most(fixed.final("expvar.work_finished_after_client_left"), 0,
                           "reports the fixed service finished after the caller left"),
            expect.at_least(fixed.final("expvar.work_cancelled"),
                            0.95 * fixed.load_summary["sent"],
                            "reports the fixed service cancelled")]
