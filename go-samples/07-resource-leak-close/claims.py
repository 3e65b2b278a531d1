"""What lesson 07's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims)."""

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec, claim


def post_snapshot(ctl):
    """One POST /snapshot, sent while the program runs (the snapshot scenario has no load);
    its answer goes to run.data: {"status": ..., "body": ...}."""
    answer = traffic.call(ctl.url + "/snapshot", "POST", body=b"")
    ctl.data.update(status=answer.status, body=answer.text.strip())


RUNS = {
    "broken": RunSpec("broken"),
    "saw": RunSpec("broken", "sawtooth"),
    "broken_snapshot": RunSpec("broken", "snapshot", {"during_load": post_snapshot}),
    "fixed": RunSpec("fixed"),
    "fixed_saw": RunSpec("fixed", "sawtooth"),
    "fixed_snapshot": RunSpec("fixed", "snapshot", {"during_load": post_snapshot}),
}


EMFILE = "too many open files"  # the log lines of an exhausted descriptor budget


def seconds_to_limit(run, margin=5):
    """Seconds from the first request of the load until the open descriptors came within
    ``margin`` of the limit."""
    # The load generator's first interval report comes one interval after its first request.
    first_request = run.load[0]["t"] - run.params["load"]["interval_s"]
    full = run.params["limits"]["nofile"] - margin
    return round(next(t for t, n in zip(*run.series("fds"), strict=True) if n >= full)
                 - first_request, 2)


def drops(run, at_least=100):
    """Falls of the descriptor count between two probe samples, and whether a GC cycle
    completed within the two samples before (finalizers run just after a collection)."""
    ts, fds = run.series("fds")
    _, gcs = run.series("gc_cycles")
    return [{"t": round(ts[i] - run.event_time("load start"), 2), "from": fds[i - 1], "to": fds[i],
             "with a GC": gcs[i] > gcs[max(0, i - 2)]}
            for i in range(1, len(fds)) if fds[i - 1] - fds[i] >= at_least]


def snapshot_answer(run):
    """The status and body of the POST /snapshot the run's hook sent."""
    return run.data.get("status"), run.data.get("body", "")


@claim("broken")
def kept_files_exhaust_the_descriptor_limit(broken):
    nofile = broken.params["limits"]["nofile"]
    s = broken.load_summary
    return [expect.at_least(broken.peak("fds"), nofile - 5,
                            f"broken: peak open descriptors (limit {nofile})"),
            expect.at_least(s["status"].get("500", 0), 0.4 * s["sent"],
                            f"broken: 500 answers (of {s['sent']} requests sent)"),
            expect.at_least(broken.count(EMFILE), 0.9 * s["status"].get("500", 0),
                            "broken: 'too many open files' lines in its log")]


@claim("broken")
def dropped_files_close_only_at_garbage_collections(saw):
    teeth = drops(saw)
    limit = saw.params["limits"]["nofile"]
    return [expect.at_least(len(teeth), 2,
                            "broken, LEAK=finalizer: drops of 100+ open descriptors"),
            expect.at_least(sum(d["with a GC"] for d in teeth), len(teeth),
                            "drops that came with a completed GC cycle"),
            expect.at_most(saw.peak("fds"), limit - 1,
                           f"broken, LEAK=finalizer: peak open descriptors (limit {limit})"),
            expect.at_most(saw.load_summary["status"].get("500", 0), 0,
                           "broken, LEAK=finalizer: 500 answers under the larger limit")]


@claim("broken")
def a_snapshot_that_was_never_written_is_reported_saved(broken_snapshot):
    status, body = snapshot_answer(broken_snapshot)
    return [expect.holds(status == 200 and "saved" in body,
                         f"broken: snapshots to /dev/full answered 200 'saved' "
                         f"(the answer: {status} {body!r})")]


@claim("fixed")
def closed_files_keep_the_descriptors_flat(fixed):
    s = fixed.load_summary
    # At most 32 connections are in flight; the broken service rose by ~250.
    return [expect.stays_flat(fixed, "fds", within=50),
            expect.at_most(s["status"].get("500", 0), 0, "fixed: 500 answers"),
            expect.at_least(s["ok"], 0.99 * s["sent"], f"fixed: 200 answers (of {s['sent']} sent)"),
            expect.at_most(fixed.count(EMFILE), 0, "fixed: 'too many open files' lines in its log")]


@claim("fixed")
def closed_files_leave_no_sawtooth(saw, fixed_saw):
    return [expect.stays_flat(fixed_saw, "fds", within=50),
            expect.ratio_at_least(saw.peak("fds"), fixed_saw.peak("fds"), 5,
                                  "LEAK=finalizer scenario: peak open descriptors, "
                                  "broken vs fixed")]


@claim("fixed")
def a_failed_snapshot_write_is_reported(fixed_snapshot):
    status, body = snapshot_answer(fixed_snapshot)
    return [expect.holds(status == 500 and "no space left on device" in body,
                         f"fixed: snapshots to /dev/full answered 500 'no space left on "
                         f"device' (the answer: {status} {body!r})")]
