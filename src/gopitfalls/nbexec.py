"""Run a notebook's cells as nbval does, for ``gopitfalls book`` and the 2 GB benchmark.

Nothing of the engine is imported here: the benchmark runs this in the cgroup it measures,
where every module loaded counts against the learner's memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

CELL_TIMEOUT_S = 300  # as nbval's in pyproject.toml


def execute(notebook: Path, *, env: dict | None = None,
            kernel_manager_class: type | None = None) -> tuple[NotebookNode, str | None]:
    """Run ``notebook``'s cells in its folder, each given ``CELL_TIMEOUT_S``, its kernel
    started with ``env`` (default: this process's) by ``kernel_manager_class`` (default:
    nbclient's). Returns the executed notebook, with the outputs up to the cell that
    failed, and the first line of what failed (None when nothing did)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    chosen = {"kernel_manager_class": kernel_manager_class} if kernel_manager_class else {}
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}}, **chosen)
    try:
        client.execute(env=dict(os.environ) if env is None else env)
    except CellExecutionError as e:
        first = (e.evalue or "").strip().splitlines()[:1]
        return nb, re.sub(r"\x1b\[[0-9;]*m", "", f"{e.ename}: {''.join(first)}")  # no colours
    except Exception as e:  # the kernel died or a cell timed out
        return nb, f"{type(e).__name__}: {e}".splitlines()[0]
    return nb, None
