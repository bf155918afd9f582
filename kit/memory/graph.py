"""Operation graphs with activation bytes and FLOPs (chapter 02, sections "Method" and
"Experiment 1").

A graph lists its nodes in a topological order. Tensor 0 is the network input (the batch, always
resident); tensor ``k`` (1-based) is the output of node ``k``. A *cut* after node ``k`` stores the
``frontier`` of ``k``: every tensor produced at or before ``k`` that a later node reads. On a chain
the frontier of ``k`` is just tensor ``k``; a skip connection adds its tensor to every frontier it
crosses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Node:
    """One operation: forward FLOPs, bytes of its output, the tensors it reads, and the bytes of
    transient workspace it needs while it runs (e.g. a pre-activation)."""

    name: str
    flops: float
    out_bytes: int
    inputs: tuple[int, ...]
    work_bytes: int = 0


@dataclass(frozen=True)
class Graph:
    """A training graph: input bytes and nodes in topological order (section "Method")."""

    name: str
    input_bytes: int
    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError(f"graph {self.name!r} needs at least one node, got 0")
        if self.input_bytes < 0:
            raise ValueError(f"input_bytes must be >= 0, got {self.input_bytes}")
        for k, node in enumerate(self.nodes, start=1):
            if not node.flops > 0:
                raise ValueError(f"node {k} ({node.name}) flops must be > 0, got {node.flops}")
            if node.out_bytes <= 0 or node.work_bytes < 0:
                raise ValueError(f"node {k} ({node.name}) needs out_bytes > 0 and work_bytes "
                                 f">= 0, got {node.out_bytes} and {node.work_bytes}")
            if not node.inputs or any(not 0 <= t < k for t in node.inputs):
                raise ValueError(f"node {k} ({node.name}) inputs must be earlier tensors in "
                                 f"[0, {k - 1}], got {node.inputs}")

    @property
    def n(self) -> int:
        return len(self.nodes)

    def bytes_of(self, t: int) -> int:
        """Bytes of tensor ``t`` (0 is the input)."""
        return self.input_bytes if t == 0 else self.nodes[t - 1].out_bytes

    @cached_property
    def is_chain(self) -> bool:
        return all(node.inputs == (k - 1,) for k, node in enumerate(self.nodes, start=1))

    @cached_property
    def last_use(self) -> tuple[int, ...]:
        """For each tensor, the last node that reads it (the producer itself if none does)."""
        last = list(range(self.n + 1))
        for k, node in enumerate(self.nodes, start=1):
            for t in node.inputs:
                last[t] = max(last[t], k)
        return tuple(last)

    def frontier(self, k: int) -> tuple[int, ...]:
        """Tensors a cut after node ``k`` must store: produced at or before ``k``, read after."""
        return tuple(t for t in range(k + 1) if self.last_use[t] > k)

    @cached_property
    def flops_prefix(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum([node.flops for node in self.nodes])])

    @property
    def forward_flops(self) -> float:
        return float(self.flops_prefix[-1])

    @property
    def activation_bytes(self) -> int:
        """Bytes of every node output (what store-all keeps), input excluded."""
        return sum(node.out_bytes for node in self.nodes)

    def _node_working(self, m: int) -> int:
        node = self.nodes[m - 1]
        return sum(self.bytes_of(t) for t in node.inputs) + node.out_bytes + node.work_bytes

    def recomputed(self, i: int, j: int) -> tuple[int, ...]:
        """Nodes in segment (i, j] whose outputs the backward pass of that segment must
        recompute: all of them in the last segment (kept from the forward, not recomputed),
        else those whose output is not stored at cut ``j``."""
        if j == self.n:
            return tuple(range(i + 1, j + 1))
        stored = set(self.frontier(j))
        return tuple(m for m in range(i + 1, j + 1) if m not in stored)

    def segment_bytes(self, i: int, j: int) -> int:
        """Activation bytes resident while segment (i, j] is backpropagated."""
        return sum(self.bytes_of(m) for m in self.recomputed(i, j))

    def segment_workspace(self, i: int, j: int) -> int:
        """Gradient workspace of segment (i, j]: the largest inputs + output + work of a node."""
        return max(self._node_working(m) for m in range(i + 1, j + 1))

    def recompute_flops(self, i: int, j: int) -> float:
        """FLOPs recomputed for segment (i, j] (0 for the last segment, kept from forward)."""
        if j == self.n:
            return 0.0
        return float(sum(self.nodes[m - 1].flops for m in self.recomputed(i, j)))

    def io_bytes(self, m: int) -> int:
        """Bytes node ``m`` reads and writes (its roofline memory traffic)."""
        node = self.nodes[m - 1]
        return sum(self.bytes_of(t) for t in node.inputs) + node.out_bytes

    @cached_property
    def _redo(self) -> dict[tuple[int, int], np.ndarray]:
        return {(i, j): np.array(self.recomputed(i, j), dtype=np.int64) - 1
                for i in range(self.n) for j in range(i + 1, self.n)}

    @cached_property
    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(segment_bytes, segment_workspace)`` for every segment (i, j], i < j."""
        n = self.n
        seg = np.zeros((n + 1, n + 1))
        ws = np.zeros((n + 1, n + 1))
        working = [0] + [self._node_working(m) for m in range(1, n + 1)]
        for i in range(n):
            for j in range(i + 1, n + 1):
                ws[i, j] = max(ws[i, j - 1], working[j]) if j > i + 1 else working[j]
                seg[i, j] = sum(self.bytes_of(m) for m in self.recomputed(i, j))
        return seg, ws

    def recompute_table(self, cost: np.ndarray) -> np.ndarray:
        """Recompute cost of every segment (i, j] given a per-node cost (FLOPs or seconds);
        0 for last segments."""
        n = self.n
        out = np.zeros((n + 1, n + 1))
        for (i, j), redo in self._redo.items():
            out[i, j] = float(cost[redo].sum()) if redo.size else 0.0
        return out

    def scaled(self, factor: float, name: str | None = None) -> Graph:
        """The same graph at ``factor`` times the batch: bytes and FLOPs scale linearly."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        nodes = tuple(Node(nd.name, nd.flops * factor, max(1, round(nd.out_bytes * factor)),
                           nd.inputs, round(nd.work_bytes * factor)) for nd in self.nodes)
        return Graph(name or self.name, round(self.input_bytes * factor), nodes)


def chain(name: str, flops: list[float], out_bytes: list[int], input_bytes: int,
          work_bytes: list[int] | None = None, names: list[str] | None = None) -> Graph:
    """A chain graph (node k reads node k-1's output) from per-node lists."""
    n = len(flops)
    if len(out_bytes) != n or (work_bytes is not None and len(work_bytes) != n):
        got = (n, len(out_bytes), None if work_bytes is None else len(work_bytes))
        raise ValueError(f"flops, out_bytes and work_bytes must have the same length, got {got}")
    work = work_bytes or [0] * n
    labels = names or [f"op{k}" for k in range(1, n + 1)]
    return Graph(name, int(input_bytes), tuple(
        Node(labels[k], float(flops[k]), int(out_bytes[k]), (k,), int(work[k]))
        for k in range(n)))


def mixed_chain(layers: int = 64, tokens: int = 2048, seed: int = 0) -> Graph:
    """Section "Experiment 1": a chain of ``layers`` operations in transformer-MLP blocks of
    four (up-projection to 4w, GELU, down-projection to w, residual + layer norm) with widths w
    drawn from {512, 1024, 1536, 2048}; FLOPs and float32 bytes from the shapes, ``tokens`` rows
    per batch. Projections are expensive to recompute, GELU and the norm cheap; the 4w tensors
    are large, the w tensors small."""
    if not isinstance(layers, int) or layers < 4 or layers % 4:
        raise ValueError(f"layers must be a multiple of 4 and >= 4, got {layers!r}")
    rng = np.random.default_rng(seed)
    widths = rng.choice([512, 1024, 1536, 2048], size=layers // 4)
    flops, out, work, names = [], [], [], []
    w_in = 1024
    for b, w in enumerate(int(v) for v in widths):
        t = tokens
        for kind, f, size, extra in (
                ("up", 2.0 * t * w_in * 4 * w, 4 * w, 0),
                ("gelu", 10.0 * t * 4 * w, 4 * w, 0),
                ("down", 2.0 * t * 4 * w * w, w, 0),
                ("norm", 10.0 * t * w, w, w)):
            flops.append(f)
            out.append(t * size * 4)
            work.append(t * extra * 4)
            names.append(f"b{b}.{kind}")
        w_in = w
    return chain(f"mixed chain, {layers} ops", flops, out, tokens * 1024 * 4, work, names)


def unit_bytes(values: list[int]) -> int:
    """Greatest common divisor of byte counts: the exact quantum of the planners' DP."""
    return math.gcd(*[int(v) for v in values if v > 0]) or 1
