"""The checks of lab 19 (see gopitfalls.labs), judged on the learner's program.

Every run builds the learner's program the way a release is built (:class:`Release`, the
runs' ``build=``): its .go files are committed to a throwaway git repository (module
``rates``, the package in cmd/rates) and built inside that checkout with
``go build -ldflags "-X main.release=3.2.N"``, N new for every build; the ``dirty`` run
first leaves an uncommitted edit in the checkout. The repository is removed once the binary
is built. What git said (HEAD, the release passed) reaches the checks through the run's hook,
:func:`ask`, which then asks the program /rates and /version. No thresholds: every check
compares what the program said with what git and the build said, exactly.

This builder is the lab's own (lesson 19 has a richer one, with two releases and an export
without .git); the engine gives ``build=`` a folder and takes back a Binary."""

import hashlib
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.build import build
from gopitfalls.claims import RunSpec
from gopitfalls.labs import check
from gopitfalls.toolchain import cache_root

LABS = Path(__file__).resolve().parent.parent  # labs/: its go.mod names the Go version
_LAST_BUILD: dict = {}  # what git said about the latest build of this process


def git(repo: Path, *args: str) -> str:
    """git in ``repo``, with an identity of its own and no user or system config."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    cmd = ["git", "-c", "user.name=Release Bot", "-c", "user.email=release@rates.test",
           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def go_version() -> str:
    line = next(ln for ln in (LABS / "go.mod").read_text().splitlines() if ln.startswith("go "))
    return line.split()[1]


class Release:
    """A ``build=`` for the lab's runs: the program committed to a throwaway repository and
    built inside the checkout with a release passed by -ldflags -X."""

    def __init__(self, dirty: bool = False):
        self.dirty = dirty

    def __call__(self, folder: Path):
        # One place per program and kind of build: the engine keys its binary on the path.
        key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:10]
        root = cache_root() / "lab-19" / (key + ("-dirty" if self.dirty else ""))
        shutil.rmtree(root, ignore_errors=True)
        try:
            app = root / "rates" / "cmd" / "rates"
            app.mkdir(parents=True)
            repo = root / "rates"
            (repo / "go.mod").write_text(f"module rates\n\ngo {go_version()}\n")
            for f in sorted(Path(folder).glob("*.go")):
                if not f.name.endswith("_test.go"):
                    shutil.copy(f, app / f.name)
            git(repo, "init", "-q")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "release")
            if self.dirty:  # a hotfix tried on the build machine, never committed
                main = app / "main.go"
                main.write_text(main.read_text() + "\n// hotfix in progress\n")
            release = f"3.2.{random.randrange(1000, 10000)}"
            facts = {"head": git(repo, "rev-parse", "HEAD"), "release": release,
                     "status": git(repo, "status", "--porcelain"), "dirty": self.dirty}
            binary = build(app, ldflags=f"-X main.release={release}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        _LAST_BUILD.clear()
        _LAST_BUILD.update(facts)
        return binary


def ask(ctl):
    """The run's hook: what git said about the build, then /rates and /version."""
    ctl.data["git"] = dict(_LAST_BUILD)
    for route in ("rates?base=EUR", "version"):
        answer = traffic.call(f"{ctl.url}/{route}")
        ctl.data[route.split("?")[0]] = {"status": answer.status, "body": answer.text}


RUNS = {"clean": RunSpec("lab", overrides={"build": Release(), "during_load": ask}),
        "dirty": RunSpec("lab", overrides={"build": Release(dirty=True), "during_load": ask})}


def version(run) -> dict:
    """/version's JSON object ({} when it did not answer one)."""
    try:
        said = json.loads(run.data.get("version", {}).get("body") or "")
    except ValueError:
        return {}
    return said if isinstance(said, dict) else {}


@check("/version does not name the commit this binary was built from, so a wrong rate "
       "reported from production cannot be traced to its code. Where could the binary learn "
       "its commit?",
       "The go command stamps it in: built inside a git checkout (go build ./cmd/rates, not "
       "a list of files), every binary carries vcs.revision and vcs.modified. Running git at "
       "startup does not work: production has no checkout.",
       "info, ok := debug.ReadBuildInfo() (runtime/debug); loop over info.Settings and take "
       "the Value of the Key \"vcs.revision\"; answer it as \"revision\".")
def version_names_the_commit(clean):
    alive = expect.survived(clean)  # a program that died was asked nothing
    facts, said = clean.data["git"], version(clean)
    return [
        alive,
        expect.holds(clean.data["rates"]["status"] == 200,
                     "the service still answers /rates?base=EUR with 200"),
        expect.holds(said.get("revision") == facts["head"],
                     f"/version's revision is {said.get('revision')!r}; the build's "
                     f"git rev-parse HEAD is {facts['head']} (/version answered "
                     f"{clean.data['version']['body'].strip()[:80]!r})"),
    ]


@check("/version's release is not the one the build passed in. A number typed into the "
       "source is wrong as soon as someone forgets to bump it.",
       "A package-level string variable (not a const) can be set at link time: go build "
       "-ldflags \"-X main.release=3.2.0\". The checker passes a new value on every build.",
       "Declare var release = \"dev\" in package main, and answer it as \"release\".")
def release_is_the_one_the_build_passed(clean):
    facts, said = clean.data["git"], version(clean)
    return [expect.holds(said.get("release") == facts["release"],
                         f"/version's release is {said.get('release')!r}; the build passed "
                         f"-X main.release={facts['release']}")]


@check("/version does not tell a clean build from one with uncommitted changes: the commit "
       "alone then lies about the code that runs.",
       "The go command stamps vcs.modified=true when the checkout had uncommitted changes; "
       "report it as a JSON boolean, \"modified\": true or false.",
       "In the same loop over info.Settings: case \"vcs.modified\": modified = s.Value == "
       "\"true\".")
def a_dirty_build_says_so(clean, dirty):
    facts = dirty.data["git"]
    said_clean, said_dirty = version(clean), version(dirty)
    return [
        expect.given(bool(facts["status"]), "the dirty build's checkout had an uncommitted "
                     f"edit (git status: {facts['status']!r})"),
        expect.holds(said_clean.get("modified") is False,
                     f"the clean build says \"modified\": {said_clean.get('modified')!r} "
                     "(want false)"),
        expect.holds(said_dirty.get("modified") is True and said_dirty.get("revision") ==
                     facts["head"],
                     f"the dirty build says \"modified\": {said_dirty.get('modified')!r} (want "
                     f"true), revision {said_dirty.get('revision')!r} (HEAD {facts['head']})"),
    ]
