"""Planners: store-all, Chen's sqrt(n) segments and his budgeted greedy, the exact recompute-only
optimum (DP on chains, MILP for any graph, as Checkmate) and the kit's adaptive planner over
keep / recompute / swap (chapter 02, section "Method: planners").

All planners share the segment model of :mod:`kit.memory.simulate`: the peak while segment
(i, j] is backpropagated is ``held(i) + segment_bytes(i, j) + segment_workspace(i, j)``, where
``held(i)`` counts the input and every tensor stored at a cut at or before ``i``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from kit.memory.graph import Graph, unit_bytes
from kit.memory.simulate import Hardware, Plan, Simulation, simulate

PLANNERS = ("store_all", "sqrt_n", "chen", "optimal_dp", "optimal_milp", "kit")


def smallest_peak_bound(graph: Graph) -> int:
    """No plan can peak below the input plus the largest node's inputs, output and work."""
    return graph.input_bytes + max(graph.segment_workspace(m - 1, m)
                                   for m in range(1, graph.n + 1))


def smallest_feasible_peak(graph: Graph) -> float:
    """The smallest budget a one-level plan meets (bisection on the DP, to 0.5 %)."""
    low = float(smallest_peak_bound(graph))
    high = float(peak_estimate(graph, store_all(graph)))
    while high - low > 0.005 * high:
        mid = (low + high) / 2
        if _dp(graph, mid, None, False) is None:
            low = mid
        else:
            high = mid
    return high


def check_budget(graph: Graph, budget: float) -> None:
    """Refuse budgets that no plan can meet, naming what the largest activation needs."""
    if not budget > 0:
        raise ValueError(f"budget must be > 0 bytes, got {budget}")
    need = smallest_peak_bound(graph)
    if budget < need:
        raise ValueError(f"budget {budget / 2**20:.1f} MiB is infeasible: the largest single "
                         f"activation needs {need / 2**20:.1f} MiB (its inputs, output and "
                         f"workspace plus the network input)")


def store_all(graph: Graph) -> Plan:
    """Baseline: keep every activation (one segment, nothing recomputed)."""
    return Plan((), frozenset(), "store_all")


def sqrt_n(graph: Graph) -> Plan:
    """Chen et al. 2016: a cut every round(sqrt(n)) nodes, whatever their sizes."""
    step = max(1, round(math.sqrt(graph.n)))
    return Plan(tuple(range(step, graph.n, step)), frozenset(), "sqrt_n")


def peak_estimate(graph: Graph, plan: Plan) -> int:
    """The segment model's peak of a recompute-only plan (equals the simulator on chains)."""
    seg_t, ws_t = graph.tables
    held = graph.input_bytes
    stored: set[int] = {0}
    peak = 0
    for i, j in plan.segments(graph.n):
        if i:
            new = set(graph.frontier(i)) - stored
            held += sum(graph.bytes_of(t) for t in new)
            stored |= new
        peak = max(peak, held + int(seg_t[i, j] + ws_t[i, j]))
    return peak


def recompute_flops(graph: Graph, plan: Plan) -> float:
    """FLOPs a plan recomputes."""
    table = graph.recompute_table(np.array([node.flops for node in graph.nodes]))
    return float(sum(table[i, j] for i, j in plan.segments(graph.n)))


def node_cost(graph: Graph, hw: Hardware | None) -> np.ndarray:
    """Per-node recompute cost: seconds on ``hw``, or FLOPs when ``hw`` is None."""
    if hw is None:
        return np.array([node.flops for node in graph.nodes])
    return hw.node_seconds(graph)


def chen_greedy(graph: Graph, budget: float, grid: int = 64) -> Plan:
    """Chen et al. 2016, Algorithm 2: cut whenever the bytes since the last cut exceed a
    threshold ``b``; ``b`` is searched on a grid and the cheapest plan within ``budget`` kept
    (the smallest-peak plan when none fits)."""
    acts = [graph.bytes_of(m) for m in range(1, graph.n + 1)]
    best, best_key = None, None
    for b in np.linspace(min(acts), sum(acts), grid):
        cuts, run = [], 0
        for m in range(1, graph.n):
            run += acts[m - 1]
            if run > b:
                cuts.append(m)
                run = 0
        plan = Plan(tuple(cuts), frozenset(), "chen")
        peak = peak_estimate(graph, plan)
        key = (peak > budget, recompute_flops(graph, plan) if peak <= budget else peak)
        if best_key is None or key < best_key:
            best, best_key = plan, key
    assert best is not None
    return best


def _dp(graph: Graph, budget: float, hw: Hardware | None, allow_swap: bool) -> Plan | None:
    """Exact DP over cuts for chains (recompute-only), extended with a swap choice per cut.

    State: the last cut ``j``, whether it is swapped, the bytes of the cut before it if that
    one is swapped (it is being prefetched during the segment after ``j``) and, vectorised,
    the device bytes held by kept cuts (in units of the gcd of all sizes). Cost: modelled
    seconds (recompute plus the transfer time not hidden behind compute); FLOPs when
    ``hw`` is None. Swap costs are a local estimate; :func:`kit_plan` checks the result with
    the simulator."""
    n = graph.n
    sizes = [graph.bytes_of(m) for m in range(1, n + 1)]
    unit = unit_bytes(sizes)
    total = sum(sizes) // unit
    if total > 400_000:
        raise ValueError(f"graph {graph.name!r} needs {total} memory units; coarsen its sizes")
    cost_n = node_cost(graph, hw)
    prefix = np.concatenate([[0.0], np.cumsum(cost_n)])
    bwd_factor = hw.backward_factor if hw is not None else 2.0
    swap_ok = allow_swap and hw is not None and hw.host_bandwidth > 0

    def xfer(nbytes: int) -> float:
        return nbytes / hw.host_bandwidth  # type: ignore[union-attr]

    inf = math.inf
    seg_t, ws_t = graph.tables
    rec_t = graph.recompute_table(cost_n)
    keys: list[tuple[int, bool, int]] = [(0, False, 0)]
    index = {keys[0]: 0}
    cost0 = np.full(total + 1, inf)
    cost0[0] = 0.0
    costs = [cost0]
    parent_key = [np.full(total + 1, -1, dtype=np.int64)]
    parent_p = [np.full(total + 1, -1, dtype=np.int64)]
    by_cut: dict[int, list[int]] = {0: [0]}
    best_cost, best_end = inf, None
    for j in range(n):
        for kid in by_cut.get(j, []):
            _, sj, prev = keys[kid]
            cost = costs[kid]
            reach = np.flatnonzero(np.isfinite(cost))
            if reach.size == 0:
                continue
            for k in range(j + 1, n + 1):
                if graph.input_bytes + seg_t[j, k] > budget:
                    break
                extra = (graph.input_bytes + seg_t[j, k] + ws_t[j, k]
                         + (sizes[j - 1] if sj else 0) + prev)
                cap = math.floor((budget - extra) / unit)
                ok = reach[reach <= cap]
                if ok.size == 0:
                    continue
                rec = rec_t[j, k]
                fwd = float(prefix[k] - prefix[j])
                add = rec
                if sj:  # j's swap-out overlaps this segment's forward
                    t = xfer(sizes[j - 1])
                    add += max(0.0, t - fwd) if hw.overlap else 2 * t  # type: ignore[union-attr]
                if prev and hw is not None and hw.overlap:  # prefetch of the cut before j
                    add += max(0.0, xfer(prev) - rec - bwd_factor * fwd)
                if k == n:
                    if sj and hw is not None and hw.overlap:
                        add += xfer(sizes[j - 1])  # nothing left to hide its prefetch behind
                    vals = cost[ok] + add
                    idx = int(np.argmin(vals))
                    if vals[idx] < best_cost:
                        best_cost, best_end = float(vals[idx]), (kid, int(ok[idx]))
                    continue
                vals = cost[ok] + add
                for sk in ((False, True) if swap_ok else (False,)):
                    shift = 0 if sk else sizes[k - 1] // unit
                    nkey = (k, sk, sizes[j - 1] if sj else 0)
                    if nkey not in index:
                        index[nkey] = len(keys)
                        keys.append(nkey)
                        costs.append(np.full(total + 1, inf))
                        parent_key.append(np.full(total + 1, -1, dtype=np.int64))
                        parent_p.append(np.full(total + 1, -1, dtype=np.int64))
                        by_cut.setdefault(k, []).append(index[nkey])
                    nid = index[nkey]
                    q = ok + shift
                    better = vals < costs[nid][q]
                    costs[nid][q[better]] = vals[better]
                    parent_key[nid][q[better]] = kid
                    parent_p[nid][q[better]] = ok[better]
    if best_end is None:
        return None
    cuts, swapped = [], set()
    kid, p = best_end
    while keys[kid][0] != 0:
        cut, sk, _ = keys[kid]
        cuts.append(cut)
        if sk:
            swapped.add(cut)
        kid, p = int(parent_key[kid][p]), int(parent_p[kid][p])
    return Plan(tuple(sorted(cuts)), frozenset(swapped), "")


def optimal_dp(graph: Graph, budget: float, hw: Hardware | None = None) -> Plan:
    """Exact recompute-only optimum on a chain: minimum recompute time on ``hw`` (FLOPs when
    None) within ``budget``."""
    if not graph.is_chain:
        raise ValueError(f"optimal_dp needs a chain graph; {graph.name!r} has skip connections "
                         f"(use optimal_milp)")
    check_budget(graph, budget)
    plan = _dp(graph, budget, hw, False)
    if plan is None:
        raise ValueError(f"budget {budget / 2**20:.1f} MiB is infeasible for {graph.name!r}")
    return Plan(plan.cuts, frozenset(), "optimal_dp")


def optimal_milp(graph: Graph, budget: float, hw: Hardware | None = None,
                 time_limit: float = 120.0) -> Plan:
    """Exact recompute-only optimum on any graph as a mixed-integer program (Checkmate-style,
    solved with HiGHS through ``scipy.optimize.milp``).

    Variables: ``y[i, j]`` = 1 when (i, j] is a segment (a path from 0 to n through the cuts)
    and ``h[i, t]`` >= 1 when tensor ``t`` is held while segments after cut ``i`` run.
    Memory: ``sum_t bytes_t h[i, t] + sum_j (segment + workspace)(i, j) y[i, j] <= budget``
    whenever ``i`` is a cut (big-M relaxed otherwise)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    check_budget(graph, budget)
    n = graph.n
    seg_t, ws_t = graph.tables
    weights = node_cost(graph, hw)
    rec_t = graph.recompute_table(weights)
    fits = graph.input_bytes + seg_t + ws_t <= budget  # segments that can ever run
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n + 1) if fits[i, j]]
    y_of = {p: k for k, p in enumerate(pairs)}
    fronts = {c: graph.frontier(c) for c in range(1, n)}
    homes: dict[int, list[int]] = {}
    for c, front in fronts.items():
        for t in front:
            homes.setdefault(t, []).append(c)
    shared = sorted(t for t, cs in homes.items() if len(cs) > 1)  # need their own h variables
    h_of = {(i, t): len(pairs) + a * len(shared) + b for a, i in enumerate(range(n))
            for b, t in enumerate(shared)}
    nvar = len(pairs) + n * len(shared)
    cost = np.zeros(nvar)
    upper = np.ones(nvar)
    for (i, j), k in y_of.items():
        cost[k] = rec_t[i, j]
    rows: list[tuple[dict[int, float], float, float]] = []

    def out_of(i: int) -> dict[int, float]:
        return {y_of[(i, j)]: 1.0 for j in range(i + 1, n + 1) if (i, j) in y_of}

    rows.append((out_of(0), 1.0, 1.0))
    for k in range(1, n):
        row = out_of(k)
        for i in range(k):
            if (i, k) in y_of:
                row[y_of[(i, k)]] = -1.0
        rows.append((row, 0.0, 0.0))
    room = budget - graph.input_bytes
    for i in range(1, n):
        mem: dict[int, float] = {}
        held_max = 0.0
        for t, cs in homes.items():
            if len(cs) == 1 and cs[0] <= i:  # held iff its only cut is taken
                for key in out_of(cs[0]):
                    mem[key] = mem.get(key, 0.0) + graph.bytes_of(t)
                held_max += graph.bytes_of(t)
            elif len(cs) > 1 and min(cs) <= i:
                mem[h_of[(i, t)]] = float(graph.bytes_of(t))
                held_max += graph.bytes_of(t)
                for c in cs:
                    if c <= i:  # h[i, t] >= cut c
                        row = {h_of[(i, t)]: 1.0}
                        for key, val in out_of(c).items():
                            row[key] = row.get(key, 0.0) - val
                        rows.append((row, 0.0, np.inf))
        outs = out_of(i)
        if not outs:
            continue
        # the tightest big-M that relaxes the row when i is not a cut
        big = max(0.0, held_max + max(float(seg_t[pairs[k]] + ws_t[pairs[k]]) for k in outs)
                  - room)
        for key in outs:
            mem[key] = mem.get(key, 0.0) + float(seg_t[pairs[key]] + ws_t[pairs[key]]) + big
        rows.append((mem, -np.inf, room + big))
    a = lil_matrix((len(rows), nvar))
    lo, hi = np.empty(len(rows)), np.empty(len(rows))
    for r, (row, low, high) in enumerate(rows):
        for key, val in row.items():
            a[r, key] = val
        lo[r], hi[r] = low, high
    integrality = np.zeros(nvar)
    integrality[:len(pairs)] = 1
    with _quiet_stdout():  # HiGHS prints progress lines on the C-level stdout
        res = milp(cost / max(float(weights.sum()), 1e-30),
                   constraints=LinearConstraint(a.tocsr(), lo, hi),
                   integrality=integrality, bounds=Bounds(np.zeros(nvar), upper),
                   options={"time_limit": time_limit, "mip_rel_gap": 1e-7})
    if res.x is None:
        raise ValueError(f"budget {budget / 2**20:.1f} MiB is infeasible for {graph.name!r} "
                         f"(MILP status: {res.message})")
    y = res.x[:len(pairs)]
    cuts = tuple(sorted(i for (i, j), k in y_of.items() if y[k] > 0.5 and i > 0))
    return Plan(cuts, frozenset(), "optimal_milp")


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (C libraries print there, past ``sys.stdout``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def kit_plan(graph: Graph, budget: float, hw: Hardware, allow_swap: bool = True) -> Plan:
    """The kit's adaptive planner: per cut keep or swap, per activation keep or recompute,
    minimising modelled step time for ``hw`` within ``budget``. The DP's plan is checked with
    the simulator; if its swaps overrun the budget it is re-planned with a little headroom, and
    the recompute-only optimum is kept whenever it is as fast."""
    check_budget(graph, budget)
    if not graph.is_chain:  # skip connections: the exact MILP, recompute only
        return Plan(optimal_milp(graph, budget, hw).cuts, frozenset(), "kit")
    base = _dp(graph, budget, hw, False)
    if base is None:
        raise ValueError(f"budget {budget / 2**20:.1f} MiB is infeasible for {graph.name!r}: "
                         f"the smallest peak of any plan is "
                         f"{smallest_feasible_peak(graph) / 2**20:.1f} MiB (the largest single "
                         f"activation needs {smallest_peak_bound(graph) / 2**20:.1f} MiB)")
    best = Plan(base.cuts, frozenset(), "kit")
    if not (allow_swap and hw.host_bandwidth > 0):
        return best
    best_sim = simulate(graph, best, hw)
    for shrink in (1.0, 0.97, 0.93, 0.88):
        cand = _dp(graph, budget * shrink, hw, True)
        if cand is None:
            break
        cand = Plan(cand.cuts, cand.swapped, "kit")
        sim = simulate(graph, cand, hw)
        if sim.peak_bytes <= budget:
            if sim.step_seconds < best_sim.step_seconds:
                best, best_sim = cand, sim
            break
    return best


@dataclass(frozen=True)
class Planned:
    """A plan with its simulation and planning time."""

    plan: Plan
    sim: Simulation
    seconds: float


def make_plan(graph: Graph, planner: str, budget: float | None, hw: Hardware,
              allow_swap: bool = True) -> Planned:
    """Run one planner by name and simulate its plan (section "Experiments")."""
    if planner not in PLANNERS:
        raise ValueError(f"planner must be one of {', '.join(map(repr, PLANNERS))}, "
                         f"got {planner!r}")
    if planner not in ("store_all", "sqrt_n") and budget is None:
        raise ValueError(f"planner {planner!r} needs a budget in bytes, got None")
    t0 = time.perf_counter()
    if planner == "store_all":
        plan = store_all(graph)
    elif planner == "sqrt_n":
        plan = sqrt_n(graph)
    elif planner == "chen":
        check_budget(graph, budget)
        plan = chen_greedy(graph, budget)
    elif planner == "optimal_dp":
        plan = optimal_dp(graph, budget, hw)
    elif planner == "optimal_milp":
        plan = optimal_milp(graph, budget, hw)
    else:
        plan = kit_plan(graph, budget, hw, allow_swap)
    seconds = time.perf_counter() - t0
    return Planned(plan, simulate(graph, plan, hw), seconds)


def max_batch(graph: Graph, budget: float, hw: Hardware, with_plan: bool,
              limit: float = 16.0, step: float = 0.25) -> float:
    """Section "Batch size": the largest batch, as a multiple of the graph's (in steps of
    ``step``), whose store-all peak (``with_plan=False``) or kit recompute-only plan fits
    ``budget``; 0 when not even ``step`` fits."""
    def fits(factor: float) -> bool:
        g = graph.scaled(factor)
        if not with_plan:
            return simulate(g, store_all(g), hw).peak_bytes <= budget
        try:
            kit_plan(g, budget, hw, allow_swap=False)
        except ValueError:
            return False
        return True

    best = 0.0
    for k in range(1, int(round(limit / step)) + 1):
        if not fits(k * step):
            break
        best = k * step
    return best
