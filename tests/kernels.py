"""Notebook kernels for the test suite, on IPC sockets instead of TCP ports.

jupyter_client picks a kernel's five TCP ports by binding port 0 and closing the socket;
the kernel binds them a moment later. The lessons open thousands of loopback connections,
and one of them can be given such a port in between, so the kernel never answers
("Kernel didn't respond in 60 seconds", jupyter/jupyter_client#487). IPC sockets are files
named after the kernel's own connection file: nothing else can take them.
"""

import os
import uuid

from jupyter_client.manager import KernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default


class IPCKernelManager(KernelManager):
    @default("transport")
    def _default_transport(self):
        return "ipc"

    @default("ip")
    def _default_ip(self):
        # The socket files' path prefix. Absolute, because the kernel runs in the notebook's
        # folder while the client stays in ours; unique, so parallel kernels never meet.
        os.makedirs(jupyter_runtime_dir(), exist_ok=True)
        return os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4().hex[:12]}-ipc")
