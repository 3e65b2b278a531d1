"""What lesson 14's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

Four scenarios, each run with both programs. The hooks mark on the time axis the moment
the cache lets go (read from Redis's own PTTL of the warmed keys) or the database goes
away, and store those times in ``run.data``. Peak database QPS is the highest value of
``expvar.db_queries/s`` (queries the program sent between two probe samples, 100 ms
apart) from the start of the load on."""

import time

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

HOT_KEY = "product:1"
FEATURED = [f"product:{i}" for i in range(1, 21)]   # the home page's 20 warmed products
DOWN_AT_S, UP_AT_S = 1.0, 3.5                        # the outage, from the start of the load


def mark_expiry(keys, label):
    """A during_load hook: reads how long ``keys`` have left in Redis (PTTL) as the load
    starts, stores each one's expiry time (``run.data["expiries"]``, on the run's clock:
    the time of its own read plus what it had left), and marks ``label`` when the first of
    them expires."""
    def hook(ctl):
        expiries = []
        for k in keys:
            now, left = ctl.now(), int(ctl.redis.command("PTTL", k))
            if left >= 0:                           # -2: not there (never warmed)
                expiries.append(now + left / 1000)
        ctl.data["expiries"] = expiries
        if expiries:
            time.sleep(max(0.0, min(expiries) - ctl.now()))
            ctl.event(label)
    return hook


def outage(down_at_s=DOWN_AT_S, up_at_s=UP_AT_S):
    """A during_load hook: takes PostgreSQL away ``down_at_s`` after the load starts and
    brings it back (same port, same data) at ``up_at_s``; ``run.data`` gets the times."""
    def hook(ctl):
        start = ctl.now()
        time.sleep(down_at_s)
        ctl.event("db down")
        ctl.data["down"] = ctl.now()
        ctl.postgres.down()
        time.sleep(max(0.0, start + up_at_s - ctl.now()))
        ctl.postgres.up()
        ctl.data["up"] = ctl.now()
        ctl.event("db up")
    return hook


def first_request(ctl):
    """A during_load hook for penetration: marks the first request for the absent id."""
    ctl.event("requests for absent id 999999")


_BREAKDOWN = {"during_load": mark_expiry([HOT_KEY], "hot key expires")}
_AVALANCHE = {"during_load": mark_expiry(FEATURED, "warmed keys expire")}
RUNS = {
    "broken": RunSpec("broken", "default", _BREAKDOWN),
    "fixed": RunSpec("fixed", "default", _BREAKDOWN),
    "broken_pen": RunSpec("broken", "penetration", {"during_load": first_request}),
    "fixed_pen": RunSpec("fixed", "penetration", {"during_load": first_request}),
    "broken_aval": RunSpec("broken", "avalanche", _AVALANCHE),
    "fixed_aval": RunSpec("fixed", "avalanche", _AVALANCHE),
    "broken_down": RunSpec("broken", "db-down", {"during_load": outage()}),
    "fixed_down": RunSpec("fixed", "db-down", {"during_load": outage()}),
}


# ---------------------------------------------------------------- what the claims read

def peak_qps(run):
    """The highest rate of queries to PostgreSQL between two probe samples, from the start
    of the load on (the warm-up query at start is not counted)."""
    start = run.event_time("load start")
    return max((v for t, v in zip(*run.series("expvar.db_queries/s"), strict=True)
                if t >= start), default=0.0)


def queries_between(run, t1, t2):
    """Queries the program sent to PostgreSQL between t1 and t2 (run clock)."""
    return run.value_at("expvar.db_queries", t2) - run.value_at("expvar.db_queries", t1)


def queries_in_load(run):
    """Queries sent from the start of the load to the end of the run."""
    t, q = run.series("expvar.db_queries")
    return q[-1] - run.value_at("expvar.db_queries", run.event_time("load start"))


def hit_ratio(run):
    """Share of cache reads that hit, from the program's own counters."""
    hits, misses = run.final("expvar.cache_hits"), run.final("expvar.cache_misses")
    return hits / max(hits + misses, 1)


def hit_ratio_series(run):
    """(times, share of cache reads that hit) per probe interval, from the load start on,
    over the intervals with any cache read."""
    start = run.event_time("load start")
    t, hits = run.series("expvar.cache_hits/s")
    _, misses = run.series("expvar.cache_misses/s")
    pts = [(ti - start, h / (h + m)) for ti, h, m in zip(t, hits, misses, strict=True)
           if ti >= start and h + m > 0]
    return [x for x, _ in pts], [y for _, y in pts]


def summary_row(name, run):
    """One row of what a run measured: cache hit ratio, queries, peak QPS, p99."""
    return {"run": name, "requests": run.load_summary["sent"],
            "cache hit ratio": f"{hit_ratio(run):.1%}",
            "database queries during the load": int(queries_in_load(run)),
            "peak queries/s": round(peak_qps(run)),
            "p99 ms": round(run.load_summary["p99_ms"])}


def expiry_spread_ms(run):
    """Milliseconds between the first and the last warmed key's expiry."""
    e = run.data.get("expiries") or [0.0]
    return round((max(e) - min(e)) * 1000)


def during_outage(run, field):
    """The load generator's ``field`` (ok, done, status.500, ...) summed over the intervals
    that ended while the database was down."""
    down, up = run.data["down"], run.data["up"]
    return sum(v for t, v in zip(*run.series(field, source="load"), strict=True)
               if down < t <= up)


def outage_rows(runs):
    """A table row per run: what the clients got while the database was down."""
    rows = []
    for name, r in runs.items():
        done = during_outage(r, "done")
        rows.append({"run": name, "requests while down": done,
                     "answered 200": during_outage(r, "ok"),
                     "errors": done - during_outage(r, "ok"),
                     "queries to the dead database": queries_between(r, r.data["down"],
                                                                    r.data["up"]),
                     "stale answers": r.final("expvar.stale_served") if
                     r.series("expvar.stale_served")[1] else 0})
    return rows


# ---------------------------------------------------------------- the pitfall

# Measured in 20 consecutive judged runs of all 8 (local backend, 2 cores, the machine
# shared with other work), all passing: the ranges in each comment below. The thresholds on
# rates and shares leave at least half of the smallest measured value as margin, so a busy
# machine that slows the load or the probe cannot flip them; the small counts of the fixed
# runs (queries during the load) allow one expiry more than was ever measured; each ratio of
# 10 is the lesson's promise.

@claim("broken")
def a_hot_key_expiring_sends_a_burst_of_identical_queries(broken):
    # hit ratio measured 94.6-97.5 %; peak 292-378 queries/s (about 40 queries in the burst,
    # 80-86 when the refilled key expired again before the end): 150 leaves half
    return [expect.at_least(hit_ratio(broken), 0.9, "broken: cache hit ratio over the run "
                            "(the dashboard looks healthy)"),
            expect.at_least(peak_qps(broken), 150,
                            "broken: peak database queries/s, all for the one hot product")]


@claim("broken")
def absent_ids_reach_the_database_every_time(broken_pen):
    s = broken_pen.load_summary
    # measured 1200 queries for 1200 requests, hit ratio 0, in every run: by construction
    return [expect.at_least(queries_in_load(broken_pen), 0.95 * s["sent"],
                            f"broken: database queries for id 999999 (of {s['sent']} "
                            "requests for it)"),
            expect.at_most(hit_ratio(broken_pen), 0.0, "broken: cache hit ratio")]


@claim("broken")
def keys_cached_together_expire_together(broken_aval):
    # spread measured 2-25 ms (100 allows a stalled warm-up loop); peak 1166-1764 queries/s
    # (232-287 queries in 0.2 s): 400 leaves a third of the smallest
    return [expect.at_most(expiry_spread_ms(broken_aval), 100,
                           "broken: ms between the first and last of the 20 warmed keys' "
                           "expiry"),
            expect.at_least(peak_qps(broken_aval), 400,
                            "broken: peak database queries/s as they expire")]


@claim("broken")
def a_dead_database_fails_every_miss(broken_down):
    done = during_outage(broken_down, "done")
    # measured 73-78 of 102-106 pages failed (69-76 %): 40 % leaves half; 1426-1594
    # queries to the dead database: 300 leaves a fifth
    return [expect.at_least(done - during_outage(broken_down, "ok"), 0.4 * done,
                            f"broken: pages that failed while the database was down (of "
                            f"{done:g})"),
            expect.at_least(queries_between(broken_down, broken_down.data["down"],
                                            broken_down.data["up"]), 300,
                            "broken: queries sent to the dead database")]


# ---------------------------------------------------------------- the fix

@claim("fixed")
def coalescing_sends_one_query_per_expiry(broken, fixed):
    # fixed peak 10 queries/s in every run (one query in a 100 ms interval): ratios 29-38;
    # 1-2 queries during the load (the key may expire twice: its TTL is 2-3 s); 40-83
    # misses coalesced
    return [expect.ratio_at_least(peak_qps(broken), peak_qps(fixed), 10,
                                  "breakdown: peak database queries/s, broken vs fixed"),
            expect.at_most(queries_in_load(fixed), 3,
                           "fixed: database queries for the hot product during the load"),
            expect.at_least(fixed.final("expvar.coalesced"), 10,
                            "fixed: misses answered by another request's query")]


@claim("fixed")
def not_found_is_cached_too(broken_pen, fixed_pen):
    # fixed: peak 10 queries/s, 2-3 queries in 4 s (the 2 s ±20 % negative entry expires
    # once or twice): ratios 31-38; 4 allows one more expiry. Without it, coalescing
    # alone keeps the peak ratio but sends 39 queries: the count is what judges step 2
    return [expect.ratio_at_least(peak_qps(broken_pen), peak_qps(fixed_pen), 10,
                                  "penetration: peak database queries/s, broken vs fixed"),
            expect.at_most(queries_in_load(fixed_pen), 4,
                           "fixed: database queries for id 999999 during the load")]


@claim("fixed")
def jittered_ttls_spread_the_expiry(broken_aval, fixed_aval):
    # fixed peak 40-60 queries/s (4-6 keys expiring in one 100 ms interval): ratios 24-43
    # (without jitter: 6.9); expiries spread over 720-995 ms (20 draws over a 1 s window):
    # 400 leaves half
    return [expect.ratio_at_least(peak_qps(broken_aval), peak_qps(fixed_aval), 10,
                                  "avalanche: peak database queries/s, broken vs fixed"),
            expect.at_least(expiry_spread_ms(fixed_aval), 400,
                            "fixed: ms between the first and last warmed key's expiry")]


@claim("fixed")
def the_breaker_serves_stale_instead_of_hammering(broken_down, fixed_down):
    done = during_outage(fixed_down, "done")
    dead = [queries_between(r, r.data["down"], r.data["up"]) for r in (broken_down, fixed_down)]
    # measured: every page answered 200 (100-108 while down); 1879-3034 stale answers (100
    # needs only the first page after expiry); 9-10 queries to the dead database (5
    # failures, then a trial every 0.5 s) against 1426-1594: ratios 146-176
    return [expect.at_least(during_outage(fixed_down, "ok"), 0.99 * done,
                            f"fixed: pages answered 200 while the database was down "
                            f"(of {done:g})"),
            expect.at_least(fixed_down.final("expvar.stale_served"), 100,
                            "fixed: products served from the stale copy"),
            expect.ratio_at_least(dead[0], dead[1], 10,
                                  "queries sent to the dead database, broken vs fixed")]
