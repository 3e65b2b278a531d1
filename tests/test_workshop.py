"""The workshop kit (docs/workshop/) is generated, never typed: the committed files are what
``python -m gopitfalls.workshop`` makes from the measurements and the labs, and they cover
every lesson, every lab and every wrong fix."""

import re

from gopitfalls import workshop
from gopitfalls.course import load_catalog

from .conftest import ROOT


def test_committed_files_are_the_generated_ones():
    stale = workshop.sync(ROOT, write=False)
    assert not stale, (f"{', '.join(stale)} differ from what is generated: run "
                       "`python -m gopitfalls.workshop` and commit the result")


def test_every_lesson_is_timed_from_its_measured_runs():
    text = (ROOT / "docs" / "workshop" / "agenda.md").read_text()
    source, measured = workshop.measurements(ROOT)
    assert source in text
    wall = {r["notebook"]: r["wall_s"] for r in measured["notebooks"]}
    for lsn in load_catalog(ROOT).values():
        row = next(ln for ln in text.splitlines() if f"(../../notebooks/{lsn.slug}.ipynb)" in ln)
        measured_s = (wall[f"notebooks/{lsn.slug}.ipynb"], wall[f"labs/{lsn.slug}/lab.ipynb"])
        assert re.findall(r"\| (\d+) s \|", row) == [f"{s:.0f}" for s in measured_s], row
        assert f"Lesson {lsn.number}: {lsn.title}" in text   # placed in a half-day


def test_half_days_hold_their_limit_and_have_breaks():
    _, measured = workshop.measurements(ROOT)
    blocks = workshop.half_days(workshop.items(ROOT, measured))
    for block in blocks:
        assert sum(m for _, m in block) <= workshop.RULES["half_day_min"], block
    assert any(what == "Break" for block in blocks for what, _ in block)


def test_every_lab_and_every_wrong_fix_has_its_notes():
    text = (ROOT / "docs" / "workshop" / "instructor-notes.md").read_text()
    sections = dict(re.findall(r"^### Lab (\d\d): .*?\n(.*?)(?=^##|\Z)", text, re.M | re.S))
    wrong_fixes = sorted((ROOT / "tests" / "labs").glob("*/wrong-*/main.go"))
    assert len(wrong_fixes) > 50
    for lab in (ROOT / "labs").glob("[0-9][0-9]-*/lab.toml"):
        assert lab.parent.name[:2] in sections, f"no notes for {lab.parent.name}"
    for main_go in wrong_fixes:
        notes = sections[main_go.parents[1].name[:2]]
        item = f"- `{main_go.parent.name}`"
        line = next((ln for ln in notes.splitlines() if ln.startswith(item)), None)
        assert line, f"no note for {main_go.parent.name} of {main_go.parents[1].name}"
        assert "learners try this: " in line and "The check that catches it is `" in line
        assert "(no such check)" not in line, line
