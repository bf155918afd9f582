"""Chapter 04's shipped data, verified against ``datasets/science/manifest.json``."""

from __future__ import annotations

from kit.datasets import DATASETS, load_npz

FOLDER = DATASETS / "science"


def burgers_reference() -> dict:
    """Section "Burgers PINN": Cole–Hopf u(t, x) on 100 x 256 points, nu = 0.01/pi."""
    data = load_npz("burgers_colehopf.npz", FOLDER)
    data["nu"] = float(data["nu"])
    return data


def burgers_operator_data() -> dict:
    """Section "Neural operator": 1,000 pairs (u(0, .), u(1, .)) at 256 points, nu = 0.01."""
    data = load_npz("burgers_fno.npz", FOLDER)
    data["nu"] = float(data["nu"])
    return data
