"""pytest configuration for the whole checkout: nbval's notebook kernels use IPC sockets
(see tests/kernels.py for why)."""

import nbval.kernel

from tests.kernels import IPCKernelManager

nbval.kernel.KernelManager = IPCKernelManager
