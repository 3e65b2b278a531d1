"""What lesson 08's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

The traffic comes from a ``during_load`` hook, a route audit: every route the service
declares at ``GET /routes``, the debug endpoints nobody declared and a wrong method, each
without and with the bearer token. Its rows are the run's data (``run.data["rows"]``). The
fixed service runs with ``ADMIN_ADDR`` on a second loopback port; its hook also asks that
port for the profiler (``run.data["admin_answers"]``)."""

import gopitfalls
from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec, claim

TOKEN = gopitfalls.lesson("08-routes-and-middleware").scenario().env["API_TOKEN"]
UNDECLARED = ["/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/vars"]
CREDS = ["no token", "token"]


def audit(base_url, token=TOKEN):
    """Every declared route, the undeclared debug paths and a wrong method, without and with
    the token."""
    declared = traffic.call(base_url + "/routes").json()
    probes = [(r["method"], r["path"], "declared", r["auth"]) for r in declared]
    probes += [("GET", path, "undeclared", True) for path in UNDECLARED]
    probes.append(("DELETE", "/api/users/1", "wrong method", True))
    rows = []
    for method, path, kind, protected in probes:
        anon = traffic.call(base_url + path, method)
        with_token = traffic.call(base_url + path, method,
                                  headers={"Authorization": "Bearer " + token})
        rows.append({"route": f"{method} {path}", "kind": kind, "protected": protected,
                     "no token": anon.status, "token": with_token.status, "anon_body": anon.body})
    return rows


def route_audit(admin=False):
    """A during_load hook: the audit, its rows in ``ctl.data["rows"]``; with ``admin``,
    also GET /debug/pprof/cmdline on the ADMIN_ADDR listener (``ctl.data["admin_answers"]``:
    its status, or why nothing answered)."""
    def during_load(ctl):
        ctl.data["rows"] = audit(ctl.url)
        if admin:
            answer = traffic.call(ctl.urls["ADMIN_ADDR"] + "/debug/pprof/cmdline")
            ctl.data["admin_answers"] = {"/debug/pprof/cmdline": answer.status or answer.error}
    return during_load


RUNS = {
    "broken": RunSpec("broken", overrides={"during_load": route_audit()}),
    # listen: the engine gives ADMIN_ADDR a free loopback port as the run starts.
    "fixed": RunSpec("fixed", overrides={"listen": ("ADMIN_ADDR",),
                                         "during_load": route_audit(admin=True)}),
}


def exposed(rows):
    """Routes that must need a token but answered a caller without one with < 400."""
    return [r for r in rows if r["protected"] and r["no token"] < 400]


def describe(body):
    """What an answer's body is, in a line: its first 90 characters, or what kind of binary."""
    if body[:2] == b"\x1f\x8b":
        return "gzip-compressed heap profile (pprof format)"
    text = body.decode("utf-8", "replace").strip().replace("\n", " | ")
    return text[:90] + ("…" if len(text) > 90 else "")


OUTCOMES = {  # what one probe found, and its colour in the notebook's matrix
    "EXPOSED without a token": "#d62728",
    "wrong method served": "#ff7f0e",
    "declared route fails": "#ffd92f",
    "denied (401/403)": "#2ca02c",
    "served": "#9ecae1",
    "refused (404/405)": "#d9d9d9",
}


def outcome(row, cred):
    """What the probe of one row found with one credential (a key of OUTCOMES)."""
    status = row[cred]
    if status in (401, 403):
        return "denied (401/403)"
    if status < 400:
        if cred == "no token" and row["protected"]:
            return "EXPOSED without a token"
        return "wrong method served" if row["kind"] == "wrong method" else "served"
    return "declared route fails" if row["kind"] == "declared" else "refused (404/405)"


@claim("broken")
def the_broken_service_serves_a_protected_route_and_the_profiler_to_anyone(broken):
    rows = broken.data["rows"]
    declared = [r for r in rows if r["kind"] == "declared"]
    leaked = [r["route"] for r in exposed(rows) if r["kind"] == "declared"]
    pprof = [r for r in rows if r["route"].startswith("GET /debug/pprof/")]
    # Deterministic (the same in every run, local and docker): the export is the one
    # declared route without requireToken, and every profiler path probed answers.
    return [expect.given(len(declared) == 6, "the audit probes the 6 routes of GET /routes, "
                         f"{len(UNDECLARED)} undeclared debug paths and one wrong method"),
            expect.holds(leaked == ["GET /api/admin/export"],
                         f"broken: declared protected routes answering without a token: "
                         f"{leaked} (expected exactly the export)"),
            expect.at_least(sum(r["no token"] < 400 for r in pprof), len(pprof),
                            f"broken: of the {len(pprof)} /debug/pprof/ paths probed, those "
                            f"answering without a token")]


@claim("fixed")
def the_fix_guards_every_route_and_serves_the_profiler_only_on_loopback(broken, fixed):
    broken_rows, fixed_rows = broken.data["rows"], fixed.data["rows"]
    n_declared = sum(r["kind"] == "declared" for r in fixed_rows)
    works = sum(200 <= r["token"] < 300 for r in fixed_rows if r["kind"] == "declared")
    # Every count here is deterministic (the same in every run, local and docker), so each
    # threshold is the whole set: broken exposes the export and the 4 debug paths (5),
    # fixed none; fixed serves all 6 declared routes with the token and answers the one
    # wrong-method probe with 405 (broken: 200).
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
                        "fixed: wrong-method requests (of 1) answered 405 by the mux"),
    ]
    # The admin port is reachable where the program shares the notebook's network (local
    # backend, or Docker with host networking); elsewhere only the main port is published.
    if fixed.backend == "local" or "host network" in fixed.enforcement.get("network", ""):
        answer = fixed.data.get("admin_answers", {}).get("/debug/pprof/cmdline")
        evidence.append(expect.holds(
            answer == 200, f"fixed: the profiler's /debug/pprof/cmdline on the loopback admin "
                           f"port answered {answer} (200 expected)"))
    return evidence
