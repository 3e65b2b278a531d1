"""The checks of lab 08 (see gopitfalls.labs), judged on the learner's program.

The traffic is a route audit from outside (a during_load hook): every route of the API the
task names, /healthz and the debug endpoints, each without a token, with a wrong one and
with the right one; then the profiler on the admin address. The audit keeps its own list of
routes (the task's), never one the program serves. Every count is deterministic: each
threshold is the whole set."""

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check

TOKEN = "lab-08-warehouse"  # INVENTORY_TOKEN of lab.toml's scenario
API = [  # (method, path, body): every route that needs the token
    ("GET", "/v1/stock/bolt-m8", None),
    ("POST", "/v1/stock/bolt-m8/reserve", {"units": 1}),
    ("GET", "/v1/reports/shrinkage", None),
]
PUBLIC = [("GET", "/healthz", None)]
DEBUG = [("GET", path, None) for path in
         ("/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/vars")]
CREDS = {"no token": None, "wrong token": "Bearer not-the-token", "token": "Bearer " + TOKEN}
ADMIN_PROBE = "/debug/pprof/cmdline"


def audit(ctl):
    rows = []
    for kind, probes in (("api", API), ("public", PUBLIC), ("debug", DEBUG)):
        for method, path, body in probes:
            row = {"route": f"{method} {path}", "kind": kind}
            for cred, header in CREDS.items():
                answer = traffic.call(ctl.url + path, method, body=body,
                                      headers={"Authorization": header} if header else None)
                row[cred] = answer.status
            rows.append(row)
    ctl.data["rows"] = rows
    answer = traffic.call(ctl.urls["ADMIN_ADDR"] + ADMIN_PROBE)
    ctl.data["admin"] = answer.status or answer.error


RUNS = {"lab": RunSpec("lab", overrides={"listen": ("ADMIN_ADDR",), "during_load": audit})}


def answered(rows, kind, cred, ok):
    return [f"{r['route']} ({r[cred]})" for r in rows if r["kind"] == kind and ok(r[cred])]


def served(status):
    return status is not None and status < 400


@check("A route of the API answers a caller who sent no token (or a wrong one). Which "
       "routes did the audit find open, and which of them has no requireToken?",
       "A check wrapped around each route by hand is forgotten on the next route. Put it "
       "where no route can miss it: the /v1/ routes on a mux of their own, that mux "
       "registered once behind requireToken.",
       "api := http.NewServeMux(); api.HandleFunc(\"GET /v1/stock/{sku}\", ...) and the "
       "rest; then mux.Handle(\"/v1/\", requireToken(token, api.ServeHTTP)). And check the "
       "token whether or not the header is there: no header is no token.")
def every_api_route_refuses_a_caller_without_a_token(lab):
    rows = lab.data["rows"]
    # measured on the starter (every run): GET /v1/reports/shrinkage answered 200 without a
    # token and with a wrong one; the other two routes 401
    return [expect.holds(not (opened := answered(rows, "api", cred, served)),
                         f"API routes that served a caller with {cred}: "
                         f"{opened or 'none'} (of {len(API)})")
            for cred in ("no token", "wrong token")]


@check("The profiler answers on the public address: /debug/pprof/ shows every goroutine's "
       "stack and a heap profile to anyone. Where do the /debug/ routes come from?",
       "import _ \"net/http/pprof\" and the expvar package register their handlers on "
       "http.DefaultServeMux, and a server with a nil Handler serves DefaultServeMux: "
       "whatever any package put there is public.",
       "Serve the public address with a mux of your own (http.NewServeMux()), never "
       "DefaultServeMux; the profiler goes on a second mux served on ADMIN_ADDR.")
def the_debug_endpoints_are_not_public(lab):
    rows = lab.data["rows"]
    # measured on the starter and on a fix that keeps DefaultServeMux: all 4 debug paths
    # answered 200 without a token
    return [expect.holds(not (opened := answered(rows, "debug", "no token", served)),
                         f"debug endpoints that served a caller without a token on the public "
                         f"address: {opened or 'none'} (of {len(DEBUG)})")]


@check("Something stopped working: /healthz must answer the load balancer without a token, "
       "and every API route must serve a caller with the right token.",
       "The token check belongs to the /v1/ routes only: a middleware around the whole "
       "server also locks out the health check.",
       "Register /healthz on the public mux directly and only the /v1/ subtree behind "
       "requireToken; keep every handler's work (a stock level, a reservation, the report).")
def healthz_stays_public_and_the_api_still_works(lab):
    rows = lab.data["rows"]
    everything = lambda status: True  # noqa: E731
    public_ok = answered(rows, "public", "no token", lambda s: s == 200)
    api_ok = answered(rows, "api", "token", lambda s: s == 200)
    return [expect.at_least(len(public_ok), len(PUBLIC), "public routes that answered 200 "
                            f"without a token (of {len(PUBLIC)}; the answers: "
                            f"{answered(rows, 'public', 'no token', everything)})"),
            expect.at_least(len(api_ok), len(API), f"API routes that answered 200 with the "
                            f"token (of {len(API)}; the answers: "
                            f"{answered(rows, 'api', 'token', everything)})")]


@check("The on-call engineer lost the profiler: GET /debug/pprof/cmdline on ADMIN_ADDR got "
       "no 200. It should move to the admin address, not disappear.",
       "Keep the import of net/http/pprof and give the profiler a server of its own on "
       "os.Getenv(\"ADMIN_ADDR\") (a loopback address), started in a goroutine.",
       "admin := http.NewServeMux(); admin.HandleFunc(\"/debug/pprof/\", pprof.Index), and "
       "the same for pprof.Cmdline, pprof.Profile, pprof.Symbol, pprof.Trace; "
       "admin.Handle(\"/debug/vars\", expvar.Handler()); go http.ListenAndServe(addr, admin).")
def the_profiler_is_served_on_the_admin_address(lab):
    answer = lab.data["admin"]
    # The admin port is reachable where the program shares the checker's network (local
    # backend, or Docker with host networking); elsewhere only the main port is published.
    if lab.backend != "local" and "host network" not in lab.enforcement.get("network", ""):
        return [expect.given(True, f"the admin address is not reachable from here on "
                             f"{lab.backend} (only the main port is published): not judged")]
    return [expect.holds(answer == 200, f"GET {ADMIN_PROBE} on ADMIN_ADDR answered {answer} "
                         "(200 expected)")]
