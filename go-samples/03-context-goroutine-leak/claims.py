"""What lesson 03's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims)."""

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

RUNS = {"broken": RunSpec("broken"), "fixed": RunSpec("fixed")}


@claim("broken")
def abandoned_reports_pile_up_and_finish_for_nobody(broken):
    sent = broken.load_summary["sent"]
    start, _ = expect.load_window(broken)
    last_send = start + broken.params["load"]["duration_s"]
    held = broken.value_at("goroutines", last_send + 3.0) - broken.value_at("goroutines", start)
    return [expect.grows(broken, "goroutines", by_at_least=450),
            expect.at_least(broken.final("expvar.work_finished_after_client_left"), 0.9 * sent,
                            f"reports finished after their caller had left (of {sent} requests)"),
            # Back to baseline only when the last abandoned report is done: about one work
            # time (4 s) after the last request was sent; 3 s after it, the reports of the
            # last second (about 150) are still running.
            expect.at_least(held, 100, "goroutines above the pre-load baseline 3 s after the "
                            "last request was sent")]


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
