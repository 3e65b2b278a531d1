"""What lesson 21's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

The traffic comes from a ``during_load`` hook, a toy load balancer: a readiness poller,
``workers`` clients and the "deploy", which sends SIGTERM under load, side by side in threads
of their own (``traffic.deploy_under_load``); requests go out with ``traffic.call``. Every
request is recorded in the run's data (``run.data["requests"]``: worker, start, end,
outcome) with the /readyz answers, when the signal was sent and when the program had
exited (None if it did not within 15 s). An outcome is ``ok``, ``cut`` (connection reset,
or closed before a full response: lost in flight) or ``refused`` (nothing listens any
more); for each cut request ``run.data["cuts"]`` keeps (start, end, the client's exception
name), which tells a reset from a close without a reply."""

import signal

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec, claim

WORKERS = 8            # concurrent clients behind the toy load balancer
SIGNAL_AFTER_S = 1.0   # the deploy sends SIGTERM this long after traffic starts
POLL_S = 0.05          # the balancer polls /readyz every POLL_S
# Requests in flight at the signal: measured 8 of 8 in every run (3 runs on each backend),
# dropped by broken (all 8 closed without a reply, none reset) and completed by fixed. The
# clients run in step and the deploy signals just after the last of them has sent its
# request, so each has ~0.3 s to go; only a signal delayed that long could let one finish.
# The claims allow two of the workers to miss.
SLACK = 2


def outcome_of(answer):
    """``ok``, ``HTTP <status>``, or why nothing came (``refused``, ``cut``...)."""
    if answer.status is not None:
        return "ok" if (answer.status, answer.body) == (200, b"done\n") else \
            f"HTTP {answer.status}"
    return traffic.why_no_answer(answer)


def restart_under_load(workers=WORKERS, signal_after_s=SIGNAL_AFTER_S):
    """A during_load hook (``traffic.deploy_under_load``): one thread polls /readyz every
    50 ms; ``workers`` threads send GET /api/work back to back while the last poll said 200.
    After ``signal_after_s``, and once every client has a request in flight, the deploy sends
    SIGTERM; the hook returns once the program has exited."""
    def hook(ctl):
        rec = ctl.data
        rec.update(requests=[], cuts=[], workers=workers, signal_after_s=signal_after_s)

        def record(worker, start, end, answer):
            outcome = outcome_of(answer)
            rec["requests"].append((worker, start, end, outcome))
            if outcome == "cut":  # how: the exception's name (see cut_kinds)
                rec["cuts"].append((start, end, answer.error.split(":")[0]))

        def work(_):
            return traffic.call(ctl.url + "/api/work", timeout=5.0)

        # waits for the exit: broken dies at once; fixed drains, then exits
        traffic.deploy_under_load(ctl, work, clients=workers, signal_after_s=signal_after_s,
                                  record=record, poll_s=POLL_S)
    return hook


RUNS = {"broken": RunSpec("broken", overrides={"during_load": restart_under_load()}),
        "fixed": RunSpec("fixed", overrides={"during_load": restart_under_load()})}


def at_signal(run):
    """Outcomes of the requests in flight when the signal was sent."""
    counts = {}
    for _, start, end, outcome in run.data["requests"]:
        if start < run.data["signal_t"] < end:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# How a cut request ended, by the name of the exception the client raised:
CUT_KINDS = {"RemoteDisconnected": "closed without a reply (FIN)",
             "ConnectionResetError": "reset (RST)", "IncompleteRead": "half a reply",
             "BrokenPipeError": "reset while sending"}


def cut_kinds(run):
    """The requests in flight at the signal that were cut, by how: {how: count}."""
    counts = {}
    for start, end, error in run.data["cuts"]:
        if start < run.data["signal_t"] < end:
            how = CUT_KINDS.get(error, error)
            counts[how] = counts.get(how, 0) + 1
    return counts


def outcomes(run):
    """Requests by when they ran (before / across / after the signal) and outcome."""
    rec = run.data
    kinds = ["ok", "cut", "refused"]
    kinds += sorted({o for *_, o in rec["requests"]} - set(kinds))
    rows = {when: dict.fromkeys(kinds, 0) for when in
            ("finished before the signal", "in flight at the signal", "sent after the signal")}
    for _, start, end, outcome in rec["requests"]:
        when = ("finished before the signal" if end <= rec["signal_t"] else
                "in flight at the signal" if start < rec["signal_t"] else "sent after the signal")
        rows[when][outcome] += 1
    return [{"requests": when, **counts} for when, counts in rows.items()]


def drain_delay_s(run):
    """The run's DRAIN_DELAY ("500ms") in seconds."""
    return float(run.params["env"]["DRAIN_DELAY"].removesuffix("ms")) / 1000


@claim("broken")
def sigterm_drops_every_request_in_flight_and_readiness_never_warns(broken):
    killed_code = -signal.SIGTERM if broken.backend == "local" else 128 + signal.SIGTERM
    inflight = at_signal(broken)
    answers_503 = sum(s == 503 for _, s in broken.data["readyz"])
    return [expect.at_least(inflight.get("cut", 0), broken.data["workers"] - SLACK,
                            "requests in flight at the signal that the broken service dropped"),
            expect.exited_with(broken, killed_code),
            expect.given(answers_503 == 0, "the broken /readyz has no 503 branch: it said 200 "
                         f"until its port closed ({answers_503} answers of 503)")]


@claim("fixed")
def the_fix_fails_readiness_then_finishes_every_request(broken, fixed):
    rec, workers = fixed.data, fixed.data["workers"]
    inflight_f = at_signal(fixed)
    failed_f = sum(n for outcome, n in inflight_f.items() if outcome != "ok")
    refused_f = next((t for t, s in rec["readyz"] if s == "refused"), float("inf"))
    answers_503 = [t for t, s in rec["readyz"] if rec["signal_t"] < t < refused_f and s == 503]
    evidence = [
        expect.at_most(failed_f, 0,
                       "requests in flight at the signal that the fixed service dropped"),
        expect.at_least(inflight_f.get("ok", 0), workers - SLACK,
                        "requests in flight at the signal that the fixed service completed"),
        expect.exited_with(fixed, 0),
        # measured 9 (local) and 10 (docker), 3 runs each: a poll every 50 ms through the
        # 0.5 s drain; half of that allows a poller slowed to 100 ms a round. Broken: none.
        expect.at_least(len(answers_503), int(drain_delay_s(fixed) / POLL_S / 2),
                        "/readyz answers of 503 from the fixed service after SIGTERM, before its "
                        "port closed"),
    ]
    first_503 = answers_503[0]
    shutdown_lines = fixed.grep("shutdown: ")
    return [*evidence,
            # measured 0.033-0.041 s (3 runs on each backend): the next poll; three poll intervals
            # (0.15 s) allow for a slow one and stay well inside the 0.5 s drain delay.
            expect.at_most(first_503 - rec["signal_t"], 3 * POLL_S,
                           "seconds from SIGTERM to the first /readyz 503 (the next poll, well "
                           "within the drain delay)"),
            expect.at_least(at_signal(broken).get("cut", 0), failed_f + workers - SLACK,
                            f"in-flight requests dropped by broken, vs {failed_f} by fixed"),
            # one each in every run (and none from broken, which logs nothing at the signal)
            expect.at_least(sum("started" in x for x in shutdown_lines), 1,
                            "'shutdown: started' lines in the fixed service's log"),
            expect.at_least(sum("complete" in x for x in shutdown_lines), 1,
                            "'shutdown: complete' lines in the fixed service's log")]
