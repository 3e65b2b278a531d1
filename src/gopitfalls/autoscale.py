"""Layer 8 (beside plots): queue-based autoscaling, simulated (GPU lab gpu-04).

A discrete-event simulation (``simpy``) of an inference Deployment fed by one queue and
scaled on the queue's length the way KEDA and the Kubernetes HPA do it together:

- KEDA reads the metric every ``polling_s`` (its ``pollingInterval``, default 30 s). It
  activates the Deployment from 0 to 1 replica when the metric is above 0, and takes it back
  to 0 once the metric has been 0 for ``cooldown_s`` (``cooldownPeriod``, default 300 s;
  it only applies to scaling to zero).
- From 1 replica up, the HPA decides every ``hpa_sync_s`` (the controller's sync period,
  15 s): desired = ceil(metric / ``target``) (skipped within its 10 % tolerance), at most
  max(2 × current, current + 4) per decision (its default scale-up policies), and on the
  way down the highest recommendation of the last ``scale_down_window_s`` (the default
  scale-down ``stabilizationWindowSeconds``, 300 s).
- A new replica serves after ``cold_start_s``; each serves one request at a time, in
  ``service_s``. The queue holds at most ``queue_limit`` requests (the rest are dropped,
  a 503) and a client waits at most ``timeout_s`` for its request to start (then it has
  timed out). The metric is what KEDA's queue scalers count: waiting plus in service.

Nothing here runs on a device: the figures are simulated, and labelled so. The cold-start
time is a parameter; lab gpu-02 measures the part of it spent inside the server.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

import simpy

from .plots import figure

# A quiet minute, three minutes of burst, three of a trickle, then quiet again:
# (start s, end s, requests/s).
BURST_TRACE = ((0, 60, 0.0), (60, 240, 12.0), (240, 420, 0.5), (420, 900, 0.0))


@dataclass(frozen=True)
class Scaling:
    min_replicas: int = 0
    max_replicas: int = 8
    target: float = 4.0  # requests waiting or in service, per replica
    polling_s: float = 30.0  # KEDA pollingInterval (default)
    cooldown_s: float = 300.0  # KEDA cooldownPeriod (default)
    hpa_sync_s: float = 15.0  # HPA controller sync period (default)
    scale_down_window_s: float = 300.0  # HPA scaleDown stabilizationWindowSeconds (default)
    # Assumed, not measured: pod start, device init, model load and warm-up together. Lab
    # gpu-02 measures the in-process part on the device at hand.
    cold_start_s: float = 60.0
    service_s: float = 0.25  # one request on one replica (4 requests/s per replica)
    queue_limit: int = 100
    timeout_s: float = 30.0  # the client's patience, from arrival to the start of service

    def but(self, **changes) -> Scaling:
        return replace(self, **changes)


@dataclass
class Simulated:
    """One simulated run: per-request outcomes and a per-second timeline."""

    scaling: Scaling
    trace: tuple
    seed: int
    requests: list[dict] = field(default_factory=list)  # arrival, outcome, wait_s, latency_s
    timeline: list[dict] = field(default_factory=list)  # t, queue, ready, replicas
    replica_seconds: float = 0.0  # replicas that exist (starting or ready) × time: the bill
    ready_at: list[float] = field(default_factory=list)  # when each replica began to serve

    def count(self, outcome: str) -> int:
        return sum(r["outcome"] == outcome for r in self.requests)

    @property
    def lost(self) -> int:
        """Requests that never got an answer: dropped at the full queue, or timed out."""
        return self.count("dropped") + self.count("timed out")

    def latency_quantile(self, q: float) -> float:
        done = sorted(r["latency_s"] for r in self.requests if r["outcome"] == "ok")
        return done[min(len(done) - 1, int(q * len(done)))] if done else math.nan

    @property
    def first_ready_s(self) -> float:
        """Seconds from the first request's arrival to the first replica ready for it."""
        return max(0.0, min(self.ready_at, default=math.nan) - self.requests[0]["arrival"])

    def summary(self) -> dict:
        return {"offered": len(self.requests), "ok": self.count("ok"),
                "dropped (queue full)": self.count("dropped"),
                "timed out": self.count("timed out"),
                "p50 latency (s)": round(self.latency_quantile(0.50), 2),
                "p99 latency (s)": round(self.latency_quantile(0.99), 2),
                "first replica ready after (s)": round(self.first_ready_s, 1),
                "replica-minutes": round(self.replica_seconds / 60, 1)}


def arrivals(trace=BURST_TRACE, seed: int = 1) -> list[float]:
    """Poisson arrival times for a piecewise-constant rate, the same for the same seed."""
    rng = random.Random(seed)
    times = []
    for start, end, rate in trace:
        t = start
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= end:
                break
            times.append(t)
    return times


def simulate(scaling: Scaling = Scaling(), trace=BURST_TRACE, seed: int = 1) -> Simulated:
    """Runs the trace against the Deployment and its scalers; deterministic for a seed."""
    env = simpy.Environment()
    queue = simpy.Store(env)
    run = Simulated(scaling, trace, seed)
    replicas: list[dict] = []  # each: ready (bool), busy (bool), stop (event)
    busy = 0

    def metric() -> int:
        return len(queue.items) + busy

    def request(arrival: float):
        entry = {"arrival": arrival, "outcome": "", "wait_s": math.nan, "latency_s": math.nan}
        run.requests.append(entry)
        yield env.timeout(arrival - env.now)
        if len(queue.items) >= scaling.queue_limit:
            entry["outcome"] = "dropped"
            return
        started = env.event()
        queue.put((entry, started))
        yield started | env.timeout(scaling.timeout_s)
        if not started.triggered and (entry, started) in queue.items:
            entry["outcome"] = "timed out"
            queue.items.remove((entry, started))  # the client went away

    def replica(me: dict):
        nonlocal busy
        if not me["ready"]:  # cold start (the replicas of the floor are already up)
            yield env.timeout(scaling.cold_start_s) | me["stop"]
            me["ready"] = not me["stop"].triggered
            run.ready_at.append(env.now)
        while me["ready"]:
            get = queue.get()
            yield get | me["stop"]
            if not get.triggered:
                get.cancel()
                return
            entry, started = get.value
            started.succeed()
            busy += 1
            yield env.timeout(scaling.service_s)
            busy -= 1
            entry["outcome"] = "ok"
            entry["wait_s"] = env.now - scaling.service_s - entry["arrival"]
            entry["latency_s"] = env.now - entry["arrival"]
            if me["stop"].triggered:
                return

    def set_replicas(n: int) -> None:
        while len(replicas) < n:
            me = {"ready": False, "stop": env.event()}
            replicas.append(me)
            env.process(replica(me))
        # a ReplicaSet removes pods that are not ready first
        replicas.sort(key=lambda r: r["ready"])
        while len(replicas) > n:
            replicas.pop(0)["stop"].succeed()

    last_active = [0.0]

    def keda():
        while True:
            if metric() > 0:
                last_active[0] = env.now
                if not replicas:
                    set_replicas(1)
            elif (replicas and scaling.min_replicas == 0
                  and env.now - last_active[0] >= scaling.cooldown_s):
                set_replicas(0)
            yield env.timeout(scaling.polling_s)

    def hpa():
        recommendations: list[tuple[float, int]] = []
        while True:
            yield env.timeout(scaling.hpa_sync_s)
            current = len(replicas)
            if current == 0:
                continue  # scaled to zero: KEDA's to wake
            desired = max(1, scaling.min_replicas,
                          min(scaling.max_replicas, math.ceil(metric() / scaling.target)))
            if abs(metric() / (scaling.target * current) - 1) <= 0.1:
                desired = current  # within the HPA's tolerance: stay
            recommendations = [(t, d) for t, d in recommendations
                               if env.now - t < scaling.scale_down_window_s]
            recommendations.append((env.now, desired))
            if desired > current:
                set_replicas(min(desired, max(2 * current, current + 4)))
            else:
                set_replicas(max(d for _, d in recommendations))

    def sample():
        while True:
            run.timeline.append({"t": env.now, "queue": len(queue.items),
                                 "ready": sum(r["ready"] for r in replicas),
                                 "replicas": len(replicas)})
            run.replica_seconds += len(replicas)
            yield env.timeout(1.0)

    set_replicas(scaling.min_replicas)
    for r in replicas:
        r["ready"] = True  # the floor was up before the trace began
        run.ready_at.append(0.0)
    for t in arrivals(trace, seed):
        env.process(request(t))
    env.process(keda())
    env.process(hpa())
    env.process(sample())
    env.run(until=trace[-1][1])
    for entry in run.requests:
        entry["outcome"] = entry["outcome"] or "unfinished"
    return run


def per_second(run: Simulated, outcome: str | None = None) -> list[int]:
    """Requests per second of the run: all arrivals, or those with ``outcome`` counted when
    it happened (an answer when served, a drop on arrival, a time-out when the client left)."""
    counts = [0] * int(run.trace[-1][1])
    for r in run.requests:
        if outcome is None or r["outcome"] == outcome:
            t = r["arrival"]
            if r["outcome"] == "ok" and outcome:
                t += r["latency_s"]
            elif r["outcome"] == "timed out" and outcome:
                t += run.scaling.timeout_s
            counts[min(len(counts) - 1, int(t))] += 1
    return counts


PALETTE = ("#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd")


def plot(runs: dict[str, Simulated], title: str = ""):
    """The runs against their request trace, one panel per quantity, one line per run."""
    colors = dict(zip(runs, PALETTE, strict=False))
    first = next(iter(runs.values()))

    def draw(ax, panel, _data, _color):
        if panel == "requests/s":
            ax.fill_between(range(len(per_second(first))), per_second(first), step="post",
                            color="#cccccc", label="offered (the trace)")
        for name, run in runs.items():
            t = [p["t"] for p in run.timeline]
            if panel == "requests/s":
                ax.step(range(len(t)), per_second(run, "ok"), where="post", lw=1,
                        color=colors[name], label=f"{name}: answered")
            elif panel == "queue length":
                ax.step(t, [p["queue"] for p in run.timeline], where="post", color=colors[name],
                        label=name)
            elif panel == "replicas (dashed: starting too)":
                ax.step(t, [p["ready"] for p in run.timeline], where="post", color=colors[name],
                        label=name)
                ax.step(t, [p["replicas"] for p in run.timeline], where="post",
                        color=colors[name], ls="--", lw=0.8)
            else:
                lost = [a + b for a, b in zip(per_second(run, "dropped"),
                                              per_second(run, "timed out"), strict=True)]
                ax.step(range(len(lost)), lost, where="post", color=colors[name], label=name)
        ax.legend(frameon=False, fontsize=7, loc="upper right")

    panels = dict.fromkeys(["requests/s", "queue length", "replicas (dashed: starting too)",
                            "lost requests/s (dropped + timed out)"])
    return figure(draw, panels, title=title or "simulated (no device)", xlabel="seconds",
                  stacked=True, sharey=False, size=(10, 8.5))
