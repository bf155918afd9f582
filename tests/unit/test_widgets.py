"""kit.core.widgets: panels re-render on change, carry stable classes, refuse bad input."""

import matplotlib.pyplot as plt
import pytest

from kit.core import widgets


def test_panel_renders_once_then_on_every_change():
    seen = []

    def render(k, mode):
        seen.append((k, mode))
        return f"{mode}:{k * k}"

    slider = widgets.int_slider("k", 0, 10, 3)
    choice = widgets.dropdown("mode", ["a", "b"])
    panel = widgets.panel({"k": slider, "mode": choice}, render, title="demo")
    assert seen == [(3, "a")] and panel.last == "a:9"
    assert panel.output.value == "<pre>a:9</pre>"
    slider.value = 4
    choice.value = "b"
    assert seen[-1] == (4, "b") and panel.last == "b:16" and panel.renders == 3
    assert panel.output.value == "<pre>b:16</pre>"
    assert panel.values == {"k": 4, "mode": "b"}


def test_panel_classes_are_stable_for_browser_tests():
    slider = widgets.float_slider("lr", 0.0, 1.0, 0.5)
    box = widgets.checkbox("fast")
    panel = widgets.panel({"lr": slider, "fast": box}, lambda lr, fast: None)
    assert "kit-control" in slider._dom_classes and "kit-control-lr" in slider._dom_classes
    assert "kit-control-fast" in box._dom_classes
    assert "kit-output" in panel.output._dom_classes and "kit-panel" in panel._dom_classes


def test_panel_shows_figures_and_closes_them():
    def render(n):
        fig, ax = plt.subplots()
        ax.plot(range(n))
        return fig

    before = len(plt.get_fignums())
    panel = widgets.panel({"n": widgets.int_slider("n", 1, 5, 2)}, render)
    assert hasattr(panel.last, "savefig")
    assert panel.output.value.startswith('<img src="data:image/png;base64,')
    assert len(plt.get_fignums()) == before


@pytest.mark.parametrize(("build", "message"), [
    (lambda: widgets.int_slider("k", 0, 10, 11), r"slider 'k': value must be in \[0, 10\], got 11"),
    (lambda: widgets.float_slider("x", 0.0, 1.0, -0.5), "slider 'x': value must be in"),
    (lambda: widgets.dropdown("d", []), "dropdown 'd' needs at least one option"),
    (lambda: widgets.dropdown("d", ["a"], "z"), r"dropdown 'd': value must be one of \['a'\]"),
    (lambda: widgets.panel({}, print), "panel needs at least one control"),
])
def test_bad_widget_input_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_to_html_escapes_text_and_renders_tables():
    import pandas as pd

    assert widgets.to_html("a<b") == "<pre>a&lt;b</pre>"
    assert widgets.to_html(None) == ""
    assert "<table" in widgets.to_html(pd.DataFrame({"x": [1]}))
    assert widgets.to_html(3) == "<pre>3</pre>"
