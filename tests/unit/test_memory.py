"""kit.memory (chapter 02): the simulator against hand-computed schedules, the planners against
brute force on small graphs, clear errors, and the real MindSpore segment-wise executor."""

import itertools
import math

import numpy as np
import pytest

from kit.memory import chapter, execute
from kit.memory import graph as graphs
from kit.memory import plan as planners
from kit.memory.graph import Graph, Node
from kit.memory.simulate import HARDWARE, Hardware, Plan, decisions, simulate

# speed 1 FLOP/s, no roofline: step times are sums of FLOPs
UNIT = Hardware("unit", 1.0, 100.0, True, 2.0)
TINY = graphs.chain("tiny", [1, 2, 3], [100, 200, 50], 10)


def test_store_all_by_hand():
    sim = simulate(TINY, Plan(), UNIT)
    # everything kept: input 10 + 100 + 200 + 50, workspace max(10+100, 100+200, 200+50) = 300
    assert sim.peak_bytes == 10 + 100 + 200 + 50 + 300
    assert sim.step_seconds == pytest.approx(6 + 2 * 6)
    assert sim.overhead() == pytest.approx(0.0)
    assert sim.recompute_seconds == 0 and sim.stall_seconds == 0


def test_one_cut_by_hand():
    sim = simulate(TINY, Plan((2,)), UNIT)
    # segment (2, 3]: input + stored a2 + a3 + workspace 250; segment (0, 2]: 10 + a1 + 300
    assert sim.peak_bytes == max(10 + 200 + 50 + 250, 10 + 100 + 300) == 510
    # op 1 is recomputed once (1 s) before segment (0, 2]'s backward
    assert sim.step_seconds == pytest.approx(6 + 2 * 3 + 1 + 2 * 3)
    assert sim.recompute_seconds == pytest.approx(1.0)
    assert planners.peak_estimate(TINY, Plan((2,))) == 510
    levels = dict(sim.timeline)
    assert levels[0.0] == 10 + 100  # input and a1 while op 1 runs
    assert levels[12.0] == 10 + 100  # a1 recomputed, a2 and a3 freed
    assert decisions(TINY, Plan((2,))) == ["recompute", "keep", "keep"]


def test_swap_by_hand_overlapped_and_serialised():
    plan = Plan((2,), frozenset({2}))
    sim = simulate(TINY, plan, UNIT)
    # a2 leaves at t=3 for 2 s; it is prefetched at t=6 (end of forward) and arrives at 8
    assert sim.step_seconds == pytest.approx(8 + 6 + 1 + 6)
    assert sim.stall_seconds == pytest.approx(2.0)
    assert sim.transfer_bytes == 400
    assert sim.peak_bytes == 510
    serial = simulate(TINY, plan, Hardware("serial", 1.0, 100.0, False, 2.0))
    # transfers block compute: +2 s after op 2 and +2 s before the backward
    assert serial.step_seconds == pytest.approx(6 + 2 + 2 + 6 + 1 + 6)
    assert serial.stall_seconds == pytest.approx(4.0)
    assert decisions(TINY, plan) == ["recompute", "swap", "keep"]


def test_roofline_node_seconds():
    hw = Hardware("roof", 10.0, 0.0, True, 2.0, memory_bandwidth=100.0)
    # op 1 moves 110 bytes (1.1 s) > 1 FLOP / 10 FLOP/s; op 3 moves 250 bytes (2.5 s)
    assert list(hw.node_seconds(TINY)) == pytest.approx([1.1, 3.0, 2.5])


def _chains(count=6, n=7, seed=3):
    rng = np.random.default_rng(seed)
    for k in range(count):
        yield graphs.chain(f"random {k}", list(rng.integers(1, 50, n).astype(float)),
                           list(int(v) * 8 for v in rng.integers(1, 20, n)), 8,
                           list(int(v) * 8 for v in rng.integers(0, 5, n)))


def _brute_force(graph: Graph, budget: float, hw=None):
    """Minimum recompute cost over every set of cuts, by the simulator's peak."""
    cost = planners.node_cost(graph, hw)
    table = graph.recompute_table(cost)
    best = math.inf
    for r in range(graph.n):
        for cuts in itertools.combinations(range(1, graph.n), r):
            plan = Plan(cuts)
            if simulate(graph, plan, UNIT).peak_bytes <= budget:
                best = min(best, sum(table[i, j] for i, j in plan.segments(graph.n)))
    return best


def _rec_cost(graph, plan, hw=None):
    table = graph.recompute_table(planners.node_cost(graph, hw))
    return sum(table[i, j] for i, j in plan.segments(graph.n))


def test_simulator_peak_equals_segment_model_on_chains():
    for graph in _chains(3):
        for r in range(graph.n):
            for cuts in itertools.combinations(range(1, graph.n), r):
                plan = Plan(cuts)
                assert simulate(graph, plan, UNIT).peak_bytes == planners.peak_estimate(graph, plan)


def test_dp_and_milp_match_brute_force_on_small_chains():
    for graph in _chains():
        full = simulate(graph, Plan(), UNIT).peak_bytes
        for fraction in (0.45, 0.6, 0.8):
            budget = fraction * full
            best = _brute_force(graph, budget)
            if math.isinf(best):
                with pytest.raises(ValueError, match="infeasible"):
                    planners.optimal_dp(graph, budget)
                continue
            dp = planners.optimal_dp(graph, budget)
            milp = planners.optimal_milp(graph, budget)
            assert _rec_cost(graph, dp) == pytest.approx(best)
            assert _rec_cost(graph, milp) == pytest.approx(best)
            assert simulate(graph, dp, UNIT).peak_bytes <= budget
            assert simulate(graph, milp, UNIT).peak_bytes <= budget


def _skip_graph() -> Graph:
    """Op 5 reads op 1's output too (a skip connection crossing cuts 1..4)."""
    sizes = [40, 80, 16, 80, 24, 8]
    flops = [5.0, 1.0, 9.0, 1.0, 7.0, 2.0]
    nodes = [Node(f"op{k + 1}", flops[k], sizes[k], (k,)) for k in range(6)]
    nodes[4] = Node("op5", flops[4], sizes[4], (4, 1))
    return Graph("skip", 8, tuple(nodes))


def test_frontier_with_a_skip_connection():
    g = _skip_graph()
    assert not g.is_chain
    assert g.frontier(2) == (1, 2)
    assert g.frontier(5) == (5,)
    with pytest.raises(ValueError, match="optimal_dp needs a chain"):
        planners.optimal_dp(g, 1e9)


def test_milp_matches_brute_force_with_a_skip_connection():
    g = _skip_graph()
    peaks = {simulate(g, Plan(cuts), UNIT).peak_bytes for r in range(g.n)
             for cuts in itertools.combinations(range(1, g.n), r)}
    assert len(peaks) >= 4
    for budget in sorted(peaks):
        best = _brute_force(g, budget)
        assert not math.isinf(best)
        milp = planners.optimal_milp(g, budget)
        assert _rec_cost(g, milp) == pytest.approx(best)
        assert simulate(g, milp, UNIT).peak_bytes <= budget
        kit = planners.kit_plan(g, budget, UNIT)
        assert _rec_cost(g, kit) == pytest.approx(best)


def test_kit_with_swap_against_brute_force():
    fast = Hardware("fast", 1.0, 20.0, True, 2.0)
    for graph in _chains(4, n=6, seed=11):
        budget = 0.5 * simulate(graph, Plan(), fast).peak_bytes
        best = math.inf
        for r in range(graph.n):
            for cuts in itertools.combinations(range(1, graph.n), r):
                for mask in itertools.product((False, True), repeat=len(cuts)):
                    plan = Plan(cuts, frozenset(c for c, s in zip(cuts, mask, strict=True) if s))
                    sim = simulate(graph, plan, fast)
                    if sim.peak_bytes <= budget:
                        best = min(best, sim.step_seconds)
        try:
            kit = planners.kit_plan(graph, budget, fast)
        except ValueError:
            continue
        sim = simulate(graph, kit, fast)
        recompute_only = simulate(graph, planners.kit_plan(graph, budget, fast, False), fast)
        assert sim.peak_bytes <= budget
        assert sim.step_seconds <= recompute_only.step_seconds + 1e-12
        assert sim.step_seconds <= 1.10 * best


def test_swapping_is_refused_where_it_cannot_pay():
    chain = graphs.mixed_chain(16, 256)
    slow = HARDWARE[chapter.SWAP_LOSES_HW]
    budget = 0.5 * chapter.store_all_peak(chain, slow)
    assert planners.kit_plan(chain, budget, slow).swapped == frozenset()


def test_mixed_chain_claims_hold_on_a_small_chain():
    chain = graphs.mixed_chain(32, 512)
    hw = HARDWARE[chapter.REFERENCE_HW]
    budget = 0.35 * chapter.store_all_peak(chain, hw)
    kit = planners.make_plan(chain, "kit", budget, hw, allow_swap=False)
    milp = planners.make_plan(chain, "optimal_milp", budget, hw)
    root = planners.make_plan(chain, "sqrt_n", None, hw)
    assert kit.sim.overhead() <= 1.05 * milp.sim.overhead()
    assert kit.sim.overhead() <= 0.8 * root.sim.overhead()
    without, with_plan = chapter.max_batch_gain(chain, hw, limit=4.0)
    assert without == 1.0 and with_plan >= 2.0


def test_scaled_graph_scales_bytes_and_flops():
    g = TINY.scaled(2.0)
    assert [n.out_bytes for n in g.nodes] == [200, 400, 100]
    assert g.forward_flops == 12.0
    with pytest.raises(ValueError, match="factor must be > 0, got 0"):
        TINY.scaled(0)


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="infeasible: the largest single activation needs"):
        planners.kit_plan(TINY, 100, UNIT)
    with pytest.raises(ValueError, match="budget must be > 0 bytes, got -1"):
        planners.optimal_dp(TINY, -1)
    with pytest.raises(ValueError, match="host_bandwidth must be >= 0"):
        Hardware("bad", 1.0, -5.0)
    with pytest.raises(ValueError, match="bandwidth must be >= 0 GB/s, got -1"):
        UNIT.with_bandwidth(-1)
    with pytest.raises(ValueError, match="planner must be one of 'store_all'.*got 'magic'"):
        planners.make_plan(TINY, "magic", 1e6, UNIT)
    with pytest.raises(ValueError, match="needs a budget"):
        planners.make_plan(TINY, "kit", None, UNIT)
    with pytest.raises(ValueError, match="plan cuts must be increasing"):
        simulate(TINY, Plan((2, 1)), UNIT)
    with pytest.raises(ValueError, match="only stored tensors"):
        simulate(TINY, Plan((1,), frozenset({2})), UNIT)
    with pytest.raises(ValueError, match="has no host link"):
        simulate(TINY, Plan((1,), frozenset({1})), Hardware("none", 1.0, 0.0))
    with pytest.raises(ValueError, match="flops must be > 0"):
        graphs.chain("bad", [0.0], [8], 8)
    with pytest.raises(ValueError, match="inputs must be earlier tensors"):
        Graph("bad", 8, (Node("a", 1.0, 8, (1,)),))
    chain = graphs.mixed_chain(16, 256)
    with pytest.raises(ValueError, match="the smallest peak of any plan is"):
        planners.kit_plan(chain, 0.3 * chapter.store_all_peak(chain, UNIT), UNIT)
    with pytest.raises(ValueError, match="layers must be a multiple of 4"):
        graphs.mixed_chain(30)


def test_explore_draws_a_plan_or_says_why_not():
    chain = graphs.mixed_chain(16, 256)
    fig = chapter.explore(chain, 0.5, 50.0, True)
    assert hasattr(fig, "savefig")
    message = chapter.explore(chain, 0.05, 50.0, True)
    assert "infeasible: the largest single activation needs" in message


@pytest.mark.slow
def test_profile_reads_real_shapes():
    g = execute.profile([32, 16], 100)
    assert [n.out_bytes for n in g.nodes] == [100 * 32 * 4, 100 * 16 * 4, 100 * 10 * 4]
    assert g.nodes[0].flops == 2.0 * 100 * 64 * 32 + 2.0 * 100 * 32
    assert g.input_bytes == 100 * 64 * 4 and g.is_chain
    seconds = execute.forward_seconds([32, 16], 100, repeats=1)
    assert len(seconds) == 3 and min(seconds) > 0
    cpu = chapter.cpu_profile(g, seconds)
    assert cpu.flops_per_s == pytest.approx(g.forward_flops / sum(seconds))
    assert cpu.host_bandwidth == 0


@pytest.mark.slow
def test_executor_gradients_match_store_all_and_memory_is_predicted():
    widths, batch = [256, 512] * 4, 2048
    graph = execute.profile(widths, batch)
    plan = planners.kit_plan(graph, 0.7 * chapter.store_all_peak(graph, chapter.THIS_CPU),
                             chapter.THIS_CPU, allow_swap=False)
    assert plan.cuts
    full = execute.measure(widths, batch, (), steps=1)
    cut = execute.measure(widths, batch, plan.cuts, steps=1)
    for a, b in zip(full.grads, cut.grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for m, p in ((full, Plan()), (cut, plan)):
        sim = simulate(graph, p, chapter.THIS_CPU, redo_cut_node=True)
        predicted = execute.predicted_peak_mb(graph, sim.peak_bytes, m)
        assert abs(predicted - m.peak_mb) / m.peak_mb < 0.15
    assert cut.growth_mb < full.growth_mb
