"""MindSpore tensor helpers the chapters share: reading a compiled function's outputs back
into numpy (every training loop that calls a jitted (loss, gradient) function: chapters 03, 04,
05, 09) and a fast convolution (chapters 05 and 09).

Reading the loss of ``ms.jit(ms.value_and_grad(f))`` before its gradient makes the call 5-9x
slower on CPU than reading the gradient first (finding ``early-output-sync-slow``); an output
the graph produces early must be read after the ones it produces last. :func:`fetch` reads the
largest output first (the gradient of a value-and-gradient pair), which covers every such call
in the kit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindspore import ops


def fetch(*outputs: Any, dtype: Any = None) -> tuple[np.ndarray, ...]:
    """numpy copies of MindSpore tensors, in the order given, read largest first (see the
    module docstring); ``dtype`` converts each (e.g. ``np.float64`` for scipy)."""
    if not outputs:
        raise ValueError("fetch needs at least one tensor, got none")
    order = sorted(range(len(outputs)), key=lambda i: -int(np.prod(outputs[i].shape)))
    arrays: list[np.ndarray | None] = [None] * len(outputs)
    for i in order:
        value = outputs[i].asnumpy()
        arrays[i] = value if dtype is None else value.astype(dtype)
    return tuple(arrays)  # type: ignore[arg-type]


def conv2d_unfold(h: Any, weight: Any, kernel: int, stride: int = 1, pad: int = 0) -> Any:
    """A 2-D convolution of ``h`` (B, C, H, W) with ``weight`` (O, C, k, k), no bias, as
    ``ops.unfold`` + one matmul: the same map as ``ops.conv2d`` with square padding ``pad``,
    5-14x faster forward and 5x faster to train on MindSpore 2.10's CPU at the chapters'
    sizes (chapters 05 and 09)."""
    side = (h.shape[2] + 2 * pad - kernel) // stride + 1
    cols = ops.unfold(h, kernel, 1, pad, stride)
    return ops.matmul(weight.reshape(weight.shape[0], -1), cols).reshape(
        h.shape[0], weight.shape[0], side, side)
