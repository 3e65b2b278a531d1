"""What lesson 10's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims)."""

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

RUNS = {"broken": RunSpec("broken"), "fixed": RunSpec("fixed"),
        "broken_big": RunSpec("broken", "big-body"), "fixed_big": RunSpec("fixed", "big-body")}


def new_conns_per_request(run):
    """Upstream connections opened per upstream request, over the second half of the load
    (after the connection pool has warmed up)."""
    start, stop = expect.load_window(run)
    mid = (start + stop) / 2

    def added(name):
        return run.value_at(name, stop, "upstream") - run.value_at(name, mid, "upstream")

    return added("expvar.conns_accepted") / max(added("expvar.requests"), 1)


@claim("broken")
def every_request_dials_a_new_connection_and_keeps_it(broken):
    return [expect.at_least(new_conns_per_request(broken), 0.9,
                            "broken: new connections per request"),
            expect.grows(broken, "goroutines", by_at_least=0.8 * 2 * broken.load_summary["sent"])]


@claim("broken")
def a_huge_body_read_whole_kills_the_service(broken_big):
    return [expect.killed_by_oom(broken_big)]


@claim("fixed")
def closed_bodies_reuse_connections(broken, fixed):
    return [expect.at_most(new_conns_per_request(fixed), 0.1,
                           "fixed: new connections per request"),
            expect.ratio_at_least(broken.final("goroutines"), fixed.final("goroutines"), 10,
                                  "final goroutines, broken vs fixed")]


@claim("fixed")
def a_bounded_read_refuses_the_huge_body_and_survives(fixed_big):
    cap = fixed_big.params["limits"]["memory_mb"] * 2**20
    return [expect.survived(fixed_big),
            expect.at_most(fixed_big.peak("rss") / cap, 0.5,
                           "fixed: peak RSS as a share of the cap"),
            expect.at_least(fixed_big.load_summary["status"].get("502", 0), 1,
                            "oversized catalogs refused with 502 by the fixed service")]
