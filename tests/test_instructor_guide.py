"""The instructor's Zero to JupyterHub values carry the measured per-learner resources.

deploy/z2jh/config.yaml must parse, and its singleuser CPU and memory guarantees and limits
must be exactly what gopitfalls.classroom.resources() makes of the measurement saved in
deploy/z2jh/measured.json (benchmarks/class_on_one_hub.py --save): a new measurement that is
not carried into the config, or a hand-edited figure, fails here. Also the figures the guide
and the README quote. Well under a second.
"""

import json

import pytest
import yaml

from gopitfalls.classroom import resources

from .conftest import ROOT

Z2JH = ROOT / "deploy" / "z2jh"


@pytest.fixture(scope="module")
def measured():
    return json.loads((Z2JH / "measured.json").read_text())


def test_config_carries_the_measured_resources(measured):
    config = yaml.safe_load((Z2JH / "config.yaml").read_text())
    user = config["singleuser"]
    want = resources(measured)
    assert want == measured["resources"], "measured.json's resources were not made by this rule"
    assert {"memory_guarantee": user["memory"]["guarantee"],
            "memory_limit": user["memory"]["limit"],
            "cpu_guarantee": user["cpu"]["guarantee"],
            "cpu_limit": user["cpu"]["limit"]} == want
    assert config["cull"]["enabled"] and config["prePuller"]["continuous"]["enabled"]
    assert user["defaultUrl"] == "/lab/tree/course-map.ipynb"


def test_every_measured_lesson_passed(measured):
    """The guide's claim that lessons pass when learners share a node."""
    for run in measured["runs"]:
        for learner in run["learners"]:
            assert learner["passed"], (len(run["learners"]), learner)


def test_guide_and_readme_quote_the_resources(measured):
    want = resources(measured)
    for doc in (ROOT / "docs" / "instructor-guide.md", ROOT / "README.md"):
        text = doc.read_text()
        for figure in (want["memory_guarantee"], want["memory_limit"]):
            assert figure in text, f"{doc.name} does not quote {figure}"
