"""The checks of lab 10 (see gopitfalls.labs), judged on the learner's program.

Thresholds come from the starter, the solution and the wrong fixes in tests/labs/, run on
this 2-core machine (local and docker backends); each comment says what was measured."""

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check

RUNS = {"lab": RunSpec("lab"), "huge": RunSpec("lab", "huge-export"),
        "normal": RunSpec("lab", "normal-export")}


def new_conns_per_request(run):
    """Connections the CRM accepted per request it received, over the second half of the
    load (once the connection pool is warm), as the CRM counts them."""
    start, stop = expect.load_window(run)
    mid = (start + stop) / 2

    def added(name):
        return run.value_at(name, stop, "upstream") - run.value_at(name, mid, "upstream")

    return added("expvar.conns_accepted") / max(added("expvar.requests"), 1)


@check("The CRM sees a new connection for every readiness probe: none is ever given back "
       "to the pool. What happens to a response body nobody closes?",
       "A response's connection goes back to the pool only once its body is read to the end "
       "or closed. The probe looks at the status alone and leaves the body open, so its "
       "connection stays pinned (with two goroutines and a socket) for good.",
       "defer resp.Body.Close() right after the error check of crm.Get, on every path. "
       "Close reads off a short unread remainder itself, so the connection is reused.")
def the_probe_reuses_its_connections(lab):
    sent = lab.load_summary["sent"]
    # As the CRM counts them: the starter and wrong-limit-without-close 1.0 (of about 100
    # probes in the second half); the answer 0. 0.05 allows 5 dials.
    return [expect.at_most(new_conns_per_request(lab), 0.05,
                           "new connections to the CRM per probe (second half of the load)"),
            # The probe has to ask the CRM: a /ready that answers without it is no probe.
            expect.at_least(lab.final("expvar.requests", source="upstream"), 0.95 * sent,
                            f"pings the CRM received (of {sent} probes)")]


@check("The service was killed for memory: it read the whole 1 GiB export into memory "
       "before looking at it. Closing the body is not enough, what bounds the read?",
       "io.ReadAll reads as much as the CRM sends. Read through a limit, "
       "io.LimitReader(resp.Body, max+1): if more than max bytes arrive, the export is too "
       "large; answer 502 and stop reading.",
       "const maxExportBytes = 8 << 20; data, err := io.ReadAll(io.LimitReader(resp.Body, "
       "maxExportBytes+1)); if len(data) > maxExportBytes { http.Error(w, ..., "
       "http.StatusBadGateway); return }")
def a_huge_export_is_refused_not_read(huge):
    s = huge.load_summary
    # The starter and wrong-close-without-limit: killed at the 256 MB cap. The answer
    # survives with a peak RSS of 0.19 of the cap (an 8 MiB buffer, grown by doubling, per
    # sync in flight); 0.5 leaves room, and a limit of a few hundred MiB still fails.
    # The answer refused 4 of 4; 85 % allows one to end otherwise.
    return [expect.survived(huge),
            expect.at_most(huge.peak("rss") / (huge.params["limits"]["memory_mb"] * 2**20),
                           0.5, "peak RSS as a share of the 256 MB cap"),
            expect.at_least(s["status"].get("502", 0), 0.85 * s["sent"],
                            f"1 GiB exports refused with 502 (of {s['sent']})")]


@check("A normal export (3 MiB) is refused too: the limit is below the size of a real "
       "export. How large may an export be?",
       "The task allows up to 8 MiB: read through io.LimitReader(resp.Body, 8<<20 + 1) and "
       "refuse only when more than 8 << 20 bytes arrived.",
       "And keep the import: download the export from the CRM and count its subscribers.")
def a_normal_export_is_still_synced(normal):
    s = normal.load_summary
    return [expect.at_least(s["status"].get("200", 0), s["sent"],
                            f"3 MiB exports synced with 200 (of {s['sent']})"),
            expect.at_least(normal.final("expvar.requests", source="upstream"), s["sent"],
                            "exports the CRM sent")]
