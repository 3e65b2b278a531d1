"""Every module the course imports is declared in pyproject.toml.

A package that is merely present (installed by hand, or pulled in by another package, as
``psutil`` is by ipykernel) hides a missing declaration until a fresh machine fails. What
the engine and the notebooks import must be a runtime dependency; what tests and benchmarks
import may also come from the ``test`` extra. (.ci/run proves the same at run time: it
installs the wheel with its declared dependencies alone and imports every module there.)
"""

import ast
import re
import sys
import tomllib
from importlib import metadata

import pytest

from gopitfalls.course import COURSE_MAP, notebook_code

from .conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]) for r in requirements}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


RUNTIME = _names(PROJECT["dependencies"])
TEST = RUNTIME | _names(PROJECT["optional-dependencies"]["test"])
# The gpu extra (chapter 5) is optional: its modules are imported only inside the functions
# that need them, and may be absent where these tests run, so they are known by name here.
GPU_MODULES = {"torch": "torch"}
assert set(GPU_MODULES.values()) == _names(PROJECT["optional-dependencies"]["gpu"])


def _python_sources(*roots: str) -> dict[str, str]:
    out = {}
    for root in roots:
        path = ROOT / root
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        out |= {str(f.relative_to(ROOT)): f.read_text() for f in files}
    return out


def _notebook_sources() -> dict[str, str]:
    return {str(nb.relative_to(ROOT)): notebook_code(nb)
            for nb in [ROOT / COURSE_MAP, *sorted([*ROOT.glob("notebooks/*.ipynb"),
                                                   *ROOT.glob("labs/gpu/*.ipynb")])]}


def imported_modules(source: str) -> set[str]:
    """Top-level names of the absolute imports anywhere in ``source``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def undeclared(sources: dict[str, str], declared: set[str]) -> list[str]:
    owners = metadata.packages_distributions()
    own = {"gopitfalls", "tests", "conftest"}
    problems = []
    for where, source in sources.items():
        for module in sorted(imported_modules(source) - set(sys.stdlib_module_names) - own
                             - set(GPU_MODULES)):
            dists = {_normal(d) for d in owners.get(module, [])}
            if not dists:
                problems.append(f"{where}: imports {module}, which no installed package provides")
            elif not dists & declared:
                problems.append(f"{where}: imports {module} (from {', '.join(sorted(dists))}), "
                                "not declared in pyproject.toml")
    return problems


def test_engine_and_notebooks_import_only_runtime_dependencies():
    claims = {str(p.relative_to(ROOT)): p.read_text()
              for p in sorted(ROOT.glob("go-samples/*/claims.py"))}
    sources = _python_sources("src/gopitfalls") | _notebook_sources() | claims
    assert len(sources) > 20, "the scan found the engine and the notebooks"
    problems = undeclared(sources, RUNTIME)
    assert not problems, "\n".join(problems)


def test_tests_and_benchmarks_import_only_declared_packages():
    problems = undeclared(_python_sources("tests", "benchmarks", "conftest.py"), TEST)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module, declared, expected", [
    ("psutil", RUNTIME - {"psutil"}, "not declared"),  # what hid on the development machine
    ("no_such_module_here", RUNTIME, "no installed package provides"),
])
def test_the_check_catches_an_undeclared_import(module, declared, expected):
    problems = undeclared({"lesson.py": f"def f():\n    import {module}.sub\n"}, declared)
    assert len(problems) == 1 and expected in problems[0]


def test_wheel_and_layout_agree_on_what_a_course_is():
    from gopitfalls.course import COURSE_DIRS, COURSE_FILES

    tree = ast.parse((ROOT / "setup.py").read_text())
    in_setup = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and node.targets[0].id.startswith("COURSE_")}
    assert in_setup == {"COURSE_DIRS": COURSE_DIRS, "COURSE_FILES": COURSE_FILES}
    manifest = (ROOT / "MANIFEST.in").read_text().split()  # the sdist the wheel is built from
    assert all(name in manifest for name in (*COURSE_DIRS, *COURSE_FILES))
