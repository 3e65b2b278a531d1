"""Lab gpu-01's batcher: the Go gateway in front of a real model worker forms batches of at
most MAX_BATCH (only of 1 with MAX_BATCH=1) and says on each answer which batch served it;
and the GPU monitor the lab shows on a GPU (about 10 s, most of it PyTorch's import and
the worker's warm-up)."""

import json
import os
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from gopitfalls import inference, serving
from gopitfalls.build import build
from gopitfalls.network import free_port, wait_for_port

from .conftest import ROOT

pytest.importorskip("torch", reason="the model worker needs PyTorch (the gpu extra)")

CLIENTS, EACH = 16, 8


@pytest.fixture(scope="module")
def worker():
    with serving.WorkerProcess(serving.Worker(device="cpu", warmup=True, max_batch=16)) as w:
        w.wait_ready()
        yield w


def answers(worker, max_batch: int) -> tuple[list[str | None], dict]:
    """CLIENTS clients each sending EACH requests back to back through a gateway with
    ``max_batch``: the X-Batch-Size of every answer, and the gateway's expvar counters."""
    binary = build(ROOT / serving.GATEWAY)
    port = free_port()
    env = {**os.environ, "ADDR": f"127.0.0.1:{port}", "WORKER_URL": worker.url,
           "MAX_BATCH": str(max_batch), "MAX_DELAY_MS": "20"}
    gateway = subprocess.Popen([str(binary.path)], env=env, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port(port, 10, lambda: gateway.poll() is None)
        url = f"http://127.0.0.1:{port}"
        body = inference.request_body(inference.CPU_SIZES.tokens).encode()

        def client(_):
            sizes = []
            for _ in range(EACH):
                request = urllib.request.Request(url + "/v1/infer", data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200 and "label" in response.read().decode()
                    sizes.append(response.headers.get("X-Batch-Size"))
            return sizes

        with ThreadPoolExecutor(CLIENTS) as pool:
            sizes = [s for one in pool.map(client, range(CLIENTS)) for s in one]
        with urllib.request.urlopen(url + "/debug/vars", timeout=5) as response:
            return sizes, json.load(response)
    finally:
        gateway.terminate()
        gateway.wait(10)


def test_without_batching_every_batch_has_one_request(worker):
    sizes, counters = answers(worker, max_batch=1)
    assert sizes == ["1"] * CLIENTS * EACH
    assert counters["batch_sizes"] == {"1": CLIENTS * EACH}


def test_a_batcher_under_16_clients_forms_batches_of_more_than_one_and_at_most_16(worker):
    sizes, counters = answers(worker, max_batch=16)
    assert None not in sizes, "every answer says the size of the batch that served it"
    served = [int(s) for s in sizes]
    assert max(served) <= 16 and sum(served) / len(served) > 2, served
    formed = {int(k): v for k, v in counters["batch_sizes"].items()}
    assert max(formed) <= 16 and sum(k * v for k, v in formed.items()) == CLIENTS * EACH


def test_with_more_clients_waiting_than_max_batch_no_batch_is_larger(worker):
    sizes, counters = answers(worker, max_batch=4)
    assert {int(s) for s in sizes} <= {1, 2, 3, 4} and "4" in sizes, sizes
    assert max(int(k) for k in counters["batch_sizes"]) == counters["largest_batch"] == 4


def test_the_device_monitor_samples_only_on_a_gpu(monkeypatch):
    readings = iter([(40.0, 1000.0), (80.0, 3000.0)] + [(60.0, 2000.0)] * 10000)
    monkeypatch.setattr(serving.DeviceMonitor, "sample", lambda self: next(readings))
    with serving.DeviceMonitor(every_s=0.01) as cpu:
        time.sleep(0.1)
    assert cpu.samples == [] and cpu.summary() is None, "on the CPU it samples nothing"
    gpu = inference.Device("cuda", "a stand-in", inference.GPU_SIZES, None)
    monkeypatch.setattr(inference, "device", lambda: gpu)
    with serving.DeviceMonitor(every_s=0.01) as monitor:
        time.sleep(0.2)
    assert [(u, mb) for _, u, mb in monitor.samples[:2]] == [(40.0, 1000.0), (80.0, 3000.0)]
    summary = monitor.summary()
    assert summary["GPU util % (max)"] == 80 and summary["GPU memory MB (max)"] == 3000
