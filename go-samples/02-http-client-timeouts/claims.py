"""What lesson 02's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims)."""

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

RUNS = {"broken": RunSpec("broken"), "fixed": RunSpec("fixed")}

# The fixed handler's budget (`const budget = time.Second` in fixed/main.go).
BUDGET_MS = 1000


@claim("broken")
def every_request_leaves_a_goroutine_and_a_socket_behind(broken):
    sent = broken.load_summary["sent"]
    return [expect.grows(broken, "goroutines", by_at_least=0.8 * sent),
            expect.grows(broken, "fds", by_at_least=0.8 * sent),
            expect.at_least(broken.load_summary["errors"].get("timeout", 0), 0.95 * sent,
                            f"callers that gave up after 2 s (of {sent} sent)")]


@claim("fixed")
def the_fix_gives_up_on_time_and_keeps_nothing(broken, fixed):
    s = fixed.load_summary
    return [expect.ratio_at_least(broken.final("goroutines"), fixed.final("goroutines"), 10,
                                  "final goroutines, broken vs fixed"),
            expect.at_most(s["p99_ms"], 1.2 * BUDGET_MS,
                           f"fixed p99 latency in ms (budget {BUDGET_MS} ms + 20 %)"),
            expect.returns_to_baseline(fixed, "goroutines", within_s=1.0, tolerance=5),
            expect.at_least(s["status"].get("504", 0), 0.95 * s["sent"],
                            "504 answers from the fixed service")]
