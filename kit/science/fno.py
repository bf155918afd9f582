"""A 1-D Fourier neural operator in MindSpore (chapter 04, "Neural operator").

Li et al. (ICLR 2021): lift (a(x), x) to ``width`` channels, apply Fourier layers
``v <- act(W v + K v)`` where ``K`` multiplies the lowest ``modes`` Fourier coefficients by
learned complex channel-mixing matrices, then project back to one channel.

The spectral transform has two interchangeable implementations:

* ``"fft"``: ``ops.rfft`` / ``ops.irfft`` with complex tensors (``ops.Complex`` to rebuild them);
  these work on CPU and under ``ms.jit`` with gradients, but there is no ``ops.einsum`` kernel on
  CPU (finding:einsum-cpu; so the mode-wise mixing is a batched matmul) and complex kernels are
  slow here;
* ``"dft"``: the truncated DFT as two real matmuls with precomputed cos/sin matrices,
  O(s * modes) per channel, exactly the same map for modes < s/2.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import nn, ops

TRANSFORMS = ("fft", "dft")


def check_fno(size: int, modes: int, width: int, layers: int, transform: str) -> None:
    """Section "Bad input" for the operator's shape parameters."""
    for name, value, low in (("size", size, 8), ("modes", modes, 1), ("width", width, 1),
                             ("layers", layers, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if modes >= size // 2:
        raise ValueError(f"modes must be < size/2 = {size // 2} (the Nyquist mode is not "
                         f"learned), got {modes}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")


def dft_matrices(size: int, modes: int) -> tuple[np.ndarray, ...]:
    """Forward (modes, size) cos and -sin matrices and inverse (size, modes) ones such that
    the truncated rfft/irfft pair is ``x -> (C x, S x) -> Ci Re + Si Im``."""
    j = np.arange(size)
    k = np.arange(modes)
    angle = 2 * np.pi * np.outer(k, j) / size
    fwd_c, fwd_s = np.cos(angle), -np.sin(angle)
    weight = np.where(k == 0, 1.0, 2.0) / size
    inv_c = (np.cos(angle) * weight[:, None]).T
    inv_s = (-np.sin(angle) * weight[:, None]).T
    return tuple(m.astype(np.float32) for m in (fwd_c, fwd_s, inv_c, inv_s))


class SpectralConv1d(nn.Cell):
    """K v: keep the lowest ``modes`` Fourier coefficients, mix channels per mode, invert."""

    def __init__(self, width: int, modes: int, size: int, transform: str, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        scale = 1.0 / (width * width)
        shape = (modes, width, width)
        self.wr = ms.Parameter(ms.Tensor((scale * rng.random(shape)).astype(np.float32)),
                               name="wr")
        self.wi = ms.Parameter(ms.Tensor((scale * rng.random(shape)).astype(np.float32)),
                               name="wi")
        self.modes, self.size, self.transform = modes, size, transform
        fc, fs, ic, is_ = dft_matrices(size, modes)
        self.fc, self.fs = ms.Tensor(fc), ms.Tensor(fs)
        self.ic, self.is_ = ms.Tensor(ic), ms.Tensor(is_)
        self.complex = ops.Complex()

    def _mix(self, xr, xi):
        # xr, xi: (modes, batch, width) -> per-mode (width x width) complex product
        yr = ops.matmul(xr, self.wr) - ops.matmul(xi, self.wi)
        yi = ops.matmul(xr, self.wi) + ops.matmul(xi, self.wr)
        return yr, yi

    def construct(self, x):
        # x: (size, batch, width), grid-major so that the DFT is one plain 2-D matmul
        s, b, c = x.shape
        if self.transform == "fft":
            xf = ops.rfft(x, dim=0)[:self.modes]
            yr, yi = self._mix(ops.real(xf), ops.imag(xf))
            pad = ops.zeros((self.size // 2 + 1 - self.modes, b, c), x.dtype)
            y = self.complex(ops.concat([yr, pad], 0), ops.concat([yi, pad], 0))
            return ops.irfft(y, n=self.size, dim=0)
        flat = x.reshape(s, b * c)
        xr = ops.matmul(self.fc, flat).reshape(self.modes, b, c)
        xi = ops.matmul(self.fs, flat).reshape(self.modes, b, c)
        yr, yi = self._mix(xr, xi)
        out = (ops.matmul(self.ic, yr.reshape(self.modes, b * c))
               + ops.matmul(self.is_, yi.reshape(self.modes, b * c)))
        return out.reshape(s, b, c)


class FNO1d(nn.Cell):
    """The operator a(x) -> u(x) on a fixed grid of ``size`` points (input (batch, size))."""

    def __init__(self, size: int, modes: int = 16, width: int = 32, layers: int = 4,
                 transform: str = "dft", seed: int = 0) -> None:
        super().__init__()
        check_fno(size, modes, width, layers, transform)
        self.lift = nn.Dense(2, width)
        self.spectral = nn.CellList([SpectralConv1d(width, modes, size, transform, seed + i)
                                     for i in range(layers)])
        self.pointwise = nn.CellList([nn.Dense(width, width) for _ in range(layers)])
        self.proj1 = nn.Dense(width, 128)
        self.proj2 = nn.Dense(128, 1)
        self.grid = ms.Tensor((np.arange(size, dtype=np.float32) / size)[:, None, None])
        self.layers = layers

    def construct(self, a):
        # hidden state is (size, batch, width): grid-major
        grid = ops.broadcast_to(self.grid, (-1, a.shape[0], -1))
        h = self.lift(ops.concat([a.T[:, :, None], grid], 2))
        for i in range(self.layers):
            h = self.spectral[i](h) + self.pointwise[i](h)
            if i < self.layers - 1:
                h = ops.gelu(h)
        return self.proj2(ops.gelu(self.proj1(h)))[:, :, 0].T


def rel_l2_batch(pred, target):
    """Mean over the batch of ||pred - target|| / ||target|| (the FNO paper's loss and metric)."""
    num = ops.sqrt(((pred - target) ** 2).sum(1))
    den = ops.sqrt((target ** 2).sum(1))
    return (num / den).mean()


@dataclass
class FNOFit:
    """A trained operator with its train/test relative L2 and timings."""

    net: FNO1d
    train_rel_l2: float
    test_rel_l2: float
    seconds: float
    step_ms: float
    losses: list


class TrainStep(nn.Cell):
    """One Adam step on the relative-L2 loss with a cosine learning-rate schedule, as a Cell:
    the same step as a jitted function over a captured optimizer runs 2-3x slower here
    (finding ``jit-function-optimizer-slow``)."""

    def __init__(self, net: FNO1d, lr: float, total_steps: int) -> None:
        super().__init__()
        self.net = net
        schedule = (nn.cosine_decay_lr(lr * 1e-2, lr, total_steps, 1, total_steps)
                    if total_steps > 1 else lr)
        self.opt = nn.Adam(net.trainable_params(), learning_rate=schedule, weight_decay=1e-4)
        self.grad = ms.value_and_grad(self.loss, None, self.opt.parameters)

    def loss(self, a, u):
        return rel_l2_batch(self.net(a), u)

    def construct(self, a, u):
        loss, grads = self.grad(a, u)
        self.opt(grads)
        return loss


def make_step(net: FNO1d, lr: float, total_steps: int) -> TrainStep:
    """The compiled training step of section "Neural operator" (:class:`TrainStep`)."""
    return TrainStep(net, lr, total_steps)


def evaluate(net: FNO1d, a: np.ndarray, u: np.ndarray, batch: int = 100) -> float:
    """Mean relative L2 error of the operator over a data set."""
    errs = []
    for i in range(0, len(a), batch):
        pred = net(ms.Tensor(a[i:i + batch])).asnumpy()
        ref = u[i:i + batch]
        errs.append(np.linalg.norm(pred - ref, axis=1) / np.linalg.norm(ref, axis=1))
    return float(np.concatenate(errs).mean())


def train_fno(a_train: np.ndarray, u_train: np.ndarray, a_test: np.ndarray, u_test: np.ndarray,
              epochs: int, modes: int = 16, width: int = 32, layers: int = 4, batch: int = 20,
              lr: float = 1e-3, transform: str = "dft", seed: int = 0) -> FNOFit:
    """Section "Neural operator": train with Adam for ``epochs`` passes, shuffled by ``seed``."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if not isinstance(batch, int) or not 1 <= batch <= len(a_train):
        raise ValueError(f"batch must be an int in [1, {len(a_train)}], got {batch!r}")
    ms.set_seed(seed)
    net = FNO1d(a_train.shape[1], modes, width, layers, transform, seed)
    per_epoch = len(a_train) // batch
    step = make_step(net, lr, epochs * per_epoch)
    rng = np.random.default_rng(seed)
    losses = []
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(a_train))
        total = 0.0
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            total += float(step(ms.Tensor(a_train[idx]), ms.Tensor(u_train[idx])).asnumpy())
        losses.append(total / per_epoch)
    seconds = time.perf_counter() - start
    return FNOFit(net, evaluate(net, a_train, u_train), evaluate(net, a_test, u_test), seconds,
                  1e3 * seconds / (epochs * per_epoch), losses)


def step_time(transform: str, size: int, modes: int, width: int, batch: int = 20,
              repeats: int = 10, seed: int = 0) -> float:
    """Median ms of one training step with the given spectral transform (fft vs dft)."""
    from kit.core.measure import time_call

    net = FNO1d(size, modes, width, 4, transform, seed)
    step = make_step(net, 1e-3, 1)
    rng = np.random.default_rng(seed)
    a = ms.Tensor(rng.standard_normal((batch, size)).astype(np.float32))
    u = ms.Tensor(rng.standard_normal((batch, size)).astype(np.float32))

    def run() -> None:
        step(a, u).asnumpy()
    return 1e3 * time_call(run, repeats=repeats, warmup=2).median


def spectral_agreement(size: int = 64, modes: int = 8, seed: int = 0) -> float:
    """Max abs difference between the fft and dft spectral layers with the same weights."""
    rng = np.random.default_rng(seed)
    fft = SpectralConv1d(4, modes, size, "fft", seed)
    dft = SpectralConv1d(4, modes, size, "dft", seed)
    x = ms.Tensor(rng.standard_normal((size, 3, 4)).astype(np.float32))
    return float(np.abs(fft(x).asnumpy() - dft(x).asnumpy()).max()) if math.isfinite(size) else 0
