"""Taylor-mode automatic differentiation on MindSpore tensors (chapter 04, "Method: Taylor mode").

A *jet* of order K is a Python list ``[x0, x1, ..., xK]`` of same-shaped MindSpore tensors: the
normalised Taylor coefficients of a curve ``x(t) = sum_k x_k t^k``. Every primitive maps the
input jet to the output jet with the classic recurrences (Griewank and Walther, *Evaluating
Derivatives*, ch. 13): a product is a Cauchy product, and ``exp``, ``log``, ``tanh``, ``sin``,
``cos``, ``div`` and ``pow`` follow from the linear ODE each satisfies. Each costs O(K^2)
elementwise products, so a whole network costs O(K^2) instead of the O(2^K) of nested
first-order AD. The functions are plain MindSpore code with the order as a Python constant, so
they run under ``ms.jit`` (the loops unroll at compile time).

The k-th derivative of ``f(x0 + t v)`` at ``t = 0`` is ``k! * y_k`` where ``[y_0..y_K]`` is the
jet of ``f`` applied to ``[x0, v, 0, ..., 0]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from mindspore import Tensor, ops

MAX_ORDER = 12
SMOOTH = ("tanh", "sin", "cos", "exp", "softplus", "sigmoid")
NONSMOOTH = ("relu",)


def check_order(order: object, name: str = "order") -> int:
    """Section "Bad input": an int in [1, MAX_ORDER], else a ValueError naming it."""
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"{name} must be an int in [1, {MAX_ORDER}] (the derivative order; "
                         f"Taylor coefficients beyond {MAX_ORDER} overflow float64 factorials "
                         f"in practice), got {order!r}")
    return order


def check_activation(activation: object, order: int) -> str:
    """Refuse an activation without the smoothness a residual of ``order`` needs.

    ReLU is piecewise linear: its second and higher derivatives are zero almost everywhere
    (and undefined at 0), so a PDE residual with u_xx or u'''' would be identically wrong.
    """
    if activation in NONSMOOTH:
        if order >= 2:
            raise ValueError(f"activation {activation!r} cannot be used with derivative order "
                             f"{order}: it is piecewise linear, so every derivative of order >= 2 "
                             f"is 0 almost everywhere; use one of {', '.join(SMOOTH)}")
        return str(activation)
    if activation not in SMOOTH:
        raise ValueError(f"activation must be one of {', '.join(SMOOTH + NONSMOOTH)}, "
                         f"got {activation!r}")
    return str(activation)


# ---------------------------------------------------------------------------------- primitives
def add(a: list, b: list) -> list:
    """Jet of a + b (coefficient-wise)."""
    return [a[i] + b[i] for i in range(len(a))]


def sub(a: list, b: list) -> list:
    """Jet of a - b (coefficient-wise)."""
    return [a[i] - b[i] for i in range(len(a))]


def scale(a: list, c) -> list:
    """Jet of c * a for a constant (scalar or tensor) c."""
    return [c * x for x in a]


def shift(a: list, c) -> list:
    """Jet of a + c for a constant c (only the zeroth coefficient moves)."""
    return [a[0] + c] + list(a[1:])


def mul(a: list, b: list) -> list:
    """Jet of a * b: the Cauchy product c_k = sum_j a_j b_(k-j)."""
    out = []
    for k in range(len(a)):
        acc = a[0] * b[k]
        for j in range(1, k + 1):
            acc = acc + a[j] * b[k - j]
        out.append(acc)
    return out


def square(a: list) -> list:
    """Jet of a * a, using the symmetry of the Cauchy product (about half the products)."""
    return [square_coefficient(a, k) for k in range(len(a))]


def div(a: list, b: list) -> list:
    """Jet of a / b: q_k = (a_k - sum_(j<k) q_j b_(k-j)) / b_0."""
    inv = 1.0 / b[0]
    out = []
    for k in range(len(a)):
        acc = a[k]
        for j in range(k):
            acc = acc - out[j] * b[k - j]
        out.append(acc * inv)
    return out


def _weighted(a: list) -> list:
    """[0, 1 a_1, 2 a_2, ..., K a_K]: the coefficients of t a'(t), computed once per primitive
    so that the recurrences below need one product and one sum per term."""
    out = [a[0], a[1]]
    for j in range(2, len(a)):
        out.append(a[j] * float(j))
    return out


def _sum(terms: list):
    """Sum of a list of same-shaped tensors in one ``AddN`` kernel (a chain of k - 1 ``Add``
    kernels otherwise): Taylor mode is bound by the number of small kernels it launches."""
    return terms[0] if len(terms) == 1 else ops.addn(terms)


def _ode_coefficient(ja: list, z: list, k: int):
    """y_k of y' = z a': k y_k = sum_(j=1..k) j a_j z_(k-j), with ``ja`` from
    :func:`_weighted` (needs z_0..z_(k-1)). A short ``ja`` means a_j = 0 beyond it: a jet
    seeded on a line [x, v] enters the first activation with two coefficients only."""
    return _sum([ja[j] * z[k - j] for j in range(1, min(k, len(ja) - 1) + 1)]) / float(k)


def _length(a: list, order: int | None) -> int:
    """Number of output coefficients: the input's, or order + 1 for a short (line) input."""
    return len(a) if order is None else order + 1


def exp(a: list, order: int | None = None) -> list:
    """Jet of exp(a): y' = y a'."""
    ja = _weighted(a)
    y = [ops.exp(a[0])]
    for k in range(1, _length(a, order)):
        y.append(_ode_coefficient(ja, y, k))
    return y


def tanh(a: list, order: int | None = None) -> list:
    """Jet of tanh(a): y' = (1 - y^2) a' (see :func:`tanh_weighted`)."""
    return tanh_weighted(a[0], _weighted(a), _length(a, order))


def tanh_weighted(a0, ja: list, n: int) -> list:
    """n coefficients of tanh(a) from a_0 and ``ja`` = [*, 1 a_1, 2 a_2, ...] (section "Taylor
    mode"). With u = y^2 - 1, y' = -u a': y_k = -(1/k) sum_j j a_j u_(k-j), and u_k is the
    Cauchy square of y from the doubled 2 y_j (computed once each), one ``AddN`` per sum.
    The constants are exact in float64 (division by the integer -k; 2 y_j): a Python float
    such as -1/k would be rounded to float32 (finding:float64-scalars)."""
    y = [ops.tanh(a0)]
    u = [y[0] * y[0] - 1.0]
    twice: list = []
    for k in range(1, n):
        top = min(k, len(ja) - 1)
        y.append(_sum([ja[j] * u[k - j] for j in range(1, top + 1)]) / float(-k))
        if k < n - 1:  # u_(n-1) is never used
            while len(twice) < (k + 1) // 2:
                twice.append(2.0 * y[len(twice)])
            terms = [twice[j] * y[k - j] for j in range((k + 1) // 2)]
            if k % 2 == 0:
                terms.append(y[k // 2] * y[k // 2])
            u.append(_sum(terms))
    return y


def square_coefficient(y: list, k: int):
    """Coefficient k of y * y (needs y_0..y_k): 2 sum_(j<k/2) y_j y_(k-j) (+ y_(k/2)^2)."""
    if k == 0:
        return y[0] * y[0]
    acc = 2.0 * _sum([y[j] * y[k - j] for j in range((k + 1) // 2)])
    return acc + y[k // 2] * y[k // 2] if k % 2 == 0 else acc


def sin_cos(a: list, order: int | None = None) -> tuple[list, list]:
    """Jets of sin(a) and cos(a) together: s' = c a', c' = -s a'."""
    ja = _weighted(a)
    s, c = [ops.sin(a[0])], [ops.cos(a[0])]
    for k in range(1, _length(a, order)):
        s_k = _ode_coefficient(ja, c, k)
        c_k = -_ode_coefficient(ja, s, k)
        s.append(s_k)
        c.append(c_k)
    return s, c


def sin(a: list, order: int | None = None) -> list:
    """Jet of sin(a)."""
    return sin_cos(a, order)[0]


def cos(a: list, order: int | None = None) -> list:
    """Jet of cos(a)."""
    return sin_cos(a, order)[1]


def log(a: list) -> list:
    """Jet of log(a): a y' = a', so y_k = (a_k - (1/k) sum_(j<k) j y_j a_(k-j)) / a_0."""
    inv = 1.0 / a[0]
    y = [ops.log(a[0])]
    for k in range(1, len(a)):
        acc = a[k]
        for j in range(1, k):
            acc = acc - float(j) * (y[j] * a[k - j]) / float(k)
        y.append(acc * inv)
    return y


def pow(a: list, p: float) -> list:  # noqa: A001 - mirrors the primitive's name
    """Jet of a**p for a constant real p (a_0 > 0 unless p is a whole number):
    y_k = (1 / (k a_0)) sum_(j=1..k) (p j - (k - j)) a_j y_(k-j)."""
    inv = 1.0 / a[0]
    y = [ops.pow(a[0], p)]
    for k in range(1, len(a)):
        acc = (p - (k - 1)) * (a[1] * y[k - 1])
        for j in range(2, k + 1):
            acc = acc + (p * j - (k - j)) * (a[j] * y[k - j])
        y.append(acc * inv / float(k))
    return y


def sigmoid(a: list, order: int | None = None) -> list:
    """Jet of sigmoid(a): y' = (y - y^2) a'."""
    ja = _weighted(a)
    y = [ops.sigmoid(a[0])]
    z = [y[0] - y[0] * y[0]]
    n = _length(a, order)
    for k in range(1, n):
        y.append(_ode_coefficient(ja, z, k))
        if k < n - 1:  # z_K is never used
            z.append(y[k] - square_coefficient(y, k))
    return y


def softplus(a: list, order: int | None = None) -> list:
    """Jet of softplus(a) = log(1 + exp(a)): y' = sigmoid(a) a'."""
    s = sigmoid(a, order)
    ja = _weighted(a)
    y = [ops.softplus(a[0])]
    for k in range(1, _length(a, order)):
        y.append(_ode_coefficient(ja, s, k))
    return y


def relu(a: list, order: int | None = None) -> list:
    """Jet of relu(a), exact to first order only; orders >= 2 are refused up front by
    :func:`check_activation` (outside compiled code)."""
    mask = (a[0] > 0).astype(a[0].dtype)
    out = [ops.relu(a[0])] + [mask * x for x in a[1:]]
    for _ in range(len(a), _length(a, order)):
        out.append(ops.zeros_like(a[0]))
    return out


def linear(a: list, w, b=None, weighted: bool = False) -> list:
    """Jet of a @ w + b: linear, so coefficient-wise (the bias enters coefficient 0 only). The
    coefficients are stacked on the batch axis for one matmul (one large matmul beats K + 1
    small ones on this CPU), then split again. With ``weighted`` coefficient j >= 1 comes back
    times j (the ``ja`` of :func:`tanh_weighted`), by one multiply of the stacked product."""
    n = a[0].shape[0]
    if len(a) > 2:
        stacked = ops.matmul(ops.concat(a, 0), w)
        if weighted:
            j = np.repeat(np.arange(len(a), dtype=np.float64), n).reshape(-1, 1)
            j[:n] = 1.0
            stacked = stacked * Tensor(j, stacked.dtype)
        out = list(ops.split(stacked, n, 0))
    else:  # a line [x, v]: 1 * v is v
        out = [ops.matmul(x, w) for x in a]
    if b is not None:
        out[0] = out[0] + b
    return out


ACTIVATIONS: dict[str, Callable[[list], list]] = {
    "tanh": tanh, "sin": sin, "cos": cos, "exp": exp, "sigmoid": sigmoid,
    "softplus": softplus, "relu": relu,
}


def activate(a: list, activation: str, order: int | None = None) -> list:
    """Jet of the named activation (an if-chain: graph mode cannot call through a dict).
    ``order`` extends a short input jet (higher coefficients zero) to order + 1 coefficients."""
    if activation == "tanh":
        return tanh(a, order)
    if activation == "sin":
        return sin(a, order)
    if activation == "cos":
        return cos(a, order)
    if activation == "exp":
        return exp(a, order)
    if activation == "sigmoid":
        return sigmoid(a, order)
    if activation == "softplus":
        return softplus(a, order)
    return relu(a, order)


# ---------------------------------------------------------------------------------- helpers
def seed_jet(x, direction, order: int) -> list:
    """The input jet [x, v, 0, ..., 0] of the line x + t v (section "Taylor mode")."""
    zero = ops.zeros_like(x)
    return [x, direction] + [zero] * (order - 1)


def factorial_column(order: int) -> np.ndarray:
    """[0!, 1!, ..., order!] shaped (order + 1, 1, 1): turns stacked coefficients y_k into
    derivatives k! y_k in one multiply."""
    return np.array([math.factorial(k) for k in range(order + 1)], float).reshape(-1, 1, 1)


def derivatives(jet: Sequence) -> list:
    """k! * y_k: the derivatives d^k/dt^k of the output along the line, k = 0..K."""
    return [c * float(math.factorial(k)) for k, c in enumerate(jet)]


def constant_jet(c, order: int) -> list:
    """The jet of a constant (all higher coefficients zero)."""
    return [c] + [ops.zeros_like(c)] * order


