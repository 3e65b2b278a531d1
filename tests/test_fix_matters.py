"""Each lesson's claims must depend on its fix: run the notebook against a copy of the
course whose fixed/ program is the broken one, and an assertion cell has to fail.

A threshold that also holds when the "fix" changes nothing proves nothing; this catches one
that was loosened until it always passes."""

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from gopitfalls.course import LESSONS

from .conftest import ROOT
from .kernels import IPCKernelManager

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
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            kernel_manager_class=IPCKernelManager, allow_errors=True,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    errors = [(index, out["ename"], out["evalue"].splitlines()[0] if out["evalue"] else "")
              for index, cell in enumerate(nb.cells) for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    failed_claims = [e for e in errors if e[1] in FAILED_CLAIMS]
    assert failed_claims, (f"{slug}: with fixed/ = broken/, no expectation on the run failed "
                           f"(other errors: {errors})")
    print(f"{slug}: {len(failed_claims)} assertion cells failed without the fix: "
          + "; ".join(f"cell {i}: {msg[:90]}" for i, _, msg in failed_claims))
