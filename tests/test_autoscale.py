"""The autoscaling simulation of GPU lab gpu-04: its accounting and the scalers' rules.
(The lab's claims are judged by its notebook, under nbval.) About a second in all."""

import math

from gopitfalls.autoscale import BURST_TRACE, Scaling, arrivals, simulate


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    one, again = simulate(seed=3), simulate(seed=3)
    assert one.requests == again.requests and one.timeline == again.timeline
    assert arrivals(seed=3) != arrivals(seed=4)


def test_every_request_has_exactly_one_outcome_and_the_trace_sets_the_offered_load():
    run = simulate(Scaling(min_replicas=2))
    outcomes = {"ok", "dropped", "timed out", "unfinished"}
    assert all(r["outcome"] in outcomes for r in run.requests)
    assert sum(run.count(o) for o in outcomes) == len(run.requests)
    burst = [r for r in run.requests if 60 <= r["arrival"] < 240]
    assert 0.9 * 12 * 180 < len(burst) < 1.1 * 12 * 180  # 12 requests/s for 180 s
    ok = [r for r in run.requests if r["outcome"] == "ok"]
    assert all(r["wait_s"] <= run.scaling.timeout_s + 1e-9 for r in ok)
    assert all(math.isclose(r["latency_s"], r["wait_s"] + run.scaling.service_s) for r in ok)


def test_the_replicas_stay_between_the_floor_and_the_ceiling_and_the_queue_within_its_limit():
    scaling = Scaling(min_replicas=2, max_replicas=5)
    run = simulate(scaling)
    assert all(2 <= p["replicas"] <= 5 and p["ready"] <= p["replicas"] for p in run.timeline)
    assert max(p["replicas"] for p in run.timeline) == 5
    assert max(p["queue"] for p in run.timeline) <= scaling.queue_limit


def test_scale_from_zero_waits_for_a_poll_and_a_cold_start_and_scales_back_to_zero():
    scaling = Scaling(cold_start_s=40, polling_s=20)
    run = simulate(scaling)
    assert run.timeline[0]["replicas"] == 0
    first = run.requests[0]["arrival"]
    next_poll = math.ceil(first / 20) * 20  # KEDA polls at 0, 20, 40, ... s
    assert math.isclose(run.first_ready_s, next_poll + 40 - first)
    assert run.timeline[-1]["replicas"] == 0  # the trace ends quiet for longer than cooldown
    assert BURST_TRACE[-1][2] == 0 and BURST_TRACE[-1][1] - BURST_TRACE[-1][0] > 300
