"""Chapter 03, Part B: dynamic heterogeneous graphs on MindSpore segment ops.

A :class:`HeteroGraph` holds several node types with their own feature dimensions and typed
relations ``(source type, name, target type)``, each with its own aggregation (``sum``,
``mean``, ``max`` or ``attention``). Message passing gathers source rows (``ops.gather``) and
reduces them per target with ``ops.unsorted_segment_sum`` / ``ops.unsorted_segment_max``, all
differentiable on CPU. Layers: R-GCN (Schlichtkrull et al., ESWC 2018) honouring each relation's
aggregation, an HGT-style layer (Hu et al., WWW 2020: type-specific Q/K/V, relation-specific
attention and message matrices and prior, per-target softmax over all incoming edges), and an
MLP that sees the target node's features only.

Every node type has one extra *dummy* row (the last index). Edges that do not exist yet in a
snapshot of the event stream point from a dummy to a dummy, so every snapshot of a stream has
the same tensor shapes and a model compiled once in graph mode serves them all; dummy rows are
never labelled or evaluated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import mindspore as ms
import numpy as np
from mindspore import nn, ops

AGGREGATIONS = ("sum", "mean", "max", "attention")


# ---------------------------------------------------------------- segment operations (B.2)

def segment_aggregate(messages: ms.Tensor, index: ms.Tensor, segments: int,
                      how: str = "sum") -> ms.Tensor:
    """Section B.2: reduce edge ``messages`` (E, F) per target ``index`` into (segments, F).

    ``sum`` and ``mean`` use ``unsorted_segment_sum``; ``max`` uses ``unsorted_segment_max``
    and gives 0 (not the dtype's lowest value) to targets without incoming edges.
    """
    if how not in ("sum", "mean", "max"):
        raise ValueError(f"how must be one of 'sum', 'mean', 'max', got {how!r}")
    if how == "max":
        out = ops.unsorted_segment_max(messages, index, segments)
        count = ops.unsorted_segment_sum(ops.ones_like(messages[:, :1]), index, segments)
        return ops.where(count > 0, out, ops.zeros_like(out))
    out = ops.unsorted_segment_sum(messages, index, segments)
    if how == "mean":
        count = ops.unsorted_segment_sum(ops.ones_like(messages[:, :1]), index, segments)
        out = out / ops.maximum(count, ops.ones_like(count))
    return out


def segment_softmax(scores: ms.Tensor, index: ms.Tensor, segments: int) -> ms.Tensor:
    """Section B.2: softmax of edge ``scores`` (E, heads) over the edges entering each target.

    The per-target maximum is subtracted first (as a constant) for stability.
    """
    top = ops.stop_gradient(ops.unsorted_segment_max(scores, index, segments))
    e = ops.exp(scores - ops.gather(top, index, 0))
    total = ops.unsorted_segment_sum(e, index, segments)
    return e / ops.gather(total, index, 0)


# ---------------------------------------------------------------- the graph type (B.1)

@dataclass(frozen=True)
class Relation:
    """One typed relation: edges ``src`` (ids of type ``source``) -> ``dst`` (type ``target``)."""

    source: str
    name: str
    target: str
    aggregation: str
    src: np.ndarray
    dst: np.ndarray
    time: np.ndarray | None = None  # arrival time of each edge in [0, 1]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.name, self.target)


def _check_ids(parameter: str, ids: np.ndarray, count: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{parameter} must be a 1-D integer array, got dtype {ids.dtype} "
                         f"and shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= count):
        bad = int(ids.min() if ids.min() < 0 else ids.max())
        raise ValueError(f"{parameter} references node {bad}, which does not exist; allowed "
                         f"ids are 0..{count - 1}")
    return ids.astype(np.int32)


@dataclass(frozen=True)
class HeteroGraph:
    """Section B.1: typed nodes with their own feature dimensions and typed relations.

    ``features[t]`` is (nodes of type t, dim of t); ``relations`` each name their aggregation.
    Build it with :func:`hetero_graph`, which checks every part.
    """

    features: dict[str, np.ndarray]
    relations: tuple[Relation, ...]
    node_time: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def node_types(self) -> tuple[str, ...]:
        return tuple(self.features)

    def nodes(self, node_type: str) -> int:
        return self.features[node_type].shape[0]

    def dims(self) -> dict[str, int]:
        return {t: x.shape[1] for t, x in self.features.items()}

    def edges(self) -> int:
        return int(sum(r.src.size for r in self.relations))

    def schema(self) -> Schema:
        """The shapes and aggregations a model needs (no data)."""
        return Schema(tuple((t, x.shape[1]) for t, x in self.features.items()),
                      tuple((r.source, r.name, r.target, r.aggregation) for r in self.relations))


@dataclass(frozen=True)
class Schema:
    """Section B.1: node types with feature dims and relations with aggregations."""

    types: tuple[tuple[str, int], ...]
    relations: tuple[tuple[str, str, str, str], ...]

    def type_index(self, name: str) -> int:
        return [t for t, _ in self.types].index(name)


def hetero_graph(features: Mapping[str, np.ndarray],
                 relations: Sequence[tuple[str, str, str, str, np.ndarray, np.ndarray]],
                 dims: Mapping[str, int] | None = None,
                 node_time: Mapping[str, np.ndarray] | None = None,
                 edge_time: Sequence[np.ndarray | None] | None = None) -> HeteroGraph:
    """Section B.1: validate and build a :class:`HeteroGraph`.

    ``relations`` holds ``(source type, name, target type, aggregation, src ids, dst ids)``;
    ``dims`` (optional) declares each type's feature dimension, which the features must match.
    Raises ``ValueError`` naming the parameter, the value and what is allowed.
    """
    if not features:
        raise ValueError("features must name at least one node type, got none")
    feats = {}
    for t, x in features.items():
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] < 1:
            raise ValueError(f"features[{t!r}] must be a 2-D (nodes, dim) array with at least "
                             f"one node, got shape {x.shape}")
        if dims is not None and t in dims and x.shape[1] != dims[t]:
            raise ValueError(f"features[{t!r}] has dimension {x.shape[1]}, but dims[{t!r}] "
                             f"declares {dims[t]}")
        feats[t] = x
    rels, seen = [], set()
    for i, (source, name, target, how, src, dst) in enumerate(relations):
        for role, t in (("source", source), ("target", target)):
            if t not in feats:
                raise ValueError(f"relation {name!r} has unknown {role} node type {t!r}; "
                                 f"allowed: {sorted(feats)}")
        if how not in AGGREGATIONS:
            raise ValueError(f"aggregation of relation {name!r} must be one of {AGGREGATIONS}, "
                             f"got {how!r}")
        if (source, name, target) in seen:
            raise ValueError(f"relation {(source, name, target)!r} is given twice")
        seen.add((source, name, target))
        s = _check_ids(f"src of relation {name!r}", src, feats[source].shape[0])
        d = _check_ids(f"dst of relation {name!r}", dst, feats[target].shape[0])
        if s.size != d.size or s.size == 0:
            raise ValueError(f"relation {name!r} needs as many src as dst ids (at least one), "
                             f"got {s.size} and {d.size}")
        tm = None if edge_time is None or edge_time[i] is None else np.asarray(edge_time[i])
        rels.append(Relation(source, name, target, how, s, d, tm))
    return HeteroGraph(feats, tuple(rels), dict(node_time or {}))


# ---------------------------------------------------------------- the planted generator (B.3)

@dataclass(frozen=True)
class Stream:
    """Section B.3: a heterogeneous graph whose nodes and edges arrive over time in [0, 1].

    ``graph`` is the final graph (dummy rows included); ``labels`` the planted class of each
    target node; ``new_type`` and ``new_relation`` appear at ``t_new``.
    """

    graph: HeteroGraph
    labels: np.ndarray
    target: str
    new_type: str
    new_relation: str
    t_new: float
    classes: int

    def real(self, node_type: str) -> int:
        """Number of real (non-dummy) nodes of a type."""
        return self.graph.nodes(node_type) - 1


def planted_stream(papers: int = 2000, authors: int = 1000, subjects: int = 40,
                   venues: int = 16, classes: int = 4, seed: int = 0,
                   paper_signal: float = 0.15, author_noise: float = 1.0,
                   specialist_share: float = 0.3, generalists: int = 8,
                   t_new: float = 0.5) -> Stream:
    """Section B.3: an ACM-like paper/author/subject stream with planted classes.

    Every paper has a class. Its own 32-d features carry that class weakly (``paper_signal``
    times a class prototype plus unit noise), so an MLP on paper features is weak. Each author
    has a class and a 16-d feature vector that shows it clearly plus a ``specialist`` flag:
    specialists (share ``specialist_share``) only write papers of their class, generalists write
    papers of any class. A paper has 1-2 specialist authors and 1-6 generalists, so its
    ``writes`` neighbourhood is mixed: averaging all authors (R-GCN, mean) dilutes the signal,
    while attention can learn to weight specialists (the flag is in the key). Subjects (8-d,
    ``max`` aggregation) match the paper's class with probability 0.5; ``cites`` edges (``sum``)
    go to a random earlier paper (noise, 70 %) or one of the same class. Papers arrive uniformly
    in time; at ``t_new`` a new node type ``venue`` (6-d features showing its class) and the
    relation ``publishes`` (venue -> paper, ``mean``) appear: every later paper has one venue of
    its class with probability 0.8. Reverse relations let papers inform authors.
    """
    rng = np.random.default_rng(seed)
    k = classes
    y = rng.integers(0, k, papers)
    t_paper = np.sort(rng.uniform(0, 1, papers))

    def proto(dim: int) -> np.ndarray:
        return rng.normal(size=(k, dim)).astype(np.float32)

    xp = paper_signal * proto(32)[y] + rng.normal(size=(papers, 32))
    a_class = rng.integers(0, k, authors)
    special = rng.uniform(size=authors) < specialist_share
    xa = np.concatenate([proto(15)[a_class] + author_noise * rng.normal(size=(authors, 15)),
                         special[:, None] + 0.1 * rng.normal(size=(authors, 1))], axis=1)
    s_class = rng.integers(0, k, subjects)
    xs = proto(8)[s_class] + 0.5 * rng.normal(size=(subjects, 8))
    v_class = np.arange(venues) % k
    xv = proto(6)[v_class] + 0.5 * rng.normal(size=(venues, 6))

    by_class = [np.flatnonzero(special & (a_class == c)) for c in range(k)]
    generalists_ = np.flatnonzero(~special)
    w_src, w_dst, s_src, s_dst, c_src, c_dst, v_src, v_dst = ([] for _ in range(8))
    for p in range(papers):
        pool = by_class[y[p]]
        for a in rng.choice(pool, size=min(rng.integers(1, 3), pool.size), replace=False):
            w_src.append(a), w_dst.append(p)
        for a in rng.choice(generalists_, size=rng.integers(1, generalists + 1), replace=False):
            w_src.append(a), w_dst.append(p)
        same = np.flatnonzero(s_class == y[p])
        subj = rng.choice(same) if rng.uniform() < 0.5 and same.size else rng.integers(subjects)
        s_src.append(subj), s_dst.append(p)
        for _ in range(2 if p > 0 else 0):
            earlier = np.arange(p)
            if rng.uniform() < 0.3 and np.any(y[earlier] == y[p]):
                c_src.append(rng.choice(earlier[y[earlier] == y[p]]))
            else:
                c_src.append(rng.integers(p))
            c_dst.append(p)
        if t_paper[p] >= t_new:
            same_v = np.flatnonzero(v_class == y[p])
            v_src.append(rng.choice(same_v) if rng.uniform() < 0.8 else rng.integers(venues))
            v_dst.append(p)

    def pad(x: np.ndarray) -> np.ndarray:  # the dummy row
        return np.concatenate([x, np.zeros((1, x.shape[1]))]).astype(np.float32)

    feats = {"paper": pad(xp), "author": pad(xa), "subject": pad(xs), "venue": pad(xv)}
    w_src, w_dst, v_src, v_dst = map(np.asarray, (w_src, w_dst, v_src, v_dst))
    tp = np.append(t_paper, 2.0)
    # an author or subject exists from its first paper on; a venue from t_new on
    t_author = np.full(authors + 1, 2.0)
    np.minimum.at(t_author, w_src, tp[w_dst])
    t_subject = np.full(subjects + 1, 2.0)
    np.minimum.at(t_subject, np.asarray(s_src), tp[np.asarray(s_dst)])
    t_venue = np.append(np.full(venues, t_new), 2.0)
    rels = [("author", "writes", "paper", "mean", w_src, w_dst),
            ("paper", "written_by", "author", "mean", w_dst, w_src),
            ("subject", "covers", "paper", "max", np.asarray(s_src), np.asarray(s_dst)),
            ("paper", "cites", "paper", "sum", np.asarray(c_src), np.asarray(c_dst)),
            ("venue", "publishes", "paper", "mean", v_src, v_dst)]
    times = [tp[w_dst], tp[w_dst], tp[np.asarray(s_dst)], tp[np.asarray(c_dst)], tp[v_dst]]
    graph = hetero_graph(feats, rels, node_time={"paper": tp, "author": t_author,
                                                 "subject": t_subject, "venue": t_venue},
                         edge_time=times)
    return Stream(graph, y, "paper", "venue", "publishes", t_new, k)


def snapshot(stream: Stream, t: float, drop_new: bool = False) -> HeteroGraph:
    """Section B.4: the graph as it stood at time ``t``, with the final graph's shapes.

    Edges that arrive after ``t`` point from the source type's dummy row to the target type's
    dummy row. ``drop_new`` also removes the new node type and relation (the phase-1 schema).
    """
    g = stream.graph
    rels = []
    for r in g.relations:
        if drop_new and stream.new_type in (r.source, r.target):
            continue
        late = r.time > t
        rels.append(replace(r, src=np.where(late, g.nodes(r.source) - 1, r.src).astype(np.int32),
                            dst=np.where(late, g.nodes(r.target) - 1, r.dst).astype(np.int32)))
    feats = {k: v for k, v in g.features.items() if not (drop_new and k == stream.new_type)}
    return HeteroGraph(feats, tuple(rels), g.node_time)


def receptive_subgraph(graph: HeteroGraph, target: str, seeds: np.ndarray,
                       hops: int = 2) -> HeteroGraph:
    """Section B.4: keep only the edges a ``hops``-layer model reads to predict ``seeds``.

    Node ids and features are unchanged; the edge arrays shrink.
    """
    need = {t: np.zeros(graph.nodes(t), bool) for t in graph.node_types}
    need[target][seeds] = True
    keep = [np.zeros(r.src.size, bool) for r in graph.relations]
    for _ in range(hops):
        grow = {t: v.copy() for t, v in need.items()}
        for i, r in enumerate(graph.relations):
            into = need[r.target][r.dst]
            keep[i] |= into
            grow[r.source][r.src[into]] = True
        need = grow
    rels = tuple(replace(r, src=r.src[m], dst=r.dst[m]) for r, m in zip(graph.relations, keep,
                                                                         strict=True))
    return HeteroGraph(graph.features, rels, graph.node_time)


def pad_edges(graph: HeteroGraph, sizes: Mapping[tuple[str, str, str], int]) -> HeteroGraph:
    """Section B.4: pad each relation to ``sizes[key]`` edges with dummy -> dummy edges, so
    graphs of different sizes share one compiled model."""
    rels = []
    for r in graph.relations:
        extra = sizes[r.key] - r.src.size
        if extra < 0:
            raise ValueError(f"sizes[{r.key!r}] = {sizes[r.key]} is smaller than the relation's "
                             f"{r.src.size} edges")
        rels.append(replace(r, src=np.append(r.src, np.full(extra, graph.nodes(r.source) - 1))
                            .astype(np.int32),
                            dst=np.append(r.dst, np.full(extra, graph.nodes(r.target) - 1))
                            .astype(np.int32)))
    return HeteroGraph(graph.features, tuple(rels), graph.node_time)


# ---------------------------------------------------------------- models (B.2)

def _glorot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fan_in, fan_out = shape[-2], shape[-1]
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, size=shape).astype(np.float32)


class _Dense(nn.Cell):
    """x @ W + b with the weight stored (in, out) so re-initialisation is simple."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.zeros((d_in, d_out), np.float32)), name="weight")
        self.has_bias = bias
        self.bias = ms.Parameter(ms.Tensor(np.zeros(d_out, np.float32)), name="bias") \
            if bias else None

    def construct(self, x):
        y = ops.matmul(x, self.weight)
        if self.has_bias:
            y = y + self.bias
        return y


def reinitialise(net: nn.Cell, seed: int) -> None:
    """Section B.5: Glorot weights and zero biases from ``seed`` (no recompilation needed)."""
    rng = np.random.default_rng(seed)
    for p in net.trainable_params():
        shape = tuple(p.shape)
        if len(shape) >= 2:
            p.set_data(ms.Tensor(_glorot(rng, shape)))
        elif "prior" in p.name:
            p.set_data(ms.Tensor(np.ones(shape, np.float32)))
        elif "att" in p.name.rsplit(".", 1)[-1]:
            p.set_data(ms.Tensor(rng.normal(scale=0.1, size=shape).astype(np.float32)))
        else:
            p.set_data(ms.Tensor(np.zeros(shape, np.float32)))


class HeteroNet(nn.Cell):
    """Section B.2: a 2-layer heterogeneous GNN (``kind`` = ``rgcn``, ``hgt`` or ``mlp``).

    Input: per-type features (tuple in schema order), per-relation source and target ids.
    Output: class logits of the ``target`` type's nodes. Every type has its own input
    projection to ``hidden`` (different feature dimensions).
    """

    def __init__(self, schema: Schema, target: str, classes: int, kind: str = "rgcn",
                 hidden: int = 32, heads: int = 2, layers: int = 2):
        super().__init__()
        if kind not in ("rgcn", "hgt", "mlp"):
            raise ValueError(f"kind must be one of 'rgcn', 'hgt', 'mlp', got {kind!r}")
        if hidden % heads:
            raise ValueError(f"hidden must be a multiple of heads={heads}, got {hidden}")
        self.schema, self.kind, self.hidden, self.heads = schema, kind, hidden, heads
        self.target = schema.type_index(target)
        names = [t for t, _ in schema.types]
        self.rel = tuple((names.index(s), names.index(d), how) for s, _, d, how in
                         schema.relations)
        self.n_types, self.layers = len(names), layers
        self.proj = nn.CellList([_Dense(dim, hidden) for _, dim in schema.types])
        self.out = _Dense(hidden, classes)
        if kind == "mlp":
            self.mlp = nn.CellList([_Dense(hidden, hidden) for _ in range(layers)])
        elif kind == "rgcn":
            self.self_w = nn.CellList([_Dense(hidden, hidden)
                                       for _ in range(layers * self.n_types)])
            self.rel_w = nn.CellList([_Dense(hidden, hidden, bias=False)
                                      for _ in range(layers * len(self.rel))])
            self.rel_att = ms.ParameterTuple([ms.Parameter(
                ms.Tensor(np.zeros((hidden, 1), np.float32)), name=f"rel_att_{i}")
                for i in range(layers * len(self.rel))])
        else:
            dh = hidden // heads
            n = layers * self.n_types
            self.q = nn.CellList([_Dense(hidden, hidden) for _ in range(n)])
            self.k = nn.CellList([_Dense(hidden, hidden) for _ in range(n)])
            self.v = nn.CellList([_Dense(hidden, hidden) for _ in range(n)])
            self.a = nn.CellList([_Dense(hidden, hidden) for _ in range(n)])
            m = layers * len(self.rel)
            self.w_att = ms.ParameterTuple([ms.Parameter(
                ms.Tensor(np.zeros((heads, dh, dh), np.float32)), name=f"w_att_{i}")
                for i in range(m)])
            self.w_msg = ms.ParameterTuple([ms.Parameter(
                ms.Tensor(np.zeros((heads, dh, dh), np.float32)), name=f"w_msg_{i}")
                for i in range(m)])
            self.prior = ms.ParameterTuple([ms.Parameter(
                ms.Tensor(np.ones((heads,), np.float32)), name=f"prior_{i}") for i in range(m)])
            self.scale = float(1.0 / np.sqrt(dh))
            self.dh = dh

    def edges_read(self, sizes: tuple[int, ...]) -> int:
        """Edges one forward pass reads (relation sizes given): every relation in the inner
        layers, the relations into the target type in the last; none for the MLP."""
        if self.kind == "mlp":
            return 0
        into = sum(n for n, (_, d, _) in zip(sizes, self.rel, strict=True) if d == self.target)
        return (self.layers - 1) * sum(sizes) + into

    def construct(self, xs, srcs, dsts):
        h = [ops.relu(self.proj[t](xs[t])) for t in range(self.n_types)]
        if self.kind == "mlp":
            z = h[self.target]
            for layer in range(self.layers):
                z = ops.relu(self.mlp[layer](z))
            return self.out(z)
        for layer in range(self.layers):
            last = layer == self.layers - 1  # the last layer only updates the target type
            if self.kind == "rgcn":
                h = self._rgcn(layer, h, srcs, dsts, last)
            else:
                h = self._hgt(layer, h, srcs, dsts, last)
        return self.out(h[self.target])

    def _rgcn(self, layer, h, srcs, dsts, last):
        """R-GCN: h_t' = relu(W_t h_t + sum_r AGG_r(W_r h_s))."""
        out = [self.self_w[layer * self.n_types + t](h[t]) for t in range(self.n_types)]
        for r in range(len(self.rel)):
            s, d, how = self.rel[r]
            if last and d != self.target:
                continue
            i = layer * len(self.rel) + r
            msg = ops.gather(self.rel_w[i](h[s]), srcs[r], 0)  # transform nodes, then gather
            n = h[d].shape[0]
            if how == "attention":
                alpha = segment_softmax(ops.matmul(ops.tanh(msg), self.rel_att[i]), dsts[r], n)
                agg = ops.unsorted_segment_sum(msg * alpha, dsts[r], n)
            else:
                agg = segment_aggregate(msg, dsts[r], n, how)
            out[d] = out[d] + agg
        return [ops.relu(o) for o in out]

    def _hgt(self, layer, h, srcs, dsts, last):
        """HGT: per target, softmax over all incoming edges of <K_s W_att_r, Q_t> mu_r."""
        base = layer * self.n_types
        q = [self.q[base + t](h[t]) for t in range(self.n_types)]
        k = [self.k[base + t](h[t]) for t in range(self.n_types)]
        v = [self.v[base + t](h[t]) for t in range(self.n_types)]
        out = []
        for t in range(self.n_types):
            if last and t != self.target:
                out.append(h[t])
                continue
            scores, msgs, index = [], [], []
            for r in range(len(self.rel)):
                s, d, _ = self.rel[r]
                if d == t:
                    i = layer * len(self.rel) + r
                    e, n_s = srcs[r].shape[0], h[s].shape[0]
                    # relation matrices act on source nodes (fewer than edges), then gather
                    ks = ops.bmm(k[s].reshape(n_s, self.heads, self.dh).transpose(1, 0, 2),
                                 self.w_att[i]).transpose(1, 0, 2)
                    vs = ops.bmm(v[s].reshape(n_s, self.heads, self.dh).transpose(1, 0, 2),
                                 self.w_msg[i]).transpose(1, 0, 2)
                    qt = ops.gather(q[t], dsts[r], 0).reshape(e, self.heads, self.dh)
                    ke = ops.gather(ks, srcs[r], 0)
                    scores.append((ke * qt).sum(-1) * self.prior[i] * self.scale)
                    msgs.append(ops.gather(vs, srcs[r], 0))
                    index.append(dsts[r])
            if len(index) == 0:
                out.append(h[t])
            else:
                n = h[t].shape[0]
                idx = ops.concat(index)
                alpha = segment_softmax(ops.concat(scores), idx, n)
                m = (ops.concat(msgs) * alpha.expand_dims(-1)).reshape(-1, self.hidden)
                agg = ops.unsorted_segment_sum(m, idx, n)
                out.append(ops.relu(self.a[base + t](ops.gelu(agg)) + h[t]))
        return out


class _Loss(nn.Cell):
    def __init__(self, net: HeteroNet):
        super().__init__(auto_prefix=False)
        self.net = net

    def construct(self, xs, srcs, dsts, idx, y, w):
        logits = self.net(xs, srcs, dsts)
        ce = ops.cross_entropy(ops.gather(logits, idx, 0), y, reduction="none")
        return (ce * w).sum() / w.sum(), logits


class _Step(nn.Cell):
    """One Adam step on the loss; the optimiser's state can be reset without recompiling."""

    def __init__(self, net: HeteroNet, lr: float, weight_decay: float,
                 slow: frozenset[str] = frozenset(), slow_scale: float = 1.0):
        super().__init__(auto_prefix=False)
        self.loss = _Loss(net)
        params = net.trainable_params()
        groups = [{"params": [p for p in params if p.name not in slow]}]
        if slow:  # parameters named in ``slow`` learn at ``slow_scale`` x lr
            groups.append({"params": [p for p in params if p.name in slow],
                           "lr": lr * slow_scale})
        groups = [g for g in groups if g["params"]]
        self.opt = nn.Adam(groups, learning_rate=lr, weight_decay=weight_decay)
        self.weights = self.opt.parameters  # gradients in the optimiser's (group) order
        self.grad = ops.GradOperation(get_by_list=True, sens_param=True)

    def construct(self, xs, srcs, dsts, idx, y, w):
        loss, logits = self.loss(xs, srcs, dsts, idx, y, w)
        sens = (ops.ones_like(loss), ops.zeros_like(logits))
        grads = self.grad(self.loss, self.weights)(xs, srcs, dsts, idx, y, w, sens)
        self.opt(grads)
        return loss, logits


def reset_optimizer(step: _Step) -> None:
    """Section B.5: zero Adam's moments and step count, so a compiled step starts afresh."""
    opt = step.opt

    def fill(p: ms.Parameter, value: np.ndarray | float) -> None:  # numpy only: no eager ops
        p.set_data(ms.Tensor(np.full(tuple(p.shape), value, dtype=p.asnumpy().dtype)))

    for p in (*opt.moment1, *opt.moment2, opt.global_step):
        fill(p, 0)
    fill(opt.beta1_power, 1.0)  # as nn.Adam starts: the powers are multiplied before use
    fill(opt.beta2_power, 1.0)


def tensors(graph: HeteroGraph, schema: Schema) -> tuple[tuple, tuple, tuple]:
    """Section B.2: the model inputs of ``graph`` in ``schema`` order (types and relations)."""
    by_key = {(r.source, r.name, r.target): r for r in graph.relations}
    xs = tuple(ms.Tensor(graph.features[t]) for t, _ in schema.types)
    rels = [by_key[(s, n, d)] for s, n, d, _ in schema.relations]
    # mutable: a tuple of tensors is otherwise keyed by its tensors' identity and every new
    # graph object (a snapshot, a seed) would recompile
    return (ms.mutable(xs), ms.mutable(tuple(ms.Tensor(r.src) for r in rels)),
            ms.mutable(tuple(ms.Tensor(r.dst) for r in rels)))


@dataclass
class Trainer:
    """Section B.5: a model with its compiled training step; counts steps and edges."""

    net: HeteroNet
    step: _Step
    steps: int = 0
    edges_processed: int = 0
    seconds: float = 0.0
    compile_seconds: float = 0.0
    last_logits: np.ndarray | None = None  # the last training step's forward pass

    @classmethod
    def build(cls, schema: Schema, target: str, classes: int, kind: str, hidden: int = 32,
              lr: float = 0.01, weight_decay: float = 5e-4, seed: int = 0,
              layers: int = 2) -> Trainer:
        net = HeteroNet(schema, target, classes, kind, hidden, layers=layers)
        reinitialise(net, seed)
        return cls(net, _Step(net, lr, weight_decay))

    def fit(self, graph: HeteroGraph, idx: np.ndarray, y: np.ndarray, steps: int,
            weight: np.ndarray | None = None) -> list[float]:
        """Train ``steps`` full-batch steps on the labelled nodes ``idx`` (each weighted by
        ``weight``, default 1; a weight of 0 keeps a node out of the loss without changing the
        tensor shapes, so nothing recompiles); returns the losses."""
        xs, srcs, dsts = tensors(graph, self.net.schema)
        w = np.ones(len(idx), np.float32) if weight is None else np.asarray(weight, np.float32)
        if w.shape != (len(idx),) or w.sum() <= 0:
            raise ValueError(f"weight must have one non-negative entry per node of idx "
                             f"({len(idx)}) and a positive sum, got shape {w.shape}")
        ti, ty = ms.Tensor(np.asarray(idx, np.int32)), ms.Tensor(np.asarray(y, np.int32))
        tw = ms.Tensor(w)
        self.step.set_train(True)
        start = time.perf_counter()
        if ms.get_context("mode") == ms.GRAPH_MODE:
            self.step.compile(xs, srcs, dsts, ti, ty, tw)  # once per shape; timed apart
        self.compile_seconds += time.perf_counter() - start
        losses, start = [], time.perf_counter()
        for _ in range(steps):
            loss, logits = self.step(xs, srcs, dsts, ti, ty, tw)
            losses.append(float(loss.asnumpy()))
        self.last_logits = logits.asnumpy()
        self.seconds += time.perf_counter() - start
        edges = self.net.edges_read(tuple(int(s.shape[0]) for s in srcs))
        self.steps += steps
        self.edges_processed += steps * edges
        return losses

    def predict(self, graph: HeteroGraph) -> np.ndarray:
        """Predicted class of every node of the target type."""
        xs, srcs, dsts = tensors(graph, self.net.schema)
        self.step.set_train(False)
        return self.net(xs, srcs, dsts).asnumpy().argmax(1)

    def restart(self, seed: int) -> None:
        """Fresh weights and optimiser state with the same compiled step."""
        reinitialise(self.net, seed)
        reset_optimizer(self.step)
        self.steps, self.edges_processed, self.seconds = 0, 0, 0.0
        self.compile_seconds = 0.0


def extend(old: Trainer, schema: Schema, lr: float = 0.01, weight_decay: float = 5e-4,
           seed: int = 0, old_lr_scale: float = 0.1) -> Trainer:
    """Section B.4: a model for the larger ``schema`` (a new node type and relation appended),
    warm-started: every parameter of the old model is copied, the new type's projection and
    the new relation's matrices start from ``seed``. The copied parameters fine-tune at
    ``old_lr_scale`` x ``lr`` (Adam moves every parameter by about lr per step whatever its
    gradient, which would undo a converged model), the new ones at ``lr``."""
    if not 0 < old_lr_scale <= 1:
        raise ValueError(f"old_lr_scale must be in (0, 1], got {old_lr_scale!r}")
    old_schema = old.net.schema
    if schema.types[:len(old_schema.types)] != old_schema.types or \
            schema.relations[:len(old_schema.relations)] != old_schema.relations:
        raise ValueError("schema must extend the old model's schema (old types and relations "
                         f"first, in order); old: {old_schema}, got {schema}")
    names = [t for t, _ in old_schema.types]
    new = Trainer.build(schema, names[old.net.target], old.net.out.weight.shape[1],
                        old.net.kind, old.net.hidden, lr, weight_decay, seed, old.net.layers)
    old_params = {p.name: p for p in old.net.trainable_params()}
    n_old_t, n_old_r = len(old_schema.types), len(old_schema.relations)
    n_t, n_r = len(schema.types), len(schema.relations)
    copied = set()
    for p in new.net.trainable_params():
        src_name = _old_name(p.name, n_old_t, n_t, n_old_r, n_r)
        if src_name is not None and src_name in old_params:
            p.set_data(ms.Tensor(old_params[src_name].asnumpy().copy()))
            copied.add(p.name)
    new.step = _Step(new.net, lr, weight_decay, frozenset(copied), old_lr_scale)
    return new


def _old_name(name: str, n_old_t: int, n_t: int, n_old_r: int, n_r: int) -> str | None:
    """Map a parameter name of the extended model to the old model's name, or None if new.

    Per-layer lists are laid out ``layer * count + index``; the index is kept, the layer
    offset changes with the count.
    """
    parts = name.split(".")
    per_type = {"proj", "self_w", "q", "k", "v", "a"}
    per_rel = {"rel_w"}
    if parts[0] in per_type | per_rel and len(parts) >= 2 and parts[1].isdigit():
        i = int(parts[1])
        if parts[0] == "proj":
            return name if i < n_old_t else None
        count, old_count = (n_t, n_old_t) if parts[0] in per_type else (n_r, n_old_r)
        layer, j = divmod(i, count)
        return ".".join([parts[0], str(layer * old_count + j)] + parts[2:]) \
            if j < old_count else None
    for prefix in ("rel_att_", "w_att_", "w_msg_", "prior_"):
        if parts[-1].startswith(prefix):
            layer, j = divmod(int(parts[-1][len(prefix):]), n_r)
            return f"{prefix}{layer * n_old_r + j}" if j < n_old_r else None
    return name
