"""The GPU labs' device: CUDA when PyTorch sees a GPU, else the CPU, with sizes and a label
for each (PyTorch replaced by a stand-in); and the labs' model, which needs the gpu extra
(about 3 s, most of it importing PyTorch)."""

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


def test_the_model_is_built_in_code_seeded_and_sized_for_the_device():
    pytest.importorskip("torch", reason="PyTorch is the gpu extra (.ci/run installs it)")
    import torch

    found = inference.device("cpu")
    net = inference.model(found, seed=1)
    inputs = inference.batch(found, 3)
    assert inputs.shape == (3, found.sizes.tokens)  # token ids, one row per request
    with torch.inference_mode():
        out = net(inputs)
        assert out.shape == (3, inference.CLASSES)
        assert torch.equal(out, inference.model(found, seed=1)(inputs))  # same seed, same model
        assert not torch.equal(out, inference.model(found, seed=2)(inputs))
    assert inference.items_per_second(found, net, 2, seconds=0.05) > 0
