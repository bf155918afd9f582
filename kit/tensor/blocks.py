"""Chapter 07's benchmark blocks and how fast each execution mode runs them ("Modes").

Each block is written once against MindSpore ops (for PyNative and ``ms.jit``) and once in
numpy (the floor). Graph-kernel fusion is a process-wide context switch in MindSpore, so it is
timed in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable

import numpy as np

BLOCKS = ("layernorm_gelu", "mlp", "attention")
MODES = ("pynative", "jit", "jit_graph_kernel", "numpy")
GELU_C = 0.7978845608028654  # sqrt(2 / pi)


def ms_block(name: str) -> Callable:
    """The block as a function of MindSpore tensors (named defs: jit cannot parse lambdas)."""
    from mindspore import ops

    def layernorm_gelu(x, w, b):
        mu = x.mean(-1, keep_dims=True)
        var = ((x - mu) ** 2).mean(-1, keep_dims=True)
        y = (x - mu) / ops.sqrt(var + 1e-5) * w + b
        return 0.5 * y * (1 + ops.tanh(GELU_C * (y + 0.044715 * y * y * y)))

    def mlp(x, w, b):
        h = ops.matmul(x, w) + b
        h = 0.5 * h * (1 + ops.tanh(GELU_C * (h + 0.044715 * h * h * h)))
        return ops.matmul(h, w.T)

    def attention(x, w, b):
        q = ops.matmul(x, w) + b
        scores = ops.matmul(q, x.T) / float(np.sqrt(x.shape[-1]))
        return ops.matmul(ops.softmax(scores, -1), x)

    return {"layernorm_gelu": layernorm_gelu, "mlp": mlp, "attention": attention}[name]


def np_block(name: str) -> Callable:
    """The same block in numpy (float32), the floor every mode is compared with."""

    def layernorm_gelu(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        y = (x - mu) / np.sqrt(var + 1e-5) * w + b
        return 0.5 * y * (1 + np.tanh(GELU_C * (y + 0.044715 * y * y * y)))

    def mlp(x, w, b):
        h = x @ w + b
        h = 0.5 * h * (1 + np.tanh(GELU_C * (h + 0.044715 * h * h * h)))
        return h @ w.T

    def attention(x, w, b):
        q = x @ w + b
        s = q @ x.T / np.float32(np.sqrt(x.shape[-1]))
        s = np.exp(s - s.max(-1, keepdims=True))
        return (s / s.sum(-1, keepdims=True)) @ x

    return {"layernorm_gelu": layernorm_gelu, "mlp": mlp, "attention": attention}[name]


def inputs(name: str, shape: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Inputs of a block: x of ``shape`` and the weights its width needs."""
    if name not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {name!r}")
    rows, width = shape
    if rows < 1 or width < 1:
        raise ValueError(f"shape must be two positive sizes, got {shape}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    if name == "layernorm_gelu":
        return [x, np.ones(width, np.float32), np.zeros(width, np.float32)]
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    return [x, w, np.zeros(width, np.float32)]


def time_mode(name: str, shape: tuple[int, int], mode: str, repeats: int = 10) -> float:
    """Best (minimum) seconds per call of a block in one mode, compilation excluded: on a
    shared machine the minimum is the least noisy estimate of what a call costs."""
    from kit.core.measure import time_call

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "jit_graph_kernel":
        return _time_in_child(name, shape, repeats)
    args = inputs(name, shape)
    if mode == "numpy":
        fn = np_block(name)
        return time_call(fn, *args, repeats=repeats, warmup=1).best
    import mindspore as ms

    tensors = [ms.Tensor(a) for a in args]
    fn = ms_block(name) if mode == "pynative" else ms.jit(ms_block(name))

    def call() -> None:
        fn(*tensors).asnumpy()

    return time_call(call, repeats=repeats, warmup=2).best


_CHILD = """
import json, sys
import mindspore as ms
import kit
kit.setup(0, mode="pynative")
ms.set_context(enable_graph_kernel=True)
from kit.tensor.blocks import time_mode
name, rows, width, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(json.dumps(time_mode(name, (rows, width), "jit", repeats)))
"""


def _time_in_child(name: str, shape: tuple[int, int], repeats: int) -> float:
    # graph-kernel compilation writes akg_kernel_meta/ and logs into the working directory
    with tempfile.TemporaryDirectory(prefix="kit-graph-kernel-") as scratch:
        out = subprocess.run([sys.executable, "-c", _CHILD, name, str(shape[0]), str(shape[1]),
                              str(repeats)], capture_output=True, text=True, timeout=600,
                             cwd=scratch)
    if out.returncode != 0:
        raise RuntimeError(f"graph-kernel timing failed: {out.stderr.strip()[-800:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1]))
