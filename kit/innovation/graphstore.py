"""Part C of chapter 03: out-of-core CSR storage, partitioning and neighbour sampling.

A power-law graph with communities is generated in chunks, written as a COO edge file, then
turned into CSR (``indptr``, ``indices``) in memory-mapped numpy files in two streaming passes,
so that only O(nodes) state is held in RAM. Every file gets a SHA-256 checksum in a manifest.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

EDGE_DTYPE = np.int64
PTR_DTYPE = np.int64


# ---------------------------------------------------------------- generation (section C.1)

def community_powerlaw_chunks(nodes: int, edges: int, communities: int = 64, mixing: float = 0.1,
                              exponent: float = 2.5, chunk: int = 200_000,
                              seed: int = 0) -> Iterator[np.ndarray]:
    """Section C.1: undirected edges of a degree-corrected planted-partition graph, in chunks.

    Node ``i`` has Chung-Lu weight ``(i + 1) ** (-1 / (exponent - 1))`` (power-law degrees with
    that exponent) and a community ``i % communities``. Each edge picks its source by weight;
    with probability ``1 - mixing`` its target is drawn by weight inside the source's community,
    otherwise from the whole graph. Self loops are dropped. Yields ``(c, 2)`` int64 arrays.
    """
    _check_positive("nodes", nodes, 2)
    _check_positive("edges", edges, 1)
    _check_positive("communities", communities, 1)
    _check_positive("chunk", chunk, 1)
    if communities > nodes:
        raise ValueError(f"communities must be <= nodes ({nodes}), got {communities}")
    if not 0.0 <= mixing <= 1.0:
        raise ValueError(f"mixing must be in [0, 1], got {mixing}")
    if not exponent > 2.0:
        raise ValueError(f"exponent must be > 2 (finite mean degree), got {exponent}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(nodes)  # hubs spread over ids and communities
    weight = (np.arange(nodes) + 1.0) ** (-1.0 / (exponent - 1.0))
    weight = weight[np.argsort(perm)]
    comm = rng.permutation(nodes) % communities
    order = np.argsort(comm, kind="stable")  # nodes grouped by community
    w_sorted = weight[order]
    starts = np.searchsorted(comm[order], np.arange(communities + 1))
    cum_all = np.cumsum(weight)
    cum_sorted = np.cumsum(w_sorted)
    emitted = 0
    while emitted < edges:
        c = min(chunk, edges - emitted)
        src = np.searchsorted(cum_all, rng.random(c) * cum_all[-1], side="right")
        src = np.minimum(src, nodes - 1)
        inside = rng.random(c) >= mixing
        dst = np.minimum(np.searchsorted(cum_all, rng.random(c) * cum_all[-1], side="right"),
                         nodes - 1)
        k = comm[src[inside]]
        lo = np.where(starts[k] > 0, cum_sorted[np.maximum(starts[k] - 1, 0)], 0.0)
        hi = cum_sorted[starts[k + 1] - 1]
        pos = np.searchsorted(cum_sorted, lo + rng.random(k.size) * (hi - lo), side="right")
        pos = np.clip(pos, starts[k], starts[k + 1] - 1)
        dst[inside] = order[pos]
        pair = np.stack([src, dst], axis=1).astype(EDGE_DTYPE)
        pair = pair[pair[:, 0] != pair[:, 1]]
        emitted += c
        yield pair


# ---------------------------------------------------------------- storage (section C.1)

def check_edges(edges: np.ndarray, nodes: int) -> None:
    """Refuse a malformed edge chunk: not an integer ``(m, 2)`` array or ids outside
    ``[0, nodes)``."""
    if not isinstance(edges, np.ndarray):
        raise ValueError(f"edges must be a numpy array, got {type(edges).__name__}")
    if not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"edges must have an integer dtype, got {edges.dtype}")
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must have shape (m, 2), got {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= nodes):
        bad = int(edges.min()) if edges.min() < 0 else int(edges.max())
        raise ValueError(f"edges: node id {bad} is out of range [0, {nodes})")


def sha256_file(path: Path, block: int = 1 << 22) -> str:
    """SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(block):
            h.update(data)
    return h.hexdigest()


@dataclass
class CSRGraph:
    """A symmetric graph in CSR form backed by memory-mapped files in ``folder``."""

    folder: Path
    nodes: int
    indptr: np.ndarray
    indices: np.ndarray

    @property
    def arcs(self) -> int:
        """Stored directed arcs (each undirected edge twice)."""
        return int(self.indptr[-1])

    def degrees(self) -> np.ndarray:
        return np.diff(np.asarray(self.indptr))

    def neighbours(self, v: int) -> np.ndarray:
        return self.indices[self.indptr[v]:self.indptr[v + 1]]

    def bytes_on_disk(self) -> int:
        return int(self.indptr.nbytes + self.indices.nbytes)


def build_csr(chunks: Iterator[np.ndarray], nodes: int, folder: str | Path,
              chunk: int = 200_000) -> CSRGraph:
    """Section C.1: CSR of the symmetrised edge stream, built out of core.

    Pass 0 appends each chunk (both directions) to ``coo.bin``; pass 1 streams it to count
    degrees into ``indptr.npy``; pass 2 streams it again and scatters each arc to its slot in
    ``indices.npy`` with a per-node cursor. RAM holds O(nodes + chunk), never the edge list.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    coo_path = folder / "coo.bin"
    arcs = 0
    with open(coo_path, "wb") as f:
        for pair in chunks:
            check_edges(pair, nodes)
            both = np.concatenate([pair, pair[:, ::-1]]).astype(EDGE_DTYPE)
            f.write(both.tobytes())
            arcs += both.shape[0]
    coo = np.memmap(coo_path, dtype=EDGE_DTYPE, mode="r", shape=(arcs, 2))
    degree = np.zeros(nodes, dtype=PTR_DTYPE)
    for lo in range(0, arcs, chunk):
        degree += np.bincount(coo[lo:lo + chunk, 0], minlength=nodes)
    indptr = np.lib.format.open_memmap(folder / "indptr.npy", mode="w+", dtype=PTR_DTYPE,
                                       shape=(nodes + 1,))
    indptr[0] = 0
    np.cumsum(degree, out=indptr[1:])
    indices = np.lib.format.open_memmap(folder / "indices.npy", mode="w+", dtype=EDGE_DTYPE,
                                        shape=(max(arcs, 1),))
    cursor = np.array(indptr[:-1])
    for lo in range(0, arcs, chunk):
        block = np.asarray(coo[lo:lo + chunk])
        srt = np.argsort(block[:, 0], kind="stable")
        src, dst = block[srt, 0], block[srt, 1]
        first = np.searchsorted(src, src)  # rank of each arc among its source's arcs
        slot = cursor[src] + np.arange(src.size) - first
        indices[slot] = dst
        np.add.at(cursor, src, 1)
    indptr.flush()
    indices.flush()
    del coo
    coo_path.unlink()
    manifest = {"nodes": nodes, "arcs": arcs,
                "sha256": {name: sha256_file(folder / name)
                           for name in ("indptr.npy", "indices.npy")}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return open_csr(folder)


def open_csr(folder: str | Path, verify: bool = False) -> CSRGraph:
    """Open a CSR folder read-only; with ``verify`` check every checksum in its manifest."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if verify:
        for name, digest in manifest["sha256"].items():
            if sha256_file(folder / name) != digest:
                raise ValueError(f"checksum mismatch for {folder / name}: the file is corrupt")
    indptr = np.load(folder / "indptr.npy", mmap_mode="r")
    indices = np.load(folder / "indices.npy", mmap_mode="r")
    return CSRGraph(folder, int(manifest["nodes"]), indptr, indices[:manifest["arcs"]])


# ---------------------------------------------------------------- partitioning (section C.2)

def hash_partition(nodes: int, k: int) -> np.ndarray:
    """Section C.2: part of each node by a multiplicative hash of its id."""
    _check_positive("k", k, 1)
    x = np.arange(nodes, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):  # splitmix64 finaliser: wrap-around is intended
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x % np.uint64(k)).astype(np.int32)


def bfs_order(g: CSRGraph, seed: int = 0) -> np.ndarray:
    """The order a crawler meets nodes: breadth-first from random roots (stream order)."""
    rng = np.random.default_rng(seed)
    seen = np.zeros(g.nodes, dtype=bool)
    out = np.empty(g.nodes, dtype=np.int64)
    n = 0
    indptr, indices = np.asarray(g.indptr), g.indices
    for root in rng.permutation(g.nodes):
        if seen[root]:
            continue
        seen[root] = True
        frontier = np.array([root])
        while frontier.size:
            out[n:n + frontier.size] = frontier
            n += frontier.size
            nb = np.concatenate([indices[indptr[v]:indptr[v + 1]] for v in frontier])
            nb = np.unique(nb)
            nb = nb[~seen[nb]]
            seen[nb] = True
            frontier = nb
    return out


def ldg_partition(g: CSRGraph, k: int, order: np.ndarray | None = None,
                  slack: float = 1.05) -> np.ndarray:
    """Section C.2: one-pass Linear Deterministic Greedy (Stanton & Kliot, KDD 2012).

    Nodes arrive in ``order``; each goes to the part holding most of its already placed
    neighbours, weighted by ``1 - size / capacity`` (capacity ``slack * nodes / k``); ties go
    to the smallest part. State is one part id per node plus k counters.
    """
    _check_positive("k", k, 1)
    order = np.arange(g.nodes) if order is None else np.asarray(order)
    capacity = slack * g.nodes / k
    part = np.full(g.nodes, -1, dtype=np.int32)
    size = np.zeros(k, dtype=np.float64)
    indptr, indices = np.asarray(g.indptr), g.indices
    for v in order:
        nb = part[indices[indptr[v]:indptr[v + 1]]]
        placed = np.bincount(nb[nb >= 0], minlength=k)
        score = placed * (1.0 - size / capacity) - 1e-9 * size
        score[size >= capacity] = -np.inf
        p = int(np.argmax(score))
        part[v] = p
        size[p] += 1
    return part


def fennel_partition(g: CSRGraph, k: int, order: np.ndarray | None = None,
                     gamma: float = 1.5, slack: float = 1.1, scale: float = 1.0,
                     initial: np.ndarray | None = None) -> np.ndarray:
    """Section C.2: one-pass Fennel (Tsourakakis et al., WSDM 2014): place each arriving node
    where ``placed neighbours - alpha * gamma * size ** (gamma - 1)`` is largest, with
    ``alpha = arcs/2 * k ** (gamma - 1) / nodes ** gamma`` and a hard cap ``slack * nodes / k``.

    With ``initial`` (a previous pass's parts) this is one *restreaming* pass (Nishimura &
    Ugander, KDD 2013): every neighbour already has a part, and a node leaves its old part
    before it is placed again."""
    _check_positive("k", k, 1)
    order = np.arange(g.nodes) if order is None else np.asarray(order)
    alpha = scale * g.arcs / 2 * k ** (gamma - 1) / g.nodes ** gamma
    capacity = slack * g.nodes / k
    if initial is None:
        part = np.full(g.nodes, -1, dtype=np.int32)
        size = np.zeros(k, dtype=np.float64)
    else:
        check_partition(initial, g.nodes, k)
        part = np.array(initial, dtype=np.int32)
        size = np.bincount(part, minlength=k).astype(np.float64)
    indptr, indices = np.asarray(g.indptr), g.indices
    for v in order:
        if part[v] >= 0:
            size[part[v]] -= 1
            part[v] = -1
        nb = part[indices[indptr[v]:indptr[v + 1]]]
        score = np.bincount(nb[nb >= 0], minlength=k) - alpha * gamma * size ** (gamma - 1)
        score[size >= capacity] = -np.inf
        p = int(np.argmax(score))
        part[v] = p
        size[p] += 1
    return part


def metis_partition(g: CSRGraph, k: int, seed: int = 0) -> np.ndarray:
    """Section C.2: METIS k-way partition via ``pymetis`` (the quality anchor; in memory)."""
    import pymetis

    _check_positive("k", k, 1)
    opts = pymetis.Options(seed=seed)
    _, parts = pymetis.part_graph(k, xadj=np.asarray(g.indptr), adjncy=np.asarray(g.indices),
                                  options=opts)
    return np.asarray(parts, dtype=np.int32)


def restream_fennel(g: CSRGraph, k: int, passes: int = 5, order: np.ndarray | None = None,
                    slack: float = 1.05, first_scale: float = 2.0) -> np.ndarray:
    """Section C.2: Fennel restreamed ``passes`` times over the same order (Nishimura &
    Ugander, "Restreaming graph partitioning", KDD 2013); each pass still needs only one part
    id per node and k counters, but the graph is read ``passes`` times.

    The first pass weighs balance ``first_scale`` times more than Fennel's alpha (a crawl order
    otherwise packs early communities greedily; measured on the kit's graphs: 5 passes reach
    1.24-1.40 x the METIS cut with 2.0, 1.9 x with 1.0); later passes use the standard alpha.
    """
    _check_positive("passes", passes, 1)
    part = fennel_partition(g, k, order, slack=slack, scale=first_scale)
    for _ in range(passes - 1):
        part = fennel_partition(g, k, order, slack=slack, initial=part)
    return part


def degree_order(g: CSRGraph) -> np.ndarray:
    """Section C.2: nodes by decreasing degree, ties by id: a prioritised stream order
    (Awadelkarim & Ugander, KDD 2020) read off ``indptr`` alone, O(nodes) state."""
    return np.argsort(-g.degrees(), kind="stable")


def buffered_partition(g: CSRGraph, k: int, order: np.ndarray | None = None,
                       buffer: int = 4096, slack: float = 1.05, seed: int = 0) -> np.ndarray:
    """Section C.2: one-pass *buffered* streaming partitioner after HeiStream (Faraj & Schulz,
    "Buffered streaming graph partitioning", ACM JEA 2022).

    Nodes arrive in ``order`` (default :func:`degree_order`) and are read once, ``buffer`` at a
    time. Each buffer becomes a small model graph: its nodes, its internal edges, and one
    artificial node per part (weight = the part's size) joined to every buffered node by as
    many edges as it has neighbours already placed there. METIS (``pymetis``) splits the model
    graph into k balanced blocks; blocks are matched to parts by the artificial nodes (a linear
    assignment on the edges to placed neighbours, since METIS has no fixed vertices), the
    buffer is committed and never revisited. Overflow beyond ``slack * nodes / k`` moves to the
    emptiest part. State: a part id per node plus one buffer of adjacency lists. Bad ``k``,
    ``buffer``, ``slack`` or an ``order`` that is not a permutation of the nodes: ValueError.
    """
    import pymetis
    from scipy.optimize import linear_sum_assignment

    _check_positive("k", k, 1)
    _check_positive("buffer", buffer, 1)
    if not slack >= 1.0:
        raise ValueError(f"slack must be >= 1 (capacity slack * nodes / k), got {slack}")
    n = g.nodes
    order = degree_order(g) if order is None else np.asarray(order)
    if order.shape != (n,) or not np.issubdtype(order.dtype, np.integer) \
            or order.min() < 0 or order.max() >= n \
            or np.any(np.bincount(order, minlength=n) != 1):
        raise ValueError(f"order must be a permutation of the {n} node ids")
    if k == 1:
        return np.zeros(n, dtype=np.int32)
    indptr, indices = np.asarray(g.indptr), g.indices
    part = np.full(n, -1, dtype=np.int64)
    size = np.zeros(k, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    capacity = max(int(np.floor(slack * n / k)), -(-n // k))
    ufactor = max(int(round((slack - 1.0) * 1000)), 1)
    for lo in range(0, n, buffer):
        vs = order[lo:lo + buffer]
        b = vs.size
        local[vs] = np.arange(b)
        lengths = indptr[vs + 1] - indptr[vs]
        nb = np.concatenate([np.asarray(indices[indptr[v]:indptr[v + 1]]) for v in vs])
        own = np.repeat(np.arange(b), lengths)
        ln, pn = local[nb], part[nb]
        inside, placed = ln >= 0, pn >= 0
        rows = np.concatenate([own[inside], own[placed], b + pn[placed]])
        cols = np.concatenate([ln[inside], b + pn[placed], own[placed]])
        model = sp.coo_matrix((np.ones(rows.size, dtype=np.int64), (rows, cols)),
                              shape=(b + k, b + k)).tocsr()
        model.setdiag(0)
        model.eliminate_zeros()
        if model.nnz:
            _, lab = pymetis.part_graph(
                k, adjacency=pymetis.CSRAdjacency(model.indptr, model.indices),
                eweights=model.data, vweights=np.concatenate([np.ones(b, np.int64), size]),
                options=pymetis.Options(seed=seed, ufactor=ufactor))
            lab = np.asarray(lab, dtype=np.int64)
        else:
            lab = np.arange(b + k) % k
        affinity = np.zeros((k, k))
        np.add.at(affinity, (lab[own[placed]], pn[placed]), 1.0)
        affinity[lab[b:], np.arange(k)] += 1e9 * (size > 0)
        rows_, cols_ = linear_sum_assignment(-affinity)
        to_part = np.empty(k, dtype=np.int64)
        to_part[rows_] = cols_
        new = to_part[lab[:b]]
        load = size + np.bincount(new, minlength=k)
        for p in np.nonzero(load > capacity)[0]:
            for i in np.nonzero(new == p)[0][:load[p] - capacity]:
                q = int(np.argmin(load))
                new[i] = q
                load[p] -= 1
                load[q] += 1
        part[vs] = new
        size = load
        local[vs] = -1
    return part.astype(np.int32)


RESTREAM_PASSES = 5
BUFFER_NODES = 4096
BUFFERED = "streaming (buffered, degree order)"
PARTITIONERS = ("hash", "streaming (LDG)", "streaming (Fennel)", BUFFERED,
                f"restreaming (Fennel, {RESTREAM_PASSES} passes)", "METIS")
RESTREAMED = PARTITIONERS[4]


def partition(g: CSRGraph, k: int, method: str, seed: int = 0) -> np.ndarray:
    """Section C.2: dispatch to one of :data:`PARTITIONERS`."""
    if method == "hash":
        return hash_partition(g.nodes, k)
    if method == "streaming (LDG)":
        return ldg_partition(g, k, bfs_order(g, seed))
    if method == "streaming (Fennel)":
        return fennel_partition(g, k, bfs_order(g, seed), slack=1.05)
    if method == BUFFERED:
        return buffered_partition(g, k, degree_order(g), BUFFER_NODES, seed=seed)
    if method == RESTREAMED:
        return restream_fennel(g, k, RESTREAM_PASSES, bfs_order(g, seed))
    if method == "METIS":
        return metis_partition(g, k, seed)
    raise ValueError(f"method must be one of {PARTITIONERS}, got {method!r}")


def check_partition(part: np.ndarray, nodes: int, k: int) -> None:
    """Every node in exactly one part in ``[0, k)``."""
    if part.shape != (nodes,):
        raise ValueError(f"part must have shape ({nodes},), got {part.shape}")
    if part.min() < 0 or part.max() >= k:
        raise ValueError(f"part ids must lie in [0, {k}), got [{part.min()}, {part.max()}]")


def edge_cut(g: CSRGraph, part: np.ndarray, chunk: int = 1_000_000) -> float:
    """Section C.2: fraction of arcs whose endpoints lie in different parts (streamed)."""
    deg = g.degrees()
    src_part = np.repeat(part, deg)
    cut = 0
    for lo in range(0, g.arcs, chunk):
        cut += int(np.count_nonzero(src_part[lo:lo + chunk] != part[g.indices[lo:lo + chunk]]))
    return cut / max(g.arcs, 1)


def imbalance(part: np.ndarray, k: int) -> float:
    """Largest part size over the mean size."""
    return float(np.bincount(part, minlength=k).max() / (part.size / k))


# ---------------------------------------------------------------- sampling (section C.3)

@dataclass
class SampleStats:
    """What GraphSAGE-style sampling of mini-batches touched."""

    sampled: int
    remote: int
    seconds: float

    @property
    def remote_fraction(self) -> float:
        return self.remote / max(self.sampled, 1)

    @property
    def nodes_per_s(self) -> float:
        return self.sampled / max(self.seconds, 1e-12)


def sample_neighbours(g: CSRGraph, seeds: np.ndarray, fanout: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Section C.3: up to ``fanout`` neighbours of each seed, with replacement, vectorised.

    Returns ``(owner, neighbour)``: the index into ``seeds`` and the sampled node id.
    """
    indptr = np.asarray(g.indptr)
    deg = indptr[seeds + 1] - indptr[seeds]
    has = deg > 0
    owner = np.repeat(np.nonzero(has)[0], fanout)
    offs = (rng.random(owner.size) * deg[owner]).astype(np.int64)
    return owner, np.asarray(g.indices[indptr[seeds[owner]] + offs])


def minibatch_halo(g: CSRGraph, part: np.ndarray, batch: int, fanouts: tuple[int, ...],
                   batches: int, seed: int = 0) -> SampleStats:
    """Section C.3: sample ``batches`` mini-batches of ``batch`` seed nodes from one machine's
    part with GraphSAGE fanouts (e.g. ``(10, 5)``); count sampled nodes owned by another part
    (halo nodes whose features must cross the network)."""
    for f in fanouts:
        _check_positive("fanout", f, 1)
    rng = np.random.default_rng(seed)
    sampled = remote = 0
    start = time.perf_counter()
    for b in range(batches):
        machine = b % int(part.max() + 1)
        local = np.nonzero(part == machine)[0]
        frontier = rng.choice(local, size=min(batch, local.size), replace=False)
        for f in fanouts:
            _, nb = sample_neighbours(g, frontier, f, rng)
            sampled += nb.size
            remote += int(np.count_nonzero(part[nb] != machine))
            frontier = np.unique(nb)
    return SampleStats(sampled, remote, time.perf_counter() - start)


# ---------------------------------------------------------------- scale-out (section C.4)

def scale_out(edges: float, machines: list[int], bytes_per_arc: float, avg_degree: float,
              cut: float, remote_fraction: float, sampled_per_s: float,
              feature_bytes: int = 512, batch_nodes: int = 1024,
              fanouts: tuple[int, ...] = (10, 5)) -> list[dict[str, float]]:
    """Section C.4: per-machine storage, partitioner memory and network traffic for ``edges``
    undirected edges on each number of machines, from costs measured on the kit's graph.

    Storage: ``2 * edges * bytes_per_arc / k`` plus a replicated halo index of ``cut`` of the
    arcs. Streaming partitioner state: 4 bytes per node (part id) plus k counters. Network:
    features of remote sampled nodes per mini-batch, and a full-graph epoch exchanging the
    features of every cut arc once.
    """
    if edges <= 0:
        raise ValueError(f"edges must be > 0, got {edges}")
    nodes = 2 * edges / avg_degree
    per_batch = batch_nodes * sum(np.cumprod(fanouts))
    rows = []
    for k in machines:
        _check_positive("machines", k, 1)
        rows.append({
            "machines": k,
            "CSR storage per machine (GB)": 2 * edges * bytes_per_arc / k / 1e9,
            "halo index per machine (GB)": 2 * edges * cut * 8 / k / 1e9,
            "streaming partitioner state (GB, one pass)": (nodes * 4 + 8 * k) / 1e9,
            "remote features per mini-batch (MB)": per_batch * remote_fraction
            * feature_bytes / 1e6,
            "full-graph epoch traffic per machine (GB)": 2 * edges * cut * feature_bytes
            / k / 1e9,
            "sampling time per epoch (h, one core per machine)": nodes / k * sum(
                np.cumprod(fanouts)) / sampled_per_s / 3600,
        })
    return rows


def _check_positive(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
