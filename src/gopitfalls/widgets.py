"""Layer 8 (with plots): the notebook's interactive pieces.

``predict()`` asks the learner to commit to a guess before the run; ``knobs()`` gives
sliders for a lesson's load and limits and a button that runs broken and fixed again.
Both degrade to plain text when ipywidgets is not available.
"""

from __future__ import annotations

from .plots import LivePlot, compare


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


def knobs(lesson, metrics: list[str], scenario: str = "default", **ranges):
    """Sliders for a lesson's scenario and a button that re-runs both variants.

    ``ranges`` maps an override name (``rate``, ``duration_s``, ``timeout_s``,
    ``memory_mb``, ...) to ``(min, max, step)``; each slider starts at the scenario's
    default value.
    """
    import ipywidgets as w
    from IPython.display import display

    sc = lesson.scenario(scenario)
    defaults = {**(sc.load.to_dict() if sc.load else {}), **sc.limits.__dict__}
    sliders = {}
    for name, (lo, hi, step) in ranges.items():
        cls = w.IntSlider if isinstance(step, int) else w.FloatSlider
        sliders[name] = cls(value=defaults.get(name, lo), min=lo, max=hi, step=step,
                            description=name, continuous_update=False,
                            style={"description_width": "initial"})
    button = w.Button(description="run broken and fixed", button_style="primary")
    out = w.Output()

    def go(_) -> None:
        values = {k: s.value for k, s in sliders.items()}
        out.clear_output()
        with out:
            print("running with", values)
            broken = lesson.run("broken", scenario,
                                progress=LivePlot(metrics, "broken (live)"), **values)
            fixed = lesson.run("fixed", scenario, progress=LivePlot(metrics, "fixed (live)"),
                               **values)
            display(compare(broken, fixed, metrics, f"{lesson.slug} with {values}"))
            print(broken.summary())
            print(fixed.summary())

    button.on_click(go)
    return w.VBox([*sliders.values(), button, out])
