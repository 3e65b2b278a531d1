"""Build hook: a wheel carries the course itself (its map, notebooks, Go samples, labs,
solutions)
under ``gopitfalls/course_files/``, so ``pip install gopitfalls`` or ``pip install git+URL``
gives a learner the whole course, which ``gopitfalls lab`` lays out as a writable copy.

Everything else about the package is in pyproject.toml. An editable install copies nothing:
it reads the course from the checkout.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# Keep in step with gopitfalls.course.COURSE_DIRS and COURSE_FILES (one missing is skipped).
COURSE_DIRS = ("go-samples", "notebooks", "labs", "solutions")
COURSE_FILES = ("course-map.ipynb",)
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.backup-*")


class BuildPyWithCourse(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "gopitfalls" / "course_files"
        shutil.rmtree(target, ignore_errors=True)  # never ship a lesson deleted since
        for name in COURSE_DIRS:
            if Path(name).is_dir():
                shutil.copytree(name, target / name, ignore=JUNK)
        for name in COURSE_FILES:
            if Path(name).is_file():
                shutil.copyfile(name, target / name)


setup(cmdclass={"build_py": BuildPyWithCourse})
