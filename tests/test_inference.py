"""The GPU labs' device: CUDA when PyTorch sees a GPU, else the CPU, with sizes and a label
for each. PyTorch is replaced by a stand-in, so this runs without the gpu extra."""

import sys
import types

import pytest

from gopitfalls import inference


def fake_torch(gpu: str | None):
    cuda = types.SimpleNamespace(is_available=lambda: gpu is not None,
                                 get_device_name=lambda index: gpu)
    return types.SimpleNamespace(__version__="2.13.0+fake", cuda=cuda)


def test_a_gpu_is_used_and_named_on_every_figure(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch("NVIDIA A100-SXM4-40GB"))
    monkeypatch.delenv("GOPITFALLS_DEVICE", raising=False)
    found = inference.device()
    assert (found.kind, found.label) == ("cuda", "GPU: NVIDIA A100-SXM4-40GB")
    assert found.sizes == inference.GPU_SIZES
    assert inference.device("cpu").kind == "cpu"


def test_without_a_gpu_the_cpu_is_labelled_as_such_with_smaller_sizes(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(None))
    found = inference.device()
    assert found.kind == "cpu" and found.label.startswith("CPU, ") and "GPU" not in found.label
    assert found.sizes.hidden < inference.GPU_SIZES.hidden
    assert max(found.sizes.batch_sizes) < max(inference.GPU_SIZES.batch_sizes)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        inference.device("cuda")


def test_without_pytorch_the_device_is_the_cpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    found = inference.device()
    assert found.kind == "cpu" and found.torch_version is None
    with pytest.raises(RuntimeError, match="not installed"):
        inference.device("cuda")
