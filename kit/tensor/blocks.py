"""Chapter 07's benchmark blocks and how fast each execution mode runs them ("Modes").

Each block is written once against MindSpore ops (for PyNative and ``ms.jit``) and once in
numpy (the floor). Graph-kernel fusion is a process-wide context switch in MindSpore, so it is
timed in two child processes (fusion off and on) that take turns round by round.

Timing conditions (:func:`timing_conditions`): every timed side runs on one thread. PyNative's
default asynchronous launch hands every op from the Python thread to a launch thread, so its
per-call time includes one wake-up per op; on a shared machine that latency depends on what
runs on the other core, while ``ms.jit`` makes one hand-off per call. That thread mismatch made
the jit-vs-PyNative ratio move from 6.5 to 57 between runs. Synchronous launch
(``ms.runtime.launch_blocking``), one MindSpore operator thread and one BLAS thread put both
sides under the same conditions; ratios are taken per interleaved round from each side's
fastest call of the round (:func:`interleaved`).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kit.core.measure import Interleaved, interleave

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


TIMED_MODES = ("pynative", "jit", "numpy")  # the modes one process can interleave
ROUND_BUDGET_S = 0.15  # seconds of calls per side per round (calls_per_round)
_conditions: dict[str, object] | None = None


def timing_conditions() -> dict[str, object]:
    """Section "Modes": put this process under chapter 07's timing conditions, once: MindSpore
    launches synchronously (``ms.runtime.launch_blocking``) and numpy's BLAS uses one thread
    (threadpoolctl). MindSpore's operator threads are set by ``kit.setup(threads=1)``. Returns
    what was set, for the record."""
    global _conditions
    if _conditions is None:
        import mindspore as ms
        from threadpoolctl import threadpool_limits

        ms.runtime.launch_blocking()
        _conditions = {"launch": "blocking", "blas_threads": 1,
                       "limits": threadpool_limits(limits=1)}
    return {k: v for k, v in _conditions.items() if k != "limits"}


def calls_per_round(calls: dict[str, Callable[[], object]], repeats: int,
                    budget_s: float = ROUND_BUDGET_S, most: int = 200) -> int:
    """Warm every call up twice (compilation, caches), then the number of calls per side per
    round: as many as fit in ``budget_s`` for the slowest call, at least 1 and at most
    ``max(repeats, most)``. Fast calls get many samples, so that each round's fastest call is
    one that no other job delayed (a sub-millisecond ``ms.jit`` call that waits for a runtime
    thread on a busy machine is otherwise slowed in most calls)."""
    slowest = 0.0
    for call in calls.values():
        call()
        start = time.perf_counter()
        call()
        slowest = max(slowest, time.perf_counter() - start)
    return max(1, min(max(repeats, most), int(budget_s / max(slowest, 1e-9))))


def interleaved(calls: dict[str, Callable[[], object]], rounds: int, repeats: int) -> Interleaved:
    """Sections "Modes" and "Operator level": the calls timed A B A B ... in ``rounds``
    rounds after warm-up (:func:`calls_per_round`); read ratios with ``stat="min"``."""
    return interleave(calls, rounds=rounds, repeats=calls_per_round(calls, repeats), warmup=0)


def mode_calls(name: str, shape: tuple[int, int],
               modes: tuple[str, ...] = TIMED_MODES) -> dict[str, Callable[[], object]]:
    """One zero-argument call per mode running block ``name`` on inputs of ``shape``."""
    for mode in modes:
        if mode not in TIMED_MODES:
            raise ValueError(f"modes must be from {', '.join(TIMED_MODES)}, got {mode!r}")
    args = inputs(name, shape)
    calls: dict[str, Callable[[], object]] = {}
    if "pynative" in modes or "jit" in modes:
        import mindspore as ms

        tensors = [ms.Tensor(a) for a in args]
        for mode in ("pynative", "jit"):
            if mode in modes:
                fn = ms_block(name) if mode == "pynative" else ms.jit(ms_block(name))
                calls[mode] = functools.partial(_run_ms, fn, tensors)
    if "numpy" in modes:
        calls["numpy"] = functools.partial(np_block(name), *args)
    return {mode: calls[mode] for mode in modes}


def _run_ms(fn: Callable, tensors: list) -> np.ndarray:
    return fn(*tensors).asnumpy()


@dataclass(frozen=True)
class ModeTimes:
    """Section "Modes": one block at one shape, its modes timed in interleaved rounds."""

    block: str
    shape: tuple[int, int]
    timed: Interleaved

    def ms(self, mode: str) -> float:
        """Median over rounds of the mode's fastest call per round, in milliseconds."""
        return float(np.median(self.timed.round_minima(mode))) * 1e3

    def speedups(self, baseline: str, candidate: str) -> list[float]:
        """Per round, how many times faster ``candidate`` ran than ``baseline``."""
        return self.timed.ratios(baseline, candidate, stat="min")


def time_modes(name: str, shape: tuple[int, int], rounds: int, repeats: int,
               modes: tuple[str, ...] = TIMED_MODES) -> ModeTimes:
    """Section "Modes": ``modes`` of block ``name`` at ``shape`` in interleaved rounds, under
    :func:`timing_conditions`."""
    timing_conditions()
    calls = mode_calls(name, shape, modes)
    return ModeTimes(name, tuple(shape), interleaved(calls, rounds, repeats))


def time_mode(name: str, shape: tuple[int, int], mode: str, repeats: int = 10) -> float:
    """Section "Explore": the fastest of ``repeats`` calls of a block in one mode, in seconds,
    compilation excluded, under :func:`timing_conditions` (one mode alone: for ratios use
    :func:`time_modes`)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "jit_graph_kernel":
        return min(graph_kernel_times(name, shape, 1, repeats).seconds[mode][0])
    return min(time_modes(name, shape, 1, repeats, (mode,)).timed.seconds[mode][0])


_CHILD = """
import json, sys, time
import kit
kit.setup(0, mode="pynative", threads=1)
import mindspore as ms
if sys.argv[5] == "1":
    ms.set_context(enable_graph_kernel=True)
from kit.tensor.blocks import mode_calls, timing_conditions
timing_conditions()
name, rows, width, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
call = mode_calls(name, (rows, width), ("jit",))["jit"]
call(); call()
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
    print("times", json.dumps(times), flush=True)
"""


def _reply(child: subprocess.Popen, side: str, tag: str) -> str:
    """The next line of ``child`` that starts with ``tag`` (graph-kernel compilation prints
    its own lines to stdout), without the tag."""
    for line in child.stdout:
        if line.startswith(tag):
            return line[len(tag):].strip()
    raise RuntimeError(f"graph-kernel timing ({side}) failed: "
                       f"{child.communicate(timeout=60)[1].strip()[-800:]}")


def graph_kernel_times(name: str, shape: tuple[int, int], rounds: int,
                       repeats: int) -> Interleaved:
    """Section "Modes": ``ms.jit`` of block ``name`` with graph-kernel fusion off ("jit") and
    on ("jit_graph_kernel"). Fusion is a process-wide switch, so each side lives in its own
    child process (one thread, synchronous launch, both warmed up first) and the two take turns:
    in every round each times ``repeats`` calls, A then B, as :func:`interleaved` does."""
    if name not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {name!r}")
    # graph-kernel compilation writes akg_kernel_meta/ and logs into the working directory
    with tempfile.TemporaryDirectory(prefix="kit-graph-kernel-") as scratch:
        children = {side: subprocess.Popen(
            [sys.executable, "-c", _CHILD, name, str(shape[0]), str(shape[1]), str(repeats),
             flag], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=scratch) for side, flag in (("jit", "0"), ("jit_graph_kernel", "1"))}
        try:
            for side, child in children.items():
                _reply(child, side, "ready")
            seconds: dict[str, list[tuple[float, ...]]] = {side: [] for side in children}
            for _ in range(rounds):
                for side, child in children.items():
                    child.stdin.write("go\n")
                    child.stdin.flush()
                    seconds[side].append(tuple(json.loads(_reply(child, side, "times"))))
        finally:
            for child in children.values():
                child.kill()
                child.communicate()
    return Interleaved({side: tuple(times) for side, times in seconds.items()})
