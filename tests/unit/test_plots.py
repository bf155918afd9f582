"""kit.core.plots: the house style applies inside its context, figures save where asked."""

import matplotlib as mpl

from kit.core import plots


def test_style_is_scoped_and_savefig_writes_png(tmp_path):
    before = mpl.rcParams["axes.spines.top"]
    with plots.style():
        assert mpl.rcParams["axes.spines.top"] is False
    assert mpl.rcParams["axes.spines.top"] == before
    fig, axes = plots.figure(ncols=2)
    assert len(axes) == 2
    axes[0].plot([1, 2, 3])
    out = plots.savefig(fig, tmp_path / "a" / "curve")
    assert out.suffix == ".png" and out.read_bytes()[:4] == b"\x89PNG"
    plots.use_style()
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][0] == plots.PALETTE[0]
