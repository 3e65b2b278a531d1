"""Layer 3: reading what the probe reports.

The probe (``probe/probe.go``, injected by the build layer) writes one ``@probe {json}``
line per interval: time, goroutines, live heap, RSS, open fds, threads, GC count and every
``expvar`` variable the program publishes."""

from __future__ import annotations

import json

PROBE_PREFIX = "@probe "


def parse_probe(line: str) -> dict | None:
    """The JSON of an ``@probe`` line, or None for any other line."""
    if not line.startswith(PROBE_PREFIX):
        return None
    try:
        return json.loads(line[len(PROBE_PREFIX):])
    except ValueError:
        return None
