"""Chapter 09 attribution methods ("Attribution"): Gradient, Gradient x Input, Integrated
Gradients, SmoothGrad, Occlusion, RISE, Grad-CAM and Guided Backprop, batched over inputs.

Every method has the signature ``method(clf, x, target, **options) -> maps`` with ``x`` of
shape (n, *clf.input_shape) and maps of the same shape; ``target`` is one class or one per
row. ``contrast`` turns any gradient method into "why class a and not class b".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kit.xai.models import Classifier, onehot


def _weights(clf: Classifier, x: np.ndarray, target, contrast=None) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    w = onehot(t, clf.classes)
    if contrast is not None:
        w = w - onehot(clf.check_target(contrast, len(x), "contrast"), clf.classes)
    return x, w


def _baseline(x: np.ndarray, baseline) -> np.ndarray:
    if baseline is None:
        return np.zeros_like(x)
    b = np.asarray(baseline, np.float32)
    if b.shape == x.shape[1:]:
        return np.broadcast_to(b, x.shape).copy()
    if b.shape != x.shape:
        raise ValueError(f"baseline must have shape {x.shape[1:]} or {x.shape}, got {b.shape}")
    return b


def _positive(name: str, value: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be an int > 0, got {value!r}")
    return int(value)


def gradient(clf: Classifier, x: np.ndarray, target, contrast=None,
             absolute: bool = True) -> np.ndarray:
    """Simonyan et al. 2014's saliency |d logit_target / d x| (Captum's ``Saliency`` default);
    ``absolute=False`` gives the signed gradient."""
    x, w = _weights(clf, x, target, contrast)
    g = clf.grad(x, w)
    return np.abs(g) if absolute else g


def gradient_x_input(clf: Classifier, x: np.ndarray, target, contrast=None,
                     baseline=None) -> np.ndarray:
    """Shrikumar et al. 2016: (x - baseline) * gradient; exact for a linear model."""
    x, w = _weights(clf, x, target, contrast)
    return (x - _baseline(x, baseline)) * clf.grad(x, w)


def path_nodes(steps: int, rule: str = "trapezoid") -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights on [0, 1] for Integrated Gradients."""
    steps = _positive("steps", steps)
    if rule == "trapezoid":
        if steps == 1:
            return np.array([1.0]), np.array([1.0])
        alphas = np.linspace(0.0, 1.0, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] /= 2
        return alphas, w
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    if rule == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, w / 2
    raise ValueError(f"rule must be one of 'trapezoid', 'midpoint', 'gausslegendre', "
                     f"got {rule!r}")


def integrated_gradients(clf: Classifier, x: np.ndarray, target, steps: int = 64,
                         baseline=None, contrast=None, rule: str = "trapezoid") -> np.ndarray:
    """Sundararajan et al. 2017: (x - x') * integral_0^1 grad(x' + a (x - x')) da, with
    ``steps`` quadrature nodes; the maps sum to F(x) - F(x') up to the quadrature error."""
    x, w = _weights(clf, x, target, contrast)
    base = _baseline(x, baseline)
    alphas, qw = path_nodes(steps, rule)
    diff = x - base
    path = base[None] + alphas.reshape(-1, *([1] * x.ndim)) * diff[None]
    g = clf.grad(path.reshape(-1, *x.shape[1:]), np.tile(w, (len(alphas), 1)))
    g = g.reshape(len(alphas), *x.shape)
    return diff * np.tensordot(qw, g, axes=1).astype(np.float32)


def smoothgrad(clf: Classifier, x: np.ndarray, target, samples: int = 25, sigma: float = 0.15,
               seed: int = 0, contrast=None) -> np.ndarray:
    """Smilkov et al. 2017: the gradient averaged over ``samples`` Gaussian-noised copies."""
    x, w = _weights(clf, x, target, contrast)
    samples = _positive("samples", samples)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    rng = np.random.default_rng(seed)
    noisy = x[None] + sigma * rng.standard_normal((samples, *x.shape)).astype(np.float32)
    g = clf.grad(noisy.reshape(-1, *x.shape[1:]), np.tile(w, (samples, 1)))
    return g.reshape(samples, *x.shape).mean(0)


def _patches(shape: tuple[int, ...], window: int) -> np.ndarray:
    """Boolean masks (p, *shape): every window x window patch (stride 1) of an image, or
    every single feature of a vector."""
    if len(shape) == 1:
        return np.eye(shape[0], dtype=bool)
    h, wd = shape
    window = _positive("window", window)
    if window > min(h, wd):
        raise ValueError(f"window must be an int in [1, {min(h, wd)}], got {window}")
    masks = []
    for i in range(h - window + 1):
        for j in range(wd - window + 1):
            m = np.zeros(shape, bool)
            m[i:i + window, j:j + window] = True
            masks.append(m)
    return np.array(masks)


def occlusion(clf: Classifier, x: np.ndarray, target, window: int = 2,
              baseline=None) -> np.ndarray:
    """Zeiler & Fergus 2014: each pixel's mean drop in the target probability over the
    occluding patches (set to the baseline) that cover it."""
    x, w = _weights(clf, x, target)
    base = _baseline(x, baseline)
    masks = _patches(x.shape[1:], window)
    t = w.argmax(1)
    p0 = clf.probs(x)[np.arange(len(x)), t]
    occluded = np.where(masks[None], base[:, None], x[:, None])  # (n, p, *shape)
    p = clf.probs(occluded.reshape(-1, *x.shape[1:])).reshape(len(x), len(masks), -1)
    drop = p0[:, None] - p[np.arange(len(x)), :, t]  # (n, p)
    cover = masks.reshape(len(masks), -1).astype(np.float32)
    att = drop @ cover / np.maximum(cover.sum(0), 1)
    return att.reshape(x.shape).astype(np.float32)


def rise_masks(shape: tuple[int, int], masks: int, cells: int = 4, p: float = 0.5,
               seed: int = 0) -> np.ndarray:
    """Petsiuk et al. 2018: random ``cells`` x ``cells`` binary grids, bilinearly upsampled
    with a random shift, as soft masks of ``shape``."""
    masks = _positive("masks", masks)
    rng = np.random.default_rng(seed)
    h, w = shape
    ch, cw = int(np.ceil(h / cells)), int(np.ceil(w / cells))
    grid = (rng.random((masks, cells + 1, cells + 1)) < p).astype(np.float32)
    # bilinear upsampling of the (cells+1)^2 grid to ((cells+1)*ch)^2, then a random crop
    yy = np.arange((cells + 1) * ch) / ch
    xx = np.arange((cells + 1) * cw) / cw
    y0, x0 = np.minimum(yy.astype(int), cells - 1), np.minimum(xx.astype(int), cells - 1)
    fy, fx = (yy - y0)[:, None], (xx - x0)[None, :]
    up = (grid[:, y0][:, :, x0] * (1 - fy) * (1 - fx) + grid[:, y0 + 1][:, :, x0] * fy * (1 - fx)
          + grid[:, y0][:, :, x0 + 1] * (1 - fy) * fx + grid[:, y0 + 1][:, :, x0 + 1] * fy * fx)
    dy, dx = rng.integers(0, ch, masks), rng.integers(0, cw, masks)
    return np.stack([up[m, dy[m]:dy[m] + h, dx[m]:dx[m] + w] for m in range(masks)])


def rise(clf: Classifier, x: np.ndarray, target, masks: int = 500, cells: int = 4,
         p: float = 0.5, seed: int = 0, baseline=None) -> np.ndarray:
    """RISE: sum_m P_target(x * M_m + baseline * (1 - M_m)) M_m / (masks * p)."""
    x, w = _weights(clf, x, target)
    if not clf.is_image:
        raise ValueError(f"rise needs an image model, got {clf.name} with input "
                         f"{clf.input_shape}")
    base = _baseline(x, baseline)
    m = rise_masks(x.shape[1:], masks, cells, p, seed).astype(np.float32)
    t = w.argmax(1)
    out = np.empty(x.shape, np.float32)
    for i in range(len(x)):
        batch = x[i][None] * m + base[i][None] * (1 - m)
        prob = clf.probs(batch)[:, t[i]]
        out[i] = np.tensordot(prob, m, axes=1) / (len(m) * p)
    return out


def gradcam(clf: Classifier, x: np.ndarray, target, contrast=None) -> np.ndarray:
    """Selvaraju et al. 2017 on the last conv layer (16 x 8 x 8, the input's size):
    ReLU(sum_c mean_ij(dy/dA_c) A_c)."""
    x, w = _weights(clf, x, target, contrast)
    if not clf.is_image:
        raise ValueError(f"gradcam needs the CNN's conv layer, got {clf.name}")
    a, g = clf.feature_grad(x, w)
    cam = np.maximum((g.mean(axis=(2, 3), keepdims=True) * a).sum(1), 0)
    return cam.reshape(x.shape).astype(np.float32)


def guided_backprop(clf: Classifier, x: np.ndarray, target, contrast=None) -> np.ndarray:
    """Springenberg et al. 2015: the input gradient through ReLUs that pass only positive
    gradients (the :class:`~kit.xai.models.GuidedReLU` twin of the model)."""
    x, w = _weights(clf, x, target, contrast)
    return clf.guided().grad(x, w)


METHODS: dict[str, Callable] = {
    "Gradient": gradient,
    "Gradient x Input": gradient_x_input,
    "Integrated Gradients": integrated_gradients,
    "SmoothGrad": smoothgrad,
    "Occlusion": occlusion,
    "RISE": rise,
    "Grad-CAM": gradcam,
    "Guided Backprop": guided_backprop,
}
IMAGE_ONLY = ("RISE", "Grad-CAM")


def explain(method: str, clf: Classifier, x: np.ndarray, target, **options) -> np.ndarray:
    """Run one attribution method by name (section "Attribution")."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return METHODS[method](clf, x, target, **options)
