"""MindSpore MLPs with HE/MPC-friendly activations (chapter 06, "Models").

``MLP(sizes, activation)`` with activation ``"square"`` (CryptoNets' x^2), ``"relu"`` or
``"poly"`` (a trainable c0 + c1 x + c2 x^2, initialised from a least-squares fit of ReLU and
fine-tuned with the weights). Training runs in graph mode through ``TrainOneStepCell``.
``export`` hands the trained weights to the secure IR (numpy), which the secure backends run.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from kit.confidential.ir import Linear, Op, Poly, Relu, Square

ACTIVATIONS = ("square", "relu", "poly")


def relu_poly_fit(bound: float = 4.0) -> tuple[float, float, float]:
    """Least-squares degree-2 fit of ReLU on [-bound, bound] (section "Polynomial activation")."""
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    x = np.linspace(-bound, bound, 401)
    c2, c1, c0 = np.polyfit(x, np.maximum(x, 0.0), 2)
    return float(c0), float(c1), float(c2)


class PolyAct(nn.Cell):
    """c0 + c1 x + c2 x^2 with trainable coefficients (one set per layer)."""

    def __init__(self, coeffs: tuple[float, float, float]) -> None:
        super().__init__()
        self.c = ms.Parameter(ms.Tensor(np.array(coeffs, np.float32)), name="coeffs")

    def construct(self, x):
        return self.c[0] + self.c[1] * x + self.c[2] * x * x


class SquareAct(nn.Cell):
    """x^2 (CryptoNets)."""

    def construct(self, x):
        return x * x


class MLP(nn.Cell):
    """Dense layers ``sizes[0] -> ... -> sizes[-1]`` with one activation kind between them."""

    def __init__(self, sizes: list[int], activation: str = "square",
                 poly_bound: float = 4.0) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be >= 2 positive ints, got {sizes!r}")
        self.sizes, self.activation = list(sizes), activation
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Dense(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                if activation == "square":
                    layers.append(SquareAct())
                elif activation == "relu":
                    layers.append(nn.ReLU())
                else:
                    layers.append(PolyAct(relu_poly_fit(poly_bound)))
        self.body = nn.SequentialCell(layers)

    def construct(self, x):
        return self.body(x)


def train(net: MLP, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 3e-3,
          batch: int = 64, seed: int = 0) -> list[float]:
    """Adam on cross-entropy in graph mode; returns the mean loss of each epoch."""
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss),
                               nn.Adam(net.trainable_params(), learning_rate=lr))
    step.set_train()
    rng = np.random.default_rng(seed)
    n = len(x) // batch * batch
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(x))[:n]
        losses = [float(step(ms.Tensor(x[idx]), ms.Tensor(y[idx])).asnumpy())
                  for idx in order.reshape(-1, batch)]
        history.append(float(np.mean(losses)))
    net.set_train(False)
    return history


def predict(net: MLP, x: np.ndarray) -> np.ndarray:
    """Logits of the MindSpore model (the plaintext baseline)."""
    net.set_train(False)
    return net(ms.Tensor(np.asarray(x, np.float32))).asnumpy()


def export(net: MLP) -> list[Op]:
    """The trained model as secure-IR ops (weights as float64 numpy, W of shape (in, out))."""
    plan: list[Op] = []
    for cell in net.body.cells():
        if isinstance(cell, nn.Dense):
            plan.append(Linear(cell.weight.asnumpy().T.astype(np.float64),
                               cell.bias.asnumpy().astype(np.float64)))
        elif isinstance(cell, SquareAct):
            plan.append(Square())
        elif isinstance(cell, nn.ReLU):
            plan.append(Relu())
        elif isinstance(cell, PolyAct):
            c0, c1, c2 = (float(v) for v in cell.c.asnumpy())
            plan.append(Poly(c0, c1, c2))
        else:
            raise ValueError(f"cannot lower layer {type(cell).__name__} to the secure IR")
    return plan


def load_weights(net: MLP, donor: MLP) -> MLP:
    """Copy the Dense weights of ``donor`` into ``net`` (same sizes): fine-tuning starts here."""
    src = [c for c in donor.body.cells() if isinstance(c, nn.Dense)]
    dst = [c for c in net.body.cells() if isinstance(c, nn.Dense)]
    for a, b in zip(src, dst, strict=True):
        ops.assign(b.weight, a.weight)
        ops.assign(b.bias, a.bias)
    return net
