"""Layer 11 (beside launch): the course map, ``course-map.ipynb`` at the course's root.

The page `gopitfalls lab` and the Binder badge open on: per chapter, each lesson with one
line on what it shows (the first sentence of its pitfall), links to its notebook and its
lab, its run time (when the notebook's introduction states one) and what it needs beyond Go,
read from the catalog (a ``[databases]`` table; a run of claims.py or checks.py with
``race``). A code cell shows what this machine can do (``gopitfalls doctor``, without
starting the servers) and the learner's lab progress.

It is generated, never edited: ``python -m gopitfalls.coursemap`` writes it from the
checkout's catalog, ``--check`` says when it is out of date (as the tests do).
"""

from __future__ import annotations

import json
import re
import sys
from itertools import groupby
from pathlib import Path

from .course import COURSE_MAP, Lesson, content_module, load_catalog
from .datastores import DatabaseSpec
from .labs import Lab, load_labs
from .launch import GPU_LABS, generator_main, serialized, synced, write_stale

# The one line a lesson's notebook states its run time in (DESIGN.md's template).
_RUN_TIME = re.compile(r"\*Runs in about (\d+) (second|minute)s?\b")

MACHINE_CELL = """\
# What this machine can do (`gopitfalls doctor` starts PostgreSQL and Redis too), and your labs.
from gopitfalls.cli import doctor
from gopitfalls.labs import progress_widget

doctor(start_servers=False)
progress_widget()"""


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0]


def run_time(notebook: Path) -> str:
    """'about 35 s' as the notebook's introduction states it, or '' when it does not."""
    intro = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    found = _RUN_TIME.search(intro)
    if not found:
        return ""
    return f"about {found.group(1)} {'s' if found.group(2) == 'second' else 'min'}"


def _lesson_runs(root: Path, lesson: Lesson) -> dict:
    """RUNS of the lesson's claims.py at ``root`` (not of whichever course is in use)."""
    path = root / "go-samples" / lesson.slug / "claims.py"
    return content_module(str(path), path.stat().st_mtime_ns).RUNS if path.exists() else {}


def _needs_of(databases: DatabaseSpec | None, runs: dict) -> list[str]:
    found = []
    if databases and databases.postgres is not None:
        found.append("PostgreSQL")
    if databases and databases.redis is not None:
        found.append("Redis")
    if any(spec.overrides.get("race") for spec in runs.values()):
        found.append("a C compiler for -race")  # race builds need cgo
    return found


def needs(root: Path, lesson: Lesson, lab: Lab | None) -> list[str]:
    """What the lesson and its lab need besides Go, each from what they declare."""
    of_lesson = _needs_of(lesson.database_spec, _lesson_runs(root, lesson))
    of_lab = _needs_of(lab.lesson.database_spec, lab.runs) if lab else []
    return of_lesson + [f"{what} (lab)" for what in of_lab if what not in of_lesson]


def _cell(cell_id: str, kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source.splitlines(True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _chapter(number: int, lessons: list[Lesson], labs: dict[str, Lab], root: Path) -> str:
    rows = [f"## Chapter {number}", "",
            "| # | lesson: what it shows | lab | runs in | needs besides Go |",
            "|---|---|---|---|---|"]
    for lsn in lessons:
        lab = labs.get(lsn.slug)
        lab_link = f"[{lab.title}](labs/{lab.slug}/lab.ipynb)" if lab else "none yet"
        shows = first_sentence(lsn.pitfall).replace("|", "\\|")
        rows.append(
            f"| {lsn.number} | [**{lsn.title}**](notebooks/{lsn.slug}.ipynb): {shows} "
            f"| {lab_link} | {run_time(root / 'notebooks' / f'{lsn.slug}.ipynb') or '–'} "
            f"| {', '.join(needs(root, lsn, lab)) or '–'} |")
    return "\n".join(rows)


def _gpu_chapter(root: Path) -> str:
    """Chapter 5: the GPU labs' notebooks (labs/gpu), each titled by its first heading."""
    rows = ["## Chapter 5: GPU inference labs", "",
            "On Colab they ask for a GPU; here they run on the CPU, with smaller sizes, and "
            "every figure says which device made it.", "",
            "| lab: what it shows | runs in |", "|---|---|"]
    for notebook in sorted((root / GPU_LABS).glob("gpu-*.ipynb")):
        intro = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
        title = intro.splitlines()[0].lstrip("# ").strip()
        shows = first_sentence(_description(intro).replace("\n", " ")).replace("|", "\\|")
        rows.append(f"| [**{title}**]({GPU_LABS}/{notebook.name}): {shows} "
                    f"| {run_time(notebook) or '–'} |")
    return "\n".join(rows)


def _description(intro: str) -> str:
    """The first paragraph of a notebook's introduction that says something: not its
    heading, not its badge lines (markdown image links, one or more lines of them)."""
    for paragraph in intro.split("\n\n"):
        lines = [line.strip() for line in paragraph.strip().splitlines()]
        if lines and not lines[0].startswith("#") and not all(
                line.startswith("[![") for line in lines):
            return paragraph.strip()
    return ""


def course_map(root: Path) -> dict:
    """The map of the course at ``root``, as a notebook (its badges and Colab cell too)."""
    catalog = load_catalog(root)
    labs = load_labs(root)
    by_chapter = groupby(sorted(catalog.values(), key=lambda lsn: (lsn.chapter, lsn.number)),
                         key=lambda lsn: lsn.chapter)
    chapters = {number: list(lessons) for number, lessons in by_chapter}
    intro = (
        "# The course map\n\n"
        f"{len(catalog)} lessons in {len(chapters)} chapters, each with its lab. A lesson "
        "makes a Go web-service pitfall happen, measures it, then measures the fix; its lab "
        "is a different small service with the same pitfall, for you to fix: `gopitfalls "
        "check NN` judges it by what it measures. Open a lesson or a lab by its link. Every "
        "one runs on the local backend, and on Docker where a daemon answers; PostgreSQL and "
        "Redis come with the course and the engine starts them.\n\n"
        "The cell below says what this machine can do and which labs you have passed.")
    cells = [_cell("map-intro", "markdown", intro),
             _cell("map-machine", "code", MACHINE_CELL),
             *(_cell(f"map-chapter-{n}", "markdown", _chapter(n, lessons, labs, root))
               for n, lessons in chapters.items()),
             *([_cell("map-chapter-gpu", "markdown", _gpu_chapter(root))]
               if any((root / GPU_LABS).glob("gpu-*.ipynb")) else []),
             _cell("map-generated", "markdown",
                   "*This page is generated from the course catalog (`python -m "
                   "gopitfalls.coursemap`); a change made here is overwritten.*")]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                            "name": "python3"},
                             "language_info": {"name": "python"}}}
    return synced(notebook, COURSE_MAP)


def sync(root: Path, write: bool) -> list[str]:
    return write_stale(root, {COURSE_MAP: serialized(course_map(root))}, write)


def main(argv: list[str]) -> int:
    return generator_main(sync, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
