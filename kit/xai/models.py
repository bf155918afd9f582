"""Chapter 09 models ("Models"): a small CNN and an MLP on 8x8 digits, an MLP on tabular data,
their Guided-Backprop twins, batched jitted gradients, and model randomisation.

Every model maps a batch of inputs to 10 (or 2) logits. :class:`Classifier` wraps a trained
network with numpy in/out helpers: logits, probabilities, the gradient of any weighted sum of
logits with respect to the input (one jitted MindSpore graph per network), the Grad-CAM layer
and the representation used for example-based explanations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from kit.core.tensors import conv2d_unfold, fetch

CHUNK = 4096  # rows per MindSpore call: keeps memory flat for RISE and IG paths


class GuidedReLU(nn.Cell):
    """ReLU whose backward pass lets through only positive gradients at positive inputs
    (Springenberg et al. 2015), written as an ``nn.Cell`` with a custom ``bprop``."""

    def construct(self, x):
        return ops.relu(x)

    def bprop(self, x, out, dout):
        return (dout * (x > 0).astype(dout.dtype) * (dout > 0).astype(dout.dtype),)


def _act(guided: bool) -> nn.Cell:
    return GuidedReLU() if guided else nn.ReLU()


def avgpool2(a):
    """2x2 average pooling of NCHW ``a`` by reshape: MaxPool2d and AvgPool2d have no second
    derivative on CPU (finding:pool-second-order), and the CNN's influence needs
    Hessian-vector products."""
    n, c, h, w = a.shape
    return a.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _conv(cell: nn.Conv2d, x, pad: int):
    """``cell`` (stride 1, square kernel, "same" padding ``pad``) applied as unfold + matmul
    (:func:`kit.core.tensors.conv2d_unfold`): MindSpore 2.10's CPU Conv2D made the MNIST CNN
    train 5x and explain 14x slower (section "Sanity checks on MNIST"), the digits CNN 2x and
    7x (section "Models")."""
    out = conv2d_unfold(x, cell.weight, cell.weight.shape[-1], 1, pad)
    return out + cell.bias.reshape(1, -1, 1, 1)


class _Layered(nn.Cell):
    """The chapter's networks: ``features`` (the Grad-CAM / TCAV layer), ``hidden_from`` (the
    representation) and ``head`` (the logits) compose to the forward pass."""

    def hidden(self, x):
        return self.hidden_from(self.features(x))

    def construct(self, x):
        return self.head(self.features(x))


class DigitCNN(_Layered):
    """Section "Models": conv 3x3x8 - ReLU - conv 3x3x16 - ReLU (the Grad-CAM and TCAV layer,
    16x8x8) - avg-pool 2 - dense 64 - ReLU (the representation) - dense 10."""

    def __init__(self, guided: bool = False, c1: int = 8, c2: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, pad_mode="same", has_bias=True)
        self.act1 = _act(guided)
        self.conv2 = nn.Conv2d(c1, c2, 3, pad_mode="same", has_bias=True)
        self.act2 = _act(guided)
        self.fc1 = nn.Dense(16 * c2, 64)
        self.act3 = _act(guided)
        self.fc2 = nn.Dense(64, 10)

    def features(self, x):
        return self.act2(_conv(self.conv2, self.act1(_conv(self.conv1, x, 1)), 1))

    def hidden_from(self, a):
        return self.act3(self.fc1(avgpool2(a).reshape(a.shape[0], -1)))

    def head(self, a):
        return self.fc2(self.hidden_from(a))


class MnistCNN(_Layered):
    """Section "Sanity checks on MNIST": conv 5x5x``c1`` - ReLU - max-pool 2 - conv 5x5x``c2``
    - ReLU - max-pool 2 (the feature layer, ``c2`` x 7 x 7) - dense ``fc`` - ReLU (the
    representation) - dense 10, on 28x28 inputs. Adebayo et al.'s MNIST CNN (the TensorFlow
    tutorial's) has the same layers at 32/64 channels and dense 1024, with dropout; this one
    has a quarter of the channels (8/16), dense 128 and no dropout, to train on 2 CPU cores
    (MindSpore 2.10's CPU Conv2D made 16/32 channels cost 3x as much per step; its
    convolutions now run as unfold + matmul)."""

    def __init__(self, guided: bool = False, c1: int = 8, c2: int = 16, fc: int = 128) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 5, pad_mode="same", has_bias=True)
        self.act1 = _act(guided)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(c1, c2, 5, pad_mode="same", has_bias=True)
        self.act2 = _act(guided)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Dense(49 * c2, fc)
        self.act3 = _act(guided)
        self.fc2 = nn.Dense(fc, 10)

    def features(self, x):
        h = self.pool1(self.act1(_conv(self.conv1, x, 2)))
        return self.pool2(self.act2(_conv(self.conv2, h, 2)))

    def hidden_from(self, a):
        return self.act3(self.fc1(a.reshape(a.shape[0], -1)))

    def head(self, a):
        return self.fc2(self.hidden_from(a))


class MLP(_Layered):
    """Section "Models": dense ``inp`` - h - ReLU - h - ReLU (representation) - ``out``; the
    digits MLP (64 inputs) and the tabular model share it."""

    def __init__(self, inp: int = 64, width: int = 64, out: int = 10,
                 guided: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Dense(inp, width)
        self.act1 = _act(guided)
        self.fc2 = nn.Dense(width, width)
        self.act2 = _act(guided)
        self.fc3 = nn.Dense(width, out)

    def features(self, x):
        return self.act1(self.fc1(x))

    def hidden_from(self, a):
        return self.act2(self.fc2(a))

    def head(self, a):
        return self.fc3(self.hidden_from(a))


class _InputGrad(nn.Cell):
    """d/dx of sum(logits * w): per-row input gradients of any weighted logit combination."""

    def __init__(self, net: nn.Cell) -> None:
        super().__init__()
        self.net = net
        self.grad = ms.grad(self.score)

    def score(self, x, w):
        return (self.net(x) * w).sum()

    def construct(self, x, w):
        return self.grad(x, w)


class _FeatureGrad(nn.Cell):
    """Feature maps A = net.features(x) and d/dA of sum(head(A) * w) (Grad-CAM, TCAV)."""

    def __init__(self, net: nn.Cell) -> None:
        super().__init__()
        self.net = net
        self.grad = ms.grad(self.score)

    def score(self, a, w):
        return (self.net.head(a) * w).sum()

    def construct(self, x, w):
        a = self.net.features(x)
        return a, self.grad(a, w)


class _Forward(nn.Cell):
    def __init__(self, net: nn.Cell) -> None:
        super().__init__()
        self.net = net

    def construct(self, x):
        return self.net(x)


class _Hidden(nn.Cell):
    def __init__(self, net: nn.Cell) -> None:
        super().__init__()
        self.net = net

    def construct(self, x):
        return self.net.hidden(x), self.net.features(x)


def run(cell: nn.Cell, *arrays) -> np.ndarray | tuple[np.ndarray, ...]:
    """Call ``cell`` on numpy arrays and return numpy results, keeping every input tensor
    referenced until the results are read (defensive: a graph-mode call may return before it
    has finished)."""
    keep = [np.ascontiguousarray(a) for a in arrays]
    tensors = [ms.Tensor(a) for a in keep]
    out = cell(*tensors)
    res = fetch(*out) if isinstance(out, tuple) else out.asnumpy()
    del tensors, keep
    return res


def _chunks(n: int, size: int = CHUNK):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@dataclass
class Classifier:
    """A trained network with numpy helpers (sections "Attribution" onward).

    ``input_shape`` is one example's shape: (8, 8) for the CNN (a channel axis is added
    inside), (64,) for the digits MLP, (d,) for the tabular model.
    """

    net: nn.Cell
    input_shape: tuple[int, ...]
    classes: int
    name: str = "model"
    _cells: dict = field(default_factory=dict, repr=False)
    _guided: Classifier | None = field(default=None, repr=False)

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 2

    def _in(self, x: np.ndarray) -> np.ndarray:
        shape = (1, *self.input_shape) if self.is_image else self.input_shape
        return np.ascontiguousarray(np.asarray(x, np.float32).reshape(-1, *shape))

    def check_input(self, x: np.ndarray, name: str = "x") -> np.ndarray:
        """``x`` as float32 of shape (n, *input_shape); a clear error otherwise."""
        x = np.asarray(x, np.float32)
        if x.ndim != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape:
            raise ValueError(f"{name} must have shape (n, {', '.join(map(str, self.input_shape))})"
                             f" for {self.name}, got {x.shape}")
        return x

    def check_target(self, target, n: int, name: str = "target") -> np.ndarray:
        """Target classes as an int array of length ``n``, each in [0, classes)."""
        t = np.asarray(target)
        if t.ndim == 0:
            t = np.full(n, int(t))
        if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"{name} must be an int or {n} ints, got shape {t.shape} "
                             f"of {t.dtype}")
        bad = (t < 0) | (t >= self.classes)
        if bad.any():
            raise ValueError(f"{name} must be classes in [0, {self.classes - 1}], "
                             f"got {int(t[bad][0])}")
        return t.astype(np.int64)

    def _cell(self, kind: str) -> nn.Cell:
        if kind not in self._cells:
            self._cells[kind] = {"fwd": _Forward, "grad": _InputGrad, "fgrad": _FeatureGrad,
                                 "hidden": _Hidden}[kind](self.net)
            self._cells[kind].set_train(False)
        return self._cells[kind]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(n, classes) logits, computed in chunks."""
        x = np.asarray(x, np.float32).reshape(-1, *self.input_shape)
        out = np.empty((len(x), self.classes), np.float32)
        for s in _chunks(len(x)):
            out[s] = run(self._cell("fwd"), self._in(x[s]))
        return out

    def probs(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities."""
        return softmax(self.logits(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(1)

    def grad(self, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Section "Attribution": d/dx of sum_k weights[i, k] * logit_k(x_i), one row each."""
        x = np.asarray(x, np.float32).reshape(-1, *self.input_shape)
        w = np.asarray(weights, np.float32)
        out = np.empty_like(x)
        for s in _chunks(len(x)):
            out[s] = run(self._cell("grad"), self._in(x[s]), w[s]).reshape(x[s].shape)
        return out

    def feature_grad(self, x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sections "Grad-CAM" and "Concepts": the feature layer A and d(weighted logits)/dA."""
        x = np.asarray(x, np.float32).reshape(-1, *self.input_shape)
        w = np.asarray(weights, np.float32)
        acts, grads = [], []
        for s in _chunks(len(x)):
            a, g = run(self._cell("fgrad"), self._in(x[s]), w[s])
            acts.append(a)
            grads.append(g)
        return np.concatenate(acts), np.concatenate(grads)

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """Section "Analogies": the penultimate representation (n, width)."""
        x = np.asarray(x, np.float32).reshape(-1, *self.input_shape)
        return np.concatenate([run(self._cell("hidden"), self._in(x[s]))[0]
                               for s in _chunks(len(x))])

    def features(self, x: np.ndarray) -> np.ndarray:
        """Section "Concepts": the feature layer (conv2 maps for the CNN), flattened."""
        x = np.asarray(x, np.float32).reshape(-1, *self.input_shape)
        return np.concatenate([run(self._cell("hidden"), self._in(x[s]))[1].reshape(
            len(x[s]), -1) for s in _chunks(len(x))])

    def guided(self) -> Classifier:
        """The same weights in a twin whose ReLUs are :class:`GuidedReLU` (built once)."""
        if self._guided is None:
            twin = type(self.net)(**_ctor_args(self.net), guided=True)
            for new, p in zip(twin.get_parameters(), self.net.get_parameters(), strict=True):
                new.set_data(ms.Tensor(p.data.asnumpy().copy()))
            twin.set_train(False)
            self._guided = Classifier(twin, self.input_shape, self.classes,
                                      f"{self.name} (guided)")
        return self._guided


    def load_from(self, other: Classifier) -> Classifier:
        """Copy ``other``'s parameters (same architecture) into this network and its guided
        twin, keeping their compiled graphs (section "Sanity checks": many randomised models
        explained without recompiling). Returns ``self``."""
        if type(other.net) is not type(self.net) or other.input_shape != self.input_shape:
            raise ValueError(f"other must be a {type(self.net).__name__} on inputs "
                             f"{self.input_shape}, got {type(other.net).__name__} on "
                             f"{other.input_shape}")
        nets = [self.net] + ([self._guided.net] if self._guided is not None else [])
        for net in nets:
            for mine, theirs in zip(net.get_parameters(), other.net.get_parameters(),
                                    strict=True):
                if tuple(mine.shape) != tuple(theirs.shape):
                    raise ValueError(f"other has parameter {theirs.name} of shape "
                                     f"{tuple(theirs.shape)}, expected {tuple(mine.shape)}")
                mine.set_data(ms.Tensor(theirs.data.asnumpy().copy()))
        return self


def _ctor_args(net: nn.Cell) -> dict:
    if isinstance(net, MLP):
        return {"inp": net.fc1.in_channels, "width": net.fc1.out_channels,
                "out": net.fc3.out_channels}
    if isinstance(net, MnistCNN):
        return {"c1": net.conv1.out_channels, "c2": net.conv2.out_channels,
                "fc": net.fc1.out_channels}
    return {"c1": net.conv1.out_channels, "c2": net.conv2.out_channels}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def onehot(target: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[np.asarray(target)]


def train(net: nn.Cell, x: np.ndarray, y: np.ndarray, epochs: int, batch: int = 64,
          lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0) -> list[float]:
    """Section "Models": Adam on cross-entropy, a jitted ``TrainOneStepCell`` (GRAPH_MODE),
    shuffled mini-batches from a seeded numpy generator. Returns the mean loss per epoch."""
    if epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    loss = nn.CrossEntropyLoss()
    opt = nn.Adam(net.trainable_params(), learning_rate=lr, weight_decay=weight_decay)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss), opt)
    step.set_train(True)
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int32)
    history = []
    n_full = len(x) // batch * batch  # fixed batch shape: one compiled graph
    for _ in range(epochs):
        order = rng.permutation(len(x))[:n_full]
        xs, ys = x[order], y[order]
        losses = []
        for i in range(0, n_full, batch):
            # inputs stay referenced until the loss is read (a graph call may run async)
            xb, yb = ms.Tensor(xs[i:i + batch]), ms.Tensor(ys[i:i + batch])
            losses.append(float(step(xb, yb)))
            del xb, yb
        history.append(float(np.mean(losses)))
    net.set_train(False)
    return history


def make_classifier(kind: str, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0,
                    classes: int = 10, width: int = 64) -> tuple[Classifier, list[float]]:
    """Section "Models": build and train ``kind`` in {"cnn", "mlp", "tabular", "mnist_cnn"}
    on (x, y); "mnist_cnn" is :class:`MnistCNN` on 28x28 images (section "Sanity checks on
    MNIST")."""
    ms.set_seed(seed)
    x = np.asarray(x, np.float32)
    if kind == "cnn":
        net, shape, xin = DigitCNN(), (8, 8), x.reshape(-1, 1, 8, 8)
    elif kind == "mnist_cnn":
        net, shape, xin = MnistCNN(), (28, 28), x.reshape(-1, 1, 28, 28)
    elif kind in ("mlp", "tabular"):
        flat = x.reshape(len(x), -1)
        net, shape, xin = MLP(flat.shape[1], width, classes), (flat.shape[1],), flat
    else:
        raise ValueError(f"kind must be one of 'cnn', 'mlp', 'tabular', 'mnist_cnn', "
                         f"got {kind!r}")
    history = train(net, xin, y, epochs, seed=seed)
    return Classifier(net, shape, classes, kind), history


LAYERS = {"cnn": ("fc2", "fc1", "conv2", "conv1"), "mnist_cnn": ("fc2", "fc1", "conv2", "conv1"),
          "mlp": ("fc3", "fc2", "fc1"),
          "tabular": ("fc3", "fc2", "fc1")}
INITS = ("truncated_normal", "zero_bias", "mindspore_default")
REINIT_STD = 0.01  # Adebayo et al. 2018, App. B: their CNN's re-initialisation, N(0, 0.01)


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """N(0, std^2) redrawn outside two standard deviations (``tf.truncated_normal``'s rule)."""
    z = rng.standard_normal(shape)
    while (bad := np.abs(z) > 2).any():
        z[bad] = rng.standard_normal(int(bad.sum()))
    return (std * z).astype(np.float32)


def randomised(clf: Classifier, layers: tuple[str, ...] | list[str], seed: int,
               init: str = "truncated_normal", std: float = REINIT_STD) -> Classifier:
    """Section "Sanity checks": a copy of ``clf`` whose ``layers`` are re-initialised, the
    others keeping their trained weights (Adebayo et al. 2018's model randomisation).

    ``init="truncated_normal"`` (the default) follows their Appendix B: every parameter of
    a randomised layer, weights and biases, is drawn from a normal of standard deviation
    ``std`` (0.01, their CNN's) truncated at two standard deviations. ``"zero_bias"`` draws
    the weights so and sets the biases to 0, as their released Inception v3 code does (it
    re-runs each variable's initializer; slim's biases and batch-norm offsets start at 0).
    ``"mindspore_default"`` builds the layers afresh with MindSpore's own initialisers
    (HeUniform(sqrt 5) weights, U(+-1/sqrt(fan_in)) biases). Each layer draws from its own
    stream of ``seed``, so the cascade is nested: randomising one more layer leaves the
    already randomised ones unchanged."""
    known = LAYERS[clf.name]
    for layer in layers:
        if layer not in known:
            raise ValueError(f"layers must be names from {known}, got {layer!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    ms.set_seed(seed)
    fresh = type(clf.net)(**_ctor_args(clf.net))
    rngs = {layer: np.random.default_rng([seed, known.index(layer)]) for layer in layers}
    # match by position: a trained net's parameter names carry its wrappers' prefixes
    for new, old in zip(fresh.get_parameters(), clf.net.get_parameters(), strict=True):
        layer = new.name.split(".")[0]
        if layer not in layers:
            new.set_data(ms.Tensor(old.data.asnumpy().copy()))
        elif init == "zero_bias" and new.name.endswith("bias"):
            new.set_data(ms.Tensor(np.zeros(tuple(new.shape), np.float32)))
        elif init != "mindspore_default":
            new.set_data(ms.Tensor(truncated_normal(rngs[layer], tuple(new.shape), std)))
    fresh.set_train(False)
    return Classifier(fresh, clf.input_shape, clf.classes, clf.name)
