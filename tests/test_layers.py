"""The engine's layers as DESIGN.md draws them: a module never imports a higher layer.

Every module of src/gopitfalls (the backends package's modules included) is declared here
with its layer; the test reads each module's imports (all of them, those inside functions
too) with ``ast`` and names both modules of any import that goes upwards.
"""

import ast

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "src" / "gopitfalls"

LAYERS = {
    "toolchain": 1,
    "nbexec": 1,  # a notebook's cells run as nbval does (the book, the 2 GB benchmark)
    "build": 2,
    # The package itself imports build at once; its other public names are imported from
    # their layers on first use (importlib), as re-exports that no module here relies on.
    "": 2,
    "telemetry": 3,  # reading the probe's reports
    "network": 3,  # loopback ports: below everything that starts a program
    "goreports": 3,  # the Go runtime's race and crash reports, parsed
    "gotest": 3,  # go test, its results as data
    "inference": 3,  # the GPU labs' device (CUDA or CPU) and the sizes chosen for it
    "backends": 4,
    "backends.guard": 4,
    "backends.local": 4,
    "backends.docker": 4,
    "registry": 4,  # who owns what the backends start
    "guardian": 4,
    "services": 5,
    "modelworker": 5,  # the GPU labs' model server, a process beside the program (services)
    "datastores": 5,  # PostgreSQL and Redis for a lesson's program (beside services)
    "load": 6,
    "traffic": 6,  # requests a lesson makes itself (Python, loopback)
    "experiment": 7,
    "plots": 8,
    "widgets": 8,
    "codeview": 8,
    "autoscale": 8,  # the GPU labs' autoscaling simulation and its figure (beside plots)
    "replay": 8,  # saved runs: record them, and give them back where Go cannot run
    "expectations": 9,
    "claims": 9,
    "course": 10,
    "labs": 10,  # beside course: a lab's runs are made as a lesson's
    "serving": 10,  # the GPU labs' gateway + model worker, found in the course (beside it)
    "cli": 11,
    "launch": 11,  # badges and the Colab cell: beside the command line
    "coursemap": 11,  # the course map, generated from the catalog (beside launch)
    "warm": 11,  # builds what the course runs, ahead of time
    "classroom": 11,  # a class on one JupyterHub: beside the command line
    "workshop": 11,  # the workshop kit, generated from the labs and the measurements
    "book": 11,  # every lesson executed into a static site (or replayed from saved runs)
}


def engine_modules() -> dict[str, bool]:
    """Each module of the package, as a name relative to it ("" for the package itself,
    "backends.local"), and whether it is a package (an __init__.py)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = is_package
    return modules


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The engine modules ``source`` (the code of ``module``) imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.ImportFrom):
            here = module.split(".") if module else []
            package = here if is_package else here[:-1]
            base = package[:len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from . import registry` imports a module
                child = f"{target}.{alias.name}".lstrip(".")
                found.add(child if child in known else target)
            continue
        else:
            continue
        for name in names:
            if name == "gopitfalls" or name.startswith("gopitfalls."):
                found.add(name.removeprefix("gopitfalls").lstrip("."))
    return found


def upward_imports(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """One line per import of a higher layer: both modules and their layers."""
    problems = []
    for module, (source, is_package) in sorted(sources.items()):
        for target in sorted(imports_of(source, module, is_package, set(sources))):
            if target in LAYERS and LAYERS[target] > LAYERS[module]:
                problems.append(f"gopitfalls.{module or '__init__'} (layer {LAYERS[module]}) "
                                f"imports gopitfalls.{target or '__init__'} "
                                f"(layer {LAYERS[target]})")
    return problems


def test_every_module_has_a_layer():
    modules = set(engine_modules())
    assert modules - set(LAYERS) == set(), "declare these modules' layers in LAYERS"
    assert set(LAYERS) - modules == set(), "LAYERS names modules that are gone"


def test_no_module_imports_a_higher_layer():
    sources = {}
    for module, is_package in engine_modules().items():
        path = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
        path = path / "__init__.py" if is_package else path.with_suffix(".py")
        sources[module] = (path.read_text(), is_package)
    problems = upward_imports(sources)
    assert not problems, "lower layers never import higher ones:\n" + "\n".join(problems)


@pytest.mark.parametrize("module, is_package, source, target", [
    ("services", False, "from .load import Load\n", "load"),
    ("backends.local", False, "def f():\n    from ..experiment import run\n", "experiment"),
    ("backends", True, "from .. import course\n", "course"),
    ("network", False, "import gopitfalls.cli\n", "cli"),
])
def test_an_upward_import_is_reported(module, is_package, source, target):
    """The checker sees relative, nested and absolute imports alike."""
    sources = {name: ("", False) for name in LAYERS} | {module: (source, is_package)}
    assert upward_imports(sources) == [
        f"gopitfalls.{module} (layer {LAYERS[module]}) imports gopitfalls.{target} "
        f"(layer {LAYERS[target]})"]
