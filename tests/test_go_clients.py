"""The course's Go clients (``go-samples/internal/pgdriver``, ``internal/resp``) pass their
tests against the real servers of the datastores layer.

The Go tests find the servers in ``GOPITFALLS_PG_URL`` and ``GOPITFALLS_REDIS_ADDR``. A Go
test that skips (say, because a variable is missing) or fails fails this test, and so does
a package that ran no test at all (missing, not built, or without tests).
"""

import json
import subprocess

import pytest

from gopitfalls.datastores import Postgres, Redis
from gopitfalls.toolchain import find_go

from .conftest import ROOT

SAMPLES = ROOT / "go-samples"
MODULE = "gopitfalls/samples"  # go-samples/go.mod
REQUIRED = ("internal/pgdriver", "internal/resp")


def verdict(events: list[dict], package: str) -> list[str]:
    """What is wrong with ``package``'s tests in ``go test -json`` events: a line per
    skipped or failed test, or one line when no test ran."""
    path = f"{MODULE}/{package}"
    finals: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    package_action = None
    for event in events:
        of = event.get("Package") or event.get("ImportPath", "").split(" ")[0]
        if of != path:
            continue
        action, test = event.get("Action"), event.get("Test", "")
        if action in ("output", "build-output"):
            output.setdefault(test, []).append(event.get("Output", "").rstrip("\n"))
        elif action in ("pass", "fail", "skip"):
            if test:
                finals[test] = action
            else:
                package_action = action

    def said(test: str) -> str:
        lines = [" ".join(line.split()) for line in output.get(test, []) if line.strip()
                 and not line.lstrip().startswith(("=== ", "--- PASS", "PASS", "ok "))]
        return " / ".join(lines[-6:])

    problems = [f"{package}: {test} {'was skipped' if action == 'skip' else 'failed'}: "
                f"{said(test)}" for test, action in sorted(finals.items()) if action != "pass"]
    if not finals:
        why = said("") if package_action == "fail" else (
            "the package is missing from go-samples, or has no tests" if package_action is None
            else said("") or "it has no tests")
        problems.append(f"no tests ran in {package} ({why})")
    elif package_action == "fail" and not problems:
        problems.append(f"{package} failed: {said('')}")
    return problems


@pytest.fixture(scope="module")
def go_test_events():
    go = find_go()
    # 20 connections: TestTooManyClients opens one more than the server allows
    with Postgres({"max_connections": 20}) as pg, Redis() as rdb:
        env = go.env(GOPITFALLS_PG_URL=pg.dsn, GOPITFALLS_REDIS_ADDR=rdb.addr)
        done = subprocess.run(
            [str(go.binary), "test", "-json", "-count=1", "-timeout=180s", "./internal/..."],
            cwd=SAMPLES, env=env, capture_output=True, text=True, timeout=400)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return events, done.stderr


@pytest.mark.parametrize("package", REQUIRED)
def test_go_client_passes_against_the_real_server(go_test_events, package):
    events, stderr = go_test_events
    problems = verdict(events, package)
    assert not problems, "\n".join(problems) + (f"\ngo test's stderr: {stderr[-2000:]}"
                                                if stderr.strip() else "")


# ---------------------------------------------------------------- the verdict itself

PKG = f"{MODULE}/internal/pgdriver"


def _events(*specs):
    return [dict(zip(("Action", "Test", "Output"), spec, strict=False), Package=PKG)
            for spec in specs]


@pytest.mark.parametrize("events, expected", [
    ([], ["no tests ran in internal/pgdriver (the package is missing from go-samples, "
          "or has no tests)"]),
    (_events(("output", "", "?   \tx\t[no test files]\n"), ("skip", "")),
     ["no tests ran in internal/pgdriver (? x [no test files])"]),
    (_events(("run", "TestA"), ("pass", "TestA"), ("pass", "")), []),
    (_events(("run", "TestA"), ("output", "TestA", "    a_test.go:9: GOPITFALLS_PG_URL unset\n"),
             ("skip", "TestA"), ("pass", "")),
     ["internal/pgdriver: TestA was skipped: a_test.go:9: GOPITFALLS_PG_URL unset"]),
    (_events(("run", "TestB"), ("output", "TestB", "    b_test.go:3: got 1, want 2\n"),
             ("fail", "TestB"), ("fail", "")),
     ["internal/pgdriver: TestB failed: b_test.go:3: got 1, want 2"]),
    ([{"ImportPath": f"{PKG} [{PKG}.test]", "Action": "build-output",
       "Output": "conn.go:4:2: undefined: x\n"},
      {"Package": PKG, "Action": "fail", "FailedBuild": PKG}],
     ["no tests ran in internal/pgdriver (conn.go:4:2: undefined: x)"]),
])
def test_the_verdict_names_what_is_wrong(events, expected):
    assert verdict(events, "internal/pgdriver") == expected
