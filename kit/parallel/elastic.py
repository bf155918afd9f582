"""Elastic scaling for chapter 08: re-plan when devices leave or join, and list the moves.

Every device holds, per layer of its pipeline stage, a slice of the weights and a slice of the
optimizer state (tensor-parallel slice, further split across data-parallel ranks by ZeRO).
After re-planning, each device needs new slices; what it does not already hold is copied from
a surviving holder (same node first), or restored from a checkpoint when no survivor has it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

from kit.parallel.cluster import Cluster
from kit.parallel.cost import Strategy
from kit.parallel.model import FP16, Model
from kit.parallel.search import Plan, plan

Interval = tuple[Fraction, Fraction]
OPTIMIZER_BYTES = 12.0  # fp32 master weights, Adam m and v, per parameter


@dataclass(frozen=True)
class Move:
    """Copy ``part`` of a layer's ``kind`` ("weights" or "optimizer") to device ``dst``."""

    layer: int
    kind: str
    part: Interval
    src: int | None  # None: restore from checkpoint
    dst: int
    bytes: float


def rank_coordinates(rank: int, s: Strategy) -> tuple[int, int, int]:
    """(pipeline stage, data-parallel index, tensor-parallel index); tensor innermost."""
    return rank // (s.dp * s.tp), (rank // s.tp) % s.dp, rank % s.tp


def holdings(rank: int, s: Strategy) -> dict[tuple[int, str], Interval]:
    """The slices device ``rank`` holds: {(layer, kind): [lo, hi) of the layer's parameters}."""
    stage, d, t = rank_coordinates(rank, s)
    first = sum(s.stages[:stage])
    held = {}
    for layer in range(first, first + s.stages[stage]):
        lo, width = (Fraction(t, s.tp), Fraction(1, s.tp)) if s.sharded[layer] and s.tp > 1 \
            else (Fraction(0), Fraction(1))
        sub = (lo + width * Fraction(d, s.dp), lo + width * Fraction(d + 1, s.dp))
        held[(layer, "weights")] = sub if s.zero == 3 else (lo, lo + width)
        held[(layer, "optimizer")] = sub if s.zero >= 1 else (lo, lo + width)
    return held


def _minus(need: Interval, have: Interval | None) -> list[Interval]:
    if have is None or have[1] <= need[0] or have[0] >= need[1]:
        return [need]
    pieces = []
    if need[0] < have[0]:
        pieces.append((need[0], have[0]))
    if have[1] < need[1]:
        pieces.append((have[1], need[1]))
    return pieces


def resharding_moves(model: Model, old: Strategy, new: Strategy, survivors: list[int],
                     devices_per_node: int) -> list[Move]:
    """Moves that turn the old layout into the new one; ``survivors[r]`` is the old rank
    (physical device) that becomes new rank ``r`` (new devices get ids past the old ones)."""
    old_held = {r: holdings(r, old) for r in range(old.devices)}
    moves = []
    for new_rank in range(new.devices):
        device = (survivors[new_rank] if new_rank < len(survivors)
                  else old.devices + new_rank - len(survivors))
        mine = old_held.get(device, {})
        for key, need in holdings(new_rank, new).items():
            for piece in _minus(need, mine.get(key)):
                for part, src in _sources(piece, key, old_held, survivors, device,
                                          devices_per_node):
                    per_param = FP16 if key[1] == "weights" else OPTIMIZER_BYTES
                    size = float(part[1] - part[0]) * model.layers[key[0]].params * per_param
                    moves.append(Move(key[0], key[1], part, src, new_rank, size))
    return moves


def _sources(piece: Interval, key: tuple[int, str], old_held: dict, survivors: list[int],
             device: int, per_node: int) -> list[tuple[Interval, int | None]]:
    """Cover ``piece`` with slices of surviving devices (same node first); gaps: checkpoint."""
    alive = sorted(survivors, key=lambda r: (r // per_node != device // per_node, r))
    out, cursor = [], piece[0]
    while cursor < piece[1]:
        best = None
        for r in alive:
            have = old_held[r].get(key)
            if have and have[0] <= cursor < have[1]:
                best = (r, min(have[1], piece[1]))
                break
        if best is None:
            nxt = min([h[0] for r in alive if (h := old_held[r].get(key)) and h[0] > cursor]
                      + [piece[1]])
            out.append(((cursor, nxt), None))
            cursor = nxt
        else:
            out.append(((cursor, best[1]), best[0]))
            cursor = best[1]
    return out


@dataclass(frozen=True)
class Replan:
    """The new plan after a change of devices, the moves, and what they cost."""

    plan: Plan
    moves: list[Move]
    moved_bytes: float
    checkpoint_bytes: float
    seconds: float


def replan(model: Model, cluster: Cluster, old: Strategy, survivors: list[int],
           new_cluster: Cluster, batch: int) -> Replan:
    """Re-plan on ``new_cluster`` (after failures or joins) and list the resharding moves."""
    if len(set(survivors)) != len(survivors) or any(not 0 <= r < old.devices for r in survivors):
        raise ValueError(f"survivors must be distinct old ranks in [0, {old.devices}), "
                         f"got {survivors}")
    start = time.perf_counter()
    new = plan(model, new_cluster, batch)
    moves = resharding_moves(model, old, new.strategy, survivors, cluster.devices_per_node)
    return Replan(new, moves, sum(m.bytes for m in moves if m.src is not None),
                  sum(m.bytes for m in moves if m.src is None), time.perf_counter() - start)
