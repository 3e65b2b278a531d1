"""Layer 6 (with load): traffic a lesson makes itself, from Python, on loopback.

The load generator (``load``) makes uniform traffic fast; these helpers make the traffic
it cannot: requests that differ one from the next, a retrying client, a route audit.

- :func:`call`: one request; the answer is data (status, headers, body, times), never an
  exception, so a 500 or a reset connection is a measurement like a 200.
- :func:`concurrently`: the same function over many items from N threads.
- :func:`paced`: a function called ``rate`` times a second for ``seconds``, on a fixed
  schedule (a late call does not push the next one back).

Requests go through ``http.client`` directly, so no proxy setting of the environment can
send loopback traffic anywhere else.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    """What one request got back. ``status`` is None when no answer came (refused, reset,
    timed out); ``error`` then says why."""

    status: int | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    started: float = 0.0  # time.time() when the request was sent
    ended: float = 0.0
    error: str | None = None
    # Without a status, what happened: "refused" (nothing listened), "cut" (the
    # connection was reset or closed before a whole answer), "timeout", or "error".
    failure: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def __iter__(self):  # status, text = call(...)
        return iter((self.status, self.text))


def call(url: str, method: str = "GET", *, body: bytes | str | dict | list | None = None,
         headers: dict[str, str] | None = None, timeout: float = 5.0) -> Answer:
    """Send one request and return its :class:`Answer`. A dict or list body is sent as
    JSON. Any status is an answer; a connection that fails is an answer with no status."""
    parts = urlsplit(url)
    headers = dict(headers or {})
    if isinstance(body, dict | list):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    started = time.time()
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Answer(resp.status, data, {k: v for k, v in resp.getheaders()}, started,
                      time.time())
    except (OSError, http.client.HTTPException) as err:
        return Answer(None, b"", {}, started, time.time(), f"{type(err).__name__}: {err}",
                      _failure(err))
    finally:
        conn.close()


def _failure(err: Exception) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, TimeoutError):
        return "timeout"
    if isinstance(err, ConnectionResetError | BrokenPipeError | http.client.BadStatusLine
                  | http.client.IncompleteRead):  # BadStatusLine: closed before a status
        return "cut"
    return "error"


def concurrently(func: Callable[[Any], Any], items: Iterable, threads: int = 8) -> list:
    """``func(item)`` for every item, ``threads`` at a time; the results in item order."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        return list(pool.map(func, items))


def paced(func: Callable[[int], Any], rate: float, seconds: float, threads: int = 8) -> list:
    """Call ``func(i)`` for i = 0, 1, ... at ``start + i / rate`` for ``seconds`` (an open
    schedule: a slow call does not delay the next one while a thread is free); the results
    in call order."""
    start = time.monotonic()

    def on_schedule(i: int):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        return func(i)

    return concurrently(on_schedule, range(max(1, int(rate * seconds))), threads)
