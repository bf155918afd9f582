"""Chapter 05's claims, asserted on a smoke run's results.json (thresholds from issue #7).

Smoke settings train for a few epochs on a shared CPU, so accuracy targets of the issue are
checked at book settings (see the notebook); here the claims that must hold at any size:
sound certificates, the ordering of guarantees, the accountant, privacy against inference,
the backdoor pipeline and the fairness mitigation.
"""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics(smoke):
    return smoke("05")["metrics"]


def test_every_certificate_survives_attack(metrics):
    assert metrics["certificate_violations"] == 0
    attacked = metrics["certified_points_attacked"]
    assert attacked["ibp_or_crown"] > 0 and attacked["smoothing"] > 0
    assert attacked["cnn"] > 0          # the CNN's IBP/CROWN certificates are attacked too


def test_cnn_is_verified_through_its_convolutions(metrics):
    # smoke trains the CNN for 4 epochs: IBP verifies few points (0.09 measured), CROWN many
    assert (0 < metrics["cnn_ibp_verified_accuracy"] <= metrics["cnn_crown_verified_accuracy"]
            <= metrics["cnn_pgd_accuracy"] <= metrics["cnn_clean_accuracy"])
    assert metrics["cnn_clean_accuracy"] > 0.8
    assert metrics["robustness_by_model"]["cnn_ibp"]["IBP verified"] == (
        metrics["cnn_ibp_verified_accuracy"])


def test_alpha_crown_is_at_least_crown(metrics):
    assert (metrics["crown_verified_accuracy"] <= metrics["alpha_crown_verified_accuracy"]
            <= metrics["pgd_accuracy"])


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


def test_smoothing_certifies_and_shows_the_sigma_tradeoff(metrics):
    cert = metrics["smoothing_certified_accuracy"]
    assert set(cert) >= {"0.25", "0.5", "1.0"}
    assert cert["0.25"] >= cert["0.5"] >= cert["1.0"]
    assert cert["0.25"] > 0.4
    assert metrics["smoothing_tradeoff_reproduced"] is True


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
