"""Every lesson notebook, executed on the local backend (nbval runs them on the default
backend, docker in CI): the lessons must hold where there is no Docker, as on Binder."""

import nbformat
import pytest

from gopitfalls.course import LESSONS

from .conftest import ROOT
from .kernels import execute


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(LESSONS))
def test_notebook_on_local_backend(slug, monkeypatch):
    monkeypatch.setenv("GOPITFALLS_BACKEND", "local")
    nb = nbformat.read(LESSONS[slug].notebook, as_version=4)
    execute(nb, ROOT / "notebooks")  # raises CellExecutionError if a claim fails
