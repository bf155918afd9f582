"""Chapter 07's dynamic shapes ("Dynamic shapes"): recompilations, and bucketing against them.

A jit-compiled function recompiles for every new input shape. Padding sequences up to a few
bucket lengths bounds the compilations at the price of wasted (padded) work; the exact best
buckets for a length histogram come from a dynamic programme over the sorted lengths.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np


def padding_waste(lengths: Sequence[int], counts: Sequence[int],
                  boundaries: Sequence[int]) -> float:
    """Fraction of padded positions when each length pads up to the next boundary."""
    bounds = sorted(boundaries)
    if not bounds or max(lengths) > bounds[-1]:
        raise ValueError(f"boundaries must cover the longest length {max(lengths)}, "
                         f"got {list(boundaries)}")
    padded = real = 0
    for length, count in zip(lengths, counts, strict=True):
        target = next(b for b in bounds if b >= length)
        padded += count * target
        real += count * length
    return 1 - real / padded


def best_buckets(lengths: Sequence[int], counts: Sequence[int], buckets: int) -> list[int]:
    """Boundaries (``buckets`` of them, the largest = the longest length) minimising padded
    positions: DP over sorted distinct lengths, O(buckets * n^2)."""
    order = np.argsort(lengths)
    ls = np.asarray(lengths)[order]
    cs = np.asarray(counts)[order]
    n = len(ls)
    if not 1 <= buckets <= n:
        raise ValueError(f"buckets must be in [1, {n}] for {n} distinct lengths, got {buckets}")
    prefix = np.concatenate([[0], np.cumsum(cs)])
    inf = float("inf")
    # cost[k][j]: best padded positions for the first j lengths with k buckets
    cost = np.full((buckets + 1, n + 1), inf)
    choice = np.zeros((buckets + 1, n + 1), dtype=int)
    cost[0][0] = 0.0
    for k in range(1, buckets + 1):
        for j in range(1, n + 1):
            for i in range(k - 1, j):  # the last bucket holds lengths i..j-1, pads to ls[j-1]
                c = cost[k - 1][i] + ls[j - 1] * (prefix[j] - prefix[i])
                if c < cost[k][j]:
                    cost[k][j], choice[k][j] = c, i
    bounds, j = [], n
    for k in range(buckets, 0, -1):
        bounds.append(int(ls[j - 1]))
        j = choice[k][j]
    return sorted(bounds)


def fewest_buckets(lengths: Sequence[int], counts: Sequence[int],
                   max_waste: float) -> tuple[int, list[int], float]:
    """The smallest bucket count whose optimal boundaries waste at most ``max_waste``."""
    if not 0 <= max_waste < 1:
        raise ValueError(f"max_waste must be in [0, 1), got {max_waste}")
    for k in range(1, len(lengths) + 1):
        bounds = best_buckets(lengths, counts, k)
        waste = padding_waste(lengths, counts, bounds)
        if waste <= max_waste:
            return k, bounds, waste
    raise AssertionError("one bucket per length wastes nothing")  # pragma: no cover


def count_compilations(lengths: Sequence[int], width: int = 64, factor: float = 10.0) -> dict:
    """Call one ``ms.jit`` function on sequences of each length, then again; a call taking
    ``factor`` times the median repeated (cached) call was a compilation."""
    import mindspore as ms
    from mindspore import ops

    def encode(x):
        return ops.tanh(ops.matmul(x, x.T)).sum()

    fn = ms.jit(encode)
    times = []
    for length in list(lengths) * 2:
        x = ms.Tensor(np.ones((int(length), width), np.float32))
        start = time.perf_counter()
        fn(x).asnumpy()
        times.append(time.perf_counter() - start)
    cached = float(np.median(times[len(lengths):]))
    return {"calls": len(times), "compilations": int(sum(t > factor * cached for t in times)),
            "distinct shapes": len(set(lengths)), "cached call s": cached,
            "first call s (mean)": float(np.mean(times[:len(lengths)]))}
