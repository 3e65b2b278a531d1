"""What lesson 20's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

The traffic comes from a ``during_load`` hook, ``attack``: rounds of K slow clients (plain
sockets on 127.0.0.1) that each send an unfinished request head and then one header byte
every TRICKLE_S, for ROUND_S; then one ordinary request with a 64 KiB header. The run's
data holds one row per round (``run.data["rounds"]``: K, start, when all had connected,
end, how many the server cut, the longest and shortest time a client held its connection)
and the big-header request's answer (``run.data["big header"]``)."""

import time
from statistics import median

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec, claim

ROUNDS = (100, 200, 400)       # slow clients per round (K)
ROUND_S = 3.2                  # how long each round's clients keep trickling, once all are in
TRICKLE_S = 0.5                # one header byte per client every TRICKLE_S
HELD_FROM_S = 2.6              # "held" = still open this long after the round's last client
                               # connected (a 2 s header timeout has had its chance by then)
HEAD = b"GET /api/hello HTTP/1.1\r\nHost: lab\r\n"   # no blank line: never finished


def slow_round(ctl, k, seconds, log):
    """k slow clients, trickling for `seconds` after the last one connected; then they hang
    up. One summary row goes to `log`."""
    start = ctl.now()
    got = traffic.slow_headers(ctl.url, k, seconds, HEAD, TRICKLE_S, ctl.now)
    held = got["held"]
    log.append({"K": k, "start": start, "all connected": got["all connected"],
                "end": got["end"], "cut by server": got["cut"],
                "longest held (s)": round(max(held), 2), "median held (s)": round(median(held), 2),
                "shortest held (s)": round(min(held), 2)})


def attack(rounds=ROUNDS, round_s=ROUND_S):
    """A during_load hook: one round per K, a short pause between rounds, then the
    big-header request. Results go to the run's data ("rounds", "big header")."""
    def hook(ctl):
        ctl.data["rounds"] = []
        for k in rounds:
            slow_round(ctl, k, round_s, ctl.data["rounds"])
            time.sleep(0.1)
        # One ordinary request with a 64 KiB header: what does the server answer?
        big = traffic.call(ctl.url + "/api/hello", headers={"X-Big": "a" * (64 << 10)})
        ctl.data["big header"] = big.status or big.error
    return hook


def one_round(k=300, round_s=4.0):
    """A during_load hook of one round of ``k`` slow clients for ``round_s`` (the knobs of
    the notebook's "Try it yourself")."""
    return attack((k,), round_s)


RUNS = {"broken": RunSpec("broken", overrides={"during_load": attack()}),
        "fixed": RunSpec("fixed", overrides={"during_load": attack()})}


def held_during(run, metric):
    """Per round, the largest value of a program metric from HELD_FROM_S after its last
    client connected to its end: what the slow clients still hold once a 2 s header timeout
    had its chance."""
    ts, vs = run.series(metric)
    return [max(v for t, v in zip(ts, vs, strict=True)
                if r["all connected"] + HELD_FROM_S <= t <= r["end"] - 0.1)
            for r in run.data["rounds"]]


def held_rows(broken, fixed):
    """One row per round: what each server held HELD_FROM_S after its last client connected,
    and how the fixed server treated the slow clients."""
    runs = {"broken": broken, "fixed": fixed}
    held = {f"{name}: {metric.removeprefix('expvar.')}": held_during(run, metric)
            for name, run in runs.items() for metric in ("expvar.conns_open", "goroutines")}
    return [{"K": r["K"], **{col: values[i] for col, values in held.items()},
             "fixed: cut by server": r["cut by server"],
             "fixed: median held (s)": r["median held (s)"],
             "fixed: longest held (s)": r["longest held (s)"]}
            for i, r in enumerate(fixed.data["rounds"])]


@claim("broken")
def slow_clients_hold_a_connection_and_a_goroutine_each(broken):
    rounds = broken.data["rounds"]
    held, gor = held_during(broken, "expvar.conns_open"), held_during(broken, "goroutines")
    evidence = []
    # measured exactly K connections and K + 8 to K + 10 goroutines in every round (3 runs on
    # each backend); 0.95 K allows a few slow connects on a busy machine.
    for r, conns, g in zip(rounds, held, gor, strict=True):
        evidence += [expect.at_least(conns, 0.95 * r["K"], f"connections the broken server held "
                                     f"{HELD_FROM_S} s after the last of {r['K']} slow clients "
                                     "connected"),
                     expect.at_least(g, r["K"], "  its goroutines at the same time")]
    cut = sum(r["cut by server"] for r in rounds)
    return [*evidence,
            expect.given(cut == 0, "the broken server has no read deadline at all: it hung up "
                         f"on {cut} of its {sum(r['K'] for r in rounds)} slow clients")]


@claim("fixed")
def the_fix_hangs_up_on_slow_clients_within_the_header_timeout(broken, fixed):
    rounds_f = fixed.data["rounds"]
    ks = [r["K"] for r in rounds_f]
    held_b, held_f = held_during(broken, "expvar.conns_open"), held_during(fixed,
                                                                          "expvar.conns_open")
    gor_b, gor_f = held_during(broken, "goroutines"), held_during(fixed, "goroutines")
    # measured 0 held in every round of 6 runs (each cut 2.00-2.03 s after it connected, and
    # the count is taken 2.6 s after the last one connected); 2 % of K allows stragglers.
    evidence = [expect.at_most(conns, 0.02 * r["K"], f"connections the fixed server still held "
                               f"{HELD_FROM_S} s after the last of {r['K']} slow clients connected")
                for r, conns in zip(rounds_f, held_f, strict=True)]
    return [*evidence,
            expect.at_least(sum(r["cut by server"] for r in rounds_f), sum(ks),
                            f"slow clients the fixed server hung up on (of {sum(ks)})"),
            # The median, not the longest: the client notices a hang-up only when its own loop
            # gets the CPU, and on a busy CI machine one of 700 clients was seen at 2.63 s while
            # the median stays 2.00-2.05 (broken: the whole round, 3.2 s and more). Every client
            # cut is the check above: a cut counts only within its round.
            expect.at_most(max(r["median held (s)"] for r in rounds_f), 2.3,
                           "median time a slow client held a connection to the fixed server, in "
                           "s, worst round (ReadHeaderTimeout 2 s)"),
            # measured 400 vs 0 (a ratio of 400: a zero counts as 1); 50 allows the fixed
            # server the 8 stragglers that the check above allows at K = 400
            expect.ratio_at_least(held_b[-1], held_f[-1], 50,
                                  f"connections held by {ks[-1]} slow clients, broken vs fixed"),
            # measured 410 vs 10-14 (29-41) in 9 runs; 15 allows the fixed server 27
            expect.ratio_at_least(max(gor_b), max(gor_f), 15, "goroutines held, broken vs fixed")]


@claim("fixed")
def the_fix_refuses_a_64_kib_header(broken, fixed):
    big = {"broken": broken.data["big header"], "fixed": fixed.data["big header"]}
    return [expect.holds(big == {"broken": 200, "fixed": 431},
                         f"a request with a 64 KiB header answered 200 by broken and 431 by "
                         f"fixed (it got {big})")]
