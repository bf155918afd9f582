"""A real MindSpore network, its profile as an operation graph, and a segment-wise executor that
applies a plan and measures peak memory (chapter 02, section "Experiment 4: real execution").

MindSpore's own switch (``Cell.recompute()``) gives correct gradients on this CPU but saves no
memory (finding:recompute-no-memory), and its memory statistics read 0
(finding:memory-stats-zero). So the executor rematerialises explicitly: the forward pass keeps
only the plan's checkpoints; the backward pass recomputes each segment from its checkpoint and
backpropagates through it with MindSpore autodiff (``ops.GradOperation`` with a sensitivity).
Peak memory is the child process's high-water mark (VmHWM).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.core.measure import reset_peak, status_mb
from kit.memory.graph import Graph, Node

CLASSES = 10
INPUT = 64  # digits 8x8
WARMUP_ROWS = 64


def profile(widths: list[int], batch: int) -> Graph:
    """Section "Experiment 4": the network's operation graph from real shapes. It builds the
    MindSpore network, runs one forward pass on 2 rows and records each block's output shape;
    bytes scale to ``batch`` rows, FLOPs follow from the dense shapes (multiply-adds, bias,
    activation). Workspace: two output-sized temporaries (the pre-activation in the forward
    pass; ``1 - y**2`` and its product with the incoming gradient in tanh's backward); the head
    also holds its log-softmax."""
    import mindspore as ms

    net = build(widths)
    h = ms.Tensor(np.zeros((2, INPUT), np.float32))
    nodes = []
    fan_in = INPUT
    for k, block in enumerate(net):
        h = block(h)
        per_row = int(np.prod(h.shape[1:])) * 4
        out = per_row * batch
        fan_out = int(h.shape[1])
        flops = 2.0 * batch * fan_in * fan_out + 2.0 * batch * fan_out
        work = 2 * out if k < len(widths) else 3 * out
        nodes.append(Node(f"dense{k + 1} {fan_in}->{fan_out}", flops, out, (k,), work))
        fan_in = fan_out
    return Graph(f"digits MLP {INPUT}-" + "-".join(map(str, widths)) + f"-{CLASSES}, "
                 f"batch {batch}", batch * INPUT * 4, tuple(nodes))


def forward_seconds(widths: list[int], batch: int, repeats: int = 3) -> list[float]:
    """Section "Experiment 4": measured forward seconds of every block at ``batch`` rows
    (median of ``repeats`` after one warm-up call, in this process, PyNative)."""
    import mindspore as ms

    from kit.core.measure import time_call

    xn, _ = digits_batch(batch)
    h = ms.Tensor(xn)
    out = []
    for block in build(widths):
        out.append(time_call(lambda b=block, x=h: b(x).asnumpy(), repeats=repeats).median)
        h = block(h)
    return out


def build(widths: list[int]) -> list:
    """Dense + tanh blocks of the given widths, then a dense head to the 10 classes."""
    from kit.memory.cells import Block

    sizes = [INPUT, *widths]
    blocks = [Block(a, b, True) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    blocks.append(Block(sizes[-1], CLASSES, False))
    for k, block in enumerate(blocks):  # unique names: segments regroup the blocks
        # separate containers give equal parameter names (finding:container-renames-parameters)
        block.update_parameters_name(f"block{k + 1}.")
    return blocks


def digits_batch(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits data tiled to ``batch`` rows (float32 inputs, one-hot float32 labels)."""
    from kit.datasets import digits

    d = digits()
    reps = -(-batch // len(d.flat))
    x = np.tile(d.flat, (reps, 1))[:batch]
    y = np.eye(CLASSES, dtype=np.float32)[np.tile(d.target, reps)[:batch]]
    return np.ascontiguousarray(x), y


def _child_step(widths: list[int], batch: int, cuts: list[int], seed: int, out: str,
                steps: int) -> None:
    """Runs in a spawned child: set up, warm up on 64 rows (MindSpore's operator caches), note
    the RSS, reset the high-water mark, run training steps with the segment-wise executor,
    write measurements and gradients to ``out``."""
    import mindspore as ms
    from mindspore import nn

    from kit.core.repro import quiet_mindspore, seed_everything
    from kit.memory.cells import LastSegment, Segment, SegmentGrad

    quiet_mindspore()
    ms.set_device("CPU")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    seed_everything(seed)
    blocks = build(widths)
    n = len(blocks)
    bounds = [0, *cuts, n]
    segs = [Segment(blocks[a:b]) for a, b in zip(bounds[:-2], bounds[1:-1], strict=True)]
    last = LastSegment(blocks[bounds[-2]:])
    grads = [SegmentGrad(s, True) for s in segs] + [SegmentGrad(last, False)]
    for k, block in enumerate(blocks):  # wrapping renamed them per segment: unique again
        block.update_parameters_name(f"block{k + 1}.")
    params = [p for b in blocks for p in b.trainable_params()]
    opt = nn.Momentum(params, learning_rate=0.01, momentum=0.9)
    xn, yn = digits_batch(batch)
    x, y = ms.Tensor(xn), ms.Tensor(yn)

    def step(x, y):
        keep = {0: x}
        h = x
        for b, seg in zip(bounds[1:-1], segs, strict=True):
            h = seg(h)  # forward without autodiff: only the cut is kept
            keep[b] = h
        del h
        (gx, _), gp_last = grads[-1](keep.pop(bounds[-2]), y)
        sens, per_seg = gx, [gp_last]
        for k in range(len(segs) - 1, -1, -1):
            (gx,), gp = grads[k](keep.pop(bounds[k]), sens)
            sens = gx
            per_seg.append(gp)
        del sens, gx
        flat = tuple(g for gp in reversed(per_seg) for g in gp)
        opt(flat)
        return flat

    step(x[:WARMUP_ROWS], y[:WARMUP_ROWS])  # operator caches, not activations, in the baseline
    base = status_mb("VmRSS")
    reset_peak()
    times, first = [], []
    for k in range(steps):
        t0 = time.perf_counter()
        flat = step(x, y)
        times.append(time.perf_counter() - t0)
        if k == 0:
            first = [g.asnumpy() for g in flat]
        del flat
    peak = status_mb("VmHWM")
    np.savez(out + ".npz", *first)
    Path(out).write_text(json.dumps({"baseline_mb": base, "peak_mb": peak, "seconds": times,
                                     "param_bytes": int(sum(p.size for p in params) * 4)}))


@dataclass(frozen=True)
class Measured:
    """One measured step: RSS after set-up, high-water mark, step seconds, parameter grads."""

    baseline_mb: float
    peak_mb: float
    seconds: float
    param_bytes: int
    grads: list[np.ndarray]

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.baseline_mb


def measure(widths: list[int], batch: int, cuts: tuple[int, ...], seed: int = 0,
            steps: int = 2) -> Measured:
    """Section "Experiment 4": run ``steps`` training steps of the plan with cuts ``cuts`` in a
    fresh process (kit.core.measure.peak_rss) and return what it measured; seconds is the
    fastest step."""
    from kit.core.measure import peak_rss

    with tempfile.TemporaryDirectory(prefix="kit-memory-") as tmp:
        out = os.path.join(tmp, "step.json")
        peak_rss(_child_step, list(widths), batch, list(cuts), seed, out, steps)
        data = json.loads(Path(out).read_text())
        with np.load(out + ".npz") as arrays:
            grads = [arrays[f"arr_{k}"] for k in range(len(arrays.files))]
    return Measured(data["baseline_mb"], data["peak_mb"], min(data["seconds"]),
                    data["param_bytes"], grads)


def predicted_peak_mb(graph: Graph, sim_peak_bytes: int, measured: Measured) -> float:
    """The executor's whole-process peak: the RSS measured after set-up in the same child (it
    holds MindSpore, the parameters, the optimizer state and the batch), plus the parameter
    gradients, plus the simulator's activation peak without the input (already resident)."""
    return (measured.baseline_mb + (measured.param_bytes + sim_peak_bytes - graph.input_bytes)
            / 2**20)
