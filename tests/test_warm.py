"""`gopitfalls warm` builds what the course's runs will build, and survives a lab that does not
compile."""

from gopitfalls import warm as warming
from gopitfalls.build import BuildError
from gopitfalls.course import lessons
from gopitfalls.labs import load_labs


def test_it_builds_every_program_in_the_flavours_the_runs_use():
    targets = {(folder, race) for _, folder, race, _ in warming.targets()}
    for slug, lsn in lessons().items():
        for variant in ("broken", "fixed"):
            assert (lsn.program_dir(variant), False) in targets, (slug, variant)
        for name, spec in lsn.runs.items():
            if "build" not in spec.overrides:
                race = bool(spec.overrides.get("race"))
                assert (lsn.program_dir(spec.variant), race) in targets, (slug, name)
    for the_lab in load_labs().values():
        assert (the_lab.folder, False) in targets or (the_lab.folder, True) in targets
    assert {label for label, *_ in warming.targets()} >= {f"engine tool {t}"
                                                          for t in warming.TOOLS}


def test_a_program_that_does_not_compile_is_reported_not_raised(monkeypatch):
    built = []

    def fake_build(folder, race, probe):
        built.append(folder)
        if len(built) == 2:
            raise BuildError(folder, [], "syntax error")

    monkeypatch.setattr(warming, "build", fake_build)
    lines = []
    count, failed = warming.warm(lines.append)
    assert count == len(built) == len(warming.targets()) and len(failed) == 1
    assert "did not compile" in lines[-1] and failed[0] in lines[-1]
