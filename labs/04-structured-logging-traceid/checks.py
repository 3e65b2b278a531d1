"""The checks of lab 04 (see gopitfalls.labs), judged on the learner's program.

The pitfall is the log itself, so the checks read the program's lines (stderr and stdout,
those written while the traffic ran) and the answers the traffic got. The traffic: REQUESTS
thumbnails from THREADS client threads, each request with its own random W3C traceparent
(a few with none, a few malformed), so a line can only carry the right trace id if the
program took it from that request: no fixed text passes. Thresholds come from the starter,
the solution and the wrong fixes in tests/labs/, run on this 2-core machine (local and
docker backends); each comment says what was measured."""

import json
import re
import secrets
from collections import defaultdict

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec
from gopitfalls.experiment import json_record
from gopitfalls.labs import check
from gopitfalls.traffic import call, concurrently

REQUESTS, THREADS = 200, 16
HEX32 = re.compile(r"[0-9a-f]{32}")


def corrupt(i):      # the service fails one image in ten (image id % 10 == 3)
    return i % 10 == 3


def traceparent(i):
    """(header value or None, the trace id it carries when valid): one caller in twenty sends
    none, one in twenty an invalid one (upper-case hex, which W3C forbids)."""
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    if i % 20 == 7:
        return None, None
    if i % 20 == 17:
        return f"00-{trace_id.upper()}-{parent_id}-01", None
    return f"00-{trace_id}-{parent_id}-01", trace_id


def fetch_thumbnail(base_url, i):
    header, sent_id = traceparent(i)
    answer = call(f"{base_url}/thumbnail?image={5000 + i}&width=256",
                  headers={"traceparent": header} if header else None, timeout=10)
    returned = answer.headers.get("Trace-Id") if answer.headers else None
    return {"i": i, "corrupt": corrupt(i), "header": header, "sent_id": sent_id,
            "status": answer.status or answer.error, "returned_id": returned,
            # the id the caller knows its request by: the one it sent when valid, else the
            # one the service gave back
            "id": sent_id or returned}


def thumbnails(ctl):
    ctl.data["requests"] = concurrently(lambda i: fetch_thumbnail(ctl.url, i),
                                        range(REQUESTS), THREADS)


RUNS = {"lab": RunSpec("lab", overrides={"during_load": thumbnails})}


def level(rec):
    """INFO, WARN, ERROR... (WARNING read as WARN)."""
    name = str(rec.get("level", "")).upper()
    return "WARN" if name.startswith("WARN") else name


def by_request(run):
    """{request index: [records]} by the trace id each record carries, and the records whose
    trace id is no request's."""
    ids = {r["id"]: r["i"] for r in run.data["requests"] if r["id"]}
    mine, stray = defaultdict(list), []
    for line in run.lines_during_load():
        rec = json_record(line)
        if rec is None:
            continue
        i = ids.get(rec.get("trace_id"))
        (mine[i] if i is not None else stray).append(rec)
    return mine, stray


def steps(r):
    """The lines a request logs at the least: requested, fetched, decoded, stored (4), or
    requested, fetched and its failure (3)."""
    return 3 if r["corrupt"] else 4


@check("The log is plain text: no program can tell a line's request, level or fields apart. "
       "What would make every line one record a machine can read?",
       "Log with log/slog and a JSON handler: slog.SetDefault(slog.New(slog.NewJSONHandler("
       "os.Stderr, nil))), then slog.Info(\"msg\", \"key\", value) instead of log.Printf.",
       "Every line written while requests run must parse as one JSON object with a level "
       "and a msg: look for a log.Printf or fmt.Print left over.")
def every_line_is_a_json_record(lab):
    requests = lab.data["requests"]
    lines = lab.lines_during_load()
    plain = [line for line in lines if json_record(line) is None
             or "level" not in json_record(line) or "msg" not in json_record(line)]
    answered = sum(r["status"] in (200, 422) for r in requests)
    # Starter: 200 of 200 answered, 800 lines (4 per thumbnail, the corrupt ones too: two
    # of theirs are the failure), all plain text. Solution: 780 lines (4 per thumbnail, 3
    # per corrupt one), all JSON. 3 per request is the floor of a complete log.
    return [expect.at_least(answered, len(requests), "thumbnails answered 200 or 422"),
            expect.at_least(len(lines), 3 * len(requests), "lines logged while they ran"),
            expect.at_most(len(plain), 0, "lines that are not a JSON record with level and msg"
                           + (f" (the first: {plain[0][:100]!r})" if plain else ""))]


@check("The lines are JSON, but they do not all carry the trace id of the request that "
       "wrote them (the check sent each request its own random traceparent). How does a "
       "log call deep in decode know which request it serves?",
       "Keep the trace id in the request's context (context.WithValue in a middleware, under "
       "an unexported key type) and log with slog.InfoContext(ctx, ...) everywhere; a "
       "slog.Handler wrapper can add trace_id from the context to every record.",
       "A package variable holding \"the current trace id\" is shared by all requests at "
       "once: under 16 concurrent callers the lines get each other's ids. Only the "
       "request's own context is private to it.")
def every_line_carries_its_requests_trace_id(lab):
    requests = lab.data["requests"]
    mine, stray = by_request(lab)
    complete = [r for r in requests if len(mine[r["i"]]) >= steps(r)]
    # Solution: 780 of 780 lines carry a request's id, all 200 requests complete. A
    # package-level trace id (wrong-global-trace-id): 74 of 200 complete (16 requests at
    # once, each 2-8 ms: nearly every one overlaps another).
    return [expect.at_most(len(stray), 0, "JSON lines whose trace_id is no request's"
                           + (f" (e.g. {json.dumps(stray[0])[:120]})" if stray else "")),
            expect.at_least(len(complete), len(requests),
                            "requests whose every step (3 or 4 lines) carries their trace id")]


@check("Every line carries a trace id, but not the one the caller can search for: a "
       "caller's valid traceparent must keep its trace id, and a caller with none (or a "
       "malformed one) must get a new id back in the Trace-Id response header.",
       "Take the trace id from the traceparent only when the header is valid W3C (2-32-16-2 "
       "lowercase hex digits, not all zeros): gopitfalls/samples/internal/traceparent."
       "TraceID(h) checks it. Otherwise make a new one (traceparent.NewTraceID()).",
       "Set the Trace-Id response header in the middleware, before calling the next handler: "
       "headers set after the status is written are not sent.")
def the_caller_gets_its_trace_id_back(lab):
    requests = lab.data["requests"]
    valid = [r for r in requests if r["sent_id"]]
    kept = [r for r in valid if r["returned_id"] == r["sent_id"]]
    others = [r for r in requests if not r["sent_id"]]
    header_ids = {r["header"].split("-")[1].lower() for r in others if r["header"]}
    fresh = {r["returned_id"] for r in others if r["returned_id"]
             and HEX32.fullmatch(r["returned_id"]) and r["returned_id"] not in header_ids}
    # Solution: 180 of 180 kept, 20 of 20 fresh ids. Trusting any header
    # (wrong-trusts-any-header) returns the malformed headers' ids: 10 of 20 fresh.
    return [expect.at_least(len(kept), len(valid), "callers with a valid traceparent whose "
                            f"trace id came back in Trace-Id (of {len(valid)})"),
            expect.at_least(len(fresh), len(others),
                            "callers with no or a malformed traceparent that got a new, "
                            f"distinct, valid id (of {len(others)})")]


@check("A corrupt image is not the service's fault, and one failure should be one line: "
       "count the warning and error lines of a failed thumbnail.",
       "Log the failure once, where the request gives up (the handler), at WARN: "
       "slog.WarnContext(ctx, \"thumbnail failed\", \"err\", err). decode just returns "
       "its error.",
       "Nothing in this service is an ERROR: a request that succeeds logs no WARN or ERROR "
       "either, and a corrupt image answers 422.")
def a_failure_is_one_warning(lab):
    requests = lab.data["requests"]
    mine, _ = by_request(lab)

    def alarms(r):
        return [level(rec) for rec in mine[r["i"]] if level(rec) in ("WARN", "ERROR")]

    failed = [r for r in requests if r["corrupt"]]
    once = [r for r in failed if alarms(r) == ["WARN"] and r["status"] == 422]
    quiet = [r for r in requests if not r["corrupt"] and not alarms(r) and r["status"] == 200]
    # Solution: 20 of 20 and 180 of 180. Logging in decode and the handler at ERROR
    # (wrong-logs-twice): 0 of 20.
    return [expect.at_least(len(once), len(failed), "corrupt images answered 422 and logged "
                            f"exactly once, at WARN (of {len(failed)})"),
            expect.at_least(len(quiet), len(requests) - len(failed),
                            "good images answered 200 with no WARN or ERROR line "
                            f"(of {len(requests) - len(failed)})")]
