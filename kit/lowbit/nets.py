"""The networks of chapter 01 ("Networks"): an MLP, a small CNN and a depthwise-separable
(MobileNet-style) CNN on the 8x8 digits, written once as a functional MindSpore forward pass
over a flat parameter vector so that every layer can take any format from a ``cfg`` tensor,
activation probes can be added for the Hessian, and one compiled graph serves every policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from kit.core.tensors import conv2d_unfold
from kit.lowbit.quant import cfg_table, mixed

NETWORKS = ("mlp", "cnn", "dsconv")
MNIST_NET = "mnist_cnn"  # the 28x28 network of section "MNIST" (not a digits network)


@dataclass(frozen=True)
class Layer:
    """One quantizable layer; ``pool`` = 2x2 max-pool after ReLU, ``gap`` = global average
    pool after ReLU, ``flatten`` = flatten the input first. Geometry is per sample."""

    name: str
    kind: str  # "conv" or "dense"
    cin: int
    cout: int
    k: int = 1
    groups: int = 1
    pool: bool = False
    gap: bool = False
    flatten: bool = False
    hw: int = 1  # spatial size of the input (convs)
    im2col: bool = False  # convolve as one matmul over k*k shifted copies (see ``forward``)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == "dense":
            return (self.cout, self.cin)
        return (self.cout, self.cin // self.groups, self.k, self.k)

    @property
    def n_weights(self) -> int:
        return int(np.prod(self.weight_shape))

    @property
    def n_in(self) -> int:
        """Input activations per sample."""
        return self.cin * self.hw * self.hw

    @property
    def n_out(self) -> int:
        """Output activations per sample (before pooling)."""
        return self.cout * self.hw * self.hw

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        return self.n_weights * self.hw * self.hw

    def key(self) -> tuple:
        """The plain tuple the compiled graph sees."""
        return (self.kind, self.cin, self.cout, self.k, self.groups, self.pool, self.gap,
                self.flatten, self.hw, self.im2col)


def architecture(name: str) -> list[Layer]:
    """Section "Networks": the layers of ``mlp``, ``cnn`` or ``dsconv`` (digits 8x8), or of
    ``mnist_cnn`` (section "MNIST": 28x28, two conv + pool stages, two dense layers)."""
    if name == "mlp":
        dims = [64, 128, 128, 64, 10]
        pairs = zip(dims[:-1], dims[1:], strict=True)
        return [Layer(f"fc{i + 1}", "dense", a, b) for i, (a, b) in enumerate(pairs)]
    if name == "cnn":
        return [Layer("conv1", "conv", 1, 16, 3, pool=True, hw=8),
                Layer("conv2", "conv", 16, 32, 3, hw=4),
                Layer("conv3", "conv", 32, 32, 3, pool=True, hw=4),
                Layer("fc1", "dense", 128, 64, flatten=True),
                Layer("fc2", "dense", 64, 10)]
    if name == "dsconv":
        return [Layer("conv1", "conv", 1, 16, 3, pool=True, hw=8),
                Layer("dw1", "conv", 16, 16, 3, groups=16, hw=4),
                Layer("pw1", "conv", 16, 32, 1, hw=4),
                Layer("dw2", "conv", 32, 32, 3, groups=32, hw=4),
                Layer("pw2", "conv", 32, 64, 1, gap=True, hw=4),
                Layer("fc", "dense", 64, 10, flatten=True)]
    if name == MNIST_NET:
        # convolutions as unfold + matmul (conv_im2col): 2.8x faster steps than ops.conv2d
        return [Layer("conv1", "conv", 1, 4, 3, pool=True, hw=28, im2col=True),
                Layer("conv2", "conv", 4, 8, 3, pool=True, hw=14, im2col=True),
                Layer("fc1", "dense", 8 * 7 * 7, 32, flatten=True),
                Layer("fc2", "dense", 32, 10)]
    raise ValueError(f"network must be one of {', '.join(NETWORKS + (MNIST_NET,))}, "
                     f"got {name!r}")


def n_params(arch: list[Layer]) -> int:
    """Length of the flat parameter vector (weights then bias, layer by layer)."""
    return sum(layer.n_weights + layer.cout for layer in arch)


def init_params(arch: list[Layer], seed: int) -> np.ndarray:
    """He-normal weights, zero biases, as one flat float32 vector."""
    rng = np.random.default_rng(seed)
    parts = []
    for layer in arch:
        fan_in = layer.n_weights // layer.cout
        parts.append(rng.normal(0, np.sqrt(2.0 / fan_in), layer.n_weights))
        parts.append(np.zeros(layer.cout))
    return np.concatenate(parts).astype(np.float32)


def split_params(arch: list[Layer], theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(weight, bias), ...]`` views of a flat numpy parameter vector."""
    out, off = [], 0
    for layer in arch:
        w = theta[off:off + layer.n_weights].reshape(layer.weight_shape)
        off += layer.n_weights
        out.append((w, theta[off:off + layer.cout]))
        off += layer.cout
    return out


def forward(keys: tuple, theta, wstep, astep, x, cfg, delta=None, collect: bool = False):
    """Section "Method": the quantized forward pass. ``keys`` are the layers' plain tuples;
    ``delta`` (optional) is added to each layer's input (activation probes for the Hessian);
    ``collect=True`` returns the layers' fp32 inputs instead of the logits."""

    h, off, soff, doff = x, 0, 0, 0
    inputs = ()
    last = len(keys) - 1
    for i, (kind, cin, cout, k, groups, pool, gap, flatten, hw, im2col) in enumerate(keys):
        if flatten:
            h = h.reshape(h.shape[0], -1)
        if delta is not None:
            size = h.size
            h = h + delta[doff:doff + size].reshape(h.shape)
            doff += size
        if collect:
            inputs += (h,)
        row = cfg[i]
        n_in = cin * hw * hw
        h = mixed(h, astep[i], row, 5, False, n_in)
        if kind == "dense":
            nw = cout * cin
            w = theta[off:off + nw].reshape(cout, cin)
            w = mixed(w, wstep[soff:soff + cout].reshape(cout, 1), row, 0, True, cin)
            h = ops.matmul(h, w.T) + theta[off + nw:off + nw + cout]
        else:
            per = (cin // groups) * k * k
            nw = cout * per
            w = theta[off:off + nw].reshape(cout, cin // groups, k, k)
            w = mixed(w, wstep[soff:soff + cout].reshape(cout, 1, 1, 1), row, 0, True, per)
            if im2col:
                h = conv_im2col(h, w, k)
            else:
                h = ops.conv2d(h, w, pad_mode="pad", padding=k // 2, groups=groups)
            h = h + theta[off + nw:off + nw + cout].reshape(1, cout, 1, 1)
        off += nw + cout
        soff += cout
        if i < last:
            h = ops.relu(h)
        if pool:
            b, c, s, _ = h.shape
            h = h.reshape(b, c, s // 2, 2, s // 2, 2).amax(axis=(3, 5))
        if gap:
            h = h.mean(axis=(2, 3))
    return inputs if collect else h


def conv_im2col(h, w, k: int):
    """Section "MNIST": a same-padded, stride-1, ungrouped convolution as ``ops.unfold`` + one
    matmul (:func:`kit.core.tensors.conv2d_unfold`). The MNIST CNN's train step runs 2.8x
    faster than with ``ops.conv2d`` here (17.7 vs 49 ms at batch 64). Written as pad + k*k
    slices + stack instead, the step hangs (finding ``im2col-train-step-hangs``)."""
    return conv2d_unfold(h, w, k, 1, k // 2)


def _model_class():

    class QuantNet(nn.Cell):
        """A network whose layer formats come from ``cfg``; parameters: flat ``theta``,
        per-channel weight steps ``wstep`` and per-layer activation steps ``astep`` (LSQ)."""

        def __init__(self, arch: list[Layer], theta: np.ndarray) -> None:
            super().__init__()
            self.keys = tuple(layer.key() for layer in arch)
            self.theta = ms.Parameter(ms.Tensor(theta), name="theta")
            n_steps = sum(layer.cout for layer in arch)
            self.wstep = ms.Parameter(ms.Tensor(np.full(n_steps, 0.05, np.float32)),
                                      name="wstep")
            self.astep = ms.Parameter(ms.Tensor(np.full(len(arch), 0.05, np.float32)),
                                      name="astep")

        def construct(self, x, cfg):
            return forward(self.keys, self.theta, self.wstep, self.astep, x, cfg)

    class WithLoss(nn.Cell):
        def __init__(self, net) -> None:
            super().__init__(auto_prefix=False)
            self.net = net

        def construct(self, x, y, cfg):

            return ops.cross_entropy(self.net(x, cfg), y)

    return QuantNet, WithLoss


_CLASSES: tuple | None = None


def _classes():
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _model_class()
    return _CLASSES


class Trainer:
    """Section "Experiments": one network with its Adam train step and its evaluation, in
    GRAPH_MODE (one compilation each, whatever the policy)."""

    def __init__(self, arch: list[Layer], theta: np.ndarray, lr: float) -> None:

        quant_net, with_loss = _classes()
        self.arch = arch
        self.net = quant_net(arch, theta.copy())
        self.lr = lr
        self.opt = nn.Adam(self.net.trainable_params(), lr)
        self.step = nn.TrainOneStepCell(with_loss(self.net), self.opt)
        self.step.set_train()

    def reset(self, theta: np.ndarray, lr: float) -> None:
        """Start a new run on the compiled graphs: new weights, fresh Adam state, new rate."""
        self.set_theta(theta)
        for moments in (self.opt.moment1, self.opt.moment2):
            for m in moments:
                m.set_data(ms.Tensor(np.zeros(m.shape, np.float32)))
        self.opt.beta1_power.set_data(ms.Tensor(np.float32(1.0)))
        self.opt.beta2_power.set_data(ms.Tensor(np.float32(1.0)))
        self.opt.global_step.set_data(ms.Tensor(np.zeros(1, np.int32)))
        self.opt.learning_rate.set_data(ms.Tensor(np.float32(lr)))

    def fit(self, x: np.ndarray, y: np.ndarray, cfg: np.ndarray, epochs: int, batch: int,
            rng: np.random.Generator) -> list[float]:
        """Mini-batch Adam for ``epochs`` (the last partial batch is dropped: one shape, one
        compilation); returns the mean loss of each epoch."""

        c = ms.Tensor(cfg.astype(np.float32))
        losses = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            total = []
            for start in range(0, len(x) - batch + 1, batch):
                idx = order[start:start + batch]
                total.append(float(self.step(ms.Tensor(x[idx]), ms.Tensor(y[idx]), c)
                                   .asnumpy()))
            losses.append(float(np.mean(total)))
        return losses

    def logits(self, x: np.ndarray, cfg: np.ndarray) -> np.ndarray:

        return self.net(ms.Tensor(x), ms.Tensor(cfg.astype(np.float32))).asnumpy()

    def accuracy(self, x: np.ndarray, y: np.ndarray, cfg: np.ndarray) -> float:
        """Share of correct predictions under the formats in ``cfg``."""
        return float((self.logits(x, cfg).argmax(1) == y).mean())

    def loss(self, x: np.ndarray, y: np.ndarray, cfg: np.ndarray) -> float:
        """Mean cross-entropy under the formats in ``cfg`` (float64 from the logits)."""
        z = self.logits(x, cfg).astype(np.float64)
        z -= z.max(1, keepdims=True)
        return float((np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]).mean())

    @property
    def theta(self) -> np.ndarray:
        return self.net.theta.asnumpy()

    def set_theta(self, theta: np.ndarray) -> None:

        self.net.theta.set_data(ms.Tensor(theta.astype(np.float32)))

    def set_steps(self, wstep: np.ndarray, astep: np.ndarray) -> None:

        self.net.wstep.set_data(ms.Tensor(wstep.astype(np.float32)))
        self.net.astep.set_data(ms.Tensor(astep.astype(np.float32)))

    def steps(self) -> tuple[np.ndarray, np.ndarray]:
        return self.net.wstep.asnumpy().copy(), self.net.astep.asnumpy().copy()


def fp32_cfg(arch: list[Layer]) -> np.ndarray:
    """The cfg of the unquantized network."""
    return cfg_table(["fp32"] * len(arch))


def layer_inputs(trainer: Trainer, x: np.ndarray) -> list[np.ndarray]:
    """The fp32 input activations of every layer on ``x`` (calibration)."""

    net = trainer.net
    outs = _collect(net.keys, net.theta, net.wstep, net.astep, ms.Tensor(x),
                    ms.Tensor(fp32_cfg(trainer.arch)))
    return [o.asnumpy() for o in outs]


def _collect(keys, theta, wstep, astep, x, cfg):

    @ms.jit
    def run(theta, wstep, astep, x, cfg):
        return forward(keys, theta, wstep, astep, x, cfg, None, True)

    return run(theta, wstep, astep, x, cfg)


