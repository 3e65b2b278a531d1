"""What lesson 01's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

Two kinds of runs. Four bad starts per variant (scenario "bad-config" with one set of wrong
settings each): a ``during_load`` hook, ``probe``, asks /healthz, /config and /items once
the program listens and stores the answers in ``run.data["answers"]`` (empty when it never
listened). And a reload storm under load, with the race detector on: ``reload_storm`` pushes
a new MAX_ITEMS every 50 ms, then MAX_ITEMS=abc, and records the answers and /config after
it in the run's data.

The notebook's parallel ``go test`` runs are not runs of the engine; the notebook judges
them itself."""

import json
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from gopitfalls import expectations as expect
from gopitfalls.claims import RunSpec, claim

_SCENARIOS = tomllib.loads((Path(__file__).parent / "lesson.toml").read_text())["scenarios"]
GOOD_DB = _SCENARIOS["default"]["env"]["DATABASE_URL"]   # a well-formed DATABASE_URL
LOAD_S = _SCENARIOS["default"]["load"]["duration_s"]

BAD_CONFIGS = {   # name: (environment, the settings in it that are wrong)
    "DATABASE_URL unset": ({"DATABASE_URL": ""}, ["DATABASE_URL"]),
    "REQUEST_TIMEOUT=abc": ({"DATABASE_URL": GOOD_DB, "REQUEST_TIMEOUT": "abc"},
                            ["REQUEST_TIMEOUT"]),
    "MAX_ITEMS=abc": ({"DATABASE_URL": GOOD_DB, "MAX_ITEMS": "abc"}, ["MAX_ITEMS"]),
    "all three": ({"REQUEST_TIMEOUT": "abc", "MAX_ITEMS": "abc"},
                  ["DATABASE_URL", "REQUEST_TIMEOUT", "MAX_ITEMS"]),
}
STARTS = {"db_unset": "DATABASE_URL unset", "timeout_abc": "REQUEST_TIMEOUT=abc",
          "max_items_abc": "MAX_ITEMS=abc", "all_three": "all three"}  # run name suffix: name
PATHS = ("/healthz", "/config", "/items?q=tea")


def http(url, body=None, timeout=3.0):
    """(status, body) of one GET (or POST when body is given); (None, error) if no answer."""
    req = urllib.request.Request(url, data=body.encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode().strip()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode().strip()
    except OSError as err:
        return None, type(err).__name__


def usable_search(status, body):
    """A search is usable if it answered 200 with at least one item."""
    return status == 200 and len(json.loads(body)["items"]) > 0


def probe():
    """A during_load hook: ask the three questions once the program listens."""
    def ask(ctl):
        ctl.data["answers"] = {path: http(ctl.url + path) for path in PATHS}
    return ask


def answers(run):
    """{path: (status, body)} of a bad start; empty when the program never listened."""
    return run.data.get("answers", {})


def reload_storm(load_s=LOAD_S):
    """during_load: alternate MAX_ITEMS pushes every 50 ms while the load runs (bounded)."""
    def during_load(ctl):
        record = ctl.data
        start = ctl.now()
        end = start + load_s
        record["pushes"] = []
        while ctl.now() < end and len(record["pushes"]) < 200:
            value = (5, 10)[len(record["pushes"]) % 2]
            record["pushes"].append(http(ctl.url + "/admin/reload", f"MAX_ITEMS={value}")[0])
            next_push = start + 0.05 * len(record["pushes"])   # on a fixed schedule
            time.sleep(max(0.0, next_push - ctl.now()))
        record["bad push"] = http(ctl.url + "/admin/reload", "MAX_ITEMS=abc")
        record["config after"] = http(ctl.url + "/config")[1]
    return during_load


RUNS = {f"{variant}_{key}": RunSpec(variant, "bad-config",
                                    overrides={"env": BAD_CONFIGS[name][0], "during_load": probe()})
        for variant in ("broken", "fixed") for key, name in STARTS.items()}
RUNS |= {"broken_race": RunSpec("broken", overrides={"race": True,
                                                     "during_load": reload_storm()}),
         "fixed_race": RunSpec("fixed", overrides={"race": True, "during_load": reload_storm()})}


def race_reports(run):
    return sum("WARNING: DATA RACE" in line for line in run.logs())


@claim("broken")
def bad_settings_start_healthy_and_unusable(broken_db_unset, broken_timeout_abc,
                                            broken_max_items_abc, broken_all_three):
    starts = {STARTS["db_unset"]: broken_db_unset, STARTS["timeout_abc"]: broken_timeout_abc,
              STARTS["max_items_abc"]: broken_max_items_abc, STARTS["all_three"]: broken_all_three}
    survived = [expect.survived(run) for run in starts.values()]
    unusable = [name for name, run in starts.items()
                if not usable_search(*answers(run)["/items?q=tea"])]
    healthy = [name for name, run in starts.items() if answers(run)["/healthz"][0] == 200]
    return [*survived,
            expect.at_least(len(healthy), len(BAD_CONFIGS),
                            "starts with bad settings that answered /healthz with 200"),
            expect.at_least(len(unusable), len(BAD_CONFIGS),
                            "starts with bad settings whose search was unusable (error or empty "
                            "page)")]


@claim("broken")
def a_reload_races_with_requests_and_accepts_garbage(broken_race):
    rec = broken_race.data
    accepted = rec["bad push"][0] == 200
    page_size = json.loads(rec["config after"])["max_items"]
    return [expect.at_least(rec["pushes"].count(200), 10, "reloads accepted during the load"),
            expect.at_least(race_reports(broken_race), 1,
                            "data races reported by the broken service's -race build"),
            expect.holds(accepted and page_size == 0,
                         f"broken: the push of MAX_ITEMS=abc was accepted and the page size "
                         f"is now 0 (push answered {rec['bad push']}, page size {page_size})")]


@claim("fixed")
def the_fix_refuses_to_start_with_bad_settings_and_names_them(fixed_db_unset, fixed_timeout_abc,
                                                              fixed_max_items_abc,
                                                              fixed_all_three):
    starts = {STARTS["db_unset"]: fixed_db_unset, STARTS["timeout_abc"]: fixed_timeout_abc,
              STARTS["max_items_abc"]: fixed_max_items_abc, STARTS["all_three"]: fixed_all_three}
    evidence = []
    for name, run in starts.items():
        evidence.append(expect.exited_with(run, 2))
        evidence.append(expect.at_most(len(answers(run)), 0,
                                       f"{name}: requests answered before it exited"))
        lines = run.logs()
        evidence.append(expect.at_most(len(lines), 1, f"{name}: lines on stderr"))
        named = [key for key in BAD_CONFIGS[name][1] if lines and key in lines[0]]
        evidence.append(expect.at_least(len(named), len(BAD_CONFIGS[name][1]),
                                        f"{name}: wrong settings named in that line"))
    return evidence


@claim("fixed")
def the_fix_reloads_without_a_race_and_refuses_garbage(fixed_race):
    rec = fixed_race.data
    page_size = json.loads(rec["config after"])["max_items"]
    return [expect.at_least(rec["pushes"].count(200), 10, "reloads the fixed service accepted"),
            expect.at_most(race_reports(fixed_race), 0,
                           "data races in the fixed service's -race build"),
            expect.holds(rec["bad push"][0] == 400 and page_size in (5, 10),
                         f"fixed: the push of MAX_ITEMS=abc was refused with 400 and the page "
                         f"size stayed 5 or 10 (push answered {rec['bad push']}, page size "
                         f"{page_size})")]
