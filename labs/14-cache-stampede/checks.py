"""The checks of lab 14 (see gopitfalls.labs), judged on the learner's program.

Measured from outside: the load's answers, and the forecasts the database itself counts
(seed.sql: compute_forecast() takes a number of the sequence forecast_runs, which is not
rolled back and is visible at once). A hook reads the sequence as the load starts and just
after it ends. Thresholds come from the starter, the solution and the wrong fixes in
tests/labs/, run on this 2-core machine (local and docker backends); each comment says
what was measured."""

import time

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check

RUNS_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM forecast_runs"


def count_forecasts(load_s):
    """A during_load hook: the forecasts the database computed from the start of the load
    to ``load_s`` + 0.3 s after it (``run.data["computed"]``)."""
    def hook(ctl):
        start = ctl.now()
        first = int(ctl.postgres.sql(RUNS_SQL).strip())
        time.sleep(max(0.0, start + load_s + 0.3 - ctl.now()))
        ctl.data["computed"] = int(ctl.postgres.sql(RUNS_SQL).strip()) - first
    return hook


RUNS = {"lab": RunSpec("lab", overrides={"during_load": count_forecasts(3.0)}),
        "unknown": RunSpec("lab", "unknown", {"during_load": count_forecasts(2.0)})}


@check("When the capital's forecast expired, the database computed it again dozens of "
       "times at once: every request that missed the cache in those 100 ms computed it "
       "itself. How can the requests that miss the same key share one computation?",
       "Coalesce the misses: of all the requests that miss a key at the same moment, one "
       "computes and the others wait for its answer. gopitfalls/samples/internal/"
       "singleflight does it: a singleflight.Group[T] in the service, and "
       "group.DoContext(ctx, key, func(ctx) (T, error) {...}) around compute-and-set.",
       "A mutex around the computation is not enough by itself: the requests queued behind "
       "it compute again, one after the other, unless each reads the cache again once it "
       "holds the lock.")
def an_expiry_costs_one_computation(lab):
    s = lab.load_summary
    return [
        # measured: starter 62 (about 30 per expiry: 300/s x 100 ms), solution 2 (one per
        # expiry); 6 allows a third expiry and a stall, and stays a tenth of the starter's
        expect.at_most(lab.data["computed"], 6,
                       "forecasts the database computed for city 1 during the 3 s load "
                       "(its cache entry expires once or twice in it)"),
        expect.at_least(s["status"].get("200", 0), 0.95 * s["sent"],
                        f"requests answered 200 (of {s['sent']} sent)"),
    ]


@check("The database computed no forecast for city 1 in 3 s: the cached one lived longer "
       "than the 1.5 s the task allows, so visitors saw stale weather. Was the TTL "
       "lengthened?",
       "Keep forecastTTL at 1.5 s (shorter, or jittered below it, is fine): the fix for a "
       "stampede is to compute once per expiry, not to expire less often.")
def forecasts_stay_fresh(lab):
    # a 1.5 s TTL set at start expires at least once in the 3 s load: measured 2 (solution)
    return [expect.at_least(lab.data["computed"], 1,
                            "forecasts computed for city 1 during the 3 s load")]


@check("Every request for city 99999, which does not exist, reached the database: the "
       "cache only remembers forecasts it found. How would the next request know the city "
       "does not exist?",
       "Cache the absence too: store a marker (say \"-\") under the key, with a short TTL "
       "(a second), and answer 404 when the cache holds it.",
       "Coalescing alone is not enough: it merges the misses of one moment, but every 100 ms "
       "another query goes out. And the answer must stay a 404.")
def unknown_cities_stay_cheap(unknown):
    s = unknown.load_summary
    return [
        expect.at_least(s["status"].get("404", 0), 0.95 * s["sent"],
                        f"requests for city 99999 answered 404 (of {s['sent']} sent)"),
        # measured: coalescing only 19 (one per 100 ms), solution 1 (the marker lives 1 s);
        # the starter computes one per request (400) but fails the first check before this
        expect.at_most(unknown.data["computed"], 8,
                       "forecasts the database computed for city 99999 during the 2 s load"),
    ]
