"""Layer 10: the lesson catalog, the one source of truth for slugs, titles, variants and
default parameters, read by the notebooks, the CLI and the tests.

A notebook does ``lesson = gopitfalls.lesson("02-http-client-timeouts")`` and then
``lesson.run("broken")``: every knob has its default here and can be overridden.
"""

from __future__ import annotations

import difflib
import html
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .backends import Limits
from .experiment import Progress, Run, run
from .load import Load
from .services import Upstream

VARIANTS = ("broken", "fixed")


def course_root() -> Path:
    """The folder holding go-samples/ and notebooks/: ``GOPITFALLS_HOME``, else the
    checkout this package was installed from, else the current folder or a parent."""
    env = os.environ.get("GOPITFALLS_HOME")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2], Path.cwd(), *Path.cwd().parents]
    for path in candidates:
        if (path / "go-samples" / "go.mod").exists():
            return path
    raise FileNotFoundError(
        "cannot find the course files (go-samples/). Run from the gopitfalls checkout, or set "
        "GOPITFALLS_HOME to it."
    )


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


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    chapter: int
    pitfall: str
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return self.slug.split("-", 1)[0]

    def sample(self, variant: str) -> Path:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
        return course_root() / "go-samples" / self.slug / variant

    @property
    def notebook(self) -> Path:
        return course_root() / "notebooks" / f"{self.slug}.ipynb"

    def scenario(self, name: str = "default") -> Scenario:
        try:
            return self.scenarios[name]
        except KeyError:
            raise KeyError(f"{self.slug} has no scenario {name!r}; it has "
                           f"{', '.join(self.scenarios)}") from None

    def run(self, variant: str, scenario: str = "default", *, backend: str | None = None,
            progress: Progress | None = None, **overrides) -> Run:
        """Run one variant under one scenario. Overrides: ``rate=``, ``duration_s=``,
        ``timeout_s=``, ``concurrency=`` (load), ``memory_mb=``, ``nofile=`` (limits), or any
        :func:`~gopitfalls.experiment.run` argument."""
        sc = self.scenario(scenario)
        load_fields = {k: overrides.pop(k) for k in list(overrides)
                       if sc.load is not None and k in Load.__dataclass_fields__}
        limit_fields = {k: overrides.pop(k) for k in list(overrides)
                        if k in Limits.__dataclass_fields__}
        kwargs = dict(
            load=replace(sc.load, **load_fields) if sc.load else None,
            upstream=sc.upstream, limits=replace(sc.limits, **limit_fields), env=dict(sc.env),
            baseline_s=sc.baseline_s, cooldown_s=sc.cooldown_s,
        )
        if "env" in overrides:  # added to the scenario's environment, not replacing it
            kwargs["env"].update(overrides.pop("env"))
        kwargs.update(overrides)
        return run(self.sample(variant), label=f"{self.slug}/{variant}", backend=backend,
                   progress=progress, **kwargs)

    # ---- showing the code
    def source(self, variant: str, file: str = "main.go") -> str:
        return (self.sample(variant) / file).read_text()

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
        return _code_html(lines[first:last], first + 1, marked,
                          f"go-samples/{self.slug}/{variant}/{file}")

    def diff(self, file: str = "main.go", match: str | None = None, context: int = 2):
        """The changes from broken to fixed, as hunks; with ``match``, only the changes
        whose changed lines mention it (so a notebook can show one fix step)."""
        a = self.source("broken", file).splitlines()
        b = self.source("fixed", file).splitlines()
        return _diff_html([ln for hunk in diff_hunks(a, b, file, match, context) for ln in hunk])


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


def _code_html(lines: list[str], first_number: int, marked: set[int], caption: str):
    rows = []
    for n, text in enumerate(lines, first_number):
        style = "background:#fff3b0;" if n in marked else ""
        rows.append(f'<div style="{style}"><span style="color:#999;user-select:none">'
                    f"{n:4d}  </span>{html.escape(text)}</div>")
    return _html(f'<div style="font-family:monospace;font-size:12px;white-space:pre;'
                 f'border:1px solid #ddd;padding:6px;overflow-x:auto"><div style="color:#666">'
                 f"{html.escape(caption)}</div>{''.join(rows)}</div>")


def _diff_html(lines: list[str]):
    colors = {"+": "#e6ffec", "-": "#ffebe9", "@": "#ddf4ff"}
    rows = [f'<div style="background:{colors.get(ln[:1], "")}">{html.escape(ln)}</div>'
            for ln in lines]
    return _html('<div style="font-family:monospace;font-size:12px;white-space:pre;'
                 'border:1px solid #ddd;padding:6px;overflow-x:auto">' + "".join(rows) + "</div>")


class _Text(str):
    """Plain text that renders as HTML in a notebook."""

    def __new__(cls, markup: str):
        return super().__new__(cls, markup)

    def _repr_html_(self) -> str:
        return str(self)


def _html(markup: str):
    return _Text(markup)


def _scenario(name: str, data: dict, where: Path) -> Scenario:
    try:
        return Scenario(
            load=Load(**data["load"]) if "load" in data else None,
            upstream=Upstream(**data["upstream"]) if "upstream" in data else None,
            limits=Limits(**data.get("limits", {})),
            env={k: str(v) for k, v in data.get("env", {}).items()},
            baseline_s=float(data.get("baseline_s", 0.5)),
            cooldown_s=float(data.get("cooldown_s", 1.0)),
            description=data.get("description", ""),
        )
    except TypeError as exc:  # an unknown key: name the file and the scenario
        raise ValueError(f"{where}: scenario {name!r}: {exc}") from None


def load_catalog(root: Path | None = None) -> dict[str, Lesson]:
    """Read every ``go-samples/NN-slug/lesson.toml``: each lesson's metadata lives next to
    its programs, so adding a lesson never touches the engine."""
    root = root or course_root()
    lessons = {}
    for path in sorted((root / "go-samples").glob("*/lesson.toml")):
        data = tomllib.loads(path.read_text())
        slug = path.parent.name
        lessons[slug] = Lesson(
            slug=slug, title=data["title"], chapter=int(data["chapter"]),
            pitfall=" ".join(data["pitfall"].split()),
            scenarios={name: _scenario(name, sc, path)
                       for name, sc in data.get("scenarios", {}).items()},
        )
    return lessons


try:
    LESSONS: dict[str, Lesson] = load_catalog()
except FileNotFoundError:  # installed without the course files: the engine still works
    LESSONS = {}


def lesson(slug: str) -> Lesson:
    """Look a lesson up by slug, or by its number ("02")."""
    if not LESSONS:
        course_root()  # raises the error that says where the course files should be
    if slug in LESSONS:
        return LESSONS[slug]
    matches = [lsn for lsn in LESSONS.values() if lsn.number == slug or lsn.slug.startswith(slug)]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(f"no lesson {slug!r}; lessons: {', '.join(LESSONS)}")
