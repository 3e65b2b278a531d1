"""Lab gpu-02's cold start: the model worker's phases, readiness with and without warm-up,
and the cold-start figure it keeps for lab gpu-04 (read back, or measured, or assumed)."""

import sys

import pytest

from gopitfalls import serving


def needs_torch():
    pytest.importorskip("torch", reason="the model worker needs the gpu extra (PyTorch)")


def test_without_warmup_ready_comes_before_any_forward_pass_and_phases_arrive_in_order():
    needs_torch()
    with serving.WorkerProcess(serving.Worker(max_batch=4)) as worker:
        worker.wait_ready()
        stats = worker.stats()
        assert stats["batches"] == 0 and stats["first_call_ms"] == {}, stats
        names = [phase["phase"] for _, phase in worker.phases]
        assert names == ["import_s", "device_init_s", "model_load_s", "ready"], names
        arrived = [t for t, _ in worker.phases]
        assert arrived == sorted(arrived) and arrived[0] > 0, arrived
        seconds = {phase["phase"]: phase["s"] for _, phase in worker.phases}
        assert seconds["import_s"] > 0 and seconds["model_load_s"] > 0, seconds
        assert seconds["device_init_s"] >= 0
        # "ready" is since the worker's clock started: the sum of the phases before it.
        assert seconds["ready"] >= seconds["import_s"] + seconds["model_load_s"], seconds


def test_warmup_runs_every_batch_size_before_ready():
    needs_torch()
    with serving.WorkerProcess(serving.Worker(warmup=True, max_batch=5)) as worker:
        worker.wait_ready()  # no request sent: whatever ran, ran before /ready said 200
        stats = worker.stats()
    assert sorted(int(size) for size in stats["first_call_ms"]) == [1, 2, 3, 4, 5], stats
    assert stats["phases"]["warmup_s"] > 0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GOPITFALLS_CACHE", str(tmp_path))
    return tmp_path


def test_the_saved_cold_start_round_trips_and_calibrates_gpu04(cache):
    measured = {"label": "CPU, 2 cores", "first_answer_s": 2.5, "import_s": 1.5}
    path = serving.save_cold_start(measured)
    assert path.is_relative_to(cache) and serving.load_cold_start() == measured
    seconds, said = serving.calibrated_cold_start(measure=False)
    assert seconds == serving.INFRA_COLD_START_S + 2.5
    assert "measured by lab gpu-02" in said and "45 s assumed" in said, said


def test_without_torch_or_a_saved_figure_gpu04_assumes_60_s(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    seconds, said = serving.calibrated_cold_start()
    assert seconds == 60.0 and "all assumed" in said, said
    assert serving.load_cold_start() is None


def test_with_torch_and_nothing_saved_gpu04_measures_a_cold_worker(cache):
    needs_torch()
    seconds, said = serving.calibrated_cold_start()
    saved = serving.load_cold_start()
    assert "measured just now" in said and saved is not None, said
    assert saved["first_answer_s"] >= saved["ready_s"] > saved["import_s"] > 0, saved
    assert seconds == round(serving.INFRA_COLD_START_S + saved["first_answer_s"], 1)
