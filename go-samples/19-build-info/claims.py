"""What lesson 19's runs must show, judged by its notebook, by the test that the fix
matters and by the lab checker (see gopitfalls.claims).

Every run builds its program the way a release is built: :class:`ReleaseBuild` (the runs'
``build=``) commits the program's folder to a throwaway git repository, as two releases
(1.4.0, then 1.4.1, which adds ``discount.go`` and its bug), and builds one of them:

- ``"export"``: from ``git archive`` of the release tag, a folder without ``.git``, the way a
  Docker build stage sees a context whose ``.dockerignore`` lists ``.git``; a plain
  ``go build`` (the Dockerfile passes no ``-ldflags``);
- ``"repo"``: the package inside the checkout (``-buildvcs`` auto), with
  ``-ldflags "-X main.release=... -X main.buildTime=..."``; ``dirty=True`` first leaves an
  uncommitted edit in the checkout (a hotfix tried on the build machine).

The repository lives in the engine's cache and is removed once the binary is built, even
when the build fails. What git says about it (``git rev-parse`` of each release and of
HEAD, the build time passed) reaches the claims through the run's hook, :func:`production`,
which then plays production for one second: ten orders, one of them the bulk order of
gadgets that release 1.4.1 fails with a 500, then ``/version`` and ``/metrics``.
"""

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from gopitfalls import expectations as expect
from gopitfalls import traffic
from gopitfalls.build import build
from gopitfalls.claims import RunSpec, claim
from gopitfalls.toolchain import cache_root, find_go

SAMPLES = Path(__file__).resolve().parent.parent  # go-samples: go.mod, internal/serve
RELEASES = ("1.4.0", "1.4.1")
NEW_IN_1_4_1 = "discount.go"  # release 1.4.1 is release 1.4.0 plus this file
HOTFIX = ('{"widget": 10}', '{"widget": 10, "gadget": 5}')  # the uncommitted edit
BULK_ORDER = "/price?item=gadget&qty={qty}"
_LAST_BUILD: dict = {}  # what git said about the latest build of this process


def git(repo: Path, *args: str, text: bool = True):
    """git in ``repo``, with an identity of its own and no user or system config (CI has
    no global git config, and a learner's must not change the lesson)."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    cmd = ["git", "-c", "user.name=Release Bot", "-c", "user.email=release@shop.test",
           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args]
    out = subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True,
                         text=text, timeout=30).stdout
    return out.strip() if text else out


def make_repo(folder: Path, repo: Path) -> dict[str, str]:
    """The shop's repository: go.mod, internal/serve and the program as cmd/shop, committed
    as release 1.4.0 (without discount.go) and 1.4.1 (with it), each tagged. Returns each
    release's commit."""
    (repo / "internal" / "serve").mkdir(parents=True)
    shutil.copy(SAMPLES / "go.mod", repo / "go.mod")
    for f in (SAMPLES / "internal" / "serve").glob("*.go"):
        if not f.name.endswith("_test.go"):
            shutil.copy(f, repo / "internal" / "serve" / f.name)
    app = repo / "cmd" / "shop"
    app.mkdir(parents=True)
    sources = [f for f in sorted(Path(folder).glob("*.go")) if not f.name.endswith("_test.go")]
    git(repo, "init", "-q")
    for release in RELEASES:
        for f in sources:
            if f.name != NEW_IN_1_4_1 or release != RELEASES[0]:
                shutil.copy(f, app / f.name)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", f"release {release}")
        git(repo, "tag", f"v{release}")
    return {r: git(repo, "rev-parse", f"v{r}^{{commit}}") for r in RELEASES}


def _remove(root: Path) -> None:
    """Remove a throwaway folder, and lesson-19/ in the cache once it is empty."""
    shutil.rmtree(root, ignore_errors=True)
    try:
        root.parent.rmdir()
    except OSError:  # another build's folder is still there
        pass


class ReleaseBuild:
    """A ``build=`` for ``lesson.run``: the program's folder, released and built as the
    module docstring says. Its facts (``git``) are what the claims compare the program's
    reports with."""

    def __init__(self, release: str = "1.4.1", how: str = "repo", dirty: bool = False):
        assert release in RELEASES and how in ("repo", "export")
        self.release, self.how, self.dirty = release, how, dirty

    def __call__(self, folder: Path):
        # A stable place per program and kind of build: the engine keys its binary on the
        # source path, so each rebuild replaces the last instead of adding one.
        key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:10]
        root = cache_root() / "lesson-19" / (
            f"{key}-{self.how}-{self.release}" + ("-dirty" if self.dirty else ""))
        shutil.rmtree(root, ignore_errors=True)
        try:
            repo = root / "shop"
            repo.mkdir(parents=True)
            facts = {"release": self.release, "how": self.how, "dirty": self.dirty,
                     "revisions": make_repo(folder, repo), "build_time": None}
            if self.how == "export":
                export = root / "export"  # a build context without .git
                archive = git(repo, "archive", "--format=tar", f"v{self.release}", text=False)
                with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                    tar.extractall(export, filter="data")
                facts["command"] = (f"git archive v{self.release} | tar -x -C export && "
                                    "cd export && go build ./cmd/shop")
                binary = build(export / "cmd" / "shop")
            else:
                git(repo, "checkout", "-q", f"v{self.release}")
                if self.dirty:
                    discount = repo / "cmd" / "shop" / NEW_IN_1_4_1
                    text = discount.read_text() if discount.exists() else ""
                    if HOTFIX[0] in text:
                        discount.write_text(text.replace(*HOTFIX))
                    else:  # a program without the bug still gets an uncommitted edit
                        main = repo / "cmd" / "shop" / "main.go"
                        main.write_text(main.read_text() + "\n// hotfix in progress\n")
                facts["head"] = git(repo, "rev-parse", "HEAD")
                facts["status"] = git(repo, "status", "--porcelain")
                facts["build_time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                ldflags = f"-X main.release={self.release} -X main.buildTime={facts['build_time']}"
                facts["command"] = f'go build -ldflags "{ldflags}" ./cmd/shop'
                binary = build(repo / "cmd" / "shop", ldflags=ldflags)
        finally:
            _remove(root)
        _LAST_BUILD.clear()
        _LAST_BUILD.update(facts)
        return binary


def production(qty: int = 12):
    """A during_load hook: production traffic for a second (ten orders at 10/s; the sixth
    is a bulk order of ``qty`` gadgets), then /version and /metrics. It stores the git facts
    of the build (``git``), each order's status and body, and both answers in the run's
    data."""
    def hook(ctl):
        ctl.data["git"] = dict(_LAST_BUILD)

        def order(i):
            path = BULK_ORDER.format(qty=qty) if i == 5 else "/price?item=widget&qty=2"
            answer = traffic.call(ctl.url + path)
            return {"path": path, "status": answer.status, "body": answer.text}

        ctl.data["orders"] = traffic.paced(order, rate=10, seconds=1, threads=2)
        for route in ("version", "metrics"):
            answer = traffic.call(f"{ctl.url}/{route}")
            ctl.data[route] = {"status": answer.status, "body": answer.text}
    return hook


RUNS = {
    "broken": RunSpec("broken", overrides={"build": ReleaseBuild("1.4.1", "export"),
                                           "during_load": production()}),
    "broken_v140": RunSpec("broken", overrides={"build": ReleaseBuild("1.4.0", "export"),
                                                "during_load": production()}),
    "fixed": RunSpec("fixed", overrides={"build": ReleaseBuild("1.4.1", "repo"),
                                         "during_load": production()}),
    "fixed_dirty": RunSpec("fixed", overrides={"build": ReleaseBuild("1.4.1", "repo", True),
                                               "during_load": production()}),
}


# ---- reading what a run reported

def bulk_order(run) -> dict:
    """The bulk order's status and error id (None when it did not fail)."""
    found = next(o for o in run.data["orders"] if "gadget" in o["path"])
    m = re.search(r'"id":"(\w+)"', found["body"])
    return {"status": found["status"], "id": m.group(1) if m else None}


def version(run) -> dict:
    """/version's JSON ({} when it did not answer JSON)."""
    import json

    try:
        return json.loads(run.data["version"]["body"])
    except ValueError:
        return {}


def build_info_metric(run) -> dict | None:
    """The labels of the build_info sample on /metrics (Prometheus text), or None."""
    from prometheus_client.parser import text_string_to_metric_families

    if run.data["metrics"]["status"] != 200:
        return None
    for family in text_string_to_metric_families(run.data["metrics"]["body"]):
        for sample in family.samples:
            if sample.name == "build_info" and sample.value == 1:
                return dict(sample.labels)
    return None


def start_log(run) -> dict:
    """The key=value pairs of the program's first "starting" log line ({} if none)."""
    line = next((ln for ln in run.logs("stderr") if "starting" in ln), "")
    return dict(re.findall(r"(\w+)=(\S+)", line))


def error_log(run, error_id) -> str:
    """The log line of the error with that id ("" if none)."""
    found = [ln for ln in run.logs("stderr") if error_id and f"id={error_id}" in ln]
    return found[0] if found else ""


def everything_said(run) -> str:
    """All the program said: /version, /metrics and its logs."""
    return "\n".join((run.data["version"]["body"], run.data["metrics"]["body"],
                      *run.logs("stderr"), *run.logs("stdout")))


def report_rows(runs: dict) -> list[dict]:
    """One row per run: the failing order, and what each place says about the build."""
    rows = []
    for name, run in runs.items():
        order, metric, log = bulk_order(run), build_info_metric(run) or {}, start_log(run)
        rows.append({"run": name, "built": run.data["git"].get("how"),
                     "bulk order": f"{order['status']} {order['id'] or ''}",
                     "/version": run.data["version"]["body"].strip()[:90],
                     "build_info revision": metric.get("revision", "(no metric)")[:12],
                     "start log revision": log.get("revision", log.get("version", "?"))[:12],
                     "git rev-parse HEAD": run.data["git"].get(
                         "head", run.data["git"]["revisions"][run.data["git"]["release"]])[:12]})
    return rows


# ---- what Go stamps, by the way the binary is built

def stamped_by_build_method(folder: Path) -> list[dict]:
    """The fixed program of release 1.4.1 built three ways from one throwaway checkout, and
    what ``go version -m`` finds in each binary: the main module's version and vcs.*."""
    go = find_go()
    root = cache_root() / "lesson-19" / "build-methods"
    shutil.rmtree(root, ignore_errors=True)
    rows = []
    try:
        repo = root / "shop"
        repo.mkdir(parents=True)
        make_repo(folder, repo)
        export = root / "export"
        with tarfile.open(fileobj=io.BytesIO(
                git(repo, "archive", "--format=tar", "HEAD", text=False))) as tar:
            tar.extractall(export, filter="data")
        files = sorted(f.name for f in (repo / "cmd" / "shop").glob("*.go"))
        methods = [("go build ./cmd/shop (in the checkout)", repo, ["./cmd/shop"]),
                   ("go build " + " ".join(f"cmd/shop/{f}" for f in files) + " (a file list)",
                    repo, [f"cmd/shop/{f}" for f in files]),
                   ("go build ./cmd/shop (in a git archive export)", export, ["./cmd/shop"])]
        for i, (how, cwd, args) in enumerate(methods):
            out = root / f"shop{i}"
            # the engine's tags, so the standard library comes from the same build cache
            subprocess.run([str(go.binary), "build", "-tags=netgo,osusergo", "-o", str(out),
                            *args], cwd=cwd,
                           env=go.env(CGO_ENABLED="0"), check=True, capture_output=True,
                           timeout=300)
            info = subprocess.run([str(go.binary), "version", "-m", str(out)],
                                  env=go.env(), check=True, capture_output=True, text=True,
                                  timeout=60).stdout
            settings = dict(re.findall(r"^\s+build\s+(vcs[.\w]*)=(\S+)", info, re.M))
            main = re.search(r"^\s+mod\s+(\S+)\s+(\S+)", info, re.M)
            rows.append({"build": how, "main module version": main.group(2) if main else "-",
                         "vcs.revision": settings.get("vcs.revision", "(none)")[:12],
                         "vcs.modified": settings.get("vcs.modified", "(none)"),
                         "HEAD": git(repo, "rev-parse", "HEAD")[:12]})
    finally:
        _remove(root)
    return rows


# ---- the claims
# No thresholds here: every claim compares what the program reported with what git says,
# exactly. Measured 20 of 20 rounds passing (benchmarks/claims_repeat.py, docker), and the
# notebook on both backends; with the broken program built the fixed way (the test that
# the fix matters) all three "fixed" claims fail: /version has no revision.

@claim("broken")
def release_1_4_1_fails_a_bulk_order_that_1_4_0_served(broken, broken_v140):
    new, old = bulk_order(broken), bulk_order(broken_v140)
    logged = error_log(broken, new["id"])
    return [
        expect.holds(new["status"] == 500 and new["id"] is not None,
                     f"release 1.4.1 answered the bulk order of gadgets with {new['status']} "
                     f"and error id {new['id']}: the error a user reports"),
        expect.holds(old["status"] == 200,
                     f"release 1.4.0, built the same way, answered the same order with "
                     f"{old['status']}"),
        expect.holds(bool(logged), f"the log has the error's line: {logged.strip()[:100]}"),
    ]


@claim("broken")
def neither_build_says_which_commit_it_is(broken, broken_v140):
    commits = broken.data["git"]["revisions"]
    leaked = [r for run in (broken, broken_v140) for r in commits.values()
              if r[:7] in everything_said(run)]
    return [
        expect.holds(version(broken) == version(broken_v140),
                     f"both releases answer /version with the same {version(broken)}"),
        expect.holds(start_log(broken) == start_log(broken_v140),
                     f"both log the same start line: {start_log(broken)}"),
        expect.holds(not leaked,
                     f"neither commit ({', '.join(r[:12] for r in commits.values())}) appears "
                     "in /version, /metrics or any log line: which commit failed the order "
                     "cannot be told from production"),
    ]


@claim("fixed")
def version_names_the_exact_commit_and_build(fixed):
    git_facts, v = fixed.data["git"], version(fixed)
    head = git_facts.get("head") or "(not built in a checkout)"
    return [
        expect.given(head == git_facts["revisions"]["1.4.1"] and not git_facts.get("status"),
                     f"release 1.4.1 was built from a clean checkout at {head[:12]}"),
        expect.holds(v.get("revision") == head,
                     f"/version's revision is {v.get('revision')}; git rev-parse HEAD is "
                     f"{head}"),
        expect.holds(v.get("modified") is False, "/version says modified: false"),
        expect.holds(v.get("release") == "1.4.1" and v.get("build_time")
                     == git_facts["build_time"],
                     f"/version says release {v.get('release')} built at "
                     f"{v.get('build_time')}, the values -ldflags -X passed"),
    ]


@claim("fixed")
def the_metric_and_the_logs_say_the_same(fixed):
    git_facts = fixed.data["git"]
    head = git_facts.get("head") or "(not built in a checkout)"
    metric, log = build_info_metric(fixed) or {}, start_log(fixed)
    failed = bulk_order(fixed)
    logged = error_log(fixed, failed["id"])
    want = {"release": "1.4.1", "revision": head, "modified": "false",
            "build_time": git_facts["build_time"]}
    return [
        expect.holds({k: metric.get(k) for k in want} == want,
                     f"the build_info metric's labels say release 1.4.1, revision "
                     f"{metric.get('revision', '?')[:12]}…, modified false, build time "
                     f"{metric.get('build_time')}"),
        expect.holds({k: log.get(k) for k in want} == want,
                     "the start log line says the same"),
        expect.holds(failed["status"] == 500 and f"revision={head}" in logged,
                     f"the error {failed['id']}'s own log line names the commit "
                     f"{head[:12]}"),
    ]


@claim("fixed")
def a_dirty_build_says_it_is_not_its_commit(fixed_dirty):
    git_facts, v = fixed_dirty.data["git"], version(fixed_dirty)
    metric, log = build_info_metric(fixed_dirty) or {}, start_log(fixed_dirty)
    return [
        expect.given(bool(git_facts.get("status")),
                     f"built with an uncommitted edit: git status says "
                     f"{git_facts.get('status', '').strip()!r}"),
        expect.holds(v.get("revision") == git_facts["head"] and v.get("modified") is True,
                     f"/version says revision {str(v.get('revision'))[:12]}… with modified: "
                     f"{v.get('modified')}; git rev-parse HEAD is {git_facts['head'][:12]}…"),
        expect.holds(metric.get("modified") == "true" and log.get("modified") == "true",
                     "so do the build_info metric and the start log line"),
        expect.holds(bulk_order(fixed_dirty)["status"] == 200,
                     f"and it answered the bulk order with "
                     f"{bulk_order(fixed_dirty)['status']}, which the code of that commit "
                     "does not: the flag is the only sign"),
    ]
