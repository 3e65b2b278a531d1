"""What lesson 12's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

The traffic comes from a ``during_load`` hook, so that every response can be kept: a paced
mix of good and failing requests (eight kinds, three in four failing) from ``threads`` client
threads, one caller in four traced with a W3C ``traceparent``. Every response is recorded in
the run's data (``run.data["responses"]``: kind, wall-clock start and end, status, headers,
body, and the trace id the caller sent, if any). A claim then plays the on-call engineer: for
each error the client saw, which server log lines could belong to it?"""

import json
import math
import random
import re
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim


def good_id(i):
    """An order that exists and is not on the shard that is down (not a multiple of 13)."""
    n = 1 + 13 * i % 1000
    return n if n % 13 else 2


KINDS = [  # (label, method, path for request number i, body)
    ("get ok", "GET", lambda i: f"/api/orders/{good_id(i)}", None),
    ("get bad id", "GET", lambda i: "/api/orders/abc", None),
    ("get unknown", "GET", lambda i: f"/api/orders/{1001 + i}", None),
    ("get shard down", "GET", lambda i: f"/api/orders/{13 * (1 + i % 76)}", None),
    ("post bad json", "POST", lambda i: "/api/orders", b'{"sku":'),
    ("post invalid", "POST", lambda i: "/api/orders", b'{"sku":"","quantity":1}'),
    ("post no stock", "POST", lambda i: "/api/orders", b'{"sku":"sku-rare","quantity":5}'),
    ("post ok", "POST", lambda i: "/api/orders", b'{"sku":"sku-1","quantity":1}'),
]


def send(base_url, i):
    label, method, path, body = KINDS[i % len(KINDS)]
    req = urllib.request.Request(base_url + path(i), data=body, method=method)
    if body:
        req.add_header("Content-Type", "application/json")
    parent = None
    if i % 4 == 3:  # a traced caller: W3C trace context
        parent = f"{random.getrandbits(128):032x}"
        req.add_header("traceparent", f"00-{parent}-{random.getrandbits(64):016x}-01")
    t0 = time.time()
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, headers, data = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, headers, data = err.code, err.headers, err.read()
    return {"kind": label, "t0": t0, "t1": time.time(), "status": status,
            "headers": dict(headers), "body": data.decode("utf-8", "replace"), "parent": parent}


def traffic(base_url, rate=60, seconds=3, threads=8):
    """rate requests/s for seconds, from threads workers, starting on a whole second."""
    start = math.floor(time.time()) + 1.0
    time.sleep(start - time.time())
    total, lock, next_i, responses = int(rate * seconds), threading.Lock(), [0], []

    def worker():
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= total:
                return
            time.sleep(max(0.0, start + i / rate - time.time()))
            responses.append(send(base_url, i))

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=30)
    return responses


def paced_traffic(rate=60, seconds=3, threads=8):
    """A during_load hook: :func:`traffic`, its responses kept in ``ctl.data["responses"]``."""
    def during_load(ctl):
        ctl.data.update(rate=rate, seconds=seconds, threads=threads, responses=[])
        ctl.data["responses"].extend(traffic(ctl.url, rate, seconds, threads))
    return during_load


RUNS = {"broken": RunSpec("broken", overrides={"during_load": paced_traffic()}),
        "fixed": RunSpec("fixed", overrides={"during_load": paced_traffic()})}

STAMP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) ")


def parse_log(line):
    """A log line as {"t", "trace_id", "line"}: slog JSON, or log.Printf's default format."""
    if line.startswith("{"):
        rec = json.loads(line)
        return {"t": datetime.fromisoformat(rec["time"]).timestamp(),
                "trace_id": rec.get("trace_id"), "line": line}
    m = STAMP.match(line)  # local time; the scenario sets TZ=UTC
    t = datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC) if m else None
    return {"t": t.timestamp() if t else None, "trace_id": None, "line": line}


def body_json(resp):
    try:
        value = json.loads(resp["body"])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def trace_id(resp):
    return resp["headers"].get("Trace-Id") or (body_json(resp) or {}).get("trace_id")


def candidates(resp, logs):
    tid = trace_id(resp)
    if tid:
        return [rec for rec in logs if rec["trace_id"] == tid]
    lo, hi = math.floor(resp["t0"]), math.floor(resp["t1"])  # one-second resolution
    return [rec for rec in logs if rec["t"] is not None and lo <= rec["t"] <= hi]


def shape(resp):
    """An error body's shape: "text", or its sorted JSON member names."""
    value = body_json(resp)
    return "text" if value is None else ",".join(sorted(value))


def analyse(run):
    """The run's log lines, its error responses in order, the candidate log lines of each
    error, and the shapes of the error bodies."""
    logs = [parse_log(line) for line in run.logs("stderr")]
    errors = sorted((r for r in run.data["responses"] if r["status"] >= 400),
                    key=lambda r: r["t0"])
    counts = [len(candidates(r, logs)) for r in errors]
    return {"logs": logs, "errors": errors, "counts": counts,
            "shapes": Counter(shape(r) for r in errors)}


@claim("broken")
def a_broken_error_could_be_any_of_many_log_lines(broken):
    b = analyse(broken)
    return [expect.at_least(len(b["errors"]), 60, "broken: error responses received"),
            expect.at_most(sum(trace_id(r) is not None for r in b["errors"]), 0,
                           "broken: error responses carrying anything that identifies the "
                           "request"),
            expect.at_least(statistics.median(b["counts"]), 10,
                            "broken: candidate log lines for the median error"),
            expect.at_least(len(b["shapes"]), 2, "broken: distinct error body shapes")]


@claim("fixed")
def the_fix_ties_every_error_to_exactly_one_log_line(broken, fixed):
    b, f = analyse(broken), analyse(fixed)
    problems = [body_json(r) or {} for r in f["errors"]]
    evidence = [
        expect.at_least(statistics.median(b["counts"]), 10,
                        "broken: candidate log lines for the median error"),
        expect.at_least(len(f["errors"]), 60, "fixed: error responses received"),
        expect.at_most(max(f["counts"]), 1, "fixed: candidate log lines, worst error"),
        expect.at_least(min(f["counts"]), 1, "fixed: candidate log lines, best error"),
        expect.at_least(len(b["shapes"]), 2, "broken: distinct error body shapes"),
        expect.at_most(len(f["shapes"]), 1,
                       f"fixed: distinct error body shapes {list(f['shapes'])}"),
    ]
    consistent = sum(r["headers"].get("Content-Type") == "application/problem+json"
                     and r["headers"].get("Trace-Id") == p.get("trace_id")
                     for r, p in zip(f["errors"], problems, strict=True))
    evidence.append(expect.at_least(
        consistent, len(f["errors"]),
        "fixed: problem+json errors, Trace-Id header equal to body trace_id"))
    traced = [r for r in fixed.data["responses"] if r["parent"]]
    evidence.append(expect.at_least(
        sum(r["headers"].get("Trace-Id") == r["parent"] for r in traced), len(traced),
        f"fixed: answers to traced callers that kept the caller's trace id (of {len(traced)})"))
    untraced = [rec["line"] for rec in f["logs"] if not rec["trace_id"]]
    evidence.append(expect.at_most(
        len(untraced), 1,
        "fixed: log lines without a trace id (only the start-up line may lack one)"))
    return evidence
