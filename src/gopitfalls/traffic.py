"""Layer 6 (with load): traffic a lesson makes itself, from Python, on loopback.

The load generator (``load``) makes uniform traffic fast; these helpers make the traffic
it cannot: requests that differ one from the next, a retrying client, a route audit.

- :func:`call`: one request; the answer is data (status, headers, body, times), never an
  exception, so a 500 or a reset connection is a measurement like a 200.
- :func:`concurrently`: the same function over many items from N threads.
- :func:`paced`: a function called ``rate`` times a second for ``seconds``, on a fixed
  schedule (a late call does not push the next one back).
- :func:`slow_headers`: slowloris clients, each holding a connection with a request head
  it never finishes.
- :func:`deploy_under_load` and :func:`cluster_partition`: what the health-check and
  shutdown lessons and their labs do to a service under load (a ``during_load`` hook's work,
  given the run's ``Control``, which is read by its attributes: it is a layer above).

Requests go through ``http.client`` directly, so no proxy setting of the environment can
send loopback traffic anywhere else.
"""

from __future__ import annotations

import http.client
import json
import resource
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
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


def why_no_answer(answer: Answer) -> str:
    """For an answer without a status: ``refused`` (nothing listens), ``cut`` (reset or
    closed before a whole answer), or the error itself."""
    return answer.failure if answer.failure in ("refused", "cut") else answer.error


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


def allow_open_files(n: int) -> None:
    """Let this process open ``n`` more sockets (its soft RLIMIT_NOFILE raised, up to the
    hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256 if hard == resource.RLIM_INFINITY else min(hard, n + 256)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def slow_headers(url: str, count: int, seconds: float, head: bytes, trickle_s: float = 0.5,
                 now: Callable[[], float] = time.monotonic) -> dict:
    """``count`` clients that each send ``head`` (a request head without its blank line) and
    then one more header byte every ``trickle_s``, for ``seconds`` after the last one has
    connected; then they hang up. Returns, on the clock ``now`` (a run's ``ctl.now``):
    "all connected", "end", "cut" (how many the server hung up on) and "held" (how long
    each client kept its connection, in seconds)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    allow_open_files(count)
    sel, conns = selectors.DefaultSelector(), {}
    try:
        for _ in range(count):
            s = socket.create_connection((host, port), timeout=2.0)
            s.setblocking(False)
            s.send(head)
            conns[s] = {"opened": now(), "cut": None}
            sel.register(s, selectors.EVENT_READ)
        all_in = now()  # a busy machine may take a while to connect them all
        end, next_byte = all_in + seconds, all_in + trickle_s
        while now() < end:
            for key, _ in sel.select(timeout=max(0.0, min(next_byte, end) - now())):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:  # EOF or reset: the server hung up
                    conns[key.fileobj]["cut"] = now()
                    sel.unregister(key.fileobj)
            if now() >= next_byte:
                next_byte += trickle_s
                for s, info in conns.items():
                    if info["cut"] is None:
                        try:
                            s.send(b"X")
                        except OSError:
                            info["cut"] = now()
                            sel.unregister(s)
    finally:
        for s in conns:
            s.close()
        sel.close()
    ended = now()
    return {"all connected": all_in, "end": ended,
            "cut": sum(c["cut"] is not None for c in conns.values()),
            "held": [(c["cut"] or ended) - c["opened"] for c in conns.values()]}


def deploy_under_load(ctl, request: Callable[[int], Answer], *, clients: int,
                      signal_after_s: float, record: Callable[[int, float, float, Answer], None],
                      poll_s: float = 0.05, in_flight_wait_s: float = 10.0,
                      exit_wait_s: float = 15.0) -> None:
    """A deploy as a toy load balancer sees it. One thread polls ``/readyz`` every
    ``poll_s`` (``ctl.data["readyz"]``: (time, status or :func:`why_no_answer`));
    ``clients`` threads call ``request(i)`` back to back while the last poll said 200 and
    hand each answer to ``record(i, start, end, answer)`` (one at a time). The deploy waits
    ``signal_after_s`` after the first 200 and until every client has a request in flight (at
    most ``in_flight_wait_s`` more: a busy machine can delay that), sends SIGTERM
    (``ctl.data["signal_t"]``) and waits up to ``exit_wait_s`` for the process to exit
    (``ctl.data["exited_t"]``, None if it did not); then the clients and the poller stop.
    Times are on the run's clock (``ctl.now``)."""
    rec = ctl.data
    rec.update(readyz=[], signal_t=None, exited_t=None)
    ready, stop, lock = threading.Event(), threading.Event(), threading.Lock()
    in_flight = [0]

    def balancer():
        while not stop.is_set():
            t = ctl.now()
            answer = call(ctl.url + "/readyz", timeout=1.0)
            status = answer.status or why_no_answer(answer)  # no answer: not ready
            rec["readyz"].append((t, status))
            ready.set() if status == 200 else ready.clear()
            stop.wait(poll_s)

    def client(i):
        while not stop.is_set():
            if not ready.is_set():  # the balancer sends nothing to an instance not ready
                stop.wait(0.01)
                continue
            start = ctl.now()
            with lock:
                in_flight[0] += 1
            answer = request(i)
            with lock:
                in_flight[0] -= 1
                record(i, start, ctl.now(), answer)

    def deploy():
        try:
            ready.wait(10.0)
            stop.wait(signal_after_s)
            deadline = ctl.now() + in_flight_wait_s
            while in_flight[0] < clients and ctl.now() < deadline:
                stop.wait(0.005)
            rec["signal_t"] = ctl.now()
            ctl.send_signal(signal.SIGTERM)
            if ctl.process.wait(exit_wait_s) is not None:
                rec["exited_t"] = ctl.now()
        finally:
            stop.set()

    roles = [balancer, deploy, *(partial(client, i) for i in range(clients))]
    concurrently(lambda role: role(), roles, threads=len(roles))


def cluster_partition(cut_at_s: float, heal_at_s: float, instance: int = 1):
    """A ``during_load`` hook for a cluster of go-samples/internal/cluster: cut
    ``instance``'s path to the database ``cut_at_s`` into the load and give it back at
    ``heal_at_s`` (POST /cluster/partition, /cluster/heal), marking both on the time axis;
    their times go to ``run.data`` (``partition_t``, ``heal_t``)."""
    def hook(ctl):
        start = ctl.now()
        for at, action, label in ((cut_at_s, "partition", f"instance {instance}'s database cut"),
                                  (heal_at_s, "heal", "healed")):
            time.sleep(max(0.0, start + at - ctl.now()))
            answer = call(f"{ctl.url}/cluster/{action}?instance={instance}", method="POST",
                          timeout=2)
            if answer.status != 200:
                raise RuntimeError(f"/cluster/{action}: {answer.status or answer.error}")
            ctl.event(label)
            ctl.data[action + "_t"] = ctl.now()
    return hook
