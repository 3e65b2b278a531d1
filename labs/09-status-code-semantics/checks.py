"""The checks of lab 09 (see gopitfalls.labs), judged on the learner's program.

The traffic is the courier app's: three reservations per outcome, all at once, through a
urllib3 client that retries 5xx and 429 up to 3 times and honours Retry-After (the
lesson's client, go-samples/09-status-code-semantics/claims.py). Every attempt is counted
by the client itself, so nothing the program reports is trusted, and no request says which
outcome it tests (no label header the program could answer from): only its body and key.
Thresholds come from the starter, the solution and the wrong fixes in tests/labs/, run on
this 2-core machine (local and docker backends); each comment says what was measured."""

import json
import threading
import time
import tomllib
from collections import defaultdict
from pathlib import Path

import urllib3
from urllib3.util.retry import Retry

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check

KEY = tomllib.loads((Path(__file__).parent / "lab.toml").read_text())[
    "scenarios"]["default"]["env"]["COURIER_KEY"]
OPS = 3  # reservations per outcome


def parcel(locker, size="M", weight=1200):
    return json.dumps({"locker": locker, "size": size, "weight_g": weight})


# outcome: (body, send the key?, the statuses that say it)
OUTCOMES = {
    "booked": (parcel("L-100"), True, {200, 201}),
    "bad_json": ('{"locker":"L-100","size":', True, {400}),
    "bad_size": (parcel("L-100", size="XXL"), True, {400, 422}),
    "no_key": (parcel("L-100"), False, {401}),
    "other_depot": (parcel("L-200"), True, {403}),
    "unknown_locker": (parcel("L-999"), True, {404}),
    "occupied": (parcel("L-300"), True, {409}),
    "too_heavy": (parcel("L-400", weight=5000), True, {409, 422}),
    "bank_throttled": (parcel("L-500"), True, {429}),
    "bank_offline": (parcel("L-600"), True, {503}),
}
BAD_INPUT = ("bad_json", "bad_size")
LATER = ("bank_throttled", "bank_offline")


def courier_app(ctl):
    """A during_load hook: OPS reservations per outcome, all at once, through the retrying
    client. ctl.data["ops"]: one row per reservation (its final answer); ctl.data["attempts"]:
    (op, outcome, time) per request sent, retries included."""
    attempts = []
    current = threading.local()  # the reservation this thread sends: never told the server

    class CountingPool(urllib3.HTTPConnectionPool):
        def urlopen(self, method, url, *args, **kw):  # called again for each retry
            attempts.append((current.op, current.op.rsplit("-", 1)[0], time.monotonic()))
            return super().urlopen(method, url, *args, **kw)

    class CappedRetry(Retry):
        def parse_retry_after(self, value):  # a check never waits more than 2 s a retry
            return min(super().parse_retry_after(value), 2.0)

    retry = CappedRetry(total=3, backoff_factor=0.05, status_forcelist=[429, 500, 502, 503, 504],
                        allowed_methods=None, respect_retry_after_header=True,
                        raise_on_status=False)
    host, port = ctl.url.removeprefix("http://").split(":")
    pool = CountingPool(host, int(port), maxsize=len(OUTCOMES) * OPS, timeout=5.0, retries=retry)

    def reserve(op):
        name = op.rsplit("-", 1)[0]
        body, with_key, _ = OUTCOMES[name]
        current.op = op  # each reservation has its own thread, its retries included
        headers = {"Content-Type": "application/json"}
        if with_key:
            headers["X-Courier-Key"] = KEY
        try:
            resp = pool.urlopen("POST", "/v1/lockers/reserve", body=body, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            return {"op": op, "outcome": name, "status": 0, "retry_after": None,
                    "body": f"no answer: {type(exc).__name__}"}
        return {"op": op, "outcome": name, "status": resp.status,
                "retry_after": resp.headers.get("Retry-After"),
                "body": resp.data.decode(errors="replace").strip()}

    names = [f"{name}-{i}" for name in OUTCOMES for i in range(OPS)]
    ctl.data["ops"] = traffic.concurrently(reserve, names, threads=len(names))
    ctl.data["attempts"] = attempts
    pool.close()


RUNS = {"lab": RunSpec("lab", overrides={"during_load": courier_app})}


def tries(run, names):
    """Requests the client sent per reservation, per outcome."""
    sent = defaultdict(int)
    for _, name, _ in run.data["attempts"]:
        sent[name] += 1
    return {name: sent[name] / OPS for name in names}


def statuses(run, names):
    """The statuses the client got for these outcomes, as "outcome: 200, 200, 200"."""
    got = defaultdict(list)
    for op in run.data["ops"]:
        if op["outcome"] in names:
            got[op["outcome"]].append(op["status"])
    return "; ".join(f"{n}: {', '.join(map(str, got[n]))}" for n in names)


@check("A request that can never succeed was sent again and again: the client retries 5xx, "
       "and a body that does not parse (or a size that does not exist) got a 5xx. Whose "
       "mistake is a bad request?",
       "A bad request is the caller's fault: answer 4xx (400 Bad Request), which no client "
       "retries. Only the server's own faults are 5xx.",
       "Both the JSON decoding error and reserve's *badRequest must answer 400 (or 422 for the "
       "size): find a *badRequest inside the wrapped error with errors.As(err, &bad); "
       "errors.Is compares with one value and never matches a new pointer.")
def bad_input_is_not_retried(lab):
    # Starter: bad JSON answers 500 and is sent 1 + 3 retries = 4 times (exact: every
    # request of an outcome gets the same answer); the solution sends each once.
    amp = tries(lab, BAD_INPUT)
    return [expect.at_least(len(lab.data["ops"]), len(OUTCOMES) * OPS,
                            "reservations the client completed"),
            expect.at_most(max(amp.values()), 1,
                           f"requests sent per bad reservation (highest of bad JSON "
                           f"{amp['bad_json']:.2g}, bad size {amp['bad_size']:.2g})"),
            expect.holds(all(400 <= op["status"] < 500 for op in lab.data["ops"]
                             if op["outcome"] in BAD_INPUT),
                         f"every bad reservation got a 4xx ({statuses(lab, BAD_INPUT)})")]


@check("The courier app reads the status line only, and some answers say something else "
       "than what happened (the failure names each outcome and the statuses it got): a 200 "
       "with \"ok\": false is a success to every client, a 500 is the server's fault.",
       "Map each error to the status that says it: no valid key 401, another depot's locker "
       "403, an unknown locker 404, an occupied locker 409, a parcel too heavy 422, a "
       "throttled bank 429, an offline bank 503.",
       "reserve wraps its errors (fmt.Errorf with %w), so compare through the wrapping: "
       "switch { case errors.Is(err, errOccupied): ... }. A plain err == errOccupied, or a "
       "switch on err, never matches a wrapped error.")
def every_outcome_reads_right(lab):
    # Starter: 9 of 10 outcomes misread (every refusal a 200, no key 403, bad JSON 500);
    # wrong-equality 6 (the wrapped refusals 500); the solution 0. Exact: each locker gives
    # the same outcome every time.
    wrong = sorted({op["outcome"] for op in lab.data["ops"]
                    if op["status"] not in OUTCOMES[op["outcome"]][2]})
    allowed = "; ".join(f"{n} {'/'.join(map(str, sorted(OUTCOMES[n][2])))}" for n in wrong)
    return [expect.holds(not wrong, "every outcome got a status that says it" + (
        f"; misread: {statuses(lab, wrong)} (want {allowed})" if wrong else ""))]


@check("The throttled and the offline locker bank answer right, but the client retries them "
       "at once, three times in 0.2 s, which is what keeps a struggling bank down. What "
       "tells a client how long to wait?",
       "A 429 or 503 should carry a Retry-After header with the seconds to wait; the "
       "courier app's client honours it. The service has them in retryAfter (RETRY_AFTER).",
       "w.Header().Set(\"Retry-After\", strconv.Itoa(retryAfter)) before w.WriteHeader(429) "
       "or (503): headers set after WriteHeader are not sent.")
def try_later_says_when(lab):
    later = [op for op in lab.data["ops"] if op["outcome"] in LATER]
    with_header = [op for op in later if (op["retry_after"] or "").strip().isdigit()
                   and int(op["retry_after"]) >= 1]
    times = defaultdict(list)
    for op, name, t in lab.data["attempts"]:
        if name in LATER:
            times[op].append(t)
    gaps = [b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:],
                                                           strict=False)]
    amp = tries(lab, LATER)
    # Solution: 4 requests per reservation (1 + 3 retries), 1.0006-1.003 s apart (urllib3
    # sleeps the whole Retry-After second); without Retry-After 0.05-0.2 s apart (backoff).
    return [expect.at_least(len(with_header), len(later),
                            f"429/503 answers with Retry-After of 1 s or more (of {len(later)})"),
            expect.at_least(min(amp.values()), 4, "requests per throttled/offline reservation "
                            "(lower of the two: the client retries what can succeed later)"),
            expect.at_least(min(gaps, default=float("nan")), 0.95,
                            "shortest pause in seconds between two retries of a 429/503")]


@check("A reservation that should succeed did not come back as a booked locker: a 2xx "
       "answer sent once, whose JSON names the reservation.",
       "Keep the success path as it was: 200 (or 201 Created) with the reservation's id in "
       "the body; only the errors change their status.")
def a_booking_still_succeeds(lab):
    booked = [op for op in lab.data["ops"] if op["outcome"] == "booked"]
    ids = set()
    for op in booked:
        try:
            ids.add(json.loads(op["body"]).get("reservation"))
        except (ValueError, AttributeError):
            pass
    ids.discard(None)
    # Starter and solution: 3 of 3 booked, 3 different ids (rsv-1...).
    return [expect.at_least(sum(op["status"] in (200, 201) for op in booked), OPS,
                            f"booked reservations answered 200/201 (of {OPS})"),
            expect.at_most(tries(lab, ["booked"])["booked"], 1, "requests per booking"),
            expect.at_least(len(ids), OPS, "different reservation ids in their bodies")]
