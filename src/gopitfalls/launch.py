"""Layer 11 (beside cli): where the course is launched from, configured in one place.

``REPOSITORY`` and ``BRANCH`` are the only place the course's public address is written:
the Binder and Colab badges of the README and of every notebook (the course map, lessons and
labs; the README's Binder badge opens on the map) are made from them by ``python -m
gopitfalls.launch`` (``--check`` says what is out of date, as the tests do), and so is the
install line of the Colab cell each notebook starts with.

On Colab that cell installs the package from the repository and calls :func:`colab_setup`,
which lays out a working copy of the course and moves the kernel into it; everywhere else
the cell does nothing.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

REPOSITORY = "https://github.com/gopitfalls/gopitfalls"
BRANCH = "main"

BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
COLAB_MARKER = "# On Colab: install the course"  # the first line of a notebook's Colab cell
_BADGES_LINE = re.compile(r"^\[!\[Binder\]\(.*$", re.M)


def _github_path() -> str:
    owner_repo = REPOSITORY.removeprefix("https://github.com/").strip("/")
    if owner_repo.count("/") != 1:
        raise ValueError(f"REPOSITORY must be https://github.com/OWNER/NAME, not {REPOSITORY}")
    return owner_repo


def binder_url(path: str = "") -> str:
    """Binder, opening JupyterLab on ``path`` (relative to the repository's root)."""
    url = f"https://mybinder.org/v2/gh/{_github_path()}/{BRANCH}"
    return f"{url}?urlpath=lab/tree/{path}" if path else url


def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{_github_path()}/blob/{BRANCH}/{path}"


def badges(path: str) -> str:
    """The one markdown line of launch badges for the notebook at ``path``."""
    return (f"[![Binder]({BINDER_BADGE})]({binder_url(path)}) "
            f"[![Open In Colab]({COLAB_BADGE})]({colab_url(path)})")


def colab_cell() -> str:
    return "\n".join([
        f"{COLAB_MARKER} and lay it out (elsewhere this cell does nothing).",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    %pip install -q "gopitfalls @ git+{REPOSITORY}@{BRANCH}"',
        "    from gopitfalls.launch import colab_setup",
        "",
        "    colab_setup()",
    ])


def colab_setup() -> Path:
    """On Colab: lay out the course in /content/gopitfalls-course (kept across notebooks of
    one session) and work there; say which backend will run the lessons."""
    from .backends import BackendUnavailable, get_backend
    from .course import default_working_copy, lay_out_course

    os.environ.setdefault("GOPITFALLS_COURSE_DIR", "/content/gopitfalls-course")
    report = lay_out_course(default_working_copy())
    os.chdir(report.root)
    try:
        backend = get_backend(None).name
    except BackendUnavailable as exc:
        backend = f"none ({exc})"
    print(f"course laid out in {report.root} ({len(report.copied)} new files); "
          f"programs run on the {backend} backend (Colab has no Docker: local, with its "
          "memory watchdog and limits)")
    return report.root


# ---- keeping the badges and the Colab cell in step (maintainers: python -m gopitfalls.launch)

GPU_LABS = "labs/gpu"  # chapter 5: notebooks that ask Colab for a GPU
# Colab's own notebook metadata: the runtime a notebook asks for when it is opened there.
GPU_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}


def notebooks(root: Path) -> list[Path]:
    from .course import COURSE_MAP

    course_map = [root / COURSE_MAP] if (root / COURSE_MAP).is_file() else []
    return [*course_map, *sorted([*(root / "notebooks").glob("*.ipynb"),
                                  *(root / "labs").glob("*/lab.ipynb"),
                                  *(root / GPU_LABS).glob("gpu-*.ipynb")])]


def synced(notebook: dict, path: str) -> dict:
    """The notebook with its badges line (in the first cell, under the title) and its Colab
    cell (the first code cell) as they must be; a GPU lab also asks Colab for a GPU."""
    if path.startswith(GPU_LABS + "/"):
        notebook["metadata"].update(GPU_METADATA)
    cells = notebook["cells"]
    first = "".join(cells[0]["source"])
    line = badges(path)
    if _BADGES_LINE.search(first):
        first = _BADGES_LINE.sub(line, first, count=1)
    else:
        title, _, rest = first.partition("\n")
        first = f"{title}\n\n{line}\n{rest}" if rest else f"{title}\n\n{line}"
    cells[0]["source"] = first.splitlines(True)
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": colab_cell().splitlines(True)}
    if cells[1]["cell_type"] == "code" and "".join(cells[1]["source"]).startswith(COLAB_MARKER):
        cell["id"] = cells[1].get("id", "colab")
        cells[1] = cell
    else:
        cell["id"] = "colab-setup"
        cells.insert(1, cell)
    return notebook


def serialized(notebook: dict) -> str:
    """A notebook as every notebook of the course is written (one cell field per line)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_stale(root: Path, generated: dict[str, str], write: bool) -> list[str]:
    """The generated files (paths relative to ``root``) whose text on disk differs; with
    ``write``, writes them. Every generator of the course (badges, course map, workshop kit)
    keeps its files this way."""
    stale = []
    for rel, text in generated.items():
        path = root / rel
        if not path.is_file() or path.read_text() != text:
            stale.append(str(rel))
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return stale


def generator_main(sync, argv: list[str]) -> int:
    """A generator's maintainer command on this checkout: ``sync(root, write)`` writes what
    is out of date, or with ``--check`` only names it and exits 1 (as the tests do)."""
    root = Path(__file__).resolve().parents[2]
    check = "--check" in argv
    spec = getattr(sys.modules[sync.__module__], "__spec__", None)  # __main__ under -m
    command = f"python -m {spec.name if spec else sync.__module__}"
    stale = sync(root, write=not check)
    for rel in stale:
        print(("out of date: " if check else "updated: ") + rel
              + (f" (run `{command}`)" if check else ""))
    return 1 if stale and check else 0


def sync(root: Path, write: bool) -> list[str]:
    """The notebooks (and README) whose badges or Colab cell are not as configured; with
    ``write``, rewrites them."""
    from .course import COURSE_MAP

    generated = {}
    for file in notebooks(root):
        rel = file.relative_to(root).as_posix()
        generated[rel] = serialized(synced(json.loads(file.read_text()), rel))
    text = (root / "README.md").read_text()
    line = (f"[![Binder]({BINDER_BADGE})]({binder_url(COURSE_MAP)}) "
            f"[![Open In Colab]({COLAB_BADGE})]({colab_url('notebooks/' + _first_lesson(root))})")
    generated["README.md"] = (_BADGES_LINE.sub(line, text, count=1) if _BADGES_LINE.search(text)
                              else text.replace("\n", f"\n\n{line}\n", 1))
    return write_stale(root, generated, write)


def _first_lesson(root: Path) -> str:
    return sorted(p.name for p in (root / "notebooks").glob("*.ipynb"))[0]


def main(argv: list[str]) -> int:
    return generator_main(sync, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
