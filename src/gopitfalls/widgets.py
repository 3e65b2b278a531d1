"""Layer 8 (with plots): the notebook's interactive pieces.

``predict()`` asks the learner to commit to a guess before the run; ``knobs()`` gives
controls for what a lesson lets the learner vary (load, limits, environment, the
lesson's own traffic) and a button that runs broken and fixed again.
"""

from __future__ import annotations

import inspect
import re


def predict(question: str, options: list[str], answer: int, why: str):
    """A multiple-choice guess; the explanation appears once the learner has chosen."""
    try:
        import ipywidgets as w
    except ImportError:  # pragma: no cover
        return f"{question} ({' / '.join(options)})"
    choice = w.RadioButtons(options=options, value=None, layout=w.Layout(width="auto"))
    feedback = w.HTML()

    def on_change(change) -> None:
        if change["new"] is None:
            return
        verdict = "Right." if options.index(change["new"]) == answer else "Not quite."
        feedback.value = f"<b>{verdict}</b> {why} <i>Run the next cell to see it measured.</i>"

    choice.observe(on_change, names="value")
    return w.VBox([w.HTML(f"<b>Predict:</b> {question}"), choice, feedback])


class Knobs:
    """Controls for what a learner may vary, and a button that runs the lesson again.

    Built by :func:`knobs`. ``run()`` does what the button does, without a browser: it
    runs each of ``runs`` with the controls' values and returns the runs by name."""

    def __init__(self, lesson, runs, scenario, ranges, env, traffic, hook, show):
        self.lesson, self.runs, self.scenario = lesson, tuple(runs), scenario
        self.hook, self.show = hook, show
        unknown = [n for n in self.runs if n not in lesson.runs and n not in ("broken", "fixed")]
        if unknown:
            raise ValueError(f"knobs: no run {', '.join(map(repr, unknown))} in {lesson.slug}; "
                             f"runs are named runs of its claims.py or 'broken'/'fixed'")
        sc = lesson.scenario(scenario or _scenario_of(lesson, self.runs[0]))
        defaults = {**(sc.load.to_dict() if sc.load else {}), **sc.limits.__dict__}
        unknown = [k for k in ranges if k not in defaults]
        if unknown:
            raise ValueError(f"knobs: {', '.join(unknown)} is not a load or limits field of "
                             f"this scenario; use env= or traffic= for other knobs")
        self.ranges = {k: _slider(k, spec, defaults[k]) for k, spec in ranges.items()}
        self.units = {k: spec[3] for k, spec in env.items()
                      if isinstance(spec, tuple) and len(spec) == 4}
        self.env = {k: _env_control(k, spec, sc.env.get(k)) for k, spec in env.items()}
        params = inspect.signature(hook).parameters if hook else {}
        unknown = [k for k in traffic if k not in params]
        if unknown:
            raise ValueError(f"knobs: traffic knob(s) {', '.join(unknown)} are not parameters "
                             f"of the hook {getattr(hook, '__name__', hook)}")
        self.traffic = {k: _slider(k, spec, params[k].default) for k, spec in traffic.items()}

    def values(self) -> dict:
        """The controls' values: load/limits overrides, environment, traffic parameters."""
        env = {k: f"{c.value}{self.units.get(k, '')}" for k, c in self.env.items()}
        return {"overrides": {k: c.value for k, c in self.ranges.items()}, "env": env,
                "traffic": {k: c.value for k, c in self.traffic.items()}}

    def run(self) -> dict:
        v = self.values()
        extra = dict(v["overrides"])
        if v["env"]:
            extra["env"] = v["env"]
        if self.hook:
            extra["during_load"] = self.hook(**v["traffic"])
        return {name: self.lesson.run(name, self.scenario, **extra) for name in self.runs}

    def _on_click(self, out) -> None:
        from IPython.display import display

        out.clear_output()
        with out:
            v = self.values()
            print("running", ", ".join(self.runs), "with",
                  {k: x for part in v.values() for k, x in part.items()})
            runs = self.run()
            shown = self.show(runs) if self.show else _default_show(self.lesson, runs)
            for item in shown if isinstance(shown, list | tuple) else [shown]:
                display(item)

    def widget(self):
        import ipywidgets as w

        button = w.Button(description=f"run {' and '.join(self.runs)}",
                          button_style="primary")
        out = w.Output()
        button.on_click(lambda _: self._on_click(out))
        controls = [*self.ranges.values(), *self.env.values(), *self.traffic.values()]
        return w.VBox([*controls, button, out])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget()._repr_mimebundle_(**kwargs)


def _scenario_of(lesson, name: str) -> str:
    spec = lesson.runs.get(name)
    return spec.scenario if spec else "default"


def _slider(name: str, spec: tuple, default):
    import ipywidgets as w

    lo, hi, step = spec[:3]
    cls = w.IntSlider if all(isinstance(x, int) for x in (lo, hi, step)) else w.FloatSlider
    value = default if isinstance(default, int | float) and lo <= default <= hi else lo
    return cls(value=value, min=lo, max=hi, step=step, description=name,
               continuous_update=False, style={"description_width": "initial"})


def _env_control(name: str, spec, current: str | None):
    """A slider for (lo, hi, step[, unit]), a drop-down for a list, a text box for a
    string (its default)."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    if isinstance(spec, tuple):
        number = re.match(r"[-\d.]+", current or "")
        return _slider(name, spec, float(number.group()) if number else None)
    if isinstance(spec, list):
        return w.Dropdown(options=spec, value=current if current in spec else spec[0],
                          description=name, style=style)
    return w.Text(value=spec, description=name, style=style, layout=w.Layout(width="36em"))


def _default_show(lesson, runs: dict) -> list:
    """The first run against the second (broken against fixed), and each run's summary."""
    shown = [run.summary() for run in runs.values()]
    if len(runs) == 2:
        shown.insert(0, lesson.compare(*runs.values()))
    return shown


def knobs(lesson, runs=("broken", "fixed"), *, scenario: str | None = None, env=None,
          traffic=None, hook=None, show=None, **ranges) -> Knobs:
    """Controls for a lesson and a button that runs ``runs`` (named runs or variants)
    again with their values, each with its live plot, then shows ``show(runs)`` (default:
    the broken-vs-fixed comparison).

    - ``ranges``: load or limits fields (``rate=(10, 200, 10)``, ``memory_mb=...``) as
      ``(min, max, step)``; each starts at the scenario's value.
    - ``env``: environment variables: ``(min, max, step)`` or ``(min, max, step, "ms")``
      (a number with a unit), a list of choices, or a string (a text box with that value).
    - ``traffic`` with ``hook``: parameters of ``hook``, a factory of ``during_load``
      functions (``traffic={"threads": (1, 64, 1)}, hook=lesson.claims.traffic``); each
      starts at the parameter's default.
    """
    return Knobs(lesson, runs, scenario, ranges, env or {}, traffic or {}, hook, show)
