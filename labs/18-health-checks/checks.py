"""The checks of lab 18 (see gopitfalls.labs), judged on the learner's program.

The program is a cluster (package ``internal/cluster``): a balancer on the program's
address that routes round robin over the instances whose readiness probe passes, a
supervisor that restarts an instance after 3 failed liveness probes in a row, and two
instances of the learner's service, each reaching PostgreSQL through a TCP path of its
own. The load sends 200 req/s for 4 s; the ``during_load`` hook
(``traffic.cluster_partition``) cuts instance 1's path CUT_AT_S into the load and heals it
at HEAL_AT_S. What is judged: the load generator's answers per time window, and the
cluster's own counters (restarts, requests routed to each instance), which the learner's
code does not publish.

Thresholds come from the starter, the solution and the wrong fixes in tests/labs/, run on
this 2-core machine (local and docker backends); each comment says what was measured."""

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check

CUT_AT_S = 0.7     # after the load starts
HEAL_AT_S = 2.5
DETECTION_S = 0.8  # the window after the cut (and after the heal) that the checks skip

RUNS = {"lab": RunSpec("lab", overrides={
    "during_load": traffic.cluster_partition(CUT_AT_S, HEAL_AT_S)})}


def window(run, start, end):
    """(done, failed): requests the load finished in [start, end), and those not 2xx."""
    done = failed = 0
    for row in run.load:
        if start <= row["t"] < end:
            done += row.get("done", 0)
            failed += row.get("done", 0) - row.get("ok", 0)
    return done, failed


def failed_share(run, start, end):
    done, failed = window(run, start, end)
    return 100 * failed / max(1, done), done


@check("Half of the orders kept failing while instance 1 could not reach its database: the "
       "balancer kept it in rotation. What does the balancer's probe know about the database?",
       "Readiness answers \"can this instance serve orders now?\": give the balancer its own "
       "endpoint (say /readyz) that answers 503 while the database is unreachable, and point "
       "cluster.Config.Ready at it.",
       "Check the database in a background goroutine: every 100 ms, db.PingContext with a "
       "context.WithTimeout of ~150 ms, store the result in an atomic.Bool, and let /readyz "
       "answer from it at once. A result refreshed every few seconds leaves the instance in "
       "rotation for seconds.")
def orders_route_around_the_outage(lab):
    # measured (local and docker): starter 50 % (3 runs), wrong-readyz-always-ok 50 (2),
    # wrong-slow-recheck 50 (3): round robin over two instances fails exactly half, no
    # timing in it; solution 0 in 8 of 8 runs (5 local, 3 docker), as are
    # wrong-liveness-checks-db and wrong-pinned-conn. 180-200 orders in the window (100
    # proves the load kept going); 2 % allows 4 of them to fail.
    share, done = failed_share(lab, lab.data["partition_t"] + DETECTION_S,
                               lab.data["heal_t"])
    return [expect.at_least(done, 100, f"orders answered from {DETECTION_S} s after the cut "
                            "until the heal (the load kept going)"),
            expect.at_most(share, 2, f"% of orders failed from {DETECTION_S} s after the cut "
                           "until the heal")]


@check("The supervisor restarted instance 1 while its database was away: its liveness probe "
       "failed. Would a fresh process reach the database any better?",
       "Liveness answers \"is this process stuck, so that only a restart helps?\": it must not "
       "check the database or anything else outside the process. Give the supervisor an "
       "endpoint of its own (say /livez) that answers 200 whenever the handler runs.",
       "cluster.Config{Ready: cluster.Probe{Path: \"/readyz\"}, Live: cluster.Probe{Path: "
       "\"/livez\"}}: two endpoints, two questions.")
def no_restarts_for_a_database_outage(lab):
    # measured (local and docker): wrong-liveness-checks-db 6 restarts in 2 of 2 runs
    # (1.8 s of outage, one restart per 3 failed probes 100 ms apart); the solution and
    # the other fixes 0. Any restart here is caused by the outage, so the bar is 0.
    return [expect.at_most(lab.final("expvar.restarts"), 0,
                           "restarts by the supervisor during the run")]


@check("Instance 1 never came back into rotation after its database returned: instance 2 "
       "served everything alone. Does your readiness check ever see the database again?",
       "Readiness must follow the database both ways: keep checking after a failure, and with "
       "a fresh connection each time (db.PingContext takes one from the pool; a *sql.Conn "
       "kept from the start stays broken after the cut).",
       "Store the result of every check (ok.Store(err == nil)), not only failures, and let "
       "the checking goroutine run for the life of the process.")
def readiness_comes_back_with_the_database(lab):
    # measured (local and docker): solution 143-148 orders to instance 1 after the heal,
    # 140-160 answered from 0.8 s after it, 0 % failed; wrong-pinned-conn 0 to instance 1
    # in 2 of 2 runs (it never becomes ready again). 30 leaves a fifth of the solution's.
    heal = lab.data["heal_t"]
    share, done = failed_share(lab, heal + DETECTION_S, float("inf"))
    back = lab.final("expvar.requests.1") - lab.value_at("expvar.requests.1", heal)
    return [expect.at_least(back, 30, "orders routed to instance 1 from the heal until the "
                            "end"),
            expect.at_least(done, 60, f"orders answered from {DETECTION_S} s after the heal"),
            expect.at_most(share, 2, f"% of orders failed from {DETECTION_S} s after the heal")]
