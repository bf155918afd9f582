"""Section "Verification": interval bound propagation and CROWN for ReLU MLPs, in float64 numpy.

Verification is exact arithmetic on the trained MindSpore weights (``models.weights``): a point
is *verified* at ``eps`` when the lower bound of every margin ``z_y - z_j`` over the input box
``[x - eps, x + eps] ∩ [0, 1]^d`` is positive. CROWN (Zhang et al. 2018) back-substitutes linear
ReLU relaxations, with every intermediate layer's bounds itself computed by CROWN; it is never
looser than IBP on the last layer's margins for these networks.
"""

from __future__ import annotations

import numpy as np

Params = list[tuple[np.ndarray, np.ndarray]]
# float32 forward passes may differ from the float64 bound arithmetic in the last bits; a
# margin must clear this tolerance to count as verified.
TOLERANCE = 1e-4


def input_box(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The l-inf ball of radius ``eps`` around ``x`` intersected with the image domain [0, 1]."""
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    x = np.asarray(x, np.float64)
    return np.clip(x - eps, 0.0, 1.0), np.clip(x + eps, 0.0, 1.0)


def dense_interval(w: np.ndarray, b: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds of ``W x + b`` over the box ``[lo, hi]`` (centre-radius form)."""
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    c, r = mid @ w.T + b, rad @ np.abs(w).T
    return c - r, c + r


def ibp_layers(params: Params, lo: np.ndarray, hi: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Pre-activation bounds of every layer by interval bound propagation (Gowal et al. 2018)."""
    out = []
    for i, (w, b) in enumerate(params):
        lo, hi = dense_interval(w, b, lo, hi)
        out.append((lo, hi))
        if i < len(params) - 1:
            lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
    return out


def margin_spec(params: Params, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last layer folded into the margins ``z_y - z_j``: weights (B, K, n), biases (B, K)."""
    w, b = params[-1]
    return w[y][:, None, :] - w[None, :, :], b[y][:, None] - b[None, :]


def ibp_margins(params: Params, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """IBP lower bounds of ``z_y - z_j`` (B, K); the entry j = y is 0."""
    lo, hi = input_box(x, eps)
    if len(params) > 1:
        lo, hi = ibp_layers(params[:-1], lo, hi)[-1]
        lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
    wd, bd = margin_spec(params, y)
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    return np.einsum("bkn,bn->bk", wd, mid) + bd - np.einsum("bkn,bn->bk", np.abs(wd), rad)


def _relax(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    """Linear ReLU relaxation: lower slope (adaptive 0/1), upper slope and upper intercept."""
    unstable = (lo < 0) & (hi > 0)
    span = np.where(unstable, hi - lo, 1.0)
    up_slope = np.where(hi <= 0, 0.0, np.where(lo >= 0, 1.0, hi / span))
    up_icpt = np.where(unstable, -hi * lo / span, 0.0)
    low_slope = np.where(hi <= 0, 0.0, np.where(lo >= 0, 1.0, (hi > -lo).astype(float)))
    return low_slope, up_slope, up_icpt


def _backsub(params: Params, k: int, a: np.ndarray, c: np.ndarray, pre: list,
             lo_x: np.ndarray, hi_x: np.ndarray) -> np.ndarray:
    """Lower bound of ``A z_k + c`` (A: (B, m, n_k)) over the input box, where ``z_k`` is the
    pre-activation of layer ``k``; ``pre`` holds bounds of layers ``< k``."""
    w, b = params[k]
    lam = a @ w                                         # (B, m, n_{k-1})
    const = c + a @ b
    for i in range(k - 1, -1, -1):
        low_s, up_s, up_i = _relax(*pre[i])
        pos, neg = np.maximum(lam, 0), np.minimum(lam, 0)
        slope = pos * low_s[:, None, :] + neg * up_s[:, None, :]
        const = const + np.einsum("bmn,bn->bm", neg, up_i)
        w, b = params[i]
        const = const + slope @ b
        lam = slope @ w
    return (const + np.einsum("bmn,bn->bm", np.maximum(lam, 0), lo_x)
            + np.einsum("bmn,bn->bm", np.minimum(lam, 0), hi_x))


def crown_layers(params: Params, x: np.ndarray, eps: float) -> list[tuple[np.ndarray, ...]]:
    """Pre-activation bounds of the hidden layers, each by CROWN back-substitution."""
    lo_x, hi_x = input_box(x, eps)
    batch = len(lo_x)
    pre: list = []
    for k in range(len(params) - 1):
        n = params[k][0].shape[0]
        eye = np.broadcast_to(np.eye(n), (batch, n, n))
        zero = np.zeros((batch, n))
        lo = _backsub(params, k, eye, zero, pre, lo_x, hi_x)
        hi = -_backsub(params, k, -eye, zero, pre, lo_x, hi_x)
        ibp_lo, ibp_hi = (dense_interval(*params[0], lo_x, hi_x) if k == 0 else
                          dense_interval(*params[k], np.maximum(pre[-1][0], 0),
                                         np.maximum(pre[-1][1], 0)))
        pre.append((np.maximum(lo, ibp_lo), np.minimum(hi, ibp_hi)))
    return pre


def crown_margins(params: Params, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """CROWN lower bounds of ``z_y - z_j`` (B, K) with the last layer as the specification."""
    lo_x, hi_x = input_box(x, eps)
    pre = crown_layers(params, x, eps)
    wd, bd = margin_spec(params, y)
    k = len(params) - 1
    if k == 0:
        return (bd + np.einsum("bkn,bn->bk", np.maximum(wd, 0), lo_x)
                + np.einsum("bkn,bn->bk", np.minimum(wd, 0), hi_x))
    # fold the spec into the last layer: margins = wd @ a_{k-1} + bd
    low_s, up_s, up_i = _relax(*pre[k - 1])
    pos, neg = np.maximum(wd, 0), np.minimum(wd, 0)
    slope = pos * low_s[:, None, :] + neg * up_s[:, None, :]
    const = bd + np.einsum("bkn,bn->bk", neg, up_i)
    return _backsub(params, k - 1, slope, const, pre[:k - 1], lo_x, hi_x)


def verified(margins: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A point is verified when every margin to another class clears :data:`TOLERANCE`."""
    m = margins.copy()
    m[np.arange(len(y)), y] = np.inf
    return m.min(1) > TOLERANCE


def verified_accuracy(params: Params, x: np.ndarray, y: np.ndarray, eps: float,
                      method: str = "ibp", chunk: int = 128) -> tuple[float, np.ndarray]:
    """Fraction of points verified correct at ``eps`` by ``method`` ('ibp' or 'crown'), and the
    mask of verified points."""
    if method not in ("ibp", "crown"):
        raise ValueError(f"method must be 'ibp' or 'crown', got {method!r}")
    fn = ibp_margins if method == "ibp" else crown_margins
    mask = np.concatenate([verified(fn(params, x[i:i + chunk], y[i:i + chunk], eps),
                                    y[i:i + chunk]) for i in range(0, len(x), chunk)])
    return float(mask.mean()), mask
