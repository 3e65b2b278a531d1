"""gopitfalls: Go web-service pitfalls, made to happen and measured.

The engine, layer by layer (lower layers never import higher ones; tests/test_layers.py
checks it): toolchain, build, telemetry, network, goreports and gotest, backends (+ registry),
services, load and traffic, experiment, plots (+ widgets, codeview), expectations, course, cli.

Importing the package is cheap: each name below is imported from its layer on first use,
so the guardian process and ``gopitfalls --help`` do not load the whole engine, and the
lesson catalog is read only when a lesson is asked for.
"""

from importlib import import_module

# Imported at once: the function `build` shares its name with its module, and a lazy name
# would be shadowed by the module the first time anything imports gopitfalls.build.
# (It needs only the toolchain layer, so this stays cheap.)
from .build import Binary, BuildError, build  # noqa: F401 (public names)

# public name -> the module of the layer that defines it
_EXPORTS = {
    "Exit": "backends", "Limits": "backends",
    "Load": "load", "Upstream": "services",
    "Run": "experiment", "run": "experiment",
    "lesson": "course", "lessons": "course", "course_root": "course",
    "lab": "labs",
}

__all__ = sorted([*_EXPORTS, "Binary", "BuildError", "build"])
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'gopitfalls' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
