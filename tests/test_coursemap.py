"""The course map (course-map.ipynb): generated from the catalog, so it cannot drift; every
lesson and lab on it, its links working; what each needs read from what it declares.
(nbval executes it with the notebooks; tests/test_browser.py sees JupyterLab open on it.)"""

import json
import re
from pathlib import Path

from gopitfalls import coursemap
from gopitfalls.course import COURSE_MAP, load_catalog
from gopitfalls.labs import load_labs

from .conftest import ROOT


def _markdown() -> str:
    cells = json.loads((ROOT / COURSE_MAP).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _row(slug: str) -> str:
    return next(ln for ln in _markdown().splitlines() if f"(notebooks/{slug}.ipynb)" in ln)


def test_the_committed_map_is_the_generated_one():
    assert coursemap.main(["--check"]) == 0, "run `python -m gopitfalls.coursemap`"
    committed = (ROOT / COURSE_MAP).read_text()
    assert committed == coursemap.serialized(coursemap.course_map(ROOT))
    cells = json.loads(committed)["cells"]
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in cells if c["cell_type"] == "code"), "committed without outputs"


def test_every_lesson_and_lab_is_on_it_and_every_link_opens_a_file():
    links = re.findall(r"\]\(([^)\s]+)\)", _markdown())
    local = [link for link in links if not link.startswith("https://")]
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert not missing, f"links to nothing: {missing}"
    opened = {Path(link) for link in local}
    lessons = {Path("notebooks") / f"{slug}.ipynb" for slug in load_catalog(ROOT)}
    labs = {Path("labs") / slug / "lab.ipynb" for slug in load_labs(ROOT)}
    absent = sorted(str(path) for path in (lessons | labs) - opened)
    assert not absent, f"not on the map: {absent}"
    chapters = re.findall(r"^## Chapter (\d+)$", _markdown(), re.M)
    assert chapters == sorted({str(lsn.chapter) for lsn in load_catalog(ROOT).values()}, key=int)


def test_what_each_lesson_needs_comes_from_what_it_declares():
    catalog, labs = load_catalog(ROOT), load_labs(ROOT)
    with_postgres = [s for s, lsn in catalog.items()
                     if lsn.database_spec and lsn.database_spec.postgres is not None]
    with_race = [s for s, lsn in catalog.items()
                 if any(spec.overrides.get("race") for spec in lsn.runs.values())]
    assert with_postgres and with_race  # the course has both, so both are checked below
    for slug in catalog:
        needs = _row(slug).rsplit("|", 2)[1]
        assert ("PostgreSQL" in needs) == (slug in with_postgres), (slug, needs)
        assert ("a C compiler for -race" in needs) == (
            slug in with_race or any(s.overrides.get("race") for s in labs[slug].runs.values())
        ), (slug, needs)
    stated = _row(with_postgres[0]).rsplit("|", 3)[1].strip()
    assert re.fullmatch(r"about \d+ (s|min)|–", stated), stated


def test_run_time_is_read_from_the_notebooks_introduction(tmp_path):
    notebook = tmp_path / "x.ipynb"
    for intro, expected in (("Intro.\n\n*Runs in about 35 seconds.*", "about 35 s"),
                            ("*Runs in about 2 minutes (measured).*", "about 2 min"),
                            ("No time stated.", "")):
        notebook.write_text(json.dumps({"cells": [{"source": intro.splitlines(True)}]}))
        assert coursemap.run_time(notebook) == expected


def test_a_gpu_lab_is_described_by_its_first_paragraph_after_title_and_badges(tmp_path):
    binder = "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/x)"
    colab = "[![Open In Colab](https://colab.research.google.com/badge.svg)](https://c/x)"
    said = "A replica scaled to zero loses the first burst.\nIts cold start is too long. More."
    (tmp_path / coursemap.GPU_LABS).mkdir(parents=True)
    notebook = tmp_path / coursemap.GPU_LABS / "gpu-09-x.ipynb"
    for badges in (f"{binder}\n\n{colab}", f"{binder}\n{colab}"):  # two paragraphs, or one
        intro = f"# GPU lab 09 · Scaling to zero\n\n{badges}\n\n{said}\n\nNext paragraph."
        notebook.write_text(json.dumps({"cells": [{"source": intro.splitlines(True)}]}))
        row = coursemap._gpu_chapter(tmp_path).splitlines()[-1]
        assert row == ("| [**GPU lab 09 · Scaling to zero**](labs/gpu/gpu-09-x.ipynb): "
                       "A replica scaled to zero loses the first burst. | – |"), row
