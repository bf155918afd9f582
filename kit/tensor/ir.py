"""Chapter 07's own small traced IR ("Two levels of IR"): trace, optimise, count, evaluate.

A block written against :class:`Ops` (``k.mean``, ``k.tanh``, arithmetic on traced values) is
recorded as a list of nodes. Three passes act on it: common-subexpression elimination,
constant folding, and grouping of elementwise chains into fused kernels (a reduction or a
matmul ends a group, as in XLA's loop fusion). ``evaluate`` runs any graph with numpy, so each
pass is checked to preserve results.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ELEMENTWISE = {"add", "sub", "mul", "div", "pow", "neg", "sqrt", "tanh", "exp"}
UNARY = {"neg": np.negative, "sqrt": np.sqrt, "tanh": np.tanh, "exp": np.exp}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "pow": np.power}


@dataclass(frozen=True)
class Node:
    """One operation: ``op`` applied to earlier nodes ``inputs`` with constant ``attrs``."""

    op: str
    inputs: tuple[int, ...] = ()
    attrs: tuple[Any, ...] = ()


@dataclass
class Graph:
    """Nodes in topological order; ``inputs`` and ``output`` are node indices."""

    nodes: list[Node] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    output: int = -1

    def add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def op_counts(self) -> Counter:
        return Counter(n.op for n in self.nodes if n.op not in ("input", "const"))

    @property
    def op_count(self) -> int:
        return sum(self.op_counts().values())


class Value:
    """A traced value: arithmetic records nodes in its graph."""

    def __init__(self, graph: Graph, index: int) -> None:
        self.graph, self.index = graph, index

    def _lift(self, other: Any) -> Value:
        if isinstance(other, Value):
            return other
        return Value(self.graph, self.graph.add(Node("const", (), (float(other),))))

    def _binary(self, op: str, other: Any, swap: bool = False) -> Value:
        a, b = (self._lift(other), self) if swap else (self, self._lift(other))
        return Value(self.graph, self.graph.add(Node(op, (a.index, b.index))))

    def __add__(self, o): return self._binary("add", o)
    def __radd__(self, o): return self._binary("add", o, swap=True)
    def __sub__(self, o): return self._binary("sub", o)
    def __rsub__(self, o): return self._binary("sub", o, swap=True)
    def __mul__(self, o): return self._binary("mul", o)
    def __rmul__(self, o): return self._binary("mul", o, swap=True)
    def __truediv__(self, o): return self._binary("div", o)
    def __rtruediv__(self, o): return self._binary("div", o, swap=True)
    def __pow__(self, o): return self._binary("pow", o)
    def __neg__(self): return Value(self.graph, self.graph.add(Node("neg", (self.index,))))


class Ops:
    """The functions a traced block may call (``k`` in the chapter's blocks)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def _unary(self, op: str, x: Value, attrs: tuple = ()) -> Value:
        return Value(self.graph, self.graph.add(Node(op, (x.index,), attrs)))

    def const(self, value: float) -> Value:
        return Value(self.graph, self.graph.add(Node("const", (), (float(value),))))

    def sqrt(self, x: Value) -> Value: return self._unary("sqrt", x)
    def tanh(self, x: Value) -> Value: return self._unary("tanh", x)
    def exp(self, x: Value) -> Value: return self._unary("exp", x)
    def mean(self, x: Value, axis: int = -1) -> Value: return self._unary("mean", x, (axis,))

    def matmul(self, a: Value, b: Value) -> Value:
        return Value(self.graph, self.graph.add(Node("matmul", (a.index, b.index))))


def trace(fn, n_inputs: int) -> Graph:
    """Record ``fn(k, *inputs)`` as a graph."""
    graph = Graph()
    args = []
    for i in range(n_inputs):
        index = graph.add(Node("input", (), (i,)))
        graph.inputs.append(index)
        args.append(Value(graph, index))
    graph.output = fn(Ops(graph), *args).index
    return graph


def layernorm_gelu(k: Ops, x: Value, w: Value, b: Value) -> Value:
    """LayerNorm then tanh-GELU as people write it: (x - mu) twice, sqrt(2/pi) spelled out."""
    mu = k.mean(x)
    var = k.mean((x - mu) ** 2)
    y = (x - mu) / k.sqrt(var + 1e-5) * w + b
    c = k.sqrt(k.const(2.0) / k.const(math.pi))
    return 0.5 * y * (1 + k.tanh(c * (y + 0.044715 * y ** 3)))


def evaluate(graph: Graph, inputs: list[np.ndarray]) -> np.ndarray:
    """Run the graph with numpy."""
    vals: dict[int, Any] = {}
    for i, node in enumerate(graph.nodes):
        if node.op == "input":
            vals[i] = inputs[node.attrs[0]]
        elif node.op == "const":
            vals[i] = np.float32(node.attrs[0])
        elif node.op in UNARY:
            vals[i] = UNARY[node.op](vals[node.inputs[0]])
        elif node.op in BINARY:
            vals[i] = BINARY[node.op](vals[node.inputs[0]], vals[node.inputs[1]])
        elif node.op == "mean":
            vals[i] = np.mean(vals[node.inputs[0]], axis=node.attrs[0], keepdims=True)
        elif node.op == "matmul":
            vals[i] = vals[node.inputs[0]] @ vals[node.inputs[1]]
        else:
            raise ValueError(f"unknown op {node.op!r}")
    return vals[graph.output]


def _rebuild(graph: Graph, keep: list[int], remap: dict[int, int]) -> Graph:
    """A new graph of the nodes ``keep`` (old indices), inputs renamed through ``remap``."""
    out, new_index = Graph(), {}
    for old in keep:
        node = graph.nodes[old]
        new_index[old] = out.add(Node(node.op, tuple(new_index[remap.get(i, i)]
                                                     for i in node.inputs), node.attrs))
    out.inputs = [new_index[i] for i in graph.inputs]
    out.output = new_index[remap.get(graph.output, graph.output)]
    return out


def dead_code(graph: Graph) -> Graph:
    """Drop nodes the output does not depend on (inputs always stay)."""
    live, stack = set(graph.inputs), [graph.output]
    while stack:
        i = stack.pop()
        if i not in live:
            live.add(i)
            stack.extend(graph.nodes[i].inputs)
    return _rebuild(graph, sorted(live), {})


def cse(graph: Graph) -> Graph:
    """Common-subexpression elimination: identical (op, inputs, attrs) computed once."""
    seen: dict[tuple, int] = {}
    remap: dict[int, int] = {}
    keep = []
    for i, node in enumerate(graph.nodes):
        key = (node.op, tuple(remap.get(j, j) for j in node.inputs), node.attrs)
        if node.op != "input" and key in seen:
            remap[i] = seen[key]
            continue
        seen[key] = i
        keep.append(i)
    for i in list(remap):  # follow chains
        while remap[i] in remap:
            remap[i] = remap[remap[i]]
    return dead_code(_rebuild(graph, keep, remap))


def fold_constants(graph: Graph) -> Graph:
    """Evaluate every node whose inputs are all constants, once, at compile time."""
    out, new_index, const_value = Graph(), {}, {}
    for i, node in enumerate(graph.nodes):
        ins = [new_index[j] for j in node.inputs]
        if node.op == "const":
            const_value[i] = node.attrs[0]
        elif node.inputs and all(j in const_value for j in node.inputs) and \
                (node.op in UNARY or node.op in BINARY):
            args = [np.float64(const_value[j]) for j in node.inputs]
            fn = UNARY.get(node.op) or BINARY[node.op]
            const_value[i] = float(fn(*args))
            new_index[i] = out.add(Node("const", (), (const_value[i],)))
            continue
        new_index[i] = out.add(Node(node.op, tuple(ins), node.attrs))
    out.inputs = [new_index[i] for i in graph.inputs]
    out.output = new_index[graph.output]
    return dead_code(out)


def fusion_groups(graph: Graph) -> list[list[int]]:
    """Kernels after elementwise fusion: each elementwise node joins its elementwise
    producer's group when it is that producer's only consumer; reductions and matmuls are
    kernels of their own. Constants and inputs are not kernels."""
    consumers: Counter = Counter(j for n in graph.nodes for j in n.inputs)
    group_of: dict[int, int] = {}
    groups: list[list[int]] = []
    for i, node in enumerate(graph.nodes):
        if node.op in ("input", "const"):
            continue
        target = None
        if node.op in ELEMENTWISE:
            for j in node.inputs:
                if j in group_of and graph.nodes[j].op in ELEMENTWISE and consumers[j] == 1:
                    target = group_of[j]
                    break
        if target is None:
            groups.append([])
            target = len(groups) - 1
        groups[target].append(i)
        group_of[i] = target
    return groups


def optimise(graph: Graph) -> tuple[Graph, dict[str, int]]:
    """CSE, then constant folding, then CSE again; op counts after each pass."""
    counts = {"traced": graph.op_count}
    graph = cse(graph)
    counts["after CSE"] = graph.op_count
    graph = cse(fold_constants(graph))
    counts["after constant folding"] = graph.op_count
    counts["kernels after fusion"] = len(fusion_groups(graph))
    return graph, counts
