"""Chapter 05's claims, asserted on a smoke run's results.json (thresholds from issue #7).

Smoke settings train for a few epochs on a shared CPU, so accuracy targets of the issue are
checked at book settings (see the notebook); here the claims that must hold at any size:
sound certificates, the ordering of guarantees, the accountant, privacy against inference,
the backdoor pipeline and the fairness mitigation.
"""

import pytest

pytestmark = pytest.mark.slow

# smoke: 1,000 MNIST training / 50 test images, 6 epochs; a standalone run at that size
# measured clean error 0.26 and CROWN verified error 0.54 (eps = 0.1)
SMOKE_MNIST_CLEAN_ERROR_MAX = 0.45
SMOKE_MNIST_CROWN_VERIFIED_ERROR_MAX = 0.8


@pytest.fixture(scope="module")
def record(smoke):
    return smoke("05")


@pytest.fixture(scope="module")
def metrics(record):
    return record["metrics"]


def test_every_certificate_survives_attack(metrics):
    assert metrics["certificate_violations"] == 0
    attacked = metrics["certified_points_attacked"]
    assert attacked["ibp_or_crown"] > 0 and attacked["smoothing"] > 0
    assert attacked["cnn"] > 0          # the CNN's IBP/CROWN certificates are attacked too
    assert metrics["mnist_certificate_violations"] == 0      # on real MNIST too
    assert metrics["mnist_certified_points_attacked"] > 0


def test_mnist_verified_errors_at_smoke_size(record):
    m = record["metrics"]
    # errors are fractions; verified error >= PGD error >= clean error on each model
    assert m["mnist_clean_error_eps01"] <= m["mnist_pgd_error_eps01"]
    assert m["mnist_pgd_error_eps01"] <= m["mnist_ibp_verified_error_eps01"] <= 1.0
    assert m["mnist_pgd_error_eps01"] <= m["mnist_crown_verified_error_eps01"] <= 1.0
    assert m["mnist_clean_error_eps01"] < SMOKE_MNIST_CLEAN_ERROR_MAX
    assert m["mnist_crown_verified_error_eps01"] < SMOKE_MNIST_CROWN_VERIFIED_ERROR_MAX
    assert m["mnist_pgd_error_eps03"] <= m["mnist_ibp_verified_error_eps03"] <= 1.0
    spread = record["spread"]
    for name in ("mnist_ibp_verified_error_eps01", "mnist_crown_verified_error_eps01",
                 "ibp_verified_accuracy", "crown_verified_accuracy"):
        entry = spread[name]
        assert entry["source"] == "seeds" and entry["n"] == record["params"]["seeds"]
        assert entry["min"] <= m[name] == entry["median"] <= entry["max"]
    assert spread["mnist_certificate_violations"] == {"deterministic": True}
    # a timing ratio, interleaved rounds; the direction is the finding, not asserted by size
    assert spread["mnist_conv_unfold_speedup"]["source"] == "timing rounds"
    assert m["mnist_conv_unfold_speedup"] > 1.0


def test_cnn_is_verified_through_its_convolutions(metrics, record):
    # smoke trains the CNN for 4 epochs: IBP verifies few points (0.09 measured), CROWN many
    assert (0 < metrics["cnn_ibp_verified_accuracy"] <= metrics["cnn_crown_verified_accuracy"]
            <= metrics["cnn_pgd_accuracy"] <= metrics["cnn_clean_accuracy"])
    assert metrics["cnn_clean_accuracy"] > 0.8
    # the headline is the median over seeds; the first seed's value is the table's
    assert metrics["robustness_by_model"]["cnn_ibp"]["IBP verified"] == (
        record["spread"]["cnn_ibp_verified_accuracy"]["samples"][0])


def test_alpha_crown_gain_is_measured_in_points(metrics, record):
    # alpha-CROWN >= CROWN holds by construction; the gain in verified points is the quantity
    first = record["spread"]["alpha_crown_gain_pts"]["samples"][0]
    by_model = metrics["robustness_by_model"]["ibp"]
    assert first == pytest.approx(100 * (by_model["alpha-CROWN verified"]
                                         - by_model["CROWN verified"]))
    assert metrics["alpha_crown_verified_accuracy"] <= metrics["pgd_accuracy"]


def test_mindarmour_side_by_side(metrics):
    if not metrics.get("mindarmour_available"):
        pytest.skip("MindArmour (optional extra 'anchors') is not installed")
    assert metrics["kit_fgsm_accuracy"] == metrics["mindarmour_fgsm_accuracy"]
    assert metrics["fgsm_agreement"] == 1.0
    assert metrics["pgd_agreement"] >= 0.9
    assert abs(metrics["kit_pgd_accuracy"] - metrics["mindarmour_pgd_accuracy"]) <= 0.1
    dp = metrics["mindarmour_dp"]
    assert dp["kit_epsilon"] == pytest.approx(dp["dp_accounting_epsilon"], rel=1e-6)
    assert dp["mindarmour_rdp_epsilon"] > dp["dp_accounting_epsilon"]   # looser conversion
    assert dp["mechanism_noise_std"] == pytest.approx(dp["noise_multiplier"], rel=0.05)
    assert metrics["mindarmour_dp_accuracy"] > 0.5


def test_verified_le_pgd_robust_le_clean(metrics):
    assert metrics["ordering_verified_le_pgd_le_clean"] is True
    assert (metrics["ibp_verified_accuracy"] <= metrics["crown_verified_accuracy"]
            <= metrics["pgd_accuracy"] <= metrics["clean_accuracy"])
    assert metrics["ibp_verified_accuracy"] > 0.2   # IBP training makes the bound useful
    by_model = metrics["robustness_by_model"]
    assert by_model["standard"]["IBP verified"] < metrics["ibp_verified_accuracy"]


def test_smoothing_tradeoff_on_every_sigma_pair_below_the_radius_cap(metrics, record):
    cert = metrics["smoothing_certified_accuracy"]
    assert set(cert) >= {"0.25", "0.5", "1.0"}
    assert cert["0.25"] >= cert["0.5"] >= cert["1.0"]
    assert cert["0.25"] > 0.4
    trade = metrics["smoothing_tradeoff"]
    assert metrics["smoothing_tradeoff_reproduced"] == all(
        p["holds"] for p in trade["pairs"].values())
    assert len(trade["pairs"]) == len(record["params"]["sigmas"]) - 1     # every pair
    for p in trade["pairs"].values():
        assert p["holds"] == (p["lower_at_zero"] and p["wins_below_cap"])
        assert p["small_sigma_radius_cap"] > 0
    # smoke (N = 200): the larger sigma certifies less at r = 0, but its win starts at the
    # smaller sigma's radius cap (0.46 for sigma 0.25): not reproduced at this N, as issue 26
    # suspected; the book run (N = 10000) reports every pair
    assert trade["pairs"]["0.25->0.5"]["lower_at_zero"]


def test_privacy_accounting_and_membership_inference(metrics):
    assert metrics["dp_accountant_max_rel_error"] < 1e-9
    spent = metrics["dp_epsilon_spent"]
    assert all(v <= float(k) * (1 + 1e-9) for k, v in spent.items())
    assert 0 < metrics["dp_epsilon"] <= 8.0 + 1e-9
    acc = metrics["dp_accuracy"]
    assert acc[max(acc, key=float)] >= acc[min(acc, key=float)]
    assert metrics["mia_auc_dp"] < metrics["mia_auc_nondp"]
    assert metrics["mia_auc_nondp"] > 0.55


def test_backdoor_is_planted_detected_and_removed(metrics):
    assert metrics["backdoor_attack_success"] > 0.8
    assert metrics["backdoor_detection_tpr"] >= 0.9
    # trigger-transfer confirmation: 0.0 false positives on seeds 0-3 at 5 % poisoning, where
    # exclusionary reclassification alone kept clean sub-styles (FPR 0.016-0.054)
    assert metrics["backdoor_detection_fpr"] <= 0.05
    assert metrics["attack_success_after_removal"] <= 0.05


def test_fairness_gap_closes_with_intervals(metrics):
    assert metrics["dp_gap_after"] < metrics["dp_gap_before"]
    lo, hi = metrics["dp_gap_before_ci"]
    assert lo <= hi and lo >= 0
    assert metrics["dp_gap_after_ci"][1] < metrics["dp_gap_before_ci"][1]
    assert metrics["trust_card_seconds"] > 0
