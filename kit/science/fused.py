"""Taylor mode with the tanh recurrence fused into C++ kernels (chapter 04, "Experiment 1" and
"Experiment 4").

:mod:`kit.science.taylor` builds every coefficient of every primitive from stock MindSpore
kernels: an order-K tanh layer launches dozens of small kernels, each paying a fixed launch
cost plus unvectorised arithmetic, and its backward launches as many again. Here each hidden
layer is one matmul of the stacked coefficients plus one ``ops.Custom(func_type="aot")`` kernel
(``csrc/taylor_tanh.cc``) that runs the same recurrence element by element, vectorised over
blocks of elements; a second kernel is the recurrence's adjoint, bound as the operator's
``bprop``, so losses built on the jet train through it. tanh only; float32 or float64.
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
PURPOSE = "chapter 04's fused Taylor-mode kernels"
DTYPES = (ms.float32, ms.float64)


def _first(a, *rest):
    return a


@functools.cache
def _library() -> str:
    return str(native.build(SOURCE, FLAGS, LINK_FLAGS, PURPOSE))


@functools.cache
def tanh_jet_backward_op():
    """The adjoint kernel (section "Experiment 4", the beam's training step): ``op(a, bias,
    dy)`` -> dL/da, each (K+1, rows, width)."""
    return ops.Custom(f"{_library()}:TanhJetBackwardAot", out_shape=_first, out_dtype=_first,
                      func_type="aot")


@functools.cache
def tanh_jet_op():
    """The fused kernel as a MindSpore operator: ``op(a, bias)`` with ``a`` the (K+1, rows,
    width) pre-activation jet and ``bias`` (width,) -> the jet of tanh(a + bias); differentiable
    (its bprop is the adjoint kernel; the bias gets the row sum of dL/da_0)."""
    backward = tanh_jet_backward_op()

    def bprop(a, bias, out, dout):
        da = backward(a, bias, dout)
        return da, da[0].sum(0)
    return ops.Custom(f"{_library()}:TanhJetAot", out_shape=_first, out_dtype=_first,
                      func_type="aot", bprop=bprop)


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


def check_activation(activation: str) -> None:
    """Sections "Experiment 1" and "4": the fused kernels implement tanh's recurrence only."""
    if activation != "tanh":
        raise ValueError(f"activation must be 'tanh' for the fused kernel (it implements tanh's "
                         f"recurrence only), got {activation!r}")


def check_dtypes(**tensors) -> None:
    """Sections "Experiment 1" and "4": refuse (naming the argument) tensors the kernels do not
    take; all must share one dtype."""
    first = None
    for name, t in tensors.items():
        if t.dtype not in DTYPES:
            raise ValueError(f"{name} must be float32 or float64 for the fused kernel, "
                             f"got {t.dtype}")
        if first is not None and t.dtype != first:
            raise ValueError(f"{name} must have the same dtype as the other inputs ({first}), "
                             f"got {t.dtype}")
        first = t.dtype


def derivative_fn(lay: tuple, activation: str, order: int) -> Callable:
    """f(theta, x, v) -> the derivatives 0..order along v, stacked (order + 1, n, d_out), like
    :func:`kit.science.pinn.taylor_derivative_fn` but with the fused kernel (jitted). Refuses
    other activations and dtypes with a ValueError."""
    taylor.check_order(order)
    check_activation(activation)
    facts = taylor.factorial_column(order)

    def f(theta, x, v):
        return forward_jet(theta, x, v, lay, order) * ms.Tensor(facts, theta.dtype)
    compiled = ms.jit(f)

    def checked(theta, x, v):
        check_dtypes(theta=theta, x=x, v=v)
        return compiled(theta, x, v)
    return checked
