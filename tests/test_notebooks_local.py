"""Every lesson notebook, executed on the local backend (nbval runs them on the default
backend, docker in CI): the lessons must hold where there is no Docker, as on Binder."""

import nbformat
import pytest
from nbclient import NotebookClient

from gopitfalls.course import LESSONS

from .conftest import ROOT
from .kernels import IPCKernelManager


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(LESSONS))
def test_notebook_on_local_backend(slug, monkeypatch):
    monkeypatch.setenv("GOPITFALLS_BACKEND", "local")
    nb = nbformat.read(LESSONS[slug].notebook, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            kernel_manager_class=IPCKernelManager,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()  # raises CellExecutionError, with the failing cell, if a claim fails
    outputs = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                      for c in nb.cells for o in c.get("outputs", []))
    assert f"{slug}/broken on local" in outputs  # the Run's summary names its backend
    assert "✔" in outputs  # the assertion cells ran and printed their evidence
