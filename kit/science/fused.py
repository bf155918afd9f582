"""Taylor mode with the tanh recurrence fused into one C++ kernel (chapter 04, "Experiment 1").

:mod:`kit.science.taylor` builds every coefficient of every primitive from stock MindSpore
kernels: an order-K tanh layer launches dozens of small kernels, each paying a fixed launch
cost plus unvectorised float64 arithmetic. Here each hidden layer is one matmul of the stacked
coefficients plus one ``ops.Custom(func_type="aot")`` kernel (``csrc/taylor_tanh.cc``) that runs
the same recurrence element by element, vectorised over blocks of elements. Forward only (the
kernel has no backward), tanh only, float64 only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import mindspore as ms
from mindspore import ops

from kit.core import native
from kit.science import nets, taylor

SOURCE = Path(__file__).with_name("csrc") / "taylor_tanh.cc"
FLAGS = ("-std=c++17", "-O3", "-march=native", "-fopenmp-simd", "-fPIC")
LINK_FLAGS = ("-shared",)
PURPOSE = "chapter 04's fused Taylor-mode kernel"


def _same(a, b):
    return a


@functools.cache
def tanh_jet_op():
    """The fused kernel as a MindSpore operator: ``op(a, bias)`` with ``a`` the (K+1, rows,
    width) float64 pre-activation jet and ``bias`` (width,) -> the jet of tanh(a + bias)."""
    library = native.build(SOURCE, FLAGS, LINK_FLAGS, PURPOSE)
    return ops.Custom(f"{library}:TanhJetAot", out_shape=_same, out_dtype=_same,
                      func_type="aot")


def forward_jet(theta, x, v, lay: tuple, order: int):
    """The tanh MLP on the line x + t v: (order + 1, n, d_out) Taylor coefficients. Each layer
    is one matmul of the stacked coefficients, then (hidden layers) the fused tanh kernel."""
    op = tanh_jet_op()
    layers = nets.unpack(theta, lay)
    n = x.shape[0]
    h = ops.concat([x, v] + [ops.zeros_like(x)] * (order - 1), 0)
    for w, b in layers[:-1]:
        z = ops.matmul(h, w).reshape((order + 1, n, -1))
        h = op(z, b).reshape(((order + 1) * n, -1))
    w, b = layers[-1]
    out = ops.matmul(h, w).reshape((order + 1, n, -1))
    return ops.concat([out[:1] + b, out[1:]], 0)


def derivative_fn(lay: tuple, activation: str, order: int) -> Callable:
    """f(theta, x, v) -> the derivatives 0..order along v, stacked (order + 1, n, d_out), like
    :func:`kit.science.pinn.taylor_derivative_fn` but with the fused kernel (jitted). Refuses
    other activations and non-float64 inputs with a ValueError."""
    taylor.check_order(order)
    if activation != "tanh":
        raise ValueError(f"activation must be 'tanh' for the fused kernel (it implements tanh's "
                         f"recurrence only), got {activation!r}")
    facts = taylor.factorial_column(order)

    def f(theta, x, v):
        return forward_jet(theta, x, v, lay, order) * ms.Tensor(facts, ms.float64)
    compiled = ms.jit(f)

    def checked(theta, x, v):
        for name, t in (("theta", theta), ("x", x), ("v", v)):
            if t.dtype != ms.float64:
                raise ValueError(f"{name} must be float64 for the fused kernel, got {t.dtype}")
        return compiled(theta, x, v)
    return checked
