"""Every lesson notebook follows the template in DESIGN.md and is committed clean."""

import re

import nbformat
import pytest

from gopitfalls.course import lessons

from .conftest import ROOT

# The template's sections, in order (a notebook may add its own sections between them).
SECTIONS = ["The broken code", "Predict", "Why it happens", "The fix, in three steps",
            "Run the fix and compare", "Try it yourself", "Production checklist"]


def _notebook(slug):
    return nbformat.read(ROOT / "notebooks" / f"{slug}.ipynb", as_version=4)


@pytest.mark.parametrize("slug", sorted(lessons()))
def test_committed_without_outputs(slug):
    dirty = [i for i, c in enumerate(_notebook(slug).cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"notebooks/{slug}.ipynb: cells {dirty} carry outputs; clear them"


@pytest.mark.parametrize("slug", sorted(lessons()))
def test_follows_the_lesson_template(slug):
    cells = _notebook(slug).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {slug[:2]} · ")
    headings = [line[3:] for c in cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    positions = [next((i for i, h in enumerate(headings) if h.startswith(s)), None)
                 for s in SECTIONS]
    missing = [s for s, p in zip(SECTIONS, positions, strict=True) if p is None]
    assert not missing, f"{slug}: no section {missing} (has {headings})"
    assert positions == sorted(positions), f"{slug}: sections out of order: {headings}"
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "show_source(" in code, "the broken code is shown from the Go file"
    assert "predict(" in code, "a prediction comes before the run"
    assert re.search(r"expect\.\w+\(|\bassert\b|lesson\.check\(", code), \
        "assertion cells on measured behaviour"
    assert "knobs(" in code, "something to try: the knobs widget"
    assert "compare(" in code, "the broken and fixed runs compared in one figure"
    fix = _section(cells, "The fix, in three steps")
    shown = [c for c in fix if c.cell_type == "code" and re.search(r"\.(diff|show_source)\(",
                                                                    c.source)]
    assert len(shown) >= 3, f"{slug}: the fix's three steps show {len(shown)} pieces of code"
    assert "lesson.diff(" in "".join(c.source for c in shown), "the fix is shown as a diff"


def _section(cells, title):
    """The cells from the heading `## title` up to the next `## ` heading."""
    out, inside = [], False
    for cell in cells:
        if cell.cell_type == "markdown" and "\n## " in "\n" + cell.source:
            headings = [ln[3:] for ln in cell.source.splitlines() if ln.startswith("## ")]
            if inside and not any(h.startswith(title) for h in headings):
                break
            inside = inside or any(h.startswith(title) for h in headings)
        if inside:
            out.append(cell)
    return out


def _code(slug) -> str:
    return "\n".join(c.source for c in _notebook(slug).cells if c.cell_type == "code")


@pytest.mark.parametrize("slug", sorted(lessons()))
def test_uses_the_engine_not_its_own_plumbing(slug):
    """Traffic, go test, widgets and figures come from the engine (issue 8): a notebook that
    imports these is rewriting what another lesson has already written."""
    imports = set(re.findall(r"^\s*(?:import|from) ([\w.]+)", _code(slug), re.M))
    banned = imports & {"ipywidgets", "subprocess", "urllib", "urllib.request", "http.client",
                        "concurrent.futures", "threading"}
    assert not banned, f"{slug} imports {sorted(banned)}: use gopitfalls.widgets.knobs, " \
                       "lesson.go_test, gopitfalls.traffic"


def test_no_helper_is_defined_in_two_notebooks():
    where = {}
    for slug in sorted(lessons()):
        for name in set(re.findall(r"^\s*def (\w+)", _code(slug), re.M)):
            where.setdefault(name, []).append(slug)
    twice = {name: slugs for name, slugs in where.items() if len(slugs) > 1}
    assert not twice, f"defined in several notebooks (move it into the engine): {twice}"


@pytest.mark.parametrize("slug", sorted(lessons()))
def test_every_lesson_names_what_its_live_plot_shows(slug):
    lsn = lessons()[slug]
    assert lsn.metrics, f"go-samples/{slug}/lesson.toml: no metrics = [...] for its live plot"


GPU_LABS = sorted((ROOT / "labs" / "gpu").glob("gpu-*.ipynb"))


@pytest.mark.parametrize("path", GPU_LABS, ids=[p.stem for p in GPU_LABS])
def test_gpu_labs_are_committed_clean_and_follow_the_template(path):
    """The GPU labs (chapter 5) follow the lesson template, less the Go code it shows."""
    cells = nbformat.read(path, as_version=4).cells
    dirty = [i for i, c in enumerate(cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them"
    assert cells[0].source.startswith(f"# GPU lab {path.stem[4:6]} · ")
    headings = [line[3:] for c in cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    positions = [next((i for i, h in enumerate(headings) if h.startswith(s)), None)
                 for s in SECTIONS[1:]]
    assert None not in positions and positions == sorted(positions), headings
