"""Per-layer sensitivity for chapter 01 ("Sensitivity").

* Hutchinson's estimator of the Hessian trace of each layer's weights and input activations:
  ``tr(H_l) = E[v_l^T (H v)_l]`` with Rademacher ``v``, one Hessian-vector product per sample.
  The HVP is reverse-over-reverse (``ms.grad`` of the gradient-vector product), which compiles
  under ``ms.jit``; forward-over-reverse (``ms.jvp`` of a gradient closure) fails under jit here.
* The cheaper loss-perturbation estimate: ``(L(w + e) + L(w - e) - 2 L(w)) / sigma^2`` with
  Gaussian ``e`` of standard deviation ``sigma`` in one layer, forward passes only. It sees the
  curvature of ReLU kinks crossed by the perturbation, which the pointwise Hessian (zero there)
  misses, so in layers before a ReLU it reads higher.
* The predicted loss of a format (HAWQ-V2/V3): ``0.5 * (tr(H_w)/n_w * ||dW||^2 +
  tr(H_a)/n_a * E||da||^2)`` with the exact quantization errors of that layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.lowbit import precision as fmt
from kit.lowbit.nets import Layer, Trainer, forward, fp32_cfg, layer_inputs, split_params

_HVP_CACHE: dict = {}


def _hvp_fn(keys: tuple, n_theta: int):
    """One compiled HVP per network (cached: a new function object would recompile)."""
    if (keys, n_theta) not in _HVP_CACHE:
        _HVP_CACHE[(keys, n_theta)] = _make_hvp(keys, n_theta)
    return _HVP_CACHE[(keys, n_theta)]


def _make_hvp(keys: tuple, n_theta: int):
    def loss_z(z, x, y, cfg, wstep, astep):
        # y is one-hot: the second derivative of ops.cross_entropy (a gather) fails to
        # compile (finding:cross-entropy-second-order)
        logits = forward(keys, z[:n_theta], wstep, astep, x, cfg, z[n_theta:])
        shifted = logits - ops.stop_gradient(logits.max(axis=1, keepdims=True))
        return (ops.log(ops.exp(shifted).sum(axis=1)) - (shifted * y).sum(axis=1)).mean()

    grad = ms.grad(loss_z, grad_position=0)

    def gv(z, v, x, y, cfg, wstep, astep):
        return (grad(z, x, y, cfg, wstep, astep) * v).sum()

    @ms.jit
    def hvp(z, v, x, y, cfg, wstep, astep):
        return ms.grad(gv, grad_position=0)(z, v, x, y, cfg, wstep, astep)

    return hvp


@dataclass(frozen=True)
class Traces:
    """Hutchinson estimates per layer: weight and activation traces, and their spreads
    (standard error of the mean over the Rademacher samples)."""

    weight: np.ndarray
    activation: np.ndarray
    weight_se: np.ndarray
    activation_se: np.ndarray
    samples: int


def hutchinson(trainer: Trainer, x: np.ndarray, y: np.ndarray, samples: int,
               seed: int, cfg: np.ndarray | None = None) -> Traces:
    """Section "Sensitivity": Hessian traces of the mean cross-entropy on ``(x, y)`` with
    respect to each layer's weights (biases excluded) and input activations (summed over the
    batch), at the formats ``cfg`` (default fp32)."""
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    arch = trainer.arch
    theta = trainer.theta
    n_theta = len(theta)
    sizes = [len(x) * layer.n_in for layer in arch]
    hvp = _hvp_fn(trainer.net.keys, n_theta)
    z = ms.Tensor(np.concatenate([theta, np.zeros(sum(sizes), np.float32)]))
    wstep, astep = trainer.steps()
    onehot = np.eye(int(trainer.arch[-1].cout), dtype=np.float32)[y]
    args = (ms.Tensor(x), ms.Tensor(onehot), ms.Tensor((cfg if cfg is not None else
                                                   fp32_cfg(arch)).astype(np.float32)),
            ms.Tensor(wstep), ms.Tensor(astep))
    rng = np.random.default_rng(seed)
    w_est = np.zeros((samples, len(arch)))
    a_est = np.zeros((samples, len(arch)))
    for k in range(samples):
        v = rng.choice(np.array([-1.0, 1.0], np.float32), size=z.shape[0])
        hv = hvp(z, ms.Tensor(v), *args).asnumpy()
        prod = v * hv
        off = 0
        for i, layer in enumerate(arch):
            w_est[k, i] = prod[off:off + layer.n_weights].sum()
            off += layer.n_weights + layer.cout
        for i, size in enumerate(sizes):
            a_est[k, i] = prod[off:off + size].sum()
            off += size
    se = np.sqrt(samples) if samples > 1 else np.inf
    return Traces(w_est.mean(0), a_est.mean(0),
                  w_est.std(0, ddof=1) / se if samples > 1 else np.full(len(arch), np.nan),
                  a_est.std(0, ddof=1) / se if samples > 1 else np.full(len(arch), np.nan),
                  samples)


def perturbation_traces(trainer: Trainer, x: np.ndarray, y: np.ndarray, samples: int,
                        seed: int, rel_sigma: float = 0.02) -> np.ndarray:
    """Section "Sensitivity": the cheaper estimate of each layer's weight-Hessian trace from
    forward passes only: Gaussian perturbations ``e`` of one layer at a time,
    ``E[(L(w+e) + L(w-e) - 2 L(w)) / sigma^2]``, with ``sigma = rel_sigma * rms(w_l)``."""
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    if not 0 < rel_sigma < 1:
        raise ValueError(f"rel_sigma must be in (0, 1), got {rel_sigma!r}")
    arch = trainer.arch
    theta = trainer.theta.copy()
    cfg = fp32_cfg(arch)
    base = trainer.loss(x, y, cfg)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(arch))
    off = 0
    try:
        for i, layer in enumerate(arch):
            w = theta[off:off + layer.n_weights]
            sigma = rel_sigma * float(np.sqrt((w ** 2).mean()))
            vals = []
            for _ in range(samples):
                e = rng.normal(0, sigma, layer.n_weights).astype(np.float32)
                plus, minus = theta.copy(), theta.copy()
                plus[off:off + layer.n_weights] += e
                minus[off:off + layer.n_weights] -= e
                trainer.set_theta(plus)
                lp = trainer.loss(x, y, cfg)
                trainer.set_theta(minus)
                lm = trainer.loss(x, y, cfg)
                vals.append((lp + lm - 2 * base) / sigma ** 2)
            out[i] = float(np.mean(vals))
            off += layer.n_weights + layer.cout
    finally:
        trainer.set_theta(theta)
    return out


@dataclass(frozen=True)
class Noise:
    """Quantization errors of every layer in every format, with the steps that achieve them."""

    formats: tuple[str, ...]
    weight: np.ndarray  # (layers, formats): ||Q(W) - W||^2
    activation: np.ndarray  # (layers, formats): mean per-sample ||Q(a) - a||^2
    wsteps: dict[str, np.ndarray]  # format -> flat per-channel steps (int formats)
    asteps: dict[str, np.ndarray]  # format -> per-layer activation steps (int formats)


def quant_noise(trainer: Trainer, x_calib: np.ndarray, formats: list[str]) -> Noise:
    """Section "Sensitivity": exact weight and activation quantization errors per layer and
    format, and the MSE-optimal steps (the initial LSQ steps and the steps used without
    retraining)."""
    arch = trainer.arch
    parsed = [fmt.parse(f) for f in formats]
    params = split_params(arch, trainer.theta)
    acts = layer_inputs(trainer, x_calib)
    wn = np.zeros((len(arch), len(formats)))
    an = np.zeros((len(arch), len(formats)))
    wsteps, asteps = {}, {}
    for j, f in enumerate(parsed):
        ws, as_ = [], []
        for i, ((w, _), a) in enumerate(zip(params, acts, strict=True)):
            wn[i, j], step = fmt.weight_noise(w, f)
            an[i, j], astep = fmt.act_noise(a.reshape(len(a), -1), f)
            ws.append(step if step is not None else np.full(arch[i].cout, 0.05, np.float32))
            as_.append(astep if astep is not None else 0.05)
        wsteps[f.name] = np.concatenate(ws).astype(np.float32)
        asteps[f.name] = np.array(as_, np.float32)
    return Noise(tuple(formats), wn, an, wsteps, asteps)


def loss_terms(arch: list[Layer], traces: Traces, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """Section "Sensitivity": ``(layers, formats)`` predicted loss increases from quantizing a
    layer's weights, and from quantizing its input activations, to each format. Traces below
    zero (sampling noise on flat directions) count as zero sensitivity."""
    tw = np.maximum(traces.weight, 0.0)
    ta = np.maximum(traces.activation, 0.0)
    nw = np.array([layer.n_weights for layer in arch], float)
    na = np.array([layer.n_in for layer in arch], float)
    # activation traces are summed over the probe batch and the error is per sample:
    # 0.5 * sigma^2 * tr(H_a) with sigma^2 = E||da||^2 / n_in per element
    return 0.5 * (tw / nw)[:, None] * noise.weight, 0.5 * (ta / na)[:, None] * noise.activation


def omega(terms: tuple[np.ndarray, np.ndarray], formats: tuple[str, ...],
          weights: list[str], activations: list[str]) -> np.ndarray:
    """``(layers, candidates)`` predicted loss of each candidate: weights in ``weights[j]``,
    input activations in ``activations[j]``."""
    wt, at = terms
    cols = [wt[:, formats.index(w)] + at[:, formats.index(a)]
            for w, a in zip(weights, activations, strict=True)]
    return np.stack(cols, axis=1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two sensitivity vectors (ties broken by order)."""
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
