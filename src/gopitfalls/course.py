"""Layer 10: the lesson catalog, the one source of truth for slugs, titles, variants and
default parameters, read by the notebooks, the CLI and the tests.

A notebook does ``lesson = gopitfalls.lesson("02-http-client-timeouts")`` and then
``lesson.run("broken")``: every knob has its default here and can be overridden.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import os
import shutil
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import replay
from .backends import Limits
from .claims import Judgement, RunSpec, judge
from .codeview import code_html, diff_html
from .datastores import Databases, DatabaseSpec, acquire
from .experiment import Progress, Run, run
from .gotest import TestReport, go_test
from .load import Load
from .plots import LivePlot, compare, in_notebook
from .services import LogSink, Upstream

VARIANTS = ("broken", "fixed")
# What a course is made of; a wheel carries these (setup.py) and a working copy gets them.
COURSE_DIRS = ("go-samples", "notebooks", "labs", "solutions")


class CourseNotFound(FileNotFoundError):
    """No course files where the engine looked; the message says what to do."""


# A working copy laid out by ``gopitfalls course`` carries this file (the version that laid it
# out), so the engine and the learner can tell it from any other folder.
MARKER = ".gopitfalls-course"


def is_course(path: Path) -> bool:
    return (path / "go-samples" / "go.mod").is_file()


def checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install), if it is one."""
    path = Path(__file__).resolve().parents[2]
    return path if is_course(path) and (path / "src" / "gopitfalls").is_dir() else None


def bundled_course() -> Path | None:
    """The pristine course a wheel carries (see setup.py), read-only in site-packages."""
    path = Path(__file__).resolve().parent / "course_files"
    return path if is_course(path) else None


def default_working_copy() -> Path:
    """Where ``gopitfalls lab`` lays out the learner's own copy when not in a checkout."""
    return Path(os.environ.get("GOPITFALLS_COURSE_DIR") or Path.home() / "gopitfalls-course")


def course_root() -> Path:
    """The folder holding go-samples/ and notebooks/, looked for in this order:
    ``GOPITFALLS_HOME``; the current folder or a parent (a checkout or a working copy the
    learner is in, as a notebook kernel is); the checkout this package was installed from;
    the learner's default working copy; the course the installed package carries."""
    env = os.environ.get("GOPITFALLS_HOME")
    if env:
        if is_course(Path(env)):
            return Path(env)
        raise CourseNotFound(
            f"GOPITFALLS_HOME={env} holds no course (no go-samples/go.mod in it). Lay one out "
            f"there with `gopitfalls course {env}`, or unset GOPITFALLS_HOME.")
    here = Path.cwd()
    for path in (here, *here.parents, checkout_root(), default_working_copy(),
                 bundled_course()):
        if path is not None and is_course(path):
            return path
    raise CourseNotFound(
        "cannot find the course files (go-samples/, notebooks/): this install carries none and "
        "no folder here holds them. Reinstall from a wheel or checkout of gopitfalls (`pip "
        "install gopitfalls` bundles the course), run from a checkout, or set GOPITFALLS_HOME "
        "to a course folder.")


@dataclass(frozen=True)
class LayoutReport:
    """What :func:`lay_out_course` did: files copied, and the learner's files it kept."""

    root: Path
    copied: list[str]
    kept: list[str]


def lay_out_course(dest: Path, source: Path | None = None) -> LayoutReport:
    """Copy the course into ``dest``, a folder the learner owns and may edit.

    Files already there are never overwritten (they may hold the learner's work): only the
    missing ones are copied, so running it again after an upgrade adds new lessons and keeps
    every edit. ``kept`` lists the learner's files that differ from this version's."""
    source = source or bundled_course() or checkout_root()
    if source is None:
        raise CourseNotFound("this install carries no course to lay out; reinstall gopitfalls "
                             "from a wheel or a checkout")
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise CourseNotFound(f"{dest} is a file, not a folder; choose another place")
    if dest.is_dir() and any(dest.iterdir()) and not (is_course(dest) or (dest / MARKER).exists()):
        raise CourseNotFound(f"{dest} already holds other files; choose an empty or new folder "
                             "(the course never mixes itself into a folder of yours)")
    copied, kept = [], []
    for name in COURSE_DIRS:
        top = source / name
        if not top.is_dir():
            continue
        for file in sorted(p for p in top.rglob("*") if p.is_file()):
            if "__pycache__" in file.parts or ".ipynb_checkpoints" in file.parts \
                    or ".backup-" in file.name:  # a learner's backup (gopitfalls reset)
                continue
            rel = file.relative_to(source)
            target = dest / rel
            if target.exists():
                if target.read_bytes() != file.read_bytes():
                    kept.append(str(rel))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
            copied.append(str(rel))
    from . import __version__

    (dest / MARKER).write_text(json.dumps({"version": __version__}) + "\n")
    _catalog.cache_clear()
    return LayoutReport(dest, copied, kept)


@dataclass(frozen=True)
class Scenario:
    """Default arguments of :func:`gopitfalls.experiment.run` for one trigger."""

    load: Load | None = None
    upstream: Upstream | None = None
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)
    baseline_s: float = 0.5
    cooldown_s: float = 1.0
    description: str = ""
    metrics: tuple[str, ...] = ()  # what its live plot shows, if not the lesson's
    # Server settings laid over the lesson's [databases] ({"postgres": {...}}).
    databases: dict = field(default_factory=dict)
    log_sink: LogSink | None = None  # the slow log collector the program writes to
    # False where a claim needs the full run (lesson.toml ``small = false``): small mode
    # leaves the scenario as it is.
    small: bool = True


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    chapter: int
    pitfall: str
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    # Programs besides the variants (lesson.toml's [programs]): name -> folder in the lesson.
    programs: dict[str, str] = field(default_factory=dict)
    # What its runs' live plots and comparisons show (lesson.toml's ``metrics``).
    metrics: tuple[str, ...] = ()
    # The servers its programs need (lesson.toml's ``[databases]``), or None.
    database_spec: DatabaseSpec | None = None

    @property
    def number(self) -> str:
        return self.slug.split("-", 1)[0]

    def program_dir(self, name: str) -> Path:
        """The folder of one of the lesson's Go programs: a variant (``"broken"``,
        ``"fixed"``) or a program its lesson.toml declares under ``[programs]``."""
        if name in VARIANTS:
            folder = name
        elif name in self.programs:
            folder = self.programs[name]
        else:
            raise ValueError(f"{self.slug} has no variant or program {name!r}; it has "
                             f"{', '.join((*VARIANTS, *self.programs))}")
        return course_root() / "go-samples" / self.slug / folder

    @property
    def notebook(self) -> Path:
        return course_root() / "notebooks" / f"{self.slug}.ipynb"

    def scenario(self, name: str = "default") -> Scenario:
        try:
            return self.scenarios[name]
        except KeyError:
            raise KeyError(f"{self.slug} has no scenario {name!r}; it has "
                           f"{', '.join(self.scenarios)}") from None

    # ---- the lesson's runs and claims (go-samples/NN-slug/claims.py, when it has one)
    @property
    def claims(self):
        """The lesson's claims module (see :mod:`gopitfalls.claims`), or None."""
        path = course_root() / "go-samples" / self.slug / "claims.py"
        return content_module(str(path), path.stat().st_mtime_ns) if path.exists() else None

    @property
    def runs(self) -> dict[str, RunSpec]:
        """The named runs its claims judge (``RUNS`` in claims.py)."""
        return dict(getattr(self.claims, "RUNS", {}))

    def check(self, stage: str, **runs: Run) -> Judgement:
        """Judge the lesson's claims of ``stage`` ("broken" or "fixed") that these runs, by
        name, are enough for; raises :class:`~gopitfalls.expectations.ExpectationFailed`
        if one fails. (The test that the fix matters and the lab checker judge them all.)"""
        if self.claims is None:
            raise ValueError(f"{self.slug} has no claims.py next to its programs")
        judgement = judge(self.claims, stage, runs, all_claims=False)
        _record_judged(self.slug, judgement)
        return judgement.raise_if_failed()

    def databases_of(self, scenario: str = "default") -> DatabaseSpec | None:
        """The servers a run of this scenario needs: the lesson's, with its settings."""
        if self.database_spec is None:
            return None
        return self.database_spec.with_settings(self.scenario(scenario).databases)

    def databases(self, scenario: str = "default") -> Databases:
        """The lesson's running servers (``.postgres``, ``.redis``), to look at outside a
        run: the same ones its runs use."""
        spec = self.databases_of(scenario)
        if spec is None:
            raise ValueError(f"{self.slug} declares no [databases] in its lesson.toml")
        return acquire(spec)

    def metrics_of(self, scenario: str = "default") -> list[str]:
        """The metrics a run of this scenario plots: its own, or the lesson's."""
        return list(self.scenario(scenario).metrics or self.metrics)

    def run(self, name: str, scenario: str | None = None, *, program: Path | None = None,
            backend: str | None = None, progress: Progress | str | None = "live",
            **overrides) -> Run:
        """Run a named run of the lesson's claims (``"broken_big"``), or a variant under a
        scenario (default: "default"). ``program`` runs another folder in the variant's
        place: a learner's program, or the broken one for the test that the fix matters.
        Overrides: ``rate=``, ``duration_s=``, ``timeout_s=``, ``concurrency=`` (load),
        ``memory_mb=``, ``nofile=`` (limits), or any :func:`~gopitfalls.experiment.run`
        argument. In a notebook, a live plot of the scenario's metrics shows the run as it
        happens (``progress="live"``); ``progress=None`` turns it off. ``build=fn`` turns
        the program's folder into the :class:`~gopitfalls.build.Binary` to run (a build
        with flags or from a copy of its own; lesson 19 builds in a throwaway git
        repository); it gets ``program`` too, so the broken or a learner's program is
        built the same way. ``GOPITFALLS_RECORD`` saves the run, ``GOPITFALLS_REPLAY``
        returns a saved one instead, building and starting nothing (:mod:`.replay`)."""
        spec = self.runs.get(name) if scenario is None else None
        if spec is not None:
            env = {**spec.overrides.get("env", {}), **overrides.get("env", {})}
            variant, scenario = spec.variant, spec.scenario
            overrides = {**spec.overrides, **overrides, **({"env": env} if env else {})}
        else:
            variant, scenario = name, scenario or "default"
        request = {"variant": variant, "scenario": scenario, "overrides": dict(overrides),
                   "program": Path(program).name if program else None, "backend": backend}
        if progress == "live":
            metrics = self.metrics_of(scenario)
            progress = LivePlot(metrics, f"{name}: live") if metrics and in_notebook() else None
        saved = replay.saved(self.slug, "run", name, request)  # GOPITFALLS_REPLAY: no Go
        if saved is not None:
            if progress:
                progress(saved, 1.0)  # the live plot, drawn once from the saved series
            return saved
        sc = self.scenario(scenario)
        load_fields = {k: overrides.pop(k) for k in list(overrides)
                       if sc.load is not None and k in Load.__dataclass_fields__}
        limit_fields = {k: overrides.pop(k) for k in list(overrides)
                        if k in Limits.__dataclass_fields__}
        kwargs = dict(
            load=replace(sc.load, **load_fields) if sc.load else None,
            upstream=sc.upstream, limits=replace(sc.limits, **limit_fields), env=dict(sc.env),
            log_sink=sc.log_sink,
            baseline_s=sc.baseline_s, cooldown_s=sc.cooldown_s,
            databases=self.databases_of(scenario),
        )
        if "env" in overrides:  # added to the scenario's environment, not replacing it
            kwargs["env"].update(overrides.pop("env"))
        builder = overrides.pop("build", None)
        kwargs.update(overrides)
        folder = Path(program) if program else self.program_dir(variant)
        result = run(builder(folder) if builder else folder, label=f"{self.slug}/{variant}",
                     backend=backend, progress=progress, **kwargs)
        result.params["scenario"] = scenario
        replay.record(self.slug, "run", name, request, result)  # GOPITFALLS_RECORD
        return result

    def remember(self, name: str, compute):
        """``compute()``, for what a notebook measures besides ``run`` and ``go_test`` (a
        program run with ``gopitfalls.run``, a table of builds): saved with the lesson's runs
        when recording, and given back from them, without calling ``compute``, when
        replaying (see :mod:`gopitfalls.replay`). Its result is a Run or JSON data."""
        saved = replay.saved(self.slug, "value", name, {})  # GOPITFALLS_REPLAY
        if saved is not None:
            return saved
        result = compute()
        replay.record(self.slug, "value", name, {}, result)  # GOPITFALLS_RECORD
        return result

    def compare(self, broken: Run, fixed: Run, metrics: list[str] | None = None,
                title: str | None = None):
        """Broken and fixed on the same axes, aligned on the start of load (default: the
        metrics of the broken run's scenario)."""
        scenario = broken.params.get("scenario", "default")
        return compare(broken, fixed, metrics or self.metrics_of(scenario),
                       title or f"{self.title}: broken vs fixed")

    def go_test(self, program: str, run: str | None = None, **options) -> TestReport:
        """Run the Go tests of one of the lesson's programs (``run`` selects tests, as
        ``go test -run``); options: ``count``, ``parallel``, ``race``, ``tags``. A lesson
        with databases gives its tests the servers its runs use (``GOPITFALLS_PG_URL``,
        ``GOPITFALLS_REDIS_ADDR``)."""
        request = {"program": program, "run": run, **options}
        saved = replay.saved(self.slug, "go_test", program, request)  # GOPITFALLS_REPLAY
        if saved is not None:
            return saved
        if self.database_spec is not None:
            dbs = self.databases()
            options["env"] = {**({"GOPITFALLS_PG_URL": dbs.postgres.dsn} if dbs.postgres else {}),
                              **({"GOPITFALLS_REDIS_ADDR": dbs.redis.addr} if dbs.redis else {}),
                              **options.get("env", {})}
        report = go_test(self.program_dir(program), run, **options)
        replay.record(self.slug, "go_test", program, request, report)  # GOPITFALLS_RECORD
        return report

    # ---- showing the code
    def source(self, variant: str, file: str = "main.go") -> str:
        return (self.program_dir(variant) / file).read_text()

    def show_source(self, variant: str, file: str = "main.go", highlight: tuple[str, ...] = (),
                    start: str | None = None, end: str | None = None):
        """The Go file, lines containing any of ``highlight`` marked; optionally only the part
        from the first line containing ``start`` to the next containing ``end``."""
        lines = self.source(variant, file).splitlines()
        first, last = 0, len(lines)
        if start:
            first = next(i for i, ln in enumerate(lines) if start in ln)
        if end:
            last = next(i for i, ln in enumerate(lines[first + 1:], first + 1) if end in ln) + 1
        marked = {i + 1 for i in range(first, last) if any(h in lines[i] for h in highlight)}
        return code_html(lines[first:last], first + 1, marked,
                          f"go-samples/{self.slug}/{variant}/{file}")

    def diff(self, file: str = "main.go", match: str | None = None, context: int = 2):
        """The changes from broken to fixed, as hunks; with ``match``, only the changes
        whose changed lines mention it (so a notebook can show one fix step)."""
        a = self.source("broken", file).splitlines()
        b = self.source("fixed", file).splitlines()
        return diff_html([ln for hunk in diff_hunks(a, b, file, match, context) for ln in hunk])


def diff_hunks(a: list[str], b: list[str], file: str, match: str | None = None,
               context: int = 2) -> list[list[str]]:
    """Unified-diff hunks from broken lines ``a`` to fixed lines ``b``. A change made only
    of comments is never a step of a fix, so ``match`` looks at code lines alone. Selected
    changes separated by at most 2 * ``context`` unchanged lines share one hunk."""
    ops = difflib.SequenceMatcher(None, a, b).get_opcodes()
    groups: list[list[tuple[int, int, int, int, int]]] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            continue
        code = [ln for ln in a[i1:i2] + b[j1:j2] if not ln.strip().startswith("//")]
        if match and not any(match in ln for ln in code):
            continue
        last = groups[-1][-1] if groups else None
        if last and last[0] == index - 2 and j1 - last[4] <= 2 * context:
            groups[-1].append((index, i1, i2, j1, j2))  # only a short equal run between
        else:
            groups.append([(index, i1, i2, j1, j2)])
    hunks = []
    for group in groups:
        _, i1, _, j1, _ = group[0]
        # Context comes from the fixed file: a neighbouring change then shows in its final
        # form rather than as stale broken code.
        lines = [f"@@ broken/{file}:{i1 + 1} → fixed/{file}:{j1 + 1} @@",
                 *(f" {ln}" for ln in b[max(0, j1 - context):j1])]
        for k, (_, i1, i2, j1, j2) in enumerate(group):
            lines += [f"-{ln}" for ln in a[i1:i2]] + [f"+{ln}" for ln in b[j1:j2]]
            upto = group[k + 1][3] if k + 1 < len(group) else j2 + context
            lines += [f" {ln}" for ln in b[j2:upto]]
        hunks.append(lines)
    return hunks


# Small mode (GOPITFALLS_SMALL=1, set by binder/start): a lesson's runs are shortened where a
# CPU is slow: the baseline and the load scaled by SMALL_SCALE, never below their floor (nor
# lengthened to it). The cooldown stays: it is the time a claim gives the program to let go
# of what it held, which a slow CPU makes longer, not shorter. Every lesson notebook's claims
# hold in small mode (benchmarks/notebooks_in_2gb.py --small ran them all); a scenario whose
# claim needs the full load says ``small = false`` in its lesson.toml.
# Labs are not shortened: a check's verdict must be the one CI proved on the full run.
SMALL_ENV = "GOPITFALLS_SMALL"
SMALL_SCALE = 0.6
SMALL_FLOORS_S = {"baseline_s": 0.3, "duration_s": 1.5}   # load: duration_s


def small_scale() -> float | None:
    """The scale of small mode when it is on (``GOPITFALLS_SMALL`` set and not 0), else
    None."""
    return SMALL_SCALE if os.environ.get(SMALL_ENV, "0") not in ("", "0") else None


def shrink(scenario: Scenario, scale: float | None) -> Scenario:
    """The scenario with its baseline and load duration scaled by ``scale``, each kept at or
    above its floor in SMALL_FLOORS_S (or its own length, when that is shorter); as it is
    without a scale or where it says ``small = false``."""
    if scale is None or not scenario.small:
        return scenario

    def scaled(name: str, seconds: float) -> float:
        floor = min(seconds, SMALL_FLOORS_S[name])
        return round(max(seconds * scale, floor), 3)

    load = scenario.load
    if load is not None:
        load = replace(load, duration_s=scaled("duration_s", load.duration_s))
    return replace(scenario, load=load, baseline_s=scaled("baseline_s", scenario.baseline_s))


@functools.cache
def _say_small_mode(scale: float) -> None:
    floors = ", ".join(f"{name} {s:g} s" for name, s in SMALL_FLOORS_S.items())
    print(f"Small mode ({SMALL_ENV}=1): each run's baseline and load take {scale:g}x their "
          f"time (floors: {floors}); durations in the text are the full ones.")


def parse_scenario(name: str, data: dict, where: Path) -> Scenario:
    try:
        return Scenario(
            load=Load(**data["load"]) if "load" in data else None,
            upstream=Upstream(**data["upstream"]) if "upstream" in data else None,
            limits=Limits(**data.get("limits", {})),
            env={k: str(v) for k, v in data.get("env", {}).items()},
            baseline_s=float(data.get("baseline_s", 0.5)),
            cooldown_s=float(data.get("cooldown_s", 1.0)),
            description=data.get("description", ""),
            metrics=tuple(data.get("metrics", ())),
            databases=dict(data.get("databases", {})),
            log_sink=LogSink(**data["log_sink"]) if "log_sink" in data else None,
            small=bool(data.get("small", True)),
        )
    except TypeError as exc:  # an unknown key: name the file and the scenario
        raise ValueError(f"{where}: scenario {name!r}: {exc}") from None


def parse_database_spec(data: dict | None, where: Path) -> DatabaseSpec | None:
    """lesson.toml's ``[databases]``: ``postgres = {settings}``, ``redis = {settings}``,
    ``seed = "seed.sql"`` (a file next to it)."""
    if not data:
        return None
    unknown = set(data) - {"postgres", "redis", "seed"}
    if unknown:
        raise ValueError(f"{where}: [databases] has {', '.join(sorted(unknown))}; it takes "
                         "postgres, redis and seed")
    seed = ""
    if "seed" in data:
        seed_path = where.parent / data["seed"]
        if not seed_path.is_file():
            raise ValueError(f"{where}: [databases] seed {data['seed']!r}: no such file "
                             f"{seed_path}")
        seed = seed_path.read_text()
    return DatabaseSpec(postgres=data.get("postgres"), redis=data.get("redis"), seed=seed)


def _record_judged(slug: str, judgement: Judgement) -> None:
    """Append the judged claims' names to $GOPITFALLS_JUDGED_LOG, when the test run that
    executes the notebooks sets it: it checks that each notebook judges all its claims."""
    path = os.environ.get("GOPITFALLS_JUDGED_LOG")
    if path:
        with open(path, "a") as log:
            for verdict in judgement.verdicts:
                log.write(json.dumps({"lesson": slug, "claim": verdict.claim}) + "\n")


@functools.lru_cache(maxsize=64)
def content_module(path: str, mtime_ns: int, prefix: str = "gopitfalls_claims_"):
    """Load a lesson's claims.py (or a lab's checks.py) by path: it is course content, not a
    package module; reloaded when the file changes."""
    name = prefix + Path(path).parent.name.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_code(path: Path) -> str:
    """The Python of a notebook's code cells, without IPython magics and shell lines."""
    cells = json.loads(Path(path).read_text())["cells"]
    return "\n".join("\n".join(line for line in "".join(c["source"]).splitlines()
                               if not line.lstrip().startswith(("%", "!")))
                     for c in cells if c["cell_type"] == "code")


def load_catalog(root: Path | None = None) -> dict[str, Lesson]:
    """Read every ``go-samples/NN-slug/lesson.toml``: each lesson's metadata lives next to
    its programs, so adding a lesson never touches the engine."""
    scale = small_scale()
    if scale is not None:
        _say_small_mode(scale)
    return dict(_catalog((root or course_root()).resolve(), scale))


@functools.lru_cache(maxsize=8)
def _catalog(root: Path, small: float | None = None) -> dict[str, Lesson]:
    """The lessons under ``root``; with ``small`` (a scale), their scenarios shrunk."""
    lessons = {}
    for path in sorted((root / "go-samples").glob("*/lesson.toml")):
        data = tomllib.loads(path.read_text())
        slug = path.parent.name
        lessons[slug] = Lesson(
            slug=slug, title=data["title"], chapter=int(data["chapter"]),
            pitfall=" ".join(data["pitfall"].split()),
            scenarios={name: shrink(parse_scenario(name, sc, path), small)
                       for name, sc in data.get("scenarios", {}).items()},
            programs={name: str(folder) for name, folder in data.get("programs", {}).items()},
            metrics=tuple(data.get("metrics", ())),
            database_spec=parse_database_spec(data.get("databases"), path),
        )
        for name, sc in lessons[slug].scenarios.items():
            if sc.databases and lessons[slug].database_spec is None:
                raise ValueError(f"{path}: scenario {name!r} sets databases, but the lesson "
                                 "declares no [databases]")
    if not lessons:
        raise CourseNotFound(f"{root} has go-samples/ but no lesson in it "
                             "(go-samples/NN-slug/lesson.toml); is the course complete?")
    return lessons


def lessons() -> dict[str, Lesson]:
    """The lessons of the course in use (:func:`course_root`), by slug; read on first use."""
    return load_catalog()


def lesson(slug: str) -> Lesson:
    """Look a lesson up by slug, or by its number ("02")."""
    catalog = lessons()
    if slug in catalog:
        return catalog[slug]
    matches = [lsn for lsn in catalog.values() if lsn.number == slug or lsn.slug.startswith(slug)]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(f"no lesson {slug!r}; lessons: {', '.join(catalog)}")
