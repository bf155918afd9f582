"""One house style for every chapter's figures, and saving them to the run folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl

# Colour-blind-safe cycle (Okabe-Ito): kit method first, then baselines, then anchors.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": "medium",
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "legend.frameon": False,
    "font.size": 10,
}


def use_style() -> None:
    """Apply the house style globally (chapters call it once after imports)."""
    mpl.rcParams.update(STYLE)


@contextmanager
def style() -> Iterator[None]:
    """The house style for the figures made inside the ``with`` block only."""
    with mpl.rc_context(STYLE):
        yield


def figure(ncols: int = 1, nrows: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """A styled ``(fig, axes)`` pair; the figure widens with the number of columns."""
    import matplotlib.pyplot as plt

    width, height = STYLE["figure.figsize"]
    kwargs.setdefault("figsize", (width * min(ncols, 2.5) / (1 if ncols == 1 else 1.2), height))
    with style():
        return plt.subplots(nrows, ncols, **kwargs)


def savefig(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` (PNG unless the suffix says otherwise), creating folders as needed."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(path)
    return path
