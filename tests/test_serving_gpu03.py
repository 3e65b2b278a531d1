"""Lab gpu-03's admission control, through the Go gateway in front of the PyTorch worker: a
full queue is answered 429 with Retry-After, a gone worker 503 with Retry-After, and an
unbounded batch of long inputs gets the worker killed for its memory (about 25 s in all,
most of it starting workers; needs the gpu extra)."""

import pytest

pytest.importorskip("torch", reason="PyTorch is the gpu extra (.ci/run installs it)")

from gopitfalls import inference, serving  # noqa: E402
from gopitfalls.backends import MEMORY_KILLS  # noqa: E402

LONG = inference.request_body(512)


def test_a_full_queue_is_answered_429_with_retry_after():
    # One input per batch (~0.1 s each at 512 tokens) against 40 requests/s: the queue of
    # 2 is full almost at once.
    with serving.WorkerProcess(serving.Worker(device="cpu")) as worker:
        worker.wait_ready()
        served = serving.serve_watched(
            serving.Batching(max_batch=1, max_queue=2, retry_after_s=3),
            serving.infer_load(LONG, rate=40, duration_s=1.5, timeout_s=10), worker,
            progress=None)
    status = served.run.load_summary["status"]
    assert status.get("429", 0) > 0 and status.get("200", 0) > 0, status
    # The gateway counted them (and the watch's own request, turned away too).
    assert served.run.final("expvar.rejected_full") >= status["429"]
    assert served.run.data["rejected"]["status"] == 429
    assert served.run.data["rejected"]["retry_after"] == "3"
    assert served.run.final("expvar.queue_length") <= 2
    assert not served.worker_died


def test_without_its_worker_the_gateway_answers_503_with_retry_after():
    worker = serving.WorkerProcess(serving.Worker(device="cpu"))
    worker.stop()  # the gateway's worker is gone before the first request
    served = serving.serve_watched(serving.Batching(max_batch=4, retry_after_s=2),
                                   serving.infer_load(LONG, rate=20, duration_s=1), worker,
                                   progress=None)
    summary = served.run.load_summary
    assert summary["ok"] == 0 and summary["status"].get("503") == summary["done"] > 0
    assert served.run.data["rejected"] == {**served.run.data["rejected"], "status": 503,
                                           "retry_after": "2"}


def test_an_unbounded_batch_of_long_inputs_gets_the_worker_killed_for_its_memory():
    # 600 MB: the worker holds ~270 MB with one input of 512 tokens, and ~15 MB more per
    # input; at 60 requests/s the batches grow 1, ~6, ~36: past the cap.
    with serving.WorkerProcess(serving.Worker(device="cpu", memory_mb=600)) as worker:
        worker.wait_ready()
        served = serving.serve(serving.Batching(max_batch=0, max_queue=0),
                               serving.infer_load(LONG, rate=60, duration_s=3, timeout_s=20),
                               worker, progress=None)
    assert served.worker_died and served.worker_exit.killed_by in MEMORY_KILLS, \
        served.worker_exit
    summary = served.run.load_summary
    assert summary["done"] - summary["ok"] > summary["done"] / 2, summary
