"""Figures shared by chapter 09's case study and its Explore panel."""

from __future__ import annotations

import numpy as np


def image_strip(panels: list[tuple[str, np.ndarray, str]], inch_per_panel: float = 1.3):
    """One row of 8x8 maps (sections "Case study" and "Explore"): each panel is (title, image,
    colormap); "RdBu_r" maps are centred on zero, the rest span [0, 1]."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(inch_per_panel * len(panels), 1.7))
    for ax, (title, img, cmap) in zip(axes, panels, strict=True):
        lim = max(np.abs(img).max(), 1e-12)
        ax.imshow(img, cmap=cmap, vmin=-lim if cmap == "RdBu_r" else 0,
                  vmax=lim if cmap == "RdBu_r" else 1)
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
