"""Functional MLPs with one flat parameter vector (chapter 04, "Method" and "PINN").

A network is a tuple of layer sizes and a flat MindSpore tensor ``theta``; :func:`unpack` slices
it with constant offsets, so the same ``theta`` feeds Adam, scipy's L-BFGS-B (a flat float64
vector) and ``ms.grad`` without copying between parameter lists. The forward pass has a plain
version (:func:`forward`) and a Taylor-mode version (:func:`forward_jet`) on jets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mindspore import ops

from kit.science import taylor


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer sizes (input, hidden..., output): at least 2 ints, each >= 1."""
    if (not isinstance(sizes, (list, tuple)) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)):
        raise ValueError(f"sizes must be a list of >= 2 positive ints (input, hidden..., output), "
                         f"got {sizes!r}")
    return tuple(sizes)


def n_params(sizes: Sequence[int]) -> int:
    """Number of weights and biases of the MLP."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def init_params(sizes: Sequence[int], seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Glorot-normal weights, zero biases, flattened layer by layer (W then b)."""
    sizes = check_sizes(sizes)
    rng = np.random.default_rng(seed)
    parts = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        std = np.sqrt(2.0 / (fan_in + fan_out))
        parts.append(rng.normal(0.0, std, (fan_in, fan_out)).ravel())
        parts.append(np.zeros(fan_out))
    return np.concatenate(parts).astype(dtype)


def layout(sizes: Sequence[int]) -> tuple[tuple[int, int, int, int], ...]:
    """(weight offset, bias offset, fan_in, fan_out) per layer: constants for graph mode."""
    out, offset = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        out.append((offset, offset + fan_in * fan_out, fan_in, fan_out))
        offset += fan_in * fan_out + fan_out
    return tuple(out)


def unpack(theta, lay: tuple) -> list:
    """[(W, b), ...] views of the flat ``theta`` (works inside ``ms.jit``)."""
    out = []
    for w_at, b_at, fan_in, fan_out in lay:
        w = theta[w_at:b_at].reshape((fan_in, fan_out))
        b = theta[b_at:b_at + fan_out]
        out.append((w, b))
    return out


def _act(x, activation: str):
    if activation == "tanh":
        return ops.tanh(x)
    if activation == "sin":
        return ops.sin(x)
    if activation == "cos":
        return ops.cos(x)
    if activation == "exp":
        return ops.exp(x)
    if activation == "sigmoid":
        return ops.sigmoid(x)
    if activation == "softplus":  # float32-accurate even in float64 (finding:softplus-float64)
        return ops.softplus(x)
    return ops.relu(x)


def forward(theta, x, lay: tuple, activation: str = "tanh"):
    """u(x): the MLP on a batch ``x`` of shape (n, d_in) -> (n, d_out)."""
    layers = unpack(theta, lay)
    h = x
    for i, (w, b) in enumerate(layers):
        h = ops.matmul(h, w) + b
        if i < len(layers) - 1:
            h = _act(h, activation)
    return h


def forward_jet(theta, jet: list, lay: tuple, activation: str = "tanh",
                order: int | None = None) -> list:
    """The MLP on a jet (section "Taylor mode"): linear layers coefficient-wise, activations
    by their recurrences. With ``order`` the input may be the line [x, v] alone: the first
    layer then multiplies two coefficients instead of order + 1 (the rest are zero), and its
    activation extends the jet to order + 1 coefficients. A tanh
    activation takes the weighted coefficients j a_j straight from the linear layer
    (one multiply of the stacked product instead of one per coefficient)."""
    layers = unpack(theta, lay)
    h = jet
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        if i < last and activation == "tanh":
            ja = taylor.linear(h, w, b, weighted=True)
            n = len(ja) if i > 0 or order is None else order + 1
            h = taylor.tanh_weighted(ja[0], ja, n)
        else:
            h = taylor.linear(h, w, b)
            if i < last:
                h = taylor.activate(h, activation, order if i == 0 else None)
    return h
