"""gopitfalls: Go web-service pitfalls, made to happen and measured.

The engine, layer by layer (lower layers never import higher ones): toolchain, build,
backends (+ registry), services, load, experiment, plots, expectations, course, cli.
"""

from .backends import Exit, Limits
from .build import Binary, BuildError, build
from .course import LESSONS, lesson
from .experiment import Run, run
from .load import Load
from .services import Upstream

__all__ = ["Binary", "BuildError", "Exit", "LESSONS", "Limits", "Load", "Run", "Upstream",
           "build", "lesson", "run"]
__version__ = "0.1.0"
