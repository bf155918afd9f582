"""Interactive panels for each chapter's "Explore" part (contract part 8).

``panel(controls, render)`` lays out controls above one output area and re-runs ``render`` with
the controls' current values whenever one changes. Every control carries the CSS classes
``kit-control`` and ``kit-control-<name>``, the output ``kit-output``, so browser tests and users'
style sheets find them. Under papermill/nbval (no front end) the panel still builds and renders
once, which is what the tests check.

The output area is an ``HTML`` widget holding the rendered result, not an ``Output`` widget:
nbclient mimics Output widgets by sending comm messages on the shell channel while it waits
there for the cell's reply, which now and then loses that reply and hangs the run forever
(nbclient #312). An HTML value also renders in the static book without a kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets

CONTROL_CLASS = "kit-control"
OUTPUT_CLASS = "kit-output"
_STYLE = {"description_width": "initial"}


def int_slider(description: str, low: int, high: int, value: int,
               step: int = 1) -> widgets.IntSlider:
    """An integer slider; ``value`` must lie in ``[low, high]``."""
    _check_range(description, low, high, value)
    return widgets.IntSlider(value=value, min=low, max=high, step=step, description=description,
                             continuous_update=False, style=_STYLE)


def float_slider(description: str, low: float, high: float, value: float,
                 step: float = 0.01) -> widgets.FloatSlider:
    """A real-valued slider; ``value`` must lie in ``[low, high]``."""
    _check_range(description, low, high, value)
    return widgets.FloatSlider(value=value, min=low, max=high, step=step,
                               description=description, continuous_update=False, style=_STYLE,
                               readout_format=".3g")


def dropdown(description: str, options: Sequence[Any], value: Any = None) -> widgets.Dropdown:
    """A choice among ``options`` (the first unless ``value`` is given)."""
    options = list(options)
    if not options:
        raise ValueError(f"dropdown {description!r} needs at least one option")
    if value is not None and value not in options:
        raise ValueError(f"dropdown {description!r}: value must be one of {options}, got {value!r}")
    return widgets.Dropdown(options=options, value=options[0] if value is None else value,
                            description=description, style=_STYLE)


def checkbox(description: str, value: bool = False) -> widgets.Checkbox:
    """A yes/no switch."""
    return widgets.Checkbox(value=value, description=description, indent=False)


def _check_range(description: str, low: float, high: float, value: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"slider {description!r}: value must be in [{low}, {high}], got {value}")


def to_html(value: Any) -> str:
    """HTML for what a render function returned: text, a figure (then closed), anything with
    an HTML representation (a DataFrame), or its repr."""
    import html

    if value is None:
        return ""
    if isinstance(value, str):
        return f"<pre>{html.escape(value)}</pre>"
    if hasattr(value, "savefig"):  # a matplotlib figure
        import base64
        import io

        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        value.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(value)
        data = base64.b64encode(buffer.getvalue()).decode()
        return f'<img src="data:image/png;base64,{data}"/>'
    if hasattr(value, "_repr_html_"):
        return value._repr_html_()
    return f"<pre>{html.escape(repr(value))}</pre>"


class Panel(widgets.VBox):
    """Controls above an output area; ``render(**values)`` re-runs on every change and
    returns what to show (text, a figure, a table); printing inside it shows nothing."""

    def __init__(self, controls: Mapping[str, widgets.ValueWidget],
                 render: Callable[..., Any], title: str | None = None) -> None:
        if not controls:
            raise ValueError("panel needs at least one control")
        self.controls = dict(controls)
        self.render = render
        self.output = widgets.HTML()
        self.output.add_class(OUTPUT_CLASS)
        self.renders = 0
        self.last: Any = None
        for name, control in self.controls.items():
            control.add_class(CONTROL_CLASS)
            control.add_class(f"{CONTROL_CLASS}-{name}")
            control.observe(self._changed, names="value")
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + [widgets.HBox(list(self.controls.values()),
                                                layout=widgets.Layout(flex_flow="row wrap")),
                                   self.output])
        self.add_class("kit-panel")
        self.refresh()

    @property
    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> Any:
        """Re-run ``render`` with the current values and show its result in the output area."""
        self.last = self.render(**self.values)
        self.output.value = to_html(self.last)
        self.renders += 1
        return self.last

    def _changed(self, change: dict[str, Any]) -> None:
        self.refresh()


def panel(controls: Mapping[str, widgets.ValueWidget], render: Callable[..., Any],
          title: str | None = None) -> Panel:
    """Build a :class:`Panel`; make it the cell's last expression to display it."""
    return Panel(controls, render, title)
