"""Where the course lives: the catalog is found (or a clear error says why not), a working
copy is laid out without losing a learner's edits, and importing the package stays cheap.
(.ci/run checks the same from a real wheel installed outside the checkout.)"""

import os
import subprocess
import sys

import pytest

from gopitfalls import course
from gopitfalls.cli import main

from .conftest import ROOT


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A current folder outside any course, with no working copy and no GOPITFALLS_HOME."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOPITFALLS_HOME", raising=False)
    monkeypatch.setenv("GOPITFALLS_COURSE_DIR", str(tmp_path / "no-working-copy"))
    return tmp_path


def test_a_laid_out_copy_is_complete_and_keeps_the_learners_edits(elsewhere, capsys):
    copy = elsewhere / "my-course"
    assert main(["course", str(copy)]) == 0
    lessons = sorted(p.name for p in (copy / "go-samples").glob("*/lesson.toml"))
    assert len(lessons) == len(course.load_catalog(ROOT)) and (copy / course.MARKER).exists()
    assert (copy / course.COURSE_MAP).read_bytes() == (ROOT / course.COURSE_MAP).read_bytes()
    assert sorted(p.name for p in (copy / "notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.ipynb"))

    edited = copy / "go-samples" / "02-http-client-timeouts" / "fixed" / "main.go"
    edited.write_text("package main // my own attempt\n")
    removed = copy / "notebooks" / "03-context-goroutine-leak.ipynb"
    removed.unlink()
    ran = copy / course.COURSE_MAP  # JupyterLab saved it with its outputs
    ran.write_text(ran.read_text().replace('"outputs": []', '"outputs": [{}]', 1))
    capsys.readouterr()
    assert main(["course", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "2 files copied" in out and "kept your version of 1 file(s)" in out
    assert edited.read_text() == "package main // my own attempt\n" and removed.exists()
    assert ran.read_bytes() == (ROOT / course.COURSE_MAP).read_bytes(), "the map follows"


def test_laying_out_refuses_a_folder_of_other_files(elsewhere, capsys):
    (elsewhere / "thesis").mkdir()
    (elsewhere / "thesis" / "chapter1.tex").write_text("mine")
    assert main(["course", str(elsewhere / "thesis")]) == 2
    assert "already holds other files" in capsys.readouterr().err
    assert os.listdir(elsewhere / "thesis") == ["chapter1.tex"]


def test_lookup_order_and_errors(elsewhere, monkeypatch, capsys):
    copy = course.lay_out_course(elsewhere / "copy").root
    monkeypatch.setenv("GOPITFALLS_HOME", str(copy))
    assert course.course_root() == copy
    monkeypatch.setenv("GOPITFALLS_HOME", str(elsewhere / "nowhere"))
    with pytest.raises(course.CourseNotFound, match="gopitfalls course .*nowhere"):
        course.course_root()
    assert main(["list"]) == 2
    assert "holds no course" in capsys.readouterr().err

    monkeypatch.delenv("GOPITFALLS_HOME")
    monkeypatch.chdir(copy / "notebooks")  # a notebook kernel of the working copy
    assert course.course_root() == copy
    monkeypatch.chdir(elsewhere)
    assert course.course_root() == ROOT  # the editable checkout this package runs from
    monkeypatch.setattr(course, "checkout_root", lambda: None)
    with pytest.raises(course.CourseNotFound, match="carries none"):
        course.course_root()  # a wheel without its course files: an error, not an empty list
    monkeypatch.setenv("GOPITFALLS_COURSE_DIR", str(copy))
    assert course.course_root() == copy  # the learner's default working copy


def test_a_course_without_lessons_is_an_error(tmp_path):
    (tmp_path / "go-samples").mkdir()
    (tmp_path / "go-samples" / "go.mod").write_text("module x\n")
    with pytest.raises(course.CourseNotFound, match="no lesson"):
        course.load_catalog(tmp_path)


def test_import_is_cheap_and_the_guardian_runs_without_warnings():
    code = ("import sys, gopitfalls; "
            "print(sorted(m for m in sys.modules if m.startswith('gopitfalls.')))")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    # only the build layer (see gopitfalls/__init__.py): no catalog read, no backend loaded
    assert done.stdout.strip() == "['gopitfalls.build', 'gopitfalls.toolchain']"
    owner = subprocess.Popen([sys.executable, "-c", ""])
    owner.wait()  # an owner that has died: the guardian reaps and exits at once
    guardian = subprocess.run([sys.executable, "-W", "error", "-m", "gopitfalls.guardian",
                               str(owner.pid)], capture_output=True, text=True, timeout=30,
                              cwd=ROOT)
    assert guardian.returncode == 0 and guardian.stderr == ""
