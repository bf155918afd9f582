"""Fake quantization in MindSpore with a straight-through estimator (chapter 01, "Method").

MindSpore's FakeQuant primitives have no CPU kernel (finding:fake-quant-no-cpu-kernel), so the
quantizers are built from plain ops: ``x + stop_gradient(q(x) - x)`` passes the gradient
straight through the rounding. With a learned step ``s`` the same expression, written as
``round_ste(clip(x / s)) * s``, gives exactly the LSQ step gradient of Esser et al. (ICLR 2020):
``-x/s + round(x/s)`` inside the range and the clipping level outside it, scaled by
``g = 1 / sqrt(N * Q_P)``. Floats (fp16, bf16) are simulated by casting down and back.

A layer's formats are one row of a ``cfg`` tensor, so one compiled graph serves every policy:
``[w_fp32, w_fp16, w_bf16, w_int, w_qmax, a_fp32, a_fp16, a_bf16, a_int, a_qmax]``.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.lowbit import precision as fmt

CFG_WIDTH = 10


def round_ste(x):
    """Round in the forward pass, identity in the backward pass."""

    return x + ops.stop_gradient(ops.round(x) - x)


def grad_scale(s, g):
    """The value of ``s`` with its gradient multiplied by ``g`` (LSQ's step-size scaling)."""

    return s * g + ops.stop_gradient(s - s * g)


def fake_quant(x, step, qmin, qmax, g=1.0):
    """Symmetric or unsigned uniform fake quantization with a learnable step (LSQ) and STE.

    ``step`` broadcasts against ``x`` (a scalar per tensor or a column per output channel);
    ``qmin``/``qmax`` are the integer range; ``g`` scales the step's gradient.
    """

    s = grad_scale(ops.abs(step) + 1e-8, g)
    v = ops.minimum(ops.maximum(x / s, qmin), qmax)
    return round_ste(v) * s


def fake_cast(x, dtype):
    """Simulate a float format by casting down and back, gradient straight through."""

    return x + ops.stop_gradient(x.astype(dtype).astype(x.dtype) - x)


def mixed(x, step, row, offset: int, signed: bool, n: int):
    """Section "Method": quantize ``x`` in the format selected by ``row[offset:offset+5]``
    (one-hot fp32/fp16/bf16/int flags, then qmax). ``n`` is the element count per step (LSQ)."""

    qmax = row[offset + 4]
    qmin = -qmax if signed else qmax * 0.0
    g = 1.0 / ops.sqrt(qmax * n)
    xi = fake_quant(x, step, qmin, qmax, g)
    return (row[offset] * x + row[offset + 1] * fake_cast(x, ms.float16)
            + row[offset + 2] * fake_cast(x, ms.bfloat16) + row[offset + 3] * xi)


def cfg_row(weight: str, activation: str | None = None) -> np.ndarray:
    """One ``cfg`` row for a layer whose weights use ``weight`` and whose input activations use
    ``activation`` (default: the same format)."""
    row = np.zeros(CFG_WIDTH, np.float32)
    for offset, name, signed in ((0, weight, True), (5, activation or weight, False)):
        f = fmt.parse(name)
        row[offset + (3 if f.is_int else fmt.FLOATS.index(f.name))] = 1.0
        row[offset + 4] = (f.qmax_signed if signed else f.qmax_unsigned) if f.is_int else 127.0
    return row


def cfg_table(weights: list[str], activations: list[str] | None = None) -> np.ndarray:
    """The ``(layers, 10)`` cfg array of a policy."""
    acts = activations if activations is not None else weights
    if len(acts) != len(weights):
        raise ValueError(f"activations must list one format per layer ({len(weights)}), "
                         f"got {len(acts)}")
    return np.stack([cfg_row(w, a) for w, a in zip(weights, acts, strict=True)])


def fake_quant_np(x: np.ndarray, bits: int, per_channel: bool = False,
                  signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Section "Method": fake-quantize ``x`` with MindSpore at ``bits`` (per tensor or per
    output channel on axis 0), step from the MSE search; returns (values, steps). For tests and
    the notebook's demonstration."""

    bits = fmt.check_bits(bits)
    f = fmt.Format(f"int{bits}", "int", bits)
    qmax = f.qmax_signed if signed else f.qmax_unsigned
    qmin = -qmax if signed else 0
    step = fmt.mse_step(x, qmin, qmax, axis=0 if per_channel else None)
    shaped = step.reshape((-1,) + (1,) * (x.ndim - 1)) if per_channel else step.reshape(())
    out = fake_quant(ms.Tensor(x.astype(np.float32)), ms.Tensor(shaped),
                     ms.Tensor(np.float32(qmin)), ms.Tensor(np.float32(qmax)))
    return out.asnumpy(), step
