"""Layer 10 (beside course): hands-on labs, and the checker that judges them by measurement.

A lab is a *different* small service with a lesson's pitfall; the learner fixes it and the
checker runs it under the lab's trigger and judges runtime invariants, never the text:

    labs/NN-slug/lab.toml    title, task, the files the learner edits, [scenarios] and
                             [databases] as in a lesson.toml
    labs/NN-slug/main.go     the starter, with TODO markers where the fix goes
    labs/NN-slug/checks.py   RUNS (what to run) and the checks, in the order they are judged
    labs/NN-slug/lab.ipynb   the task, a prediction, the check and its hints
    solutions/NN-slug/       the reference answer and NOTES.md (why each change)
    tests/labs/NN-slug/wrong-*/  plausible wrong fixes CI proves the checker rejects

A check is a claim (see :mod:`gopitfalls.claims`) with hints, the first one shown when it
fails, the next ones on request (``gopitfalls hint``):

    from gopitfalls import expectations as expect
    from gopitfalls.claims import RunSpec
    from gopitfalls.labs import check

    RUNS = {"lab": RunSpec("lab"), "lab_patient": RunSpec("lab", "patient")}

    @check("The export keeps running after the caller left: what tells it to stop?",
           "Derive its context from r.Context(), and pass it down to every call.")
    def exports_stop_when_the_caller_leaves(lab):
        return [expect.returns_to_baseline(lab, "goroutines", within_s=0.5, tolerance=3)]

Checks are judged in order, each as soon as the runs it needs are made; the first that
fails ends the check (its runs are the ones a learner waits for). What each lab last
showed (passed or not, the failed check, the hints seen) is kept in the course folder, in
``PROGRESS_FILE``.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .build import BuildError
from .claims import RunSpec, Verdict, claims_of, runs_needed, verdict_of
from .course import (
    CourseNotFound,
    Lesson,
    bundled_course,
    checkout_root,
    content_module,
    course_root,
    parse_database_spec,
    parse_scenario,
)
from .experiment import Run

PROGRESS_FILE = ".gopitfalls-progress.json"
LAB_VARIANT = "lab"  # RunSpec("lab", ...) runs the program being checked


class LabNotFound(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def check(*hints: str) -> Callable[[Callable], Callable]:
    """Mark a function of a lab's checks.py as a check, with its hints (first to last)."""
    if not hints:
        raise ValueError("a check needs at least one hint: the learner sees it when it fails")

    def mark(func: Callable) -> Callable:
        func.claim_stage = "fixed"  # judged like a lesson's claims about the fix
        func.hints = tuple(hints)
        return func

    return mark


@dataclass(frozen=True)
class Lab:
    slug: str
    title: str
    task: str
    files: tuple[str, ...]  # what the learner edits, relative to the lab's folder
    lesson: Lesson  # scenarios, servers and runs, as a lesson's (its runs are the lab's)
    definition: Path  # the folder its lab.toml and checks.py are read from

    @property
    def folder(self) -> Path:
        """The learner's copy of the lab, in the course in use."""
        return course_root() / "labs" / self.slug

    @property
    def solution(self) -> Path:
        return course_root() / "solutions" / self.slug

    @property
    def notebook(self) -> Path:
        return self.folder / "lab.ipynb"

    @property
    def checks(self):
        path = self.definition / "checks.py"
        return content_module(str(path), path.stat().st_mtime_ns, "gopitfalls_checks_")

    @property
    def runs(self) -> dict[str, RunSpec]:
        return dict(self.checks.RUNS)

    def run(self, name: str, program: Path | None = None, **options) -> Run:
        """Make one of the runs ``RUNS`` names, of ``program`` (default: the learner's)."""
        spec = self.runs[name]
        if spec.variant != LAB_VARIANT:
            raise ValueError(f"{self.slug}: RUNS[{name!r}] runs {spec.variant!r}; a lab's runs "
                             f"run the program being checked: RunSpec({LAB_VARIANT!r}, ...)")
        overrides = {**spec.overrides, **options}
        return self.lesson.run(LAB_VARIANT, spec.scenario, program=program or self.folder,
                               **overrides)

    def check(self, program: Path | None = None, *, backend: str | None = None,
              progress="live", record: bool = True) -> LabResult:
        """Build and run ``program`` (default: the learner's folder) and judge the checks in
        order until one fails; in a notebook each run shows its live plot. Kept in the
        course's progress file unless ``record=False``."""
        if program is None and course_root() == bundled_course():
            raise CourseNotFound(
                "the labs you edit live in your own copy of the course, not inside the "
                "installed package: run `gopitfalls lab` (it lays one out in "
                "~/gopitfalls-course), or `gopitfalls course DIR` and work there")
        program = Path(program or self.folder).resolve()
        started = time.monotonic()
        runs: dict[str, Run] = {}
        verdicts: list[Verdict] = []
        try:
            for func in claims_of(self.checks):
                for name in runs_needed(func):
                    if name not in runs:
                        runs[name] = self.run(name, program, backend=backend,
                                              progress=progress)
                verdicts.append(_judged(func, runs))
                if not verdicts[-1].held:
                    break
        except BuildError as exc:
            result = LabResult(self, program, verdicts, compile_error=str(exc))
        else:
            result = LabResult(self, program, verdicts)
        result.seconds = time.monotonic() - started
        result.backend = next(iter(runs.values())).backend if runs else None
        if record:
            result.hint_index = Progress().record(result)
        return result

    def hint(self) -> str:
        """The next hint for the check that failed last (kept in the progress file)."""
        return Progress().next_hint(self)

    def hints_of(self, check_name: str) -> tuple[str, ...]:
        for func in claims_of(self.checks):
            if func.__name__ == check_name:
                return func.hints
        return ()

    def show_todos(self, file: str | None = None):
        """The learner's file with its TODO lines marked, as in a lesson's show_source."""
        from .codeview import code_html

        name = file or self.files[0]
        lines = (self.folder / name).read_text().splitlines()
        marked = {i + 1 for i, ln in enumerate(lines) if "TODO" in ln}
        return code_html(lines, 1, marked, f"labs/{self.slug}/{name}")

    def reset(self) -> list[Path]:
        """Put the starter back (see :func:`reset`)."""
        return reset(self.slug)


UNJUDGED = "could not be judged"  # a check that raised: the program did not get that far


def _judged(func: Callable, runs: dict[str, Run]) -> Verdict:
    """A check's verdict; one that raises on what the learner's program did (it died before
    the traffic, answered nothing parseable) fails with what it raised and how the runs
    ended, instead of showing the learner a traceback of the checker."""
    try:
        return verdict_of(func, runs)
    except Exception as exc:  # noqa: BLE001 (any error of a check on a learner's run)
        ends = "; ".join(f"{name}: {run.summary()}" for name, run in runs.items()
                         if name in runs_needed(func))
        return Verdict(func.__name__, func.claim_stage, [],
                       f"{UNJUDGED} ({type(exc).__name__}: {exc}); the runs: {ends}")


@dataclass
class LabResult:
    """What a check found: the verdicts up to the first failure, or a compile error."""

    lab: Lab
    program: Path
    verdicts: list[Verdict]
    compile_error: str | None = None
    seconds: float = 0.0
    backend: str | None = None
    hint_index: int = 0  # which hint of the failed check is shown (0: the first)

    @property
    def slug(self) -> str:
        return self.lab.slug

    @property
    def passed(self) -> bool:
        return self.compile_error is None and bool(self.verdicts) and all(
            v.held for v in self.verdicts)

    @property
    def failed_check(self) -> str | None:
        if self.compile_error is not None:
            return "compiles"
        return next((v.claim for v in self.verdicts if not v.held), None)

    @property
    def hint(self) -> str | None:
        if self.failed_check in (None, "compiles"):
            return None
        hints = self.lab.hints_of(self.failed_check)
        return hints[min(self.hint_index, len(hints) - 1)] if hints else None

    def lines(self) -> list[str]:
        if self.compile_error is not None:
            return ["✘ it does not compile:", *self.compile_error.splitlines()]
        out = []
        for v in self.verdicts:
            if v.held:
                out.append(f"✔ {v.claim.replace('_', ' ')}")
                out += [f"    {s.lstrip('✔ ')}" for s in v.evidence]
            else:
                out.append(f"✘ {v.claim.replace('_', ' ')}")
                out += [f"    {line}" for line in v.failure.splitlines()]
        if self.passed:
            out.append(f"PASS: {self.slug}, every check held ({self.seconds:.0f} s, "
                       f"{self.backend} backend)")
        else:
            total = len(claims_of(self.lab.checks))
            hints = self.lab.hints_of(self.failed_check)
            out.append(f"NOT YET: {len(self.verdicts) - 1} of {total} checks held before this "
                       f"one ({self.seconds:.0f} s, {self.backend} backend)")
            if self.hint:
                out.append(f"hint {self.hint_index + 1} of {len(hints)}: {self.hint}")
                if self.hint_index + 1 < len(hints):
                    out.append(f"  (another: `gopitfalls hint {self.slug}`, or lab.hint())")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        colors = {"✘": "#b00020", "N": "#b00020", "P": "#1a7f37", "h": "#0b5394"}
        rows = [f'<div style="color:{colors.get(ln[:1], "#1a7f37" if ln[:1] == "✔" else "#333")}'
                f';white-space:pre-wrap">{html.escape(ln)}</div>' for ln in self.lines()]
        return '<div style="font-family:monospace;font-size:12px">' + "".join(rows) + "</div>"


class Progress:
    """The labs' progress, in ``PROGRESS_FILE`` in the learner's course folder."""

    def __init__(self, root: Path | None = None):
        self.path = (root or course_root()) / PROGRESS_FILE

    def load(self) -> dict:
        try:
            return json.loads(self.path.read_text()).get("labs", {})
        except (OSError, ValueError):
            return {}

    def _save(self, labs: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"labs": labs}, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.path)  # never a half-written file

    def record(self, result: LabResult) -> int:
        """Keep a check's outcome; returns the index of the hint to show for its failure
        (the same check failing again shows the hint the learner last reached)."""
        labs = self.load()
        entry = labs.get(result.slug, {})
        failed = result.failed_check
        entry.update(passed=result.passed, failed=failed, checked_at=time.strftime("%F %T"),
                     passed_ever=entry.get("passed_ever", False) or result.passed)
        entry.setdefault("hints_seen", {})
        index = entry["hints_seen"].get(failed, 0) if failed else 0
        labs[result.slug] = entry
        self._save(labs)
        return index

    def next_hint(self, the_lab: Lab) -> str:
        labs = self.load()
        entry = labs.get(the_lab.slug)
        if not entry or entry.get("failed") in (None, "compiles"):
            why = ("it passed" if entry and entry.get("passed") else
                   "it did not compile: the compiler's message names the line" if entry else
                   "it has not been checked yet")
            return f"no hint for {the_lab.slug}: {why}."
        failed = entry["failed"]
        hints = the_lab.hints_of(failed)
        seen = min(entry["hints_seen"].get(failed, 0) + 1, len(hints) - 1)
        entry["hints_seen"][failed] = seen
        self._save(labs)
        return f"hint {seen + 1} of {len(hints)} for {failed.replace('_', ' ')}: {hints[seen]}"

    def table(self) -> list[tuple[str, str]]:
        """(slug, state) for every lab of the course: passed, not yet, or not started."""
        labs = self.load()
        rows = []
        for slug in sorted(load_labs()):
            entry = labs.get(slug)
            if entry is None:
                state = "not started"
            elif entry["passed"]:
                state = "passed"
            else:
                failed = (entry.get("failed") or "").replace("_", " ")
                state = f"not yet: {failed}" + (" (passed before)" if entry.get(
                    "passed_ever") else "")
            rows.append((slug, state))
        return rows


def progress_widget():
    """The progress table, for a notebook."""
    from .codeview import Html

    rows = Progress().table()
    done = sum(state == "passed" for _, state in rows)
    cells = "".join(
        f"<tr><td style='text-align:left'>{html.escape(slug)}</td><td style='text-align:left;"
        f"color:{'#1a7f37' if state == 'passed' else '#555'}'>{html.escape(state)}</td></tr>"
        for slug, state in rows)
    return Html(f"<b>{done} of {len(rows)} labs passed</b><table>{cells}</table>")


def pristine(slug: str, rel: str) -> bytes:
    """The starter's version of a lab file: from the course this one was laid out from (the
    installed package's), or from git in a checkout the learner works in."""
    root = course_root().resolve()
    path = f"labs/{slug}/{rel}"
    for source in (bundled_course(), checkout_root()):
        if source is not None and source.resolve() != root and (source / path).is_file():
            return (source / path).read_bytes()
    if (root / ".git").exists():
        done = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=root, capture_output=True)
        if done.returncode == 0:
            return done.stdout
    raise LabNotFound(f"cannot find the starter of {path}: this course folder was not laid out "
                      "from an installed gopitfalls, and git's HEAD has no such file. Lay out a "
                      "fresh copy with `gopitfalls course DIR` and copy the file from there.")


def reset(slug: str) -> list[Path]:
    """Restore the lab's starter files; a changed file is first copied to
    ``NAME.backup-YYYYmmdd-HHMMSS`` beside it. Returns the backups made."""
    the_lab = lab(slug)
    backups = []
    for rel in the_lab.files:
        target = the_lab.folder / rel
        original = pristine(the_lab.slug, rel)
        if target.exists() and target.read_bytes() != original:
            backup = target.with_name(f"{target.name}.backup-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.copy2(target, backup)
            backups.append(backup)
        target.write_bytes(original)
    labs = Progress().load()
    if labs.pop(the_lab.slug, None) is not None:
        Progress()._save(labs)
    return backups


def definitions_root() -> Path:
    """Where the labs' definitions (lab.toml, checks.py) are read from: the course the
    installed package carries, or the checkout it runs from, and only without either the
    course in use. Never the learner's copy when there is another: a learner can edit every
    file there, and a lab is judged by the load and checks it shipped with."""
    return bundled_course() or checkout_root() or course_root()


def _lab(path: Path) -> Lab:
    data = tomllib.loads(path.read_text())
    slug = path.parent.name
    unknown = set(data) - {"title", "task", "files", "scenarios", "databases", "metrics"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    spec = parse_database_spec(data.get("databases"), path)
    return Lab(
        slug=slug, title=data["title"], task=" ".join(data["task"].split()),
        files=tuple(data.get("files", ("main.go",))), definition=path.parent,
        lesson=Lesson(slug=slug, title=data["title"], chapter=0, pitfall="",
                      scenarios={name: parse_scenario(name, sc, path)
                                 for name, sc in data.get("scenarios", {}).items()},
                      metrics=tuple(data.get("metrics", ())), database_spec=spec),
    )


def load_labs(root: Path | None = None) -> dict[str, Lab]:
    """Every ``labs/NN-slug/lab.toml`` (of :func:`definitions_root` unless ``root`` is
    given), by slug."""
    root = (root or definitions_root()).resolve()
    return {path.parent.name: _lab(path) for path in sorted((root / "labs").glob("*/lab.toml"))}


def lab(slug: str) -> Lab:
    """Look a lab up by slug, or by its number ("03")."""
    exact = definitions_root() / "labs" / slug / "lab.toml"
    if exact.is_file():  # the usual case: read one lab.toml, not all of them
        return _lab(exact)
    catalog = load_labs()
    matches = [lb for lb in catalog.values()
               if lb.slug.split("-", 1)[0] == slug or lb.slug.startswith(slug)]
    if len(matches) == 1:
        return matches[0]
    raise LabNotFound(f"no lab {slug!r} in {definitions_root() / 'labs'}; labs: "
                      f"{', '.join(catalog) or 'none'}")
