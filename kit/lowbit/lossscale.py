"""Section "Loss scaling for fp16" of chapter 01: real float16 compute in MindSpore, with and
without MindSpore's own ``ms.amp.DynamicLossScaler``.

Mixed precision as torch.amp and MindSpore's AMP do it: float32 master weights, the forward and
backward passes in float16, the loss in float32. Backpropagated values smaller than float16's
smallest subnormal (5.96e-8) flush to zero; multiplying the loss by a scale ``S`` before the
backward pass (and the gradients by ``1/S`` after it) moves them back into range. Three arms
train the same MLP from the same initial weights on the same batches: float32, float16 without
scaling, float16 with dynamic loss scaling (a step with a non-finite gradient is skipped and
the scale halved; after ``window`` finite steps it doubles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
import pandas as pd
from mindspore import Parameter, Tensor, nn, ops

ARMS = ("fp32", "fp16", "fp16 + loss scaling")
FP16_TINY = float(np.finfo(np.float16).smallest_subnormal)


class ScaledMLP(nn.Cell):
    """A ReLU MLP with float32 master weights whose matmuls run in ``compute`` precision."""

    def __init__(self, sizes: list[int], seed: int, compute: ms.dtype = ms.float32,
                 share: ScaledMLP | None = None):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.compute = compute
        if share is not None:  # a twin computing in another precision on the same weights
            self.weights, self.biases = share.weights, share.biases
            return
        self.weights = ms.ParameterTuple([
            Parameter(Tensor(rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32)), f"w{i}")
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))])
        self.biases = ms.ParameterTuple([
            Parameter(Tensor(np.zeros(b, np.float32)), f"b{i}") for i, b in enumerate(sizes[1:])])

    def construct(self, x):
        h = x.astype(self.compute)
        last = len(self.weights) - 1
        for i in range(len(self.weights)):
            h = ops.matmul(h, self.weights[i].astype(self.compute))
            h = h + self.biases[i].astype(self.compute)
            if i < last:
                h = ops.relu(h)
        return h.astype(ms.float32)


@dataclass
class Arm:
    """One arm's trajectory: per-epoch test accuracy, underflow fraction and loss scale."""

    name: str
    accuracy: list[float] = field(default_factory=list)
    underflow: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    skipped_steps: int = 0


def _step_fn(net: ScaledMLP, opt: nn.Optimizer, scaler: ms.amp.DynamicLossScaler | None):
    """A jitted training step; with a scaler it skips non-finite steps and adjusts the scale."""

    def loss_fn(x, y):
        loss = ops.cross_entropy(net(x), y)
        return scaler.scale(loss) if scaler is not None else loss

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    @ms.jit
    def step(x, y):
        loss, grads = grad_fn(x, y)
        if scaler is None:
            opt(grads)
            return loss, Tensor(True)
        finite = ms.amp.all_finite(grads)
        if finite:
            opt(scaler.unscale(grads))
        scaler.adjust(finite)
        return scaler.unscale(loss), finite

    return step


def probe_gradients(net: ScaledMLP, sizes: list[int]):
    """Section "Loss scaling": a function of (x, y, scale) giving the float32 gradient and the
    float16 gradient at ``scale`` (unscaled) of ``net``'s current weights, as flat vectors."""
    twins = {dtype: ScaledMLP(sizes, 0, dtype, share=net) for dtype in (ms.float32, ms.float16)}
    params = list(net.weights) + list(net.biases)

    def grad_fn(twin: ScaledMLP):
        def scaled_loss(a, b, s):
            return ops.cross_entropy(twin(a), b) * s

        return ms.jit(ms.value_and_grad(scaled_loss, None, params))

    fns = {dtype: grad_fn(twin) for dtype, twin in twins.items()}

    def gradients(x: np.ndarray, y: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for dtype, s in ((ms.float32, 1.0), (ms.float16, scale)):
            _, grads = fns[dtype](Tensor(x), Tensor(y), Tensor(s, ms.float32))
            out.append(np.concatenate([g.asnumpy().ravel() for g in grads]) / s)
        return out[0], out[1]

    return gradients


def underflow_fraction(reference: np.ndarray, half: np.ndarray) -> float:
    """Share of gradient entries that are non-zero in float32 but zero in float16."""
    reference, half = np.asarray(reference), np.asarray(half)
    if reference.shape != half.shape:
        raise ValueError(f"half.shape={half.shape}: must equal reference.shape={reference.shape}")
    live = reference != 0
    return float(np.mean(half[live] == 0)) if live.any() else 0.0


def _accuracy(net: ScaledMLP, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(net(Tensor(x)).asnumpy().argmax(1) == y))


def train_arms(split: tuple[np.ndarray, ...], epochs: int, seed: int, batch: int = 64,
               lr: float = 0.1, init_scale: float = 2.0 ** 16, window: int = 50,
               hidden: int = 128) -> dict[str, Arm]:
    """Section "Loss scaling for fp16": the three arms from one initialisation and one batch
    order; per epoch the test accuracy and, on a fixed probe batch, the underflow fraction."""
    if epochs < 1:
        raise ValueError(f"epochs={epochs!r}: must be at least 1")
    xtr, xte, ytr, yte = (np.asarray(a) for a in split)
    xtr, xte = xtr.reshape(len(xtr), -1).astype(np.float32), xte.reshape(len(xte), -1)
    xte = xte.astype(np.float32)
    ytr, yte = ytr.astype(np.int32), yte.astype(np.int32)
    sizes = [xtr.shape[1], hidden, hidden, int(ytr.max()) + 1]
    probe = slice(0, batch)
    arms = {}
    for name in ARMS:
        net = ScaledMLP(sizes, seed, ms.float32 if name == "fp32" else ms.float16)
        opt = nn.SGD(list(net.weights) + list(net.biases), learning_rate=lr, momentum=0.9)
        scaler = (ms.amp.DynamicLossScaler(init_scale, 2, window)
                  if name.endswith("scaling") else None)
        step, arm = _step_fn(net, opt, scaler), Arm(name)
        gradients = probe_gradients(net, sizes)
        perm_rng = np.random.default_rng(seed)  # the same batch order in every arm
        for _ in range(epochs):
            idx = perm_rng.permutation(len(xtr))
            for s in range(0, len(idx) - batch + 1, batch):
                b = idx[s:s + batch]
                _, finite = step(Tensor(xtr[b]), Tensor(ytr[b]))
                arm.skipped_steps += int(not bool(finite.asnumpy()))
            scale = float(scaler.scale_value.asnumpy()) if scaler is not None else 1.0
            arm.accuracy.append(_accuracy(net, xte, yte))
            arm.scale.append(scale)
            arm.underflow.append(underflow_fraction(*gradients(xtr[probe], ytr[probe], scale))
                                 if name != "fp32" else 0.0)
        arms[name] = arm
    return arms


def frame(arms: dict[str, Arm]) -> pd.DataFrame:
    """Section "Loss scaling for fp16": one row per arm at the end of training."""
    return pd.DataFrame([{
        "arm": a.name, "test accuracy": a.accuracy[-1],
        "underflowed gradient entries (final)": a.underflow[-1],
        "underflowed (max over epochs)": max(a.underflow),
        "final loss scale": a.scale[-1], "skipped steps": a.skipped_steps,
    } for a in arms.values()]).set_index("arm")


def figure(arms: dict[str, Arm]):
    """Section "Loss scaling for fp16": accuracy and underflow per epoch for each arm."""
    from kit.core import plots

    fig, (left, right) = plots.figure(ncols=2)
    for a in arms.values():
        epochs = np.arange(1, len(a.accuracy) + 1)
        left.plot(epochs, a.accuracy, marker="o", label=a.name)
        if a.name != "fp32":
            right.plot(epochs, np.array(a.underflow) * 100, marker="o", label=a.name)
    left.set(xlabel="epoch", ylabel="test accuracy", title="Same batches, three precisions")
    right.set(xlabel="epoch", ylabel="gradient entries flushed to zero (%)",
              title="float16 underflow on a probe batch")
    left.legend()
    right.legend()
    return fig
