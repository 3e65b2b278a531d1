"""Layer 3 (beside telemetry): the device the GPU labs (chapter 5) run their model on.

:func:`device` finds CUDA when PyTorch sees a GPU, else the CPU, and picks the labs' sizes
for it: a CPU run uses a smaller model and fewer, smaller batches, so a lab keeps to its
time on Binder and in CI. Every figure a GPU lab prints or plots carries ``device.label``
("CPU, 2 cores" or the GPU's name), so a CPU result is never read as a GPU one.

PyTorch is the optional ``gpu`` extra; without it the device is the CPU and ``torch`` is
None (the simulated lab gpu-04 needs no PyTorch at all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """What a lab runs on a device: the model's width and depth, the batch sizes it tries,
    the concurrencies its load uses."""

    hidden: int
    layers: int
    tokens: int  # the length of one request's input sequence
    batch_sizes: tuple[int, ...]
    concurrency: tuple[int, ...]


GPU_SIZES = Sizes(hidden=1024, layers=8, tokens=128, batch_sizes=(1, 2, 4, 8, 16, 32, 64),
                  concurrency=(1, 2, 4, 8, 16, 32, 64))
CPU_SIZES = Sizes(hidden=256, layers=4, tokens=32, batch_sizes=(1, 2, 4, 8, 16),
                  concurrency=(1, 4, 16))


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" or "cpu": what torch.device() takes
    name: str  # the GPU's name, or the CPU's core count
    sizes: Sizes
    torch_version: str | None  # None: PyTorch is not installed

    @property
    def label(self) -> str:
        """Put on every figure: "CPU, 2 cores" or "GPU: NVIDIA A100-SXM4-40GB"."""
        return f"GPU: {self.name}" if self.kind == "cuda" else f"CPU, {self.name}"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (a container's)
    except AttributeError:  # pragma: no cover (macOS)
        return os.cpu_count() or 1


def device(prefer: str | None = None) -> Device:
    """The device the labs use: CUDA when PyTorch sees a GPU, else the CPU.
    ``prefer="cpu"`` (or ``GOPITFALLS_DEVICE=cpu``) keeps to the CPU on a GPU machine."""
    prefer = prefer or os.environ.get("GOPITFALLS_DEVICE") or "auto"
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {prefer!r}")
    try:
        import torch
    except ImportError:
        torch = None
    version = getattr(torch, "__version__", None)
    if torch is not None and prefer != "cpu" and torch.cuda.is_available():
        return Device("cuda", torch.cuda.get_device_name(0), GPU_SIZES, version)
    if prefer == "cuda":
        why = "PyTorch is not installed" if torch is None else "PyTorch sees no CUDA device"
        raise RuntimeError(f"a GPU was asked for, but {why}")
    count = cores()
    return Device("cpu", f"{count} core{'s' if count != 1 else ''}", CPU_SIZES, version)


def use_worker_threads(dev: Device) -> None:
    """PyTorch's threads as the model worker sets them: on the CPU one core is left to the
    gateway and the load generator, which share the machine (PyTorch's threads spin while
    they wait and would starve them). Anything that measures the model beside the worker's
    figures uses the same."""
    if dev.kind == "cpu":
        import torch

        torch.set_num_threads(max(1, cores() - 1))


VOCABULARY = 1000  # token ids a request may hold: 0 .. VOCABULARY - 1
CLASSES = 10  # the model answers one of these per input


def model(dev: Device, seed: int = 0):
    """The labs' model, built in code with random weights (seeded), so nothing is
    downloaded: token embeddings, a Transformer encoder sized for the device, mean pooling
    and a linear head over :data:`CLASSES`. In eval mode on the device. Needs PyTorch.
    Input: token ids (batch, length), padded with 0 to the batch's longest; output: logits
    (batch, CLASSES)."""
    import torch

    torch.manual_seed(seed)
    hidden = dev.sizes.hidden

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCABULARY, hidden)
            layer = torch.nn.TransformerEncoderLayer(d_model=hidden, nhead=8,
                                                     dim_feedforward=4 * hidden,
                                                     batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, num_layers=dev.sizes.layers,
                                                       enable_nested_tensor=False)
            self.head = torch.nn.Linear(hidden, CLASSES)

        def forward(self, tokens):
            return self.head(self.encoder(self.embed(tokens)).mean(dim=1))

    return Classifier().eval().to(dev.kind)


def tokens(length: int, seed: int = 0) -> list[int]:
    """One request's input: ``length`` token ids, seeded."""
    import random

    rng = random.Random(seed)
    return [rng.randrange(1, VOCABULARY) for _ in range(length)]


def request_body(length: int, seed: int = 0) -> str:
    """The JSON body of one inference request (what the load generator sends)."""
    import json

    return json.dumps({"tokens": tokens(length, seed)})


def batch(dev: Device, size: int, seed: int = 0, length: int | None = None):
    """``size`` requests' inputs as one tensor of token ids (size, length) on the device;
    ``length`` defaults to the device's request length."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    shape = (size, length or dev.sizes.tokens)
    return torch.randint(1, VOCABULARY, shape, generator=generator).to(dev.kind)


def items_per_second(dev: Device, net, size: int, seconds: float = 0.5) -> float:
    """Requests per second the model serves at one batch size, measured for ``seconds``
    after one warm-up call (the first call of a shape is slower: lab gpu-02)."""
    import time

    import torch

    inputs = batch(dev, size)
    with torch.inference_mode():
        net(inputs)
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            net(inputs)
            calls += 1
        if dev.kind == "cuda":
            torch.cuda.synchronize()
    return calls * size / (time.perf_counter() - started)
