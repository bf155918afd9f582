"""Alpha-beta costs of collectives, flat and on a two-level topology (chapter 08, "Cost model").

Closed forms for ``p`` devices and ``n`` bytes (the full buffer), one link of latency ``a`` and
bandwidth ``B`` (Thakur, Rabenseifner and Gropp 2005; Chan et al. 2007):

- ring all-reduce       2(p-1) a + 2 (p-1)/p n/B
- tree all-reduce       2 ceil(log2 p) (a + n/B)     (binomial reduce, then broadcast)
- all-gather            (p-1) a + (p-1)/p n/B        (ring; n is the gathered size)
- reduce-scatter        (p-1) a + (p-1)/p n/B        (ring; n is the input size)
- all-to-all            (p-1) (a + n/(p B))          (pairwise exchange)
- point-to-point        a + n/B
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from kit.parallel.cluster import Cluster, Link

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "p2p")


def _check(n: float, p: int) -> None:
    if not n >= 0:
        raise ValueError(f"message size must be >= 0 bytes, got {n}")
    if not isinstance(p, int) or p < 1:
        raise ValueError(f"group size must be an int >= 1, got {p!r}")


def ring_all_reduce(n: float, p: int, link: Link) -> float:
    _check(n, p)
    return 0.0 if p == 1 else 2 * (p - 1) * link.latency + 2 * (p - 1) / p * n / link.bandwidth


def tree_all_reduce(n: float, p: int, link: Link) -> float:
    _check(n, p)
    return 0.0 if p == 1 else 2 * math.ceil(math.log2(p)) * (link.latency + n / link.bandwidth)


def all_reduce(n: float, p: int, link: Link, algorithm: str = "auto") -> float:
    """Ring, tree, or whichever is faster (``auto``, as NCCL chooses by size)."""
    if algorithm == "ring":
        return ring_all_reduce(n, p, link)
    if algorithm == "tree":
        return tree_all_reduce(n, p, link)
    if algorithm == "auto":
        return min(ring_all_reduce(n, p, link), tree_all_reduce(n, p, link))
    raise ValueError(f"algorithm must be one of 'ring', 'tree', 'auto', got {algorithm!r}")


def all_gather(n: float, p: int, link: Link) -> float:
    _check(n, p)
    return 0.0 if p == 1 else (p - 1) * link.latency + (p - 1) / p * n / link.bandwidth


reduce_scatter = all_gather  # the same ring, run in reverse


def all_to_all(n: float, p: int, link: Link) -> float:
    _check(n, p)
    return 0.0 if p == 1 else (p - 1) * (link.latency + n / (p * link.bandwidth))


def p2p(n: float, link: Link) -> float:
    _check(n, 1)
    return link.latency + n / link.bandwidth


@dataclass(frozen=True)
class Placement:
    """How a group of ``size`` devices, ``stride`` ranks apart, sits on the nodes."""

    size: int
    per_node: int
    nodes: int


def place(cluster: Cluster, size: int, stride: int) -> Placement:
    """Ranks are laid out node by node; a group's members are ``stride`` ranks apart."""
    if size < 1 or stride < 1:
        raise ValueError(f"group size and stride must be >= 1, got {size} and {stride}")
    per_node = 1 if stride >= cluster.devices_per_node else min(
        size, cluster.devices_per_node // stride)
    return Placement(size, per_node, math.ceil(size / per_node))


def inter_link(cluster: Cluster) -> Link:
    """A device's share of its node's network when every device of the node talks at once."""
    return Link(cluster.inter.bandwidth / cluster.devices_per_node, cluster.inter.latency)


@functools.lru_cache(maxsize=1 << 16)  # the planner asks the same questions many times
def group_cost(cluster: Cluster, kind: str, n: float, size: int, stride: int = 1) -> float:
    """Seconds for one collective of ``n`` bytes over a group, topology-aware.

    Within one node the intra link is used. Across nodes, all-reduce is hierarchical
    (intra reduce-scatter, inter all-reduce of n/m, intra all-gather, for m members per node);
    all-gather and reduce-scatter run an inter ring on n/m then an intra ring.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if size == 1 and kind != "p2p":
        return 0.0
    where = place(cluster, max(size, 2) if kind == "p2p" else size, stride)
    intra, inter = cluster.intra, inter_link(cluster)
    if kind == "p2p":
        return p2p(n, intra if where.nodes == 1 else inter)
    if where.nodes == 1:
        flat = {"all_reduce": all_reduce, "all_gather": all_gather,
                "reduce_scatter": reduce_scatter, "all_to_all": all_to_all}[kind]
        return flat(n, size, intra)
    m, k = where.per_node, where.nodes
    if kind == "all_reduce":
        return (reduce_scatter(n, m, intra) + all_reduce(n / m, k, inter)
                + all_gather(n, m, intra))
    if kind in ("all_gather", "reduce_scatter"):
        return all_gather(n / m, k, inter) + all_gather(n, m, intra)
    crossing = n * (k - 1) / k  # all-to-all: the share of each device's data leaving its node
    return ((size - 1) * inter.latency + crossing / inter.bandwidth
            + all_to_all(n - crossing, m, intra))
