"""Chapter 07's claims, asserted on a smoke run (thresholds from issue #13 where built)."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics(smoke):
    return smoke("07")["metrics"]


@pytest.fixture(scope="module")
def spreads(smoke):
    return smoke("07")["spread"]


def test_graph_mode_pays_off(metrics, spreads):
    # Interleaved rounds, one thread per side, synchronous launch (issue #21). Issue #13 asked
    # >= 10 at (64, 256); measured under the same conditions for both sides it is far below (the
    # notebook says so: smoke runs at load average 9-11 read 0.9 [0.5, 1.6] and 2.0 [1.5, 2.3],
    # probes about 1.7), so the claim asserted is the one the notebook makes: the target does
    # not hold, and at the largest shape jit beats PyNative (smoke 2.6 [2.2, 3.7]).
    assert metrics["graph_vs_pynative_speedup_small"] < 10
    assert metrics["graph_vs_pynative_speedup_large"] > 1
    for name in ("graph_vs_pynative_speedup_small", "graph_vs_pynative_speedup_large",
                 "fusion_speedup", "jit_vs_numpy_large"):
        assert spreads[name]["n"] >= 3 and spreads[name]["source"] == "timing rounds"


def test_ir_passes_reduce_ops_and_preserve_results(metrics):
    assert metrics["kit_ir_ops_after"] < metrics["kit_ir_ops_before"]
    assert metrics["kit_ir_kernels_after_fusion"] < metrics["kit_ir_ops_after"]
    assert metrics["kit_ir_max_abs_diff"] < 1e-5


def test_bucketing_bounds_compilations(metrics):
    assert metrics["bucketing_recompiles"] <= 4
    assert metrics["padding_waste"] <= 0.10
    assert metrics["measured_compilations_bucketed"] < metrics["measured_compilations_unbucketed"]


def test_higher_order_derivatives_are_accurate_and_cheap(metrics):
    assert metrics["hvp_rel_error"] <= 1e-4
    # interleaved with the gradient; smoke 1.4-1.5, but 0.66 [0.25, 1.4] at load average 11
    assert metrics["hvp_cost_ratio"] <= 4
    assert metrics["loop_derivative_max_rel_error"] <= 1e-4


def test_the_kits_fused_kernel_beats_graph_mode(metrics, spreads):
    assert metrics["fused_kernel_max_abs_error"] < 1e-4
    # ms.jit of the block over the tuned kernel called as one operator; smoke 73 [55, 75]
    assert metrics["fused_kernel_vs_jit_large"] >= 2
    assert spreads["fused_kernel_vs_jit_large"]["min"] >= 1.5
    assert metrics["kit_matmul_max_abs_diff"] < 1e-3


def test_schedule_search_and_cost_model(metrics, spreads):
    # the headline baseline is ops.matmul at the same shape, timed on one thread each: quiet
    # smoke 0.51 [0.43, 0.52] (4.4x the naive nest), clean-clone make test 0.43-0.44 (an older
    # comment's 0.94, from before the one-thread timing, no longer reproduces). The floor
    # asserted is 0.25: it fails if the tuned kernel falls four times behind oneDNN's
    assert metrics["tuned_vs_ops_matmul"] > 0.25
    assert spreads["tuned_vs_ops_matmul"]["n"] >= 3
    assert metrics["autotune_speedup_vs_default"] >= 1.3  # vs the naive loop nest; smoke 15.7
    # Issue #13's target (0.8) is checked at book settings (64 trials); a smoke run trains the
    # model on 24 noisy trials, so only "clearly ranks better than chance" is asserted here.
    assert metrics["cost_model_spearman"] >= 0.5


def test_co_optimisation_pays_where_the_separate_pass_matters(metrics, spreads):
    assert metrics["coopt_best_gain"] > 1.0  # smoke: 1.05 [1.03, 1.06], 1.56 in another run
    assert spreads["coopt_best_gain"]["n"] >= 3
