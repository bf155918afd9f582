"""Chapter 10's claims, asserted on a smoke run's results.json (thresholds from issue #11)."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics(smoke):
    return smoke("10")["metrics"]


def test_the_history_is_the_shipped_one(metrics):
    assert metrics["history_tasks"] >= 20
    assert metrics["history_runs"] == metrics["history_tasks"] * metrics["history_configs"]


def test_warm_start_beats_cold_tpe_early(metrics):
    assert metrics["regret_reduction_vs_cold_tpe_at10"] >= 0.30
    low, high = metrics["regret_reduction_ci95"]
    assert low <= metrics["regret_reduction_vs_cold_tpe_at10"] <= high
    assert metrics["regret_at10_warm_tpe"] < metrics["regret_at10_random"]


def test_kit_recommender_has_the_best_mean_rank_early(metrics):
    for k in (5, 10):
        ranks = metrics[f"mean_ranks_all_at_{k}"]
        assert metrics[f"mean_rank_at_{k}"] == min(ranks.values()), (k, ranks)
    # at 20 evaluations the kit must at least beat both baselines (random, cold TPE)
    ranks20 = metrics["mean_ranks_all_at_20"]
    assert metrics["mean_rank_at_20"] < min(ranks20["random"], ranks20["cold_tpe"])


def test_evaluation_is_recorded(metrics):
    # the budget (<= 180 s) is wall-clock: reported in the notebook, not asserted
    assert metrics["recommend_eval_seconds"] > 0


def test_history_calibrated_early_stopping_saves_compute(metrics):
    assert metrics["early_stopping_compute_saved"] > 0.2
    assert metrics["early_stopping_regret"] <= metrics["full_training_regret"] + 0.05


def test_advisor_diagnoses_and_fixes(metrics):
    assert metrics["advisor_scenarios"] >= 10
    assert metrics["advisor_top1_accuracy"] >= 0.9
    assert metrics["advisor_median_speedup"] >= 1.5
