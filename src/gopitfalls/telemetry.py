"""Layer 3: reading what the probe reports.

The probe (``probe/probe.go``, injected by the build layer) writes one line per interval:
time, goroutines, live heap, RSS, open fds, threads, GC count and every ``expvar``
variable the program publishes, as ``@probe <key> {json}``. The key is a secret made for
each run (:class:`ProbeKey`) and handed to the probe on the program's standard input, so a
line the program prints itself cannot pass for the probe's.
"""

from __future__ import annotations

import json
import secrets

PROBE_PREFIX = "@probe "


class ProbeKey:
    """One run's probe key: what the program gets (``env``, ``stdin``) and the parser that
    believes only lines carrying it, counting the others that look like probe lines."""

    env = {"GOPITFALLS_PROBE": "stdin"}

    def __init__(self) -> None:
        self.key = secrets.token_hex(16)
        self.stdin = (self.key + "\n").encode()
        self.rejected = 0  # "@probe" lines without the key: the program's own

    def parse(self, line: str) -> dict | None:
        """The JSON of one of the probe's lines, or None for any other line."""
        if not line.startswith(PROBE_PREFIX):
            return None
        head = PROBE_PREFIX + self.key + " "
        if not line.startswith(head):
            self.rejected += 1
            return None
        try:
            return json.loads(line[len(head):])
        except ValueError:
            return None

    def refuse(self, line: str) -> None:
        """A line of the program's stdout, where the probe never writes: a probe-like one is
        counted with the other forgeries, key or not."""
        if line.startswith(PROBE_PREFIX):
            self.rejected += 1
