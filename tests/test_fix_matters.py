"""Each lesson's claims must depend on its fix: run the notebook against a copy of the
course whose fixed/ program is the broken one, and an assertion cell has to fail.

A threshold that also holds when the "fix" changes nothing proves nothing; this catches one
that was loosened until it always passes."""

import shutil

import nbformat
import pytest

from gopitfalls.course import LESSONS

from .conftest import ROOT
from .kernels import execute

# A failed expectation on measured behaviour; a plain `assert` on source text would prove
# only that the files differ.
FAILED_CLAIMS = ("ExpectationFailed",)


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(LESSONS))
def test_assertions_fail_when_the_fix_does_nothing(slug, tmp_path, monkeypatch):
    home = tmp_path / "course"
    shutil.copytree(ROOT / "go-samples", home / "go-samples")
    fixed = home / "go-samples" / slug / "fixed"
    shutil.rmtree(fixed)
    shutil.copytree(home / "go-samples" / slug / "broken", fixed)
    monkeypatch.setenv("GOPITFALLS_HOME", str(home))  # the kernel's course_root()
    monkeypatch.setenv("GOPITFALLS_BACKEND", "local")

    nb = nbformat.read(ROOT / "notebooks" / f"{slug}.ipynb", as_version=4)
    execute(nb, ROOT / "notebooks", allow_errors=True)
