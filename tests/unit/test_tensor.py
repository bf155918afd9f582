"""kit.tensor (chapter 07): IR passes preserve results, bucketing is optimal against brute
force, HVPs match finite differences, blocks agree across MindSpore and numpy, clear errors."""

import itertools
import random

import numpy as np
import pytest

from kit.tensor import blocks, chapter, hod, ir, msir
from kit.tensor import shapes as dyn


def test_ir_passes_shrink_the_graph_and_preserve_results():
    traced = ir.trace(ir.layernorm_gelu, 3)
    optimised, counts = ir.optimise(traced)
    assert counts["traced"] == 20 and counts["after CSE"] < counts["traced"]
    assert counts["after constant folding"] < counts["after CSE"]
    assert counts["kernels after fusion"] < counts["after constant folding"]
    args = blocks.inputs("layernorm_gelu", (16, 32), 3)
    ref = blocks.np_block("layernorm_gelu")(*args)
    for graph in (traced, ir.cse(traced), ir.fold_constants(traced), optimised):
        np.testing.assert_allclose(ir.evaluate(graph, args), ref, rtol=1e-5, atol=1e-6)


def test_cse_merges_duplicates_and_folding_computes_constants():
    def f(k, x):
        c = k.sqrt(k.const(4.0)) * 3.0  # folds to 6
        return (x + c) * (x + c)

    g = ir.trace(f, 1)
    assert g.op_count == 5
    folded = ir.cse(ir.fold_constants(g))
    assert folded.op_count == 2 and folded.op_counts() == {"add": 1, "mul": 1}
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_allclose(ir.evaluate(folded, [x]), (x + 6) ** 2)


def test_fusion_groups_cover_every_op_once():
    graph = ir.optimise(ir.trace(ir.layernorm_gelu, 3))[0]
    groups = ir.fusion_groups(graph)
    members = sorted(i for g in groups for i in g)
    ops = [i for i, n in enumerate(graph.nodes) if n.op not in ("input", "const")]
    assert members == ops
    assert all(graph.nodes[g[0]].op == "mean" or len(g) >= 1 for g in groups)


def test_best_buckets_is_optimal_against_brute_force():
    rng = random.Random(1)
    for _ in range(60):
        lengths = sorted(rng.sample(range(4, 80), rng.randint(2, 7)))
        counts = [rng.randint(1, 50) for _ in lengths]
        k = rng.randint(1, len(lengths))
        got = dyn.padding_waste(lengths, counts, dyn.best_buckets(lengths, counts, k))
        best = min(dyn.padding_waste(lengths, counts, list(c) + [lengths[-1]])
                   for c in itertools.combinations(lengths[:-1], k - 1))
        assert got == pytest.approx(best)


def test_fewest_buckets_meets_the_waste_limit_with_the_smallest_count():
    lengths, counts = chapter.length_histogram(128, 256, 32, 0)
    k, bounds, waste = dyn.fewest_buckets(lengths, counts, 0.10)
    assert waste <= 0.10 and len(bounds) == k and bounds[-1] == 256
    if k > 1:
        worse = dyn.padding_waste(lengths, counts, dyn.best_buckets(lengths, counts, k - 1))
        assert worse > 0.10


@pytest.mark.parametrize(("call", "message"), [
    (lambda: dyn.best_buckets([1, 2], [1, 1], 3), r"buckets must be in \[1, 2\]"),
    (lambda: dyn.padding_waste([5, 9], [1, 1], [8]), "boundaries must cover the longest"),
    (lambda: dyn.fewest_buckets([1, 2], [1, 1], 1.5), r"max_waste must be in \[0, 1\)"),
    (lambda: blocks.inputs("conv", (2, 2)), "block must be one of layernorm_gelu"),
    (lambda: blocks.inputs("mlp", (0, 2)), "shape must be two positive sizes"),
    (lambda: blocks.time_mode("mlp", (2, 2), "eager"), "mode must be one of pynative"),
    (lambda: chapter.length_histogram(10, 5, 3, 0), "min_len must be < max_len"),
    (lambda: chapter.length_histogram(1, 4, 9, 0), "distinct_lengths must be <= 4"),
    (lambda: hod.hvp_check(1), "n must be >= 2"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("name", blocks.BLOCKS)
def test_mindspore_and_numpy_blocks_agree(name):
    import mindspore as ms

    args = blocks.inputs(name, (8, 16), 2)
    out = ms.jit(blocks.ms_block(name))(*[ms.Tensor(a) for a in args]).asnumpy()
    np.testing.assert_allclose(out, blocks.np_block(name)(*args), rtol=1e-4, atol=1e-5)


def test_hvp_matches_finite_differences_and_the_full_hessian():
    check = hod.hvp_check(16, 0, repeats=3)
    assert check["hvp_rel_error"] < 1e-5
    assert check["full_hessian_rel_error"] < 1e-5
    assert check["finite_difference_rel_error"] < 1e-4


def test_nested_derivatives_through_a_while_loop():
    out = hod.nested_loop_derivatives(0.3, steps=2, order=3)
    assert out["max_rel_error"] < 1e-4 and len(out["autodiff"]) == 3


@pytest.mark.slow
def test_mindspore_ir_op_table():
    counts = msir.mindspore_ir_ops("layernorm_gelu")
    assert counts["Tanh"] == 1 and counts["Sqrt"] == 1 and sum(counts.values()) >= 10
    text = "  %3(CNode_1) = PrimFunc_Add(%1, %2)\n  %4(CNode_2) = MakeTuple(%3)\n"
    assert msir.count_ops(text) == {"Add": 1}


@pytest.mark.slow
def test_explore_panel_shows_timings_and_the_ir_op_table():
    html = chapter.explore_modes("mlp", 16, 32)._repr_html_()
    assert html.count("<img") == 1 and "MindSpore IR op" in html and "MatMul" in html


def test_modes_are_interleaved_in_rounds_with_per_round_ratios():
    timed = blocks.time_modes("mlp", (8, 16), rounds=3, repeats=4)
    counts = [len(r) for r in timed.timed.seconds["jit"]]
    assert len(counts) == 3 and len(set(counts)) == 1 and counts[0] >= 1
    ratios = timed.speedups("pynative", "jit")
    assert len(ratios) == 3 and all(r > 0 for r in ratios)
    assert timed.ms("numpy") > 0
    assert blocks.timing_conditions()["launch"] == "blocking"
    with pytest.raises(ValueError, match="modes must be from pynative, jit, numpy, got 'eager'"):
        blocks.mode_calls("mlp", (2, 2), ("eager",))
    with pytest.raises(ValueError, match="block must be one of"):
        blocks.graph_kernel_times("conv", (2, 2), 1, 1)


def test_calls_per_round_shrinks_for_slow_calls():
    import time

    assert blocks.calls_per_round({"a": lambda: None}, 7) == 200
    assert blocks.calls_per_round({"a": lambda: None}, 300) == 300
    assert blocks.calls_per_round({"a": lambda: time.sleep(0.02)}, 50, budget_s=0.05) <= 2
