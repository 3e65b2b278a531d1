"""Layer 11: the course as a static site, to read without running it.

``gopitfalls book --out DIR`` executes each lesson notebook in a kernel of its own
(nbclient) with ``GOPITFALLS_RECORD=DIR/runs``, so every run it makes is saved
(:mod:`gopitfalls.replay`), and writes the executed notebook as ``DIR/NN-slug.html``
(nbconvert; figures are PNG outputs, embedded in the page as data) and ``DIR/index.html``
(chapters, lessons, links). ``--replay RUNS`` executes them with
``GOPITFALLS_REPLAY=RUNS`` instead: nothing is built or started, so it works where Go
cannot run, and the same figures and verdicts come out of the saved runs.

A lesson that fails (a cell raises) is reported, its page shows the cells up to the error,
and the book goes on; the caller gets the failed lessons' slugs.
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .course import Lesson, lesson, lessons
from .nbexec import execute
from .replay import RECORD_ENV, REPLAY_ENV


@dataclass
class Page:
    lesson: Lesson
    figures: int
    seconds: float
    error: str | None = None  # the first line of what failed, or None

    @property
    def file(self) -> str:
        return f"{self.lesson.slug}.html"


def write_book(out: Path, slugs: list[str] | None = None, replay: Path | None = None) -> list[Page]:
    """Execute the lessons (all, or ``slugs``: numbers or slugs) into ``out`` and return a
    :class:`Page` per lesson; recording runs into ``out/runs``, or replaying ``replay``."""
    chosen = [lesson(s) for s in slugs] if slugs else list(lessons().values())
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in (RECORD_ENV, REPLAY_ENV)}
    if env.get("PYTHONPATH"):  # the kernels run in notebooks/: keep relative entries working
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve())
                                            for p in env["PYTHONPATH"].split(os.pathsep) if p)
    if replay is None:
        env[RECORD_ENV] = str((out / "runs").resolve())
    else:
        if not replay.is_dir():
            raise FileNotFoundError(f"no saved runs in {replay}: record them with "
                                    f"gopitfalls book --out DIR (they land in DIR/runs)")
        env[REPLAY_ENV] = str(replay.resolve())
    pages = []
    for i, lsn in enumerate(chosen, 1):
        page = _write_page(lsn, out, env, replayed=replay is not None)
        pages.append(page)
        verdict = f"FAILED: {page.error}" if page.error else "ok"
        print(f"[{i}/{len(chosen)}] {lsn.slug}: {verdict} ({page.figures} figures, "
              f"{page.seconds:.1f} s)", flush=True)
    (out / "index.html").write_text(_index(pages, replayed=replay is not None))
    return pages


def _write_page(lsn: Lesson, out: Path, env: dict, replayed: bool) -> Page:
    import nbformat
    from nbconvert import HTMLExporter

    started = time.monotonic()
    nb, error = execute(lsn.notebook, env=env)  # a lesson that fails: the book goes on
    seconds = time.monotonic() - started
    figures = sum(1 for cell in nb.cells if cell.cell_type == "code"
                  for output in cell.get("outputs", ()) if "image/png" in output.get("data", {}))
    how = "replayed from saved runs" if replayed else "executed"
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"[← all lessons](index.html) · {how} by `gopitfalls book` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"))
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(
        nb, resources={"metadata": {"name": f"{lsn.number} · {lsn.title}"}})
    page = Page(lsn, figures, seconds, error)
    (out / page.file).write_text(body)
    return page


def _index(pages: list[Page], replayed: bool) -> str:
    rows = []
    for chapter in sorted({p.lesson.chapter for p in pages}):
        rows.append(f"<h2>Chapter {chapter}</h2><ul>")
        for p in (p for p in pages if p.lesson.chapter == chapter):
            state = (f' <b style="color:#d62728">failed: {html.escape(p.error)}</b>'
                     if p.error else "")
            rows.append(f'<li><a href="{p.file}">{p.lesson.number} · '
                        f'{html.escape(p.lesson.title)}</a> ({p.figures} figures){state}'
                        f'<br><small>{html.escape(p.lesson.pitfall)}</small></li>')
        rows.append("</ul>")
    how = "replayed from saved runs" if replayed else "executed, its runs saved in runs/"
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>gopitfalls: the course"
            "</title><style>body{font-family:sans-serif;max-width:56em;margin:2em auto;"
            "line-height:1.4}li{margin:.6em 0}</style></head><body>"
            "<h1>gopitfalls: Go web-service pitfalls, made to happen and measured</h1>"
            f"<p>Every lesson, {how} by <code>gopitfalls book</code> on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p>"
            + "".join(rows) + "</body></html>\n")
