"""Chapter 10's claims, asserted on a smoke run's results.json (thresholds from issues #11, #21
and #24.2)."""

import pytest

pytestmark = pytest.mark.slow

# seed-dependent figures recorded as the median over seeds with their spread (issue #21)
SEED_SPREAD = (
    "regret_reduction_vs_cold_tpe_at10", "regret_reduction_vs_portfolio_at10",
    "regret_reduction_vs_random_at10", "regret_reduction_vs_portfolio_at10_nondigits",
    "regret_reduction_vs_random_at10_nondigits", "regret_reduction_vs_portfolio_at10_loto",
    "mean_rank_at_5", "mean_rank_at_10", "mean_rank_at_20", "regret_at10_warm_tpe",
    "regret_at10_cold_tpe", "regret_at10_random", "regret_at_cold_budget_cold_tpe",
    "regret_at_cold_budget_random", "early_stopping_regret", "full_training_regret",
)
EXACT = ("history_runs", "history_tasks", "history_configs", "history_families",
         "advisor_scenarios", "advisor_heldout_scenarios", "cold_tpe_vs_random_pairs")


@pytest.fixture(scope="module")
def record(smoke):
    return smoke("10")


@pytest.fixture(scope="module")
def metrics(record):
    return record["metrics"]


def test_the_history_is_the_shipped_one(metrics):
    assert metrics["history_tasks"] >= 20
    assert metrics["history_runs"] == metrics["history_tasks"] * metrics["history_configs"]
    # digits variants form one family: fewer families than tasks (fails if family() split them)
    assert metrics["history_families"] < metrics["history_tasks"] - 6


def test_warm_start_beats_cold_tpe_early(metrics):
    # leave-one-family-out, median over seeds; fails if the history stops transferring across
    # families (the kit's ranking then is no better than TPE's random start-up trials)
    assert metrics["regret_reduction_vs_cold_tpe_at10"] >= 0.30
    low, high = metrics["regret_reduction_ci95"]
    assert low <= metrics["regret_reduction_vs_cold_tpe_at10"] <= high
    assert metrics["regret_at10_warm_tpe"] < metrics["regret_at10_random"]


def test_kit_recommender_has_the_best_mean_rank_early(metrics):
    for k in (5, 10):
        ranks = metrics[f"mean_ranks_all_at_{k}"]
        assert ranks["warm_tpe"] == min(ranks.values()), (k, ranks)
        assert metrics["kit_best_rank_at"][str(k)] is True
    # at 20 evaluations the kit must at least beat both baselines (random, cold TPE)
    ranks20 = metrics["mean_ranks_all_at_20"]
    assert ranks20["warm_tpe"] < min(ranks20["random"], ranks20["cold_tpe"])


def test_grouped_evaluation_removes_the_in_family_leak(metrics):
    # with the digits variants in the history (leave-one-task-out) the kit looks better against
    # the portfolio than when the whole family is held out; fails if the grouped protocol still
    # trained on the held-out task's family (the two numbers would then be equal)
    assert (metrics["regret_reduction_vs_portfolio_at10_loto"]
            > metrics["regret_reduction_vs_portfolio_at10"] + 0.05)
    assert (metrics["regret_reduction_vs_cold_tpe_at10_loto"]
            > metrics["regret_reduction_vs_cold_tpe_at10"])


def test_grouped_kit_against_portfolio_and_random(metrics):
    # the chapter reads the headline as "on par with the greedy portfolio" (within 10 %): fails
    # if the kit clearly beats or loses to the portfolio under leave-one-family-out
    assert abs(metrics["regret_reduction_vs_portfolio_at10"]) <= 0.10
    # and as a clear gain over random search, also on the non-digits tasks alone; fails if the
    # ranking learned from other families is no better than random configurations
    assert metrics["regret_reduction_vs_random_at10"] >= 0.20
    assert metrics["regret_reduction_vs_random_at10_nondigits"] >= 0.20
    # on the non-digits tasks the kit is ahead of the portfolio: fails if it falls behind
    assert metrics["regret_reduction_vs_portfolio_at10_nondigits"] > 0.0


def test_cold_tpe_does_not_differ_from_random_search_at_10(record, metrics):
    seeds = record["params"]["seeds"]
    assert metrics["cold_tpe_vs_random_pairs"] == metrics["history_tasks"] * seeds
    # 5 random start-up trials: at 10 evaluations TPE is indistinguishable from random search;
    # fails if cold TPE's regret at 10 differed consistently from random's over (task, seed)
    assert metrics["cold_tpe_vs_random_p_at10"] > 0.05
    sep = metrics["cold_tpe_separates_from_random_at"]
    assert sep is None or sep > 10
    assert metrics["cold_budget"] >= 30
    # more evaluations, lower regret (fails if the long curves were cut or mis-indexed)
    for m in ("random", "cold_tpe"):
        assert metrics[f"regret_at_cold_budget_{m}"] < metrics[f"regret_at10_{m}"]


def test_seed_dependent_figures_are_medians_with_their_spread(record, metrics):
    seeds = record["params"]["seeds"]
    assert seeds >= 3
    for name in SEED_SPREAD:
        entry = record["spread"][name]
        # fails if a figure were recorded from one seed, or as a mean instead of the median
        assert entry["source"] == "seeds" and entry["n"] == seeds, name
        assert entry["median"] == pytest.approx(metrics[name]), name
        assert entry["min"] <= entry["median"] <= entry["max"], name
    for name in EXACT:
        assert record["spread"][name] == {"deterministic": True}, name


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


def test_advisor_out_of_sample(metrics):
    # one held-out scenario per cause at least
    assert metrics["advisor_heldout_scenarios"] >= 10
    # fitting only accepts gains on the training profiles: fails if the fit lost accuracy
    assert metrics["advisor_train_top1_accuracy"] >= metrics["advisor_train_top1_accuracy_hand"]
    assert 0 <= metrics["advisor_thresholds_changed"] <= metrics["advisor_thresholds_fitted"]
    # chance is 1 in 10 causes; fails if the rules, fitted on the ten training jobs, misdiagnose
    # more than 4 of 10 new randomised jobs (thresholds overfit to the training scenarios)
    assert metrics["advisor_heldout_top1_accuracy"] >= 0.6
