"""Reading a compiled function's outputs back into numpy (used by every training loop that
calls a jitted (loss, gradient) function: chapters 03, 04, 05, 09).

Reading the loss of ``ms.jit(ms.value_and_grad(f))`` before its gradient makes the call 5-9x
slower on CPU than reading the gradient first (finding ``early-output-sync-slow``); an output
the graph produces early must be read after the ones it produces last. :func:`fetch` reads the
largest output first (the gradient of a value-and-gradient pair), which covers every such call
in the kit.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
