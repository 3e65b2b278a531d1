"""Small mode (GOPITFALLS_SMALL=1, set by binder/start): lessons' baselines and loads
shortened, with floors, their cooldowns kept; off by default; a scenario that says
``small = false`` and every lab stay as they are."""

import tomllib
from dataclasses import replace

import pytest

from gopitfalls.course import SMALL_FLOORS_S, SMALL_SCALE, Scenario, load_catalog, shrink
from gopitfalls.labs import load_labs
from gopitfalls.load import Load


def catalog(monkeypatch, small: str | None):
    if small is None:
        monkeypatch.delenv("GOPITFALLS_SMALL", raising=False)
    else:
        monkeypatch.setenv("GOPITFALLS_SMALL", small)
    return load_catalog()


@pytest.mark.parametrize("value", [None, "", "0"])
def test_off_by_default_and_when_zero(monkeypatch, value):
    full = catalog(monkeypatch, None)
    assert catalog(monkeypatch, value) == full
    assert full["02-http-client-timeouts"].scenario().load.duration_s == 5


def test_small_mode_scales_every_phase_above_its_floor(monkeypatch, capsys):
    full, small = catalog(monkeypatch, None), catalog(monkeypatch, "1")
    assert "Small mode" in capsys.readouterr().out   # the one line that says it is on
    shortened = 0
    for slug, lsn in full.items():
        for name, sc in lsn.scenarios.items():
            got = small[slug].scenario(name)
            if not sc.small:
                assert got == sc, f"{slug}/{name} says small = false"
                continue
            assert got.cooldown_s == sc.cooldown_s, f"{slug}/{name}: the cooldown stays"
            pairs = [("baseline_s", sc.baseline_s, got.baseline_s)]
            if sc.load:
                pairs.append(("duration_s", sc.load.duration_s, got.load.duration_s))
            for phase, before, after in pairs:
                floor = min(before, SMALL_FLOORS_S[phase])
                assert after == pytest.approx(max(before * SMALL_SCALE, floor), abs=1e-3), \
                    f"{slug}/{name} {phase}"
                assert floor <= after <= before
                shortened += after < before
    assert shortened > 20   # it shortens something real, not only floors


def test_shrink_floors_and_opt_out():
    sc = Scenario(load=Load(duration_s=2.0), baseline_s=0.2, cooldown_s=3.0)
    got = shrink(sc, 0.5)
    assert (got.load.duration_s, got.baseline_s, got.cooldown_s) == (
        SMALL_FLOORS_S["duration_s"], 0.2, 3.0)   # floored, kept (already short), kept
    assert shrink(replace(sc, baseline_s=1.0), 0.5).baseline_s == 0.5   # halved
    assert shrink(sc, None) == sc
    assert shrink(replace(sc, small=False), 0.5) == replace(sc, small=False)


def test_labs_are_never_shortened(monkeypatch):
    monkeypatch.setenv("GOPITFALLS_SMALL", "1")
    for lab in load_labs().values():
        toml = tomllib.loads((lab.definition / "lab.toml").read_text())
        for name, sc in lab.lesson.scenarios.items():
            written = toml["scenarios"][name]
            assert sc.cooldown_s == written.get("cooldown_s", 1.0), f"{lab.slug}/{name}"
            if "load" in written:
                assert sc.load.duration_s == written["load"]["duration_s"], f"{lab.slug}/{name}"
