"""The checks of lab 17 (see gopitfalls.labs), judged on the learner's program.

No load generator (it sends one path; this pitfall needs a new one per request): the
``during_load`` hook below creates a new short link with every request, ``RATE`` a second
for ``SECONDS``, and scrapes ``/metrics`` once a second and after the traffic, parsing each
scrape with ``prometheus_client``'s text parser (what a Prometheus server reads). The checks
judge those scrapes, never the code: series that do not grow with the links, no link code in
any label, requests still counted per route, clicks still counted.

Thresholds come from the starter, the solution and the wrong fixes in tests/labs/, run on
this 2-core machine (local and docker backends); each comment says what was measured."""

import itertools
import threading
import time
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check

RATE, SECONDS, THREADS = 300, 3, 8
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The three routes, redirects the most (3 of 6 requests), then link pages (2 of 6), then
# deletions (1 of 6): each route's total is its own. One request in 20 asks for a page that
# does not exist (404), one in 25 carries a malformed code (400).
ROUTES = [("GET", "/r/{}"), ("GET", "/links/{}"), ("DELETE", "/links/{}")]
SCHEDULE = [0, 1, 0, 2, 0, 1]
UNMATCHED = "unmatched"


def short_code(i):
    """Link number ``i``'s code: 7 letters and digits, a new one for every i."""
    n = (i * 2654435761 + 9_000_000_007) % 62**7
    return "".join(ALPHABET[(n // 62**k) % 62] for k in range(7))


def request_for(i):
    """(route, method, path, code) of request number ``i``."""
    code = short_code(i)
    if i % 20 == 19:
        return UNMATCHED, "GET", f"/links/{code}/qr", code
    route = SCHEDULE[i % len(SCHEDULE)]
    method, path = ROUTES[route]
    if i % 25 == 24:
        code = code[:3] + "-" + code[3:]
    return route, method, path.format(code), code


def parse(text):
    """{family: [(sample name, labels, value)]} of a text exposition, or ValueError."""
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text)}


def scrape(ctl, links):
    answer = traffic.call(ctl.url + "/metrics", timeout=10)
    row = {"t": ctl.now(), "links": links, "bytes": len(answer.body), "families": None,
           "error": None}
    if answer.status != 200:
        row["error"] = answer.error or f"status {answer.status}"
        return row, ""
    try:
        row["families"] = parse(answer.text)
    except ValueError as err:  # the parser's verdict on an invalid exposition
        row["error"] = f"does not parse: {err}"
    return row, answer.text


def new_links_and_scrapes(ctl):
    """A during_load hook: the traffic of new links and a scrape every second beside it."""
    rows, sent, done = [], itertools.count(), threading.Event()
    progress = [0]

    def scraper():
        while not done.wait(1.0):
            rows.append(scrape(ctl, progress[0])[0])

    def send(i):
        route, method, path, _ = request_for(i)
        progress[0] = max(progress[0], i + 1)
        next(sent)
        return route, traffic.call(ctl.url + path, method, timeout=5).status

    thread = threading.Thread(target=scraper, daemon=True)
    thread.start()
    answers = traffic.paced(send, RATE, SECONDS, THREADS)
    done.set()
    thread.join(30)
    time.sleep(0.2)  # the last requests' counters are updated after their answers
    final, text = scrape(ctl, len(answers))
    rows.append(final)
    ctl.data["scrapes"] = rows
    ctl.data["answers"] = [[route, status] for route, status in answers]
    ctl.data["codes"] = [request_for(i)[3] for i in range(len(answers))]
    ctl.data["last_exposition"] = text


RUNS = {"lab": RunSpec("lab", overrides={"during_load": new_links_and_scrapes})}


def scrapes(run):
    return run.data["scrapes"]


def series(row, skip=()):
    return sum(len(samples) for name, samples in row["families"].items() if name not in skip)


def counts(run):
    """Requests answered per route, and per (route, status)."""
    answers = run.data["answers"]
    per_route = Counter(route for route, status in answers if status is not None)
    return per_route, Counter((route, status) for route, status in answers)


# Measured (5 runs local, 3 docker, 900 links): the starter's request metrics grow from
# 2,400-2,416 series after 300 links to 7,200 after 900 (+4,784-4,800); the solution holds 36
# at every scrape (2.7 kB); wrong-clicks-by-code grows +287-288 (its clicks); wrong-route-
# dropped holds 14. A bounded exposition stops growing once every route and status has been
# seen (in the first 100 requests, before the first scrape at 1 s); MAX_GROWTH allows for a
# late rare combination, MAX_SERIES for a generous but bounded set of labels (route x exact
# status on the histogram too: 64 series).
MAX_GROWTH, MAX_SERIES = 10, 200
CLICKS = "shrt_clicks_total"


def bounded(run, skip, what):
    rows = scrapes(run)
    failed = [f"{r['t']:.1f} s: {r['error']}" for r in rows if r["error"]]
    first, last = rows[0], rows[-1]
    out = [expect.holds(len(rows) >= 2 and not failed,
                        f"every one of {len(rows)} scrapes was answered and parsed by "
                        f"prometheus_client's text parser"
                        + (f" (failed: {'; '.join(failed[:3])})" if failed else ""))]
    grew = series(last, skip) - series(first, skip)
    out.append(expect.at_most(grew, MAX_GROWTH,
                              f"growth of {what} from the scrape after {first['links']} links "
                              f"({series(first, skip)}) to the last, after {last['links']} links "
                              f"({series(last, skip)})"))
    out.append(expect.at_most(series(last, skip), MAX_SERIES,
                              f"{what} at the last scrape (of {last['bytes']} bytes in all)"))
    return out


@check("Every new link adds series to /metrics, and they stay until the process restarts: "
       "which labels of the request metrics take a new value for each link?",
       "A label's values must come from a short list the code knows (its routes, a status "
       "class), never from the URL as sent: r.URL.Path holds the link's code.",
       "After the mux has routed a request, r.Pattern holds the route that matched ("
       "\"GET /r/{code}\"; empty when none did): label by it (and \"unmatched\" for none) and "
       "by the status class (2xx, 3xx, 4xx) instead of the path.")
def request_series_do_not_grow_with_the_links(lab):
    return bounded(lab, {CLICKS.removesuffix("_total")}, "series of the request metrics")


@check("The request metrics are bounded now, but /metrics still grows with the links: which "
       "other family has a label that takes one value per link?",
       "Counting clicks per link in a metric makes a series per link. Count all clicks in "
       "one series (a label with a few values, like the status class, is fine).",
       "shrt_clicks_total needs no code label: clicks.Inc() with reg.Counter(name, help). "
       "Which link was clicked belongs in a log line or an analytics store, not in a label.")
def no_series_per_link(lab):
    out = bounded(lab, (), "series in all")
    codes = set(lab.data["codes"])
    values = {v for samples in scrapes(lab)[-1]["families"].values()
              for _, labels, _ in samples for v in labels.values()}
    leaked = sorted(v for v in values if any(c in v for c in codes))
    out.append(expect.holds(not leaked, "no label value holds a link's code"
                            + (f" (found {len(leaked)}: {', '.join(leaked[:3])} ...)"
                               if leaked else "")))
    return out


def route_names():
    return [f"{m} {p.format('{code}')}" for m, p in ROUTES] + [UNMATCHED]


def groupings(samples):
    """For every label and every pair of labels of ``samples``: the sums of the values
    grouped by that label (or pair), as a Counter of sums."""
    names = sorted({k for _, labels, _ in samples for k in labels})
    keys = [(n,) for n in names] + list(itertools.combinations(names, 2))
    for key in keys:
        sums = Counter()
        for _, labels, value in samples:
            sums[tuple(labels.get(k, "") for k in key)] += value
        yield key, Counter(round(v) for v in sums.values())


@check("The requests are no longer counted per route: a dashboard cannot tell the redirects "
       "(GET /r/{code}) from the link pages (GET /links/{code}) or the deletions "
       "(DELETE /links/{code}). Which label says the route?",
       "Keep a counter of every request with a label per route; dropping the path is right, "
       "dropping the route with it is not. GET and DELETE /links/{code} are two routes.",
       "r.Pattern is the route that matched, with its method (\"DELETE /links/{code}\"); "
       "requests.Inc(route, statusClass(status)) counts each route apart at a fixed cost.")
def requests_are_still_counted_per_route(lab):
    per_route, _ = counts(lab)
    total = sum(per_route.values())
    want = Counter(per_route[r] for r in range(len(ROUTES)))
    families = scrapes(lab)[-1]["families"]
    # A counter's samples, or a histogram's _count samples: each counts every request once.
    candidates = {}
    for name, samples in families.items():
        kept = [s for s in samples if s[0].endswith(("_total", "_count"))]
        if kept and round(sum(v for _, _, v in kept)) == total:
            candidates[name] = kept
    out = [expect.holds(bool(candidates),
                        f"a counter of /metrics adds up to the {total} requests answered"
                        + ("" if candidates else " (none does: "
                           + ", ".join(f"{n} {round(sum(v for *_, v in s))}"
                                       for n, s in families.items()) + ")"))]
    routed = [(name, key) for name, kept in candidates.items()
              for key, sums in groupings(kept) if not want - sums]
    per = ", ".join(f"{name} {per_route[r]}" for r, name in enumerate(route_names()[:3]))
    out.append(expect.holds(bool(routed),
                            f"a label of {', '.join(sorted(candidates))} counts the routes apart "
                            f"({per})"
                            + (f": {routed[0][0]} by {'+'.join(routed[0][1])}" if routed else
                               ": no label (or pair of labels) splits the count that way")))
    return out


@check("The clicks are no longer counted: no counter of /metrics adds up to the redirects "
       "served. A click count per link was too much; no click count is too little.",
       "Keep the family shrt_clicks_total, without the code label: one series, "
       "incremented on every redirect served.",
       "clicks: reg.Counter(\"shrt_clicks_total\", \"Redirects served.\") and clicks.Inc() "
       "just before http.Redirect.")
def clicks_are_still_counted(lab):
    _, by_status = counts(lab)
    redirects = by_status[(0, 302)]
    families = scrapes(lab)[-1]["families"]
    found = [name for name, samples in families.items()
             if any(s[0].endswith("_total") for s in samples)
             and round(sum(v for n, _, v in samples if n.endswith("_total"))) == redirects]
    return [expect.holds(redirects > 0 and bool(found),
                         f"a counter of /metrics adds up to the {redirects} redirects served"
                         + (f": {', '.join(found)}" if found else ": none does"))]
