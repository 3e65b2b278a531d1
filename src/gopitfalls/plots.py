"""Layer 8: one consistent look for every lesson's plots, live and after the fact.

Metrics are named as in :meth:`Run.series`, with an optional source prefix:
``"goroutines"``, ``"rss"``, ``"expvar.work_started"``, ``"load:p99_ms"``,
``"upstream:expvar.conns_accepted"``, ``"db:postgres.connections"``; a counter's name with
``/s`` is its rate (``"expvar.db_queries/s"``).
"""

from __future__ import annotations

import html
import time

import matplotlib.pyplot as plt

from .experiment import Run

COLORS = {"broken": "#d62728", "fixed": "#2ca02c"}
EVENT_STYLE = {"load start": ("#555555", "--"), "load stop": ("#555555", ":")}
KILL_COLOR = "#9467bd"
LESSON_EVENT_COLOR = "#1f77b4"
ENGINE_EVENTS = {"start", "never listened"}

_LABELS = {
    "goroutines": ("goroutines", 1.0),
    "rss": ("RSS (MB)", 1 / 2**20),
    "heap_live": ("live heap (MB)", 1 / 2**20),
    "heap_objects": ("heap objects (MB)", 1 / 2**20),
    "fds": ("open file descriptors", 1.0),
    "threads": ("OS threads", 1.0),
    "p99_ms": ("p99 latency (ms)", 1.0),
    "p50_ms": ("p50 latency (ms)", 1.0),
    "max_ms": ("max latency (ms)", 1.0),
    "ok": ("OK responses / interval", 1.0),
    "sent": ("requests sent / interval", 1.0),
    "postgres.connections": ("PostgreSQL connections", 1.0),
    "postgres.active": ("PostgreSQL queries running", 1.0),
    "postgres.idle_in_transaction": ("PostgreSQL idle in transaction", 1.0),
    "redis.clients": ("Redis clients", 1.0),
    "redis.hits": ("Redis hits", 1.0),
    "redis.misses": ("Redis misses", 1.0),
    "redis.commands": ("Redis commands", 1.0),
}


def split_metric(metric: str) -> tuple[str, str]:
    source, _, name = metric.rpartition(":")
    return (source or "program"), name


def metric_label(metric: str) -> tuple[str, float]:
    source, name = split_metric(metric)
    if name.endswith("/s"):  # a counter's rate
        return metric_label(metric.removesuffix("/s"))[0] + " per s", 1.0
    label, scale = _LABELS.get(name, (name.removeprefix("expvar."), 1.0))
    if source in ("upstream", "sink"):
        label = ("upstream " if source == "upstream" else "log sink ") + label
    return label, scale


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where a live plot can be shown)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _style(ax) -> None:
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _variant_color(run: Run) -> str | None:
    return next((c for name, c in COLORS.items() if run.label.endswith(name)), None)


def draw(ax, run: Run, metric: str, *, color: str | None = None, label: str | None = None,
         events: bool = True, align: bool = False) -> None:
    """Plot one metric of one run; ``align`` puts t=0 at the start of load, so runs with
    different start-up times line up."""
    source, name = split_metric(metric)
    ts, vs = run.series(name, source)
    shift = (run.event_time("load start") or 0.0) if align else 0.0
    ylabel, scale = metric_label(metric)
    ax.plot([t - shift for t in ts], [v * scale for v in vs], color=color or _variant_color(run),
            label=label or run.label, linewidth=1.8)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("seconds since load started" if align else "seconds since start")
    if events:
        mark_events(ax, run, shift)
    _style(ax)


def mark_events(ax, run: Run, shift: float = 0.0) -> None:
    for t, name in run.events:
        t -= shift
        if name in EVENT_STYLE:
            color, ls = EVENT_STYLE[name]
            ax.axvline(t, color=color, linestyle=ls, linewidth=1, alpha=0.7)
        elif name.startswith("killed") or name.startswith("exit"):
            ax.axvline(t, color=KILL_COLOR, linewidth=2)
            ax.annotate(name, (t, 1), xycoords=("data", "axes fraction"), rotation=90,
                        va="top", ha="right", color=KILL_COLOR, fontsize=9)
        elif name not in ENGINE_EVENTS:  # a lesson's own (Control.event): "db down", ...
            ax.axvline(t, color=LESSON_EVENT_COLOR, linestyle="-.", linewidth=1.2)
            ax.annotate(name, (t, 1), xycoords=("data", "axes fraction"), rotation=90,
                        va="top", ha="right", color=LESSON_EVENT_COLOR, fontsize=9)


def plot_run(run: Run, metrics: list[str], title: str | None = None):
    """One panel per metric for one run, with load start/stop and any kill marked."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        draw(ax, run, metric)
    fig.suptitle(title or run.label)
    fig.tight_layout()
    plt.close(fig)  # shown once, by the notebook, from the returned figure
    return fig


def compare(broken: Run, fixed: Run, metrics: list[str], title: str = ""):
    """Broken and fixed side by side: one panel per metric, both runs on the same axes."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        draw(ax, broken, metric, color=COLORS["broken"], label="broken", align=True)
        draw(ax, fixed, metric, color=COLORS["fixed"], label="fixed", events=False, align=True)
        shift = fixed.event_time("load start") or 0.0
        for t, name in fixed.events:  # its kill, and its own lesson events (an expiry)
            if name.startswith("killed"):
                ax.axvline(t - shift, color=COLORS["fixed"], linewidth=2)
            elif name not in ENGINE_EVENTS and name not in EVENT_STYLE \
                    and not name.startswith("exit"):
                ax.axvline(t - shift, color=COLORS["fixed"], linestyle="-.", linewidth=1.2)
                ax.annotate(f"{name} (fixed)", (t - shift, 1), xycoords=("data", "axes fraction"),
                            rotation=90, va="top", ha="left", color=COLORS["fixed"], fontsize=9)
        ax.legend(loc="upper left", frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def bars(values: dict[str, dict[str, float]], ylabel: str, title: str = ""):
    """Grouped bars: {group: {series: value}} (e.g. {"broken": {...}, "fixed": {...}})."""
    groups = list(values)
    series = sorted({k for v in values.values() for k in v})
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(series) * len(groups) / 2, 3.4))
    width = 0.8 / max(1, len(groups))
    for i, group in enumerate(groups):
        xs = [j + i * width for j in range(len(series))]
        ax.bar(xs, [values[group].get(s, 0) for s in series], width=width, label=group,
               color=COLORS.get(group))
    ax.set_xticks([j + width * (len(groups) - 1) / 2 for j in range(len(series))], series)
    ax.set_ylabel(ylabel)
    top = max((v for g in values.values() for v in g.values()), default=1)
    ax.set_ylim(0, top * 1.25 or 1)  # room for the legend above the tallest bar
    ax.legend(frameon=False, loc="upper center", ncol=len(groups))
    if title:
        ax.set_title(title)
    _style(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


def figure(draw, panels: dict, *, title: str = "", xlabel: str = "", ylabel: str = "",
           one_axis: bool = False, size: tuple[float, float] | None = None,
           legend: dict[str, str] | None = None, logy: bool = False, sharey: bool = True,
           stacked: bool = False):
    """A lesson-specific figure in the course's style.

    ``draw(ax, name, data, color)`` draws one entry of ``panels`` ({name: data}, e.g.
    {"broken": ..., "fixed": ...}); ``color`` is the course colour of that name (red for
    broken, green for fixed) or None. Each entry gets a panel of its own, titled with its
    name, unless ``one_axis`` puts them all on one set of axes (with a legend of what was
    labelled). ``legend`` ({label: colour}) adds a legend below the panels for colours
    that ``draw`` used to encode something else. ``stacked`` puts the panels one above
    the other (for wide timelines); ``sharey=False`` gives each panel its own scale."""
    n = 1 if one_axis else len(panels)
    if size is None:
        size = (8.5, 3.6) if one_axis else (10, 2.4 * n + 0.6) if stacked else (
            min(5.2 * n + 1.4, 15), 3.8)
    fig, grid = plt.subplots(n if stacked else 1, 1 if stacked else n, figsize=size,
                             squeeze=False, sharex=True, sharey=sharey)
    axes = list(grid[:, 0] if stacked else grid[0])
    for i, (name, data) in enumerate(panels.items()):
        ax = axes[0 if one_axis else i]
        draw(ax, name, data, COLORS.get(name))
        if not one_axis and not ax.get_title():
            ax.set_title(name)
    for ax in axes:
        _style(ax)
        if logy:
            ax.set_yscale("log")
    if one_axis and axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(frameon=False)
    for ax in axes[-1:] if stacked else axes:
        ax.set_xlabel(xlabel)
    for ax in axes if stacked or not sharey else axes[:1]:
        ax.set_ylabel(ylabel)
    if title:
        fig.suptitle(title)
    bottom = 0.0
    if legend:
        from matplotlib.patches import Patch

        fig.legend(handles=[Patch(color=c, label=label) for label, c in legend.items()],
                   loc="lower center", ncol=min(len(legend), 4), frameon=False, fontsize=8)
        bottom = 0.06 * ((len(legend) + 3) // 4)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    plt.close(fig)
    return fig


def table(rows: list[dict], caption: str = ""):
    """An HTML table for notebooks (plain text where IPython is absent)."""
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    markup = (f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
              f"<tbody>{body}</tbody></table>")
    try:
        from IPython.display import HTML

        return HTML(markup)
    except ImportError:  # pragma: no cover
        return markup


class LivePlot:
    """Pass as ``progress=`` to :func:`gopitfalls.run`: redraws every ``every_s`` seconds
    in the notebook, with a progress bar, and leaves the final figure in place."""

    def __init__(self, metrics: list[str], title: str = "", every_s: float = 0.5):
        self.metrics, self.title, self.every_s = metrics, title, every_s
        self._last = 0.0
        self._handle = None
        self._bar = None

    def _display(self, obj) -> None:
        try:
            from IPython.display import display
        except ImportError:  # pragma: no cover
            return
        if self._handle is None:
            self._handle = display(obj, display_id=True)
        else:
            self._handle.update(obj)

    def _progress(self, fraction: float) -> None:
        try:
            import ipywidgets
            from IPython.display import display
        except ImportError:  # pragma: no cover
            return
        if self._bar is None:
            self._bar = ipywidgets.FloatProgress(min=0, max=1, description="running")
            display(self._bar)
        self._bar.value = fraction
        if fraction >= 1:
            self._bar.description = "done"
            self._bar.bar_style = "success"

    def __call__(self, run: Run, fraction: float) -> None:
        now = time.monotonic()
        if fraction < 1 and now - self._last < self.every_s:
            return
        self._last = now
        self._progress(fraction)
        self._display(plot_run(run, self.metrics, self.title or run.label))
