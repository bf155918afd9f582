"""Chapter 06's claims, asserted on a smoke run's results.json (thresholds from issue #8)."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics(smoke):
    return smoke("06")["metrics"]


@pytest.fixture(scope="module")
def spreads(smoke):
    return smoke("06")["spread"]


def test_mpc_matches_plaintext(metrics):
    assert metrics["mpc_argmax_agreement"] >= 0.99
    assert abs(metrics["mpc_accuracy"] - metrics["plaintext_accuracy"]) <= 0.005
    assert metrics["mpc_relu_argmax_agreement"] >= 0.99
    assert metrics["mpc_bytes_per_inference"] > 0
    # linear, square, linear (1 round each) + a 4-level argmax tournament of 9 rounds each
    assert metrics["mpc_rounds_per_inference"] == 3 + 4 * 9
    assert metrics["mpc_ms_per_inference"] > 0
    # exact ReLU by comparison costs more bytes than the trained polynomial
    assert metrics["mpc_poly_vs_relu_bytes_ratio"] > 1.5


def test_ckks_packed_is_accurate_and_fast(metrics, spreads):
    assert metrics["ckks_argmax_agreement"] >= 0.99
    assert abs(metrics["ckks_accuracy"] - metrics["plaintext_accuracy"]) <= 0.005
    assert metrics["ckks_per_sample_agreement"] >= 0.99
    # Issue #8's claim (>= 100), on the median of interleaved rounds with one TenSEAL thread
    # per side (issue #21): smoke 138 [131, 160] on a loaded machine. Before, the per-sample
    # side had TenSEAL's two matmul threads against the packed side's one, so the ratio moved
    # with the load on the second core (89.7 quiet, 162-230 busy). The ms/sample target
    # (<= 30) is a wall-clock figure: reported in the notebook, not asserted.
    assert metrics["ckks_packed_speedup"] >= 100
    assert spreads["ckks_packed_speedup"]["n"] >= 3
    assert spreads["ckks_packed_speedup"]["source"] == "timing rounds"


def test_compiler_picks_working_parameters(metrics):
    assert metrics["auto_params_models_total"] >= 5
    assert metrics["auto_params_models_ok"] == metrics["auto_params_models_total"]
    assert "scale out of bounds" in metrics["tenseal_readme_params_depth3"]
    assert metrics["fold_max_abs_error"] < 1e-3


def test_security_checks(metrics):
    assert metrics["plaintext_in_party_view"] is False
    assert metrics["independence_ks_pvalue"] > 1e-3
    assert metrics["independence_chi2_pvalue"] > 1e-3
    tested = metrics["independence_positions_tested"]
    assert metrics["independence_positions_rejected"] <= tested // 20
    assert metrics["truncation_max_error_ulps"] <= 1.0 + 1e-9


def test_tee_costs_against_plaintext_and_mpc(metrics, spreads):
    # smoke: the sealed TEE is 3.4x plaintext per single query and 7.6x [2.9, 14.7] on a sealed
    # batch; per single query MPC costs 298x [140, 334] the TEE (39 rounds even on loopback),
    # amortised over the batch 8.8x [8.2, 14.5]. The notebook's prose is written from these.
    assert metrics["mpc_vs_tee_query"] >= 10
    assert metrics["mpc_vs_tee_batch"] > 1
    assert metrics["tee_query_overhead_vs_plaintext"] < 20
    assert metrics["tee_ms_per_inference"] < metrics["ckks_ms_per_sample_packed"]
    for name in ("mpc_vs_tee_query", "mpc_vs_tee_batch", "tee_overhead_vs_plaintext",
                 "tee_query_overhead_vs_plaintext"):
        assert spreads[name]["n"] >= 3
