"""Strategy search of chapter 08: the kit's planner, exhaustive search and hand baselines.

The planner enumerates data x tensor x pipeline degrees, micro-batch counts, ZeRO stages and
recomputation; per candidate it picks each layer's sharding by local cost and the pipeline
stage partition that minimises the slowest stage (exact, by bisection on the bottleneck with a
greedy check), keeps candidates that fit in memory and returns the fastest.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace

from kit.parallel.cluster import Cluster
from kit.parallel.cost import (
    Estimate,
    Strategy,
    check_fits_somewhere,
    divisors,
    estimate,
    layer_seconds,
    uniform_stages,
)
from kit.parallel.model import Model


@dataclass(frozen=True)
class Plan:
    """A strategy with its estimate, and how much searching found it."""

    strategy: Strategy
    estimate: Estimate
    evaluated: int
    seconds: float


def shard_choices(model: Model, cluster: Cluster, micro: int, tp: int,
                  recompute: bool) -> tuple[bool, ...]:
    """Per layer: split across the tensor group when that is faster than replicating it."""
    if tp == 1:
        return tuple(True for _ in model.layers)
    return tuple(layer_seconds(layer, cluster, micro, tp, True, recompute)
                 <= layer_seconds(layer, cluster, micro, tp, False, recompute)
                 for layer in model.layers)


def _greedy_parts(costs: list[float], limit: float) -> list[int]:
    parts, current, count = [], 0.0, 0
    for c in costs:
        if count and current + c > limit:
            parts.append(count)
            current, count = 0.0, 0
        current += c
        count += 1
    parts.append(count)
    return parts


def partition(costs: list[float], pp: int) -> tuple[int, ...]:
    """Split a chain into ``pp`` contiguous non-empty stages minimising the largest stage sum."""
    if not 1 <= pp <= len(costs):
        raise ValueError(f"pp must be in [1, {len(costs)}], got {pp}")
    low, high = max(costs), sum(costs)
    for _ in range(60):
        mid = (low + high) / 2
        if len(_greedy_parts(costs, mid)) <= pp:
            high = mid
        else:
            low = mid
    parts = _greedy_parts(costs, high)
    while len(parts) < pp:  # split the largest stage: never raises the maximum
        i = max(range(len(parts)), key=lambda k: parts[k])
        if parts[i] == 1:
            i = next(k for k, v in enumerate(parts) if v > 1)
        parts[i:i + 1] = [parts[i] - parts[i] // 2, parts[i] // 2]
    return tuple(parts)


CHUNK_OPTIONS = (1, 2, 4)  # interleaved model chunks per device the planner considers


def candidates(model: Model, cluster: Cluster, batch: int, max_micro: int = 512):
    """Every (dp, tp, pp, micro-batches, chunks, ZeRO, recompute) that describes a valid run
    (chunks > 1 only with a pipeline; whether the stages are deep enough is checked later)."""
    n = cluster.devices
    for tp in divisors(n):
        for pp in divisors(n // tp):
            if pp > len(model.layers):
                continue
            dp = n // tp // pp
            if batch % dp:
                continue
            for m in divisors(batch // dp):
                if m > max_micro or (pp == 1 and m > 1):
                    continue  # without a pipeline, micro-batches only add overhead
                for chunks in CHUNK_OPTIONS if pp > 1 else (1,):
                    if chunks * pp > len(model.layers):
                        continue
                    for zero, recompute in itertools.product((0, 1, 2, 3), (False, True)):
                        if dp == 1 and zero:
                            continue
                        yield dp, tp, pp, m, chunks, zero, recompute


def plan(model: Model, cluster: Cluster, batch: int, max_micro: int = 512) -> Plan:
    """The fastest strategy that fits in memory, found by the kit's planner."""
    check_fits_somewhere(model, cluster)
    start, best, evaluated = time.perf_counter(), None, 0
    cache: dict[tuple, tuple[tuple[bool, ...], tuple[int, ...]]] = {}
    for dp, tp, pp, m, chunks, zero, recompute in candidates(model, cluster, batch, max_micro):
        micro = batch // (dp * m)
        key = (tp, pp, micro, recompute)
        if key not in cache:
            sharded = shard_choices(model, cluster, micro, tp, recompute)
            costs = [layer_seconds(layer, cluster, micro, tp, f, recompute)
                     for layer, f in zip(model.layers, sharded, strict=True)]
            cache[key] = (sharded, partition(costs, pp))
        sharded, stages = cache[key]
        if min(stages) < chunks:
            continue
        strategy = Strategy(dp, tp, pp, m, zero, recompute, stages, sharded, chunks)
        est = estimate(model, cluster, strategy, batch)
        evaluated += 1
        if est.fits and (best is None or est.step_seconds < best[1].step_seconds):
            best = (strategy, est)
    if best is None:
        raise ValueError(f"no strategy fits {model.name} on {cluster.devices} devices of "
                         f"{cluster.memory_bytes / 1e9:.1f} GB at batch {batch}")
    return Plan(best[0], best[1], evaluated, time.perf_counter() - start)


def compositions(total: int, parts: int):
    """Every way to write ``total`` as ``parts`` positive ordered summands."""
    for cuts in itertools.combinations(range(1, total), parts - 1):
        bounds = (0, *cuts, total)
        yield tuple(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True))


def exhaustive(model: Model, cluster: Cluster, batch: int, max_micro: int = 512) -> Plan:
    """The true optimum over every candidate, stage partition and per-layer sharding mask
    (small models only: 2^layers masks x compositions)."""
    if len(model.layers) > 8:
        raise ValueError(f"exhaustive search is for <= 8 layers, got {len(model.layers)}")
    start, best, evaluated = time.perf_counter(), None, 0
    for dp, tp, pp, m, chunks, zero, recompute in candidates(model, cluster, batch, max_micro):
        masks = [tuple(True for _ in model.layers)] if tp == 1 else \
            itertools.product((True, False), repeat=len(model.layers))
        for mask in masks:
            for stages in compositions(len(model.layers), pp):
                if min(stages) < chunks:
                    continue
                strategy = Strategy(dp, tp, pp, m, zero, recompute, stages, tuple(mask), chunks)
                est = estimate(model, cluster, strategy, batch)
                evaluated += 1
                if est.fits and (best is None or est.step_seconds < best[1].step_seconds):
                    best = (strategy, est)
    if best is None:
        raise ValueError(f"no strategy fits {model.name} on {cluster.devices} devices")
    return Plan(best[0], best[1], evaluated, time.perf_counter() - start)


def _first_fitting(model: Model, cluster: Cluster, batch: int,
                   options: list[Strategy]) -> tuple[Strategy, Estimate] | None:
    for strategy in options:
        try:
            est = estimate(model, cluster, strategy, batch)
        except ValueError:
            continue
        if est.fits:
            return strategy, est
    return None


def hand_strategies(model: Model, cluster: Cluster,
                    batch: int) -> dict[str, tuple[Strategy, Estimate] | None]:
    """What practitioners write by hand, each escalated the usual way until it fits:

    - pure DP: every device a replica; then ZeRO-1/2/3; then recomputation.
    - Megatron recipe (Narayanan et al. 2021, section 3 and their published runs): tensor
      parallel across a node, the fewest pipeline stages that fit, data parallel over the
      rest, micro-batch size 1 (as in their GPT-3 175B and 1T runs), even layer split,
      recomputation on, no ZeRO.
    """
    n, layers = cluster.devices, len(model.layers)
    all_sharded = tuple(True for _ in model.layers)
    pure = [Strategy(n, 1, 1, 1, zero, rc, (layers,), all_sharded)
            for rc in (False, True) for zero in (0, 1, 2, 3)]
    tp = min(cluster.devices_per_node, n)
    megatron = []
    for pp in divisors(n // tp):
        if pp > layers:
            break
        dp = n // tp // pp
        if batch % dp:
            continue
        m = batch // dp if pp > 1 else 1  # micro-batch size 1 through a pipeline
        megatron.append(Strategy(dp, tp, pp, m, 0, True, uniform_stages(layers, pp),
                                 all_sharded))
    return {"pure DP (+ZeRO, recompute)": _first_fitting(model, cluster, batch, pure),
            "Megatron recipe (TP in node, PP across, b=1)":
                _first_fitting(model, cluster, batch, megatron)}


def best_hand(hands: dict[str, tuple[Strategy, Estimate] | None]) -> tuple[str, Estimate]:
    """The fastest hand strategy that fits."""
    fitting = {k: v[1] for k, v in hands.items() if v is not None}
    if not fitting:
        raise ValueError("no hand strategy fits this model on this cluster")
    name = min(fitting, key=lambda k: fitting[k].step_seconds)
    return name, fitting[name]


def with_strategy(strategy: Strategy, **changes) -> Strategy:
    """A copy of ``strategy`` with some fields changed (for the widget's overrides)."""
    return replace(strategy, **changes)
