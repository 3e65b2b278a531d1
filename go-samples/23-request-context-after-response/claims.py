"""What lesson 23's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

The programs count the work they promise and what becomes of it with expvar:
``orders_accepted`` (answered 202), ``webhooks_delivered``, ``webhooks_cancelled`` (failed
with context.Canceled), ``webhooks_failed`` (any other failure) and
``webhooks_with_trace_id`` (delivered carrying the request's trace id); fixed adds
``orders_rejected`` (503, queue full) and ``jobs_queued``. The upstream (the fulfilment
service) counts the webhooks that reached it (``upstream:expvar.requests``).

Thresholds are commented with what the runs measured: 20 rounds of every named run on the
docker backend (benchmarks/claims_repeat.py, 20 of 20 passed) and 5 on the local backend
(the numbers below), on the shared 2-core machine."""

import re
import signal
import time

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

WORKERS = 4   # the fixed program's default pool (WORKERS in fixed/main.go)
QUEUE = 32    # and its queue (QUEUE)
SIGTERM_AFTER_S = 1.5   # the burst's deploy: SIGTERM as the burst's last orders arrive


def sigterm_after(seconds=SIGTERM_AFTER_S):
    """A during_load hook: SIGTERM the program ``seconds`` after the load starts (a
    deploy in the middle of the traffic), then wait until it has exited."""
    def hook(ctl):
        time.sleep(seconds)
        ctl.data["signal_t"] = ctl.now()
        ctl.event("SIGTERM")
        ctl.send_signal(signal.SIGTERM)
        ctl.process.wait(20.0)
        ctl.data["exited_t"] = ctl.now()
    return hook


RUNS = {"broken": RunSpec("broken", overrides={"race": True}),
        "fixed": RunSpec("fixed", overrides={"race": True}),
        "fixed_burst": RunSpec("fixed", "burst", overrides={"during_load": sigterm_after()})}

COUNTERS = ("orders_accepted", "webhooks_delivered", "webhooks_cancelled", "webhooks_failed",
            "webhooks_with_trace_id")


def work(run):
    """The program's counters at the end of the run (0 for one it does not publish), and
    the webhooks that reached the upstream."""
    counts = {}
    for name in (*COUNTERS, "orders_rejected"):
        v = run.final("expvar." + name)
        counts[name] = 0 if v != v else int(v)   # NaN: not published by this program
    counts["reached the upstream"] = int(run.final("expvar.requests", source="upstream"))
    return counts


def lost_share(run):
    """The share of accepted orders whose webhook was not delivered, in %."""
    c = work(run)
    return 100.0 * (c["orders_accepted"] - c["webhooks_delivered"]) / max(1, c["orders_accepted"])


def racing_in_handler(run):
    """The race reports with a frame in the handler's goroutine (``notify``)."""
    return [r for r in run.race_reports()
            if any(f.func == "main.(*app).notify" for f in r.frames(("main.",)))]


DRAIN = re.compile(r"drain: complete, accepted=(\d+) delivered=(\d+) cancelled=(\d+) "
                   r"failed=(\d+)")
DRAIN_STARTED = re.compile(r"drain: started, (\d+) jobs queued")


def drained(run):
    """The fixed program's last line: {accepted, delivered, cancelled, failed} once its
    queue was empty after SIGTERM, or None if it never wrote it."""
    lines = run.grep(DRAIN)
    if not lines:
        return None
    values = DRAIN.search(lines[-1]).groups()
    return dict(zip(("accepted", "delivered", "cancelled", "failed"), map(int, values),
                    strict=True))


def queued_at_sigterm(run):
    """Jobs waiting in the fixed program's queue when the server had stopped (0 if none
    was logged)."""
    lines = run.grep(DRAIN_STARTED)
    return int(DRAIN_STARTED.search(lines[-1]).group(1)) if lines else 0


@claim("broken")
def the_request_context_cancels_the_work_it_was_given(broken):
    c = work(broken)
    accepted, sent = c["orders_accepted"], broken.load_summary["sent"]
    return [
        # Measured 60 of 60 answered 202 in every run: the answer comes first. 95 % allows a
        # load generator that sends late on a busy machine.
        expect.at_least(broken.load_summary["status"].get("202", 0), 0.95 * sent,
                        f"orders answered 202 Accepted (of {sent} sent)"),
        # Measured 100 % lost (60 of 60) in 25 of 25 runs: the handler returns microseconds
        # after the `go` statement, long before a 100 ms webhook can finish (2-4 of them reached
        # the upstream, whose answer came too late). 90 % leaves room for a machine so slow
        # that a webhook races its own cancellation and wins.
        expect.at_least(lost_share(broken), 90, "% of accepted orders whose webhook was lost"),
        expect.at_least(c["webhooks_cancelled"], 0.9 * accepted,
                        f"webhooks that failed with context.Canceled (of {accepted} accepted)"),
    ]


@claim("broken")
def the_race_detector_sees_the_goroutine_share_the_handlers_order(broken):
    # Measured 1 report in 25 of 25 runs: the detector prints each pair of source locations
    # once per process, and the pair (the goroutine's json.Marshal, the handler's o.Status)
    # meets on the first order.
    return [expect.at_least(len(racing_in_handler(broken)), 1,
                            "race reports with a frame in the background goroutine (notify)")]


@claim("fixed")
def the_fix_delivers_every_accepted_order_without_a_race(broken, fixed):
    c = work(fixed)
    accepted = c["orders_accepted"]
    return [
        # Measured 60 of 60 in 25 of 25 runs: the load (20/s) is half the pool's capacity
        # (4 workers x 10 webhooks/s), so nothing is refused, and the last webhook ends 0.1 s
        # after the load, long before the 1 s cooldown does. A count: no margin. Broken: 0.
        expect.at_least(c["webhooks_delivered"], accepted,
                        f"webhooks delivered (of {accepted} orders accepted)"),
        expect.at_most(c["webhooks_cancelled"] + c["webhooks_failed"], 0,
                       "webhooks cancelled or failed"),
        # Measured at the other end too: every webhook reached the fulfilment service.
        expect.at_least(c["reached the upstream"], accepted,
                        f"webhooks that reached the fulfilment service (of {accepted})"),
        # WithoutCancel keeps the request's values: every delivery carried its trace id.
        # (context.Background() in its place would deliver them all without one.)
        expect.at_least(c["webhooks_with_trace_id"], c["webhooks_delivered"],
                        "webhooks delivered with the request's trace id"),
        expect.at_most(len(fixed.race_reports()), 0, "race reports from the fixed -race build"),
        expect.at_least(lost_share(broken) - lost_share(fixed), 90,
                        "percentage points of lost work, broken minus fixed"),
    ]


@claim("fixed")
def a_full_queue_says_so_and_sigterm_drains_it(fixed_burst):
    run = fixed_burst
    status = run.load_summary["status"]
    end = drained(run)
    accepted = end["accepted"] if end else work(run)["orders_accepted"]
    start, _ = expect.load_window(run)
    base = run.value_at("goroutines", start)
    return [
        expect.exited_with(run, 0),
        expect.holds(end is not None, "the fixed program logged 'drain: complete' before exiting"),
        # Measured 32 of 32 in every run (the queue was full when the burst ended): the drain
        # had work, and took 0.86-0.87 s from the signal to the exit (local). Half of it allows
        # a slower burst; an unbounded "fix" (a goroutine per order) has no queue: 0.
        expect.at_least(queued_at_sigterm(run), QUEUE // 2, "jobs still queued when SIGTERM "
                        "had stopped the server"),
        expect.at_least(end["delivered"] if end else 0, accepted,
                        f"webhooks delivered by the time the process exited (of {accepted} "
                        "accepted)"),
        expect.at_least(int(run.final("expvar.requests", source="upstream")), accepted,
                        "webhooks that reached the fulfilment service"),
        # Measured 88 of 180 in every local run (92 accepted): the burst is three times the
        # pool's rate. 20 leaves a wide margin; broken and the unbounded "fix" refuse none.
        expect.at_least(status.get("503", 0), 20, "orders refused with 503 (queue full)"),
        expect.at_least(status.get("202", 0), accepted,
                        "202 answers the clients received, vs the orders the service counted"),
        # Measured +11..+12 (the webhooks' connections, the load's connections; the workers
        # were there before the burst). The unbounded "fix" measured +40: one goroutine per
        # webhook in flight (120/s x 0.1 s) and two per connection it opened. 24 leaves twice
        # the measured value and fails that "fix".
        expect.at_most(run.peak("goroutines") - base, 24,
                       "goroutines above the pre-load baseline at the burst's peak"),
    ]
