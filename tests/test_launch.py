"""Launch badges and the Colab cell, made from the one configured repository address."""

import json
import os
import re

from IPython.core.inputtransformer2 import TransformerManager

from gopitfalls import launch
from gopitfalls.course import COURSE_MAP

from .conftest import ROOT


def test_every_notebook_and_the_readme_are_in_step_with_the_configured_address():
    stale = launch.sync(ROOT, write=False)
    assert not stale, f"run `python -m gopitfalls.launch` to update: {stale}"


def test_every_badge_points_at_its_own_notebook_in_the_configured_repository():
    notebooks = launch.notebooks(ROOT)
    assert set(notebooks) == {ROOT / COURSE_MAP, *(ROOT / "notebooks").glob("*.ipynb"),
                              *(ROOT / "labs").glob("*/lab.ipynb"),
                              *(ROOT / "labs" / "gpu").glob("*.ipynb")}
    owner_repo = launch.REPOSITORY.removeprefix("https://github.com/")
    for path in notebooks:
        rel = path.relative_to(ROOT).as_posix()
        cells = json.loads(path.read_text())["cells"]
        links = re.findall(r"\]\((https://[^)\s]+)\)", "".join(cells[0]["source"]))
        binder = [u for u in links if u.startswith("https://mybinder.org/v2/gh/")]
        colab = [u for u in links if u.startswith("https://colab.research.google.com/github/")]
        assert binder == [f"https://mybinder.org/v2/gh/{owner_repo}/{launch.BRANCH}"
                          f"?urlpath=lab/tree/{rel}"], rel
        assert colab == [f"https://colab.research.google.com/github/{owner_repo}/blob/"
                         f"{launch.BRANCH}/{rel}"], rel
        first_code = next(c for c in cells if c["cell_type"] == "code")
        assert "".join(first_code["source"]).startswith(launch.COLAB_MARKER), rel
        assert f"git+{launch.REPOSITORY}@{launch.BRANCH}" in "".join(first_code["source"])


def test_only_the_gpu_labs_ask_colab_for_a_gpu():
    gpu_labs = sorted((ROOT / "labs" / "gpu").glob("*.ipynb"))
    assert gpu_labs, "labs/gpu has no notebook"
    for path in launch.notebooks(ROOT):
        metadata = json.loads(path.read_text())["metadata"]
        asks = metadata.get("accelerator") == "GPU" and "gpuType" in metadata.get("colab", {})
        assert asks == (path in gpu_labs), path.relative_to(ROOT).as_posix()


def test_the_readme_binder_badge_opens_on_the_course_map():
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines()
                if ln.startswith("[![Binder]"))
    owner_repo = launch.REPOSITORY.removeprefix("https://github.com/")
    assert (f"(https://mybinder.org/v2/gh/{owner_repo}/{launch.BRANCH}"
            f"?urlpath=lab/tree/{COURSE_MAP})") in line
    assert (ROOT / COURSE_MAP).is_file()


def test_the_colab_cell_does_nothing_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("GOPITFALLS_COURSE_DIR", str(tmp_path / "copy"))
    source = TransformerManager().transform_cell(launch.colab_cell())
    exec(compile(source, "colab cell", "exec"), {"get_ipython": None})
    assert not (tmp_path / "copy").exists()


def test_colab_setup_lays_out_the_course_and_works_there(tmp_path, monkeypatch):
    monkeypatch.setenv("GOPITFALLS_COURSE_DIR", str(tmp_path / "copy"))
    monkeypatch.setenv("GOPITFALLS_BACKEND", "local")
    monkeypatch.chdir(tmp_path)
    root = launch.colab_setup()
    assert root == tmp_path / "copy" and os.getcwd() == str(root)
    assert (root / "labs" / "03-context-goroutine-leak" / "main.go").is_file()
    from gopitfalls.course import course_root

    assert course_root() == root
