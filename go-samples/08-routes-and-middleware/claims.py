"""What lesson 08's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

The traffic comes from a ``during_load`` hook, a route audit: every route the service
declares at ``GET /routes``, the debug endpoints nobody declared and a wrong method, each
without and with the bearer token. Its rows are the run's data (``run.data["rows"]``). The
fixed service runs with ``ADMIN_ADDR`` on a second loopback port; its hook also asks that
port for the profiler (``run.data["admin_answers"]``)."""

import json
import urllib.error
import urllib.request

import gopitfalls
from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim
from gopitfalls.network import free_port

TOKEN = gopitfalls.lesson("08-routes-and-middleware").scenario().env["API_TOKEN"]
UNDECLARED = ["/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/vars"]
CREDS = ["no token", "token"]
# The fixed service's admin listener (ADMIN_ADDR), a loopback port chosen once.
ADMIN_URL = f"http://127.0.0.1:{free_port()}"


def fetch(method, url, token=None):
    """One request: (status, body). urllib raises HTTPError for >= 400; that is an answer too."""
    req = urllib.request.Request(url, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def audit(base_url, token=TOKEN):
    """Every declared route, the undeclared debug paths and a wrong method, without and with
    the token."""
    _, body = fetch("GET", base_url + "/routes")
    probes = [(r["method"], r["path"], "declared", r["auth"]) for r in json.loads(body)]
    probes += [("GET", path, "undeclared", True) for path in UNDECLARED]
    probes.append(("DELETE", "/api/users/1", "wrong method", True))
    rows = []
    for method, path, kind, protected in probes:
        anon_status, anon_body = fetch(method, base_url + path)
        token_status, _ = fetch(method, base_url + path, token)
        rows.append({"route": f"{method} {path}", "kind": kind, "protected": protected,
                     "no token": anon_status, "token": token_status, "anon_body": anon_body})
    return rows


def route_audit(admin_url=None):
    """A during_load hook: the audit, its rows in ``ctl.data["rows"]``; with ``admin_url``,
    also GET /debug/pprof/cmdline there (``ctl.data["admin_answers"]``: its status, or why
    nothing answered)."""
    def during_load(ctl):
        ctl.data["rows"] = audit(ctl.url)
        if admin_url:
            try:
                answer = fetch("GET", admin_url + "/debug/pprof/cmdline")[0]
            except OSError as err:   # nothing listens there
                answer = type(err).__name__
            ctl.data["admin_answers"] = {"/debug/pprof/cmdline": answer}
    return during_load


RUNS = {"broken": RunSpec("broken", overrides={"during_load": route_audit()}),
        "fixed": RunSpec("fixed", overrides={"env": {"ADMIN_ADDR": ADMIN_URL[7:]},
                                             "during_load": route_audit(ADMIN_URL)})}


def exposed(rows):
    """Routes that must need a token but answered a caller without one with < 400."""
    return [r for r in rows if r["protected"] and r["no token"] < 400]


@claim("broken")
def the_broken_service_serves_a_protected_route_and_the_profiler_to_anyone(broken):
    rows = broken.data["rows"]
    declared = [r for r in rows if r["kind"] == "declared"]
    leaked = [r["route"] for r in exposed(rows) if r["kind"] == "declared"]
    pprof = [r for r in rows if r["route"].startswith("GET /debug/pprof/")]
    return [expect.at_least(len(declared), 6, "declared routes found by the audit"),
            expect.at_least(len(leaked), 1, f"broken: declared protected routes answering "
                            f"without a token {leaked}"),
            expect.at_least(sum(r["no token"] < 400 for r in pprof), len(UNDECLARED) - 1,
                            "broken: /debug/pprof/ endpoints answering without a token")]


@claim("fixed")
def the_fix_guards_every_route_and_serves_the_profiler_only_on_loopback(broken, fixed):
    broken_rows, fixed_rows = broken.data["rows"], fixed.data["rows"]
    n_declared = sum(r["kind"] == "declared" for r in fixed_rows)
    works = sum(200 <= r["token"] < 300 for r in fixed_rows if r["kind"] == "declared")
    evidence = [
        expect.at_least(len(exposed(broken_rows)), len(UNDECLARED) + 1,
                        "broken: protected routes and debug endpoints answering without a "
                        "token"),
        expect.at_most(len(exposed(fixed_rows)), 0,
                       "fixed: protected routes and debug endpoints answering without a token"),
        expect.at_least(works, n_declared,
                        f"fixed: declared routes that work with the token (of {n_declared})"),
        expect.at_least(sum(r["token"] == 405 for r in fixed_rows
                            if r["kind"] == "wrong method"), 1,
                        "fixed: wrong-method requests answered 405 by the mux"),
    ]
    # The admin port is reachable where the program shares the notebook's network (local
    # backend, or Docker with host networking); elsewhere only the main port is published.
    if fixed.backend == "local" or "host network" in fixed.enforcement.get("network", ""):
        answer = fixed.data.get("admin_answers", {}).get("/debug/pprof/cmdline")
        evidence.append(expect.at_least(
            int(answer == 200), 1,
            "fixed: profiler answering on the loopback admin port (1 = yes)"))
    return evidence
