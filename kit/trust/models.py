"""Section "Method": small MindSpore MLPs and their training objectives (chapter 05).

One training loop serves every model on the trust card; the objective decides what is learned:
``standard`` cross-entropy, ``noise`` (Gaussian augmentation for randomized smoothing),
``fgsm_rs`` (Wong et al. 2020), ``pgd`` (Madry et al. 2018) and ``ibp`` (Gowal et al. 2018,
interval bounds written in MindSpore ops so that autodiff flows through them).
Training runs in GRAPH_MODE (``kit.setup(mode="graph")``); weights come back as numpy for the
exact verifiers in :mod:`kit.trust.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from kit.core.tensors import conv2d_unfold
from kit.trust import verify

OBJECTIVES = ("standard", "noise", "fgsm_rs", "pgd", "ibp")
ARCHS = ("mlp", "cnn")


class MLP(nn.Cell):
    """Dense-ReLU network ``sizes[0] -> ... -> sizes[-1]`` (logits); section "Method"."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes must list >= 2 positive layer widths, got {sizes!r}")
        self.sizes = tuple(int(s) for s in sizes)
        pairs = zip(sizes[:-1], sizes[1:], strict=True)
        self.layers = nn.CellList([nn.Dense(a, b) for a, b in pairs])
        self.depth = len(self.layers)

    def construct(self, x: ms.Tensor) -> ms.Tensor:
        for i in range(self.depth):
            x = self.layers[i](x)
            if i < self.depth - 1:
                x = ops.relu(x)
        return x

    def features(self, x: ms.Tensor, layer: int = -1) -> ms.Tensor:
        """Activations after hidden layer ``layer`` (0 = first, -1 = penultimate); the backdoor
        detectors use them."""
        last = self.depth - 2 if layer < 0 else layer
        for i in range(last + 1):
            x = ops.relu(self.layers[i](x))
        return x


class CNN(nn.Cell):
    """Section "Method": conv 1->c1 (k1, stride s1, pad p1) - ReLU - conv c1->c2 (k2, s2, p2) -
    ReLU - flatten - dense -> classes. The default is the digits CNN (3x3 kernels, strides 1 and
    2, pad 1); the MNIST part uses Gowal et al.'s 4x4 kernels with stride 2. It takes flat
    ``side * side`` rows as :class:`MLP` does, so every attack and verifier applies to it."""

    def __init__(self, channels: tuple[int, int] = (8, 16), n_classes: int = 10,
                 side: int = 8, kernels: tuple[int, int] = (3, 3),
                 strides: tuple[int, int] = (1, 2), pads: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        if len(channels) != 2 or any(int(c) < 1 for c in channels):
            raise ValueError(f"channels must be two positive widths, got {channels!r}")
        for name, v, low in (("kernels", kernels, 1), ("strides", strides, 1), ("pads", pads, 0)):
            if len(v) != 2 or any(int(k) < low for k in v):
                raise ValueError(f"{name} must be two ints >= {low}, got {v!r}")
        c1, c2 = (int(c) for c in channels)
        self.side, self.channels = int(side), (c1, c2)
        self.kernels, self.strides = tuple(int(k) for k in kernels), tuple(int(s) for s in strides)
        self.pads = tuple(int(p) for p in pads)
        out = self.side
        for k, st, pd in zip(self.kernels, self.strides, self.pads, strict=True):
            out = (out + 2 * pd - k) // st + 1
        if out < 1:
            raise ValueError(f"side={side} is too small for kernels {kernels}, strides {strides}")
        self.sizes = (self.side * self.side, int(n_classes))
        self.conv1 = nn.Conv2d(1, c1, self.kernels[0], stride=self.strides[0], pad_mode="pad",
                               padding=self.pads[0], has_bias=True)
        self.conv2 = nn.Conv2d(c1, c2, self.kernels[1], stride=self.strides[1], pad_mode="pad",
                               padding=self.pads[1], has_bias=True)
        self.fc = nn.Dense(c2 * out * out, int(n_classes))

        self.native = False       # True: nn.Conv2d's own kernel (the speed comparison only)

    def conv(self, i: int, h: ms.Tensor, absolute: bool = False,
             bias: bool = True) -> ms.Tensor:
        """Convolution ``i`` (0 or 1) of ``h`` (B, C, H, W) as unfold + matmul, the same map as
        ``nn.Conv2d`` (MindSpore 2.10's CPU Conv2D step is ~10x slower at these sizes);
        ``absolute`` uses |W| (IBP's radius), ``bias=False`` drops the bias."""
        cell = self.conv1 if i == 0 else self.conv2
        w = ops.abs(cell.weight) if absolute else cell.weight
        if self.native:
            out = ops.conv2d(h, w, None, self.strides[i], "pad", self.pads[i])
        else:
            out = conv2d_unfold(h, w, self.kernels[i], self.strides[i], self.pads[i])
        return out + cell.bias.reshape(1, -1, 1, 1) if bias else out

    def construct(self, x: ms.Tensor) -> ms.Tensor:
        h = x.reshape(x.shape[0], 1, self.side, self.side)
        h = ops.relu(self.conv(1, ops.relu(self.conv(0, h))))
        return self.fc(h.reshape(h.shape[0], -1))

    def conv_layers(self) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
        """``[(W, b, stride, padding), ...]`` of the two convolutions as float64 numpy."""
        return [(c.weight.asnumpy().astype(np.float64), c.bias.asnumpy().astype(np.float64),
                 s, p) for c, s, p in ((self.conv1, self.strides[0], self.pads[0]),
                                       (self.conv2, self.strides[1], self.pads[1]))]


def weights(net: MLP | CNN) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W, b), ...]`` as float64 numpy with ``W`` of shape (out, in), for exact verification.
    A :class:`CNN`'s convolutions are lowered to their exact dense matrices on the 8x8 grid
    (``verify.conv_as_dense``; flatten is the identity on that layout), so IBP and CROWN apply
    to it as to an MLP."""
    if isinstance(net, CNN):
        shape = (1, net.side, net.side)
        out = []
        for w, b, stride, pad in net.conv_layers():
            wd, bd, shape = verify.conv_as_dense(w, b, shape, stride, pad)
            out.append((wd, bd))
        fc = net.fc
        return out + [(fc.weight.asnumpy().astype(np.float64),
                       fc.bias.asnumpy().astype(np.float64))]
    return [(layer.weight.asnumpy().astype(np.float64), layer.bias.asnumpy().astype(np.float64))
            for layer in net.layers]


def forward_np(params: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Logits of the MLP given by ``weights(net)`` in float64 numpy."""
    h = np.asarray(x, np.float64)
    for i, (w, b) in enumerate(params):
        h = h @ w.T + b
        if i < len(params) - 1:
            h = np.maximum(h, 0.0)
    return h


def _ce(logits: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
    return ops.cross_entropy(logits, y)


def ibp_worst_logits(net: MLP, x: ms.Tensor, y: ms.Tensor, eps: ms.Tensor) -> ms.Tensor:
    """Gowal et al.'s worst-case logits ``-lower(z_y - z_j)`` from interval bounds, in MindSpore
    ops (differentiable). The last layer is elided into the margin specification."""
    lo = ops.clamp(x - eps, 0.0, 1.0)
    hi = ops.clamp(x + eps, 0.0, 1.0)
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    for i in range(net.depth - 1):
        w, b = net.layers[i].weight, net.layers[i].bias
        mid, rad = ops.matmul(mid, w.T) + b, ops.matmul(rad, ops.abs(w).T)
        lo, hi = ops.relu(mid - rad), ops.relu(mid + rad)
        mid, rad = (hi + lo) / 2, (hi - lo) / 2
    w, b = net.layers[net.depth - 1].weight, net.layers[net.depth - 1].bias
    wd = ops.gather(w, y, 0)[:, None, :] - w[None, :, :]          # (B, K, n): w_y - w_j
    bd = ops.gather(b, y, 0)[:, None] - b[None, :]
    center = (wd * mid[:, None, :]).sum(-1) + bd
    radius = (ops.abs(wd) * rad[:, None, :]).sum(-1)
    return -(center - radius)


def _conv_interval(net: CNN, i: int, lo: ms.Tensor,
                   hi: ms.Tensor) -> tuple[ms.Tensor, ms.Tensor]:
    """Exact bounds of convolution ``i`` of ``net`` over the box ``[lo, hi]`` in centre-radius
    form, ``c' = W * c + b``, ``r' = |W| * r`` (differentiable; the same box as the W+/W- split
    of :func:`kit.trust.verify.conv_interval`)."""
    c = net.conv(i, (hi + lo) / 2)
    r = net.conv(i, (hi - lo) / 2, absolute=True, bias=False)
    return c - r, c + r


def cnn_worst_logits(net: CNN, x: ms.Tensor, y: ms.Tensor, eps: ms.Tensor) -> ms.Tensor:
    """:func:`ibp_worst_logits` for the :class:`CNN`: intervals through conv, ReLU, conv, ReLU
    and flatten, the last dense layer elided into the margin specification."""
    side = net.side
    lo = ops.clamp(x - eps, 0.0, 1.0).reshape(x.shape[0], 1, side, side)
    hi = ops.clamp(x + eps, 0.0, 1.0).reshape(x.shape[0], 1, side, side)
    lo, hi = _conv_interval(net, 0, lo, hi)
    lo, hi = _conv_interval(net, 1, ops.relu(lo), ops.relu(hi))
    lo, hi = ops.relu(lo).reshape(x.shape[0], -1), ops.relu(hi).reshape(x.shape[0], -1)
    mid, rad = (hi + lo) / 2, (hi - lo) / 2
    w, b = net.fc.weight, net.fc.bias
    wd = ops.gather(w, y, 0)[:, None, :] - w[None, :, :]
    bd = ops.gather(b, y, 0)[:, None] - b[None, :]
    center = (wd * mid[:, None, :]).sum(-1) + bd
    radius = (ops.abs(wd) * rad[:, None, :]).sum(-1)
    return -(center - radius)


class Objective(nn.Cell):
    """The training loss of one objective; ``eps`` and ``kappa`` are inputs so that a schedule
    does not recompile the graph."""

    def __init__(self, net: MLP | CNN, kind: str, sigma: float = 0.25,
                 pgd_steps: int = 7) -> None:
        super().__init__()
        if kind not in OBJECTIVES:
            raise ValueError(f"kind must be one of {', '.join(OBJECTIVES)}, got {kind!r}")
        self.net = net
        self.is_cnn = isinstance(net, CNN)
        self.kind = kind
        self.sigma = float(sigma)
        self.pgd_steps = int(pgd_steps)
        self.input_grad = ms.grad(self.clean_loss, grad_position=0)

    def clean_loss(self, x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
        return _ce(self.net(x), y)

    def construct(self, x: ms.Tensor, y: ms.Tensor, eps: ms.Tensor,
                  kappa: ms.Tensor) -> ms.Tensor:
        if self.kind == "noise":
            return _ce(self.net(x + self.sigma * ops.standard_normal(x.shape)), y)
        if self.kind == "fgsm_rs":
            delta = (ops.rand(x.shape) * 2 - 1) * eps
            xa = ops.clamp(x + delta, 0.0, 1.0)
            g = self.input_grad(xa, y)
            xa = ops.clamp(xa + 1.25 * eps * ops.sign(g), x - eps, x + eps)
            xa = ops.stop_gradient(ops.clamp(xa, 0.0, 1.0))
            return _ce(self.net(xa), y)
        if self.kind == "pgd":
            xa = ops.clamp(x + (ops.rand(x.shape) * 2 - 1) * eps, 0.0, 1.0)
            for _ in range(self.pgd_steps):
                g = self.input_grad(xa, y)
                xa = ops.clamp(xa + 2.5 * eps / self.pgd_steps * ops.sign(g), x - eps, x + eps)
                xa = ops.clamp(xa, 0.0, 1.0)
            return _ce(self.net(ops.stop_gradient(xa)), y)
        if self.kind == "ibp":
            if self.is_cnn:
                worst = cnn_worst_logits(self.net, x, y, eps)
            else:
                worst = ibp_worst_logits(self.net, x, y, eps)
            robust = _ce(worst, y)
            return kappa * _ce(self.net(x), y) + (1 - kappa) * robust
        return _ce(self.net(x), y)


class TrainStep(nn.Cell):
    """One Adam step on an :class:`Objective` (compiled once in GRAPH_MODE)."""

    def __init__(self, objective: Objective, lr: float) -> None:
        super().__init__()
        self.objective = objective
        self.weights = objective.net.trainable_params()
        self.opt = nn.Adam(self.weights, learning_rate=lr)
        self.grad = ms.value_and_grad(objective, None, self.weights)

    def construct(self, x: ms.Tensor, y: ms.Tensor, eps: ms.Tensor,
                  kappa: ms.Tensor) -> ms.Tensor:
        loss, grads = self.grad(x, y, eps, kappa)
        self.opt(grads)
        return loss


@dataclass
class TrainConfig:
    """How to train one model for the card (section "Experiments")."""

    kind: str = "standard"
    arch: str = "mlp"
    channels: tuple[int, int] = (8, 16)
    kernels: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 2)
    pads: tuple[int, int] = (1, 1)
    hidden: int = 64
    epochs: int = 30
    batch: int = 64
    lr: float = 3e-3
    eps: float = 0.1
    sigma: float = 0.25
    pgd_steps: int = 7
    seed: int = 0
    losses: list[float] = field(default_factory=list)


def train(x: np.ndarray, y: np.ndarray, cfg: TrainConfig,
          n_classes: int = 10) -> MLP | CNN:
    """Train a ``64-h-h-10`` MLP (or, with ``cfg.arch == 'cnn'``, the :class:`CNN`) with
    ``cfg.kind``; IBP uses the ramp of Gowal et al. (eps from 0 to ``cfg.eps`` over the middle
    half of training, kappa from 1 to 0.5)."""
    if cfg.arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {cfg.arch!r}")
    if cfg.eps < 0:
        raise ValueError(f"eps must be >= 0, got {cfg.eps!r}")
    if cfg.sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {cfg.sigma!r}")
    ms.set_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = (MLP((x.shape[1], cfg.hidden, cfg.hidden, n_classes)) if cfg.arch == "mlp"
           else CNN(cfg.channels, n_classes, int(round(np.sqrt(x.shape[1]))), cfg.kernels,
                    cfg.strides, cfg.pads))
    step = TrainStep(Objective(net, cfg.kind, cfg.sigma, cfg.pgd_steps), cfg.lr)
    n = len(x)
    per_epoch = max(1, n // cfg.batch)
    total = cfg.epochs * per_epoch
    it = 0
    net.set_train(True)
    for _ in range(cfg.epochs):
        order = rng.permutation(n)
        run = 0.0
        for j in range(per_epoch):
            idx = order[j * cfg.batch:(j + 1) * cfg.batch]
            frac = it / max(1, total)
            if cfg.kind == "ibp":
                ramp = min(1.0, max(0.0, (frac - 0.25) / 0.5))
                eps_now, kappa = cfg.eps * ramp, 1.0 - 0.5 * ramp
            else:
                eps_now, kappa = cfg.eps, 1.0
            loss = step(ms.Tensor(x[idx]), ms.Tensor(y[idx]),
                        ms.Tensor(np.float32(eps_now)), ms.Tensor(np.float32(kappa)))
            run += float(loss.asnumpy())
            it += 1
        cfg.losses.append(run / per_epoch)
    net.set_train(False)
    return net


def predict_logits(net: MLP | CNN, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Logits for a numpy batch (MindSpore forward in chunks)."""
    out = [net(ms.Tensor(np.ascontiguousarray(x[i:i + batch], np.float32))).asnumpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, net.sizes[-1]), np.float32)


def accuracy(net: MLP | CNN, x: np.ndarray, y: np.ndarray) -> float:
    """Clean accuracy on ``(x, y)``."""
    return float((predict_logits(net, x).argmax(1) == y).mean())
