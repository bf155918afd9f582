"""kit.parallel (chapter 08): collectives against closed forms, ZeRO, search optimality,
elastic moves, clear errors, and the real 2-process MindSpore data-parallel run."""

import itertools
import json
import math
import random

import pytest

from kit.parallel import chapter, cost, elastic, execute, search
from kit.parallel import cluster as clusters
from kit.parallel import collectives as coll
from kit.parallel import model as models

LINK = clusters.Link(bandwidth=1e9, latency=1e-5)


@pytest.mark.parametrize(("fn", "expected"), [
    (lambda: coll.ring_all_reduce(1e6, 4, LINK), 2 * 3 * 1e-5 + 2 * 0.75 * 1e-3),
    (lambda: coll.tree_all_reduce(1e6, 4, LINK), 2 * 2 * (1e-5 + 1e-3)),
    (lambda: coll.tree_all_reduce(1e6, 5, LINK), 2 * 3 * (1e-5 + 1e-3)),
    (lambda: coll.all_gather(1e6, 4, LINK), 3 * 1e-5 + 0.75 * 1e-3),
    (lambda: coll.reduce_scatter(1e6, 8, LINK), 7 * 1e-5 + 7 / 8 * 1e-3),
    (lambda: coll.all_to_all(1e6, 4, LINK), 3 * (1e-5 + 1e6 / 4 / 1e9)),
    (lambda: coll.p2p(1e6, LINK), 1e-5 + 1e-3),
    (lambda: coll.ring_all_reduce(1e6, 1, LINK), 0.0),
])
def test_collectives_match_closed_forms(fn, expected):
    assert fn() == pytest.approx(expected, rel=1e-12)


def test_auto_all_reduce_picks_tree_for_small_and_ring_for_large_messages():
    small, large = 1e2, 1e9
    assert coll.all_reduce(small, 64, LINK) == coll.tree_all_reduce(small, 64, LINK)
    assert coll.all_reduce(large, 64, LINK) == coll.ring_all_reduce(large, 64, LINK)
    with pytest.raises(ValueError, match="algorithm must be one of 'ring', 'tree', 'auto'"):
        coll.all_reduce(1, 2, LINK, "butterfly")


def test_topology_aware_groups():
    c = clusters.commodity(2, 4, 10.0)
    assert coll.place(c, 4, 1) == coll.Placement(4, 4, 1)
    assert coll.place(c, 8, 1) == coll.Placement(8, 4, 2)
    assert coll.place(c, 2, 4) == coll.Placement(2, 1, 2)
    n = 1e8
    assert coll.group_cost(c, "all_reduce", n, 4) == coll.all_reduce(n, 4, c.intra)
    inter = coll.inter_link(c)
    assert inter.bandwidth == c.inter.bandwidth / 4
    hier = (coll.reduce_scatter(n, 4, c.intra) + coll.all_reduce(n / 4, 2, inter)
            + coll.all_gather(n, 4, c.intra))
    assert coll.group_cost(c, "all_reduce", n, 8) == pytest.approx(hier)
    assert coll.group_cost(c, "p2p", n, 2, 4) == coll.p2p(n, inter)  # next node
    assert coll.group_cost(c, "p2p", n, 2, 1) == coll.p2p(n, c.intra)
    assert coll.group_cost(c, "all_reduce", n, 8) > coll.group_cost(c, "all_reduce", n, 4)


def test_zero_memory_reproduces_the_published_figure():
    gb = [cost.zero_state_bytes(7.5e9, s, 64) / 1e9 for s in range(4)]
    assert gb == pytest.approx([120.0, 30 + 90 / 64, 15 + 105 / 64, 120 / 64])
    table = chapter.zero_table()
    assert table["rel. error (rounded)"].max() == 0.0
    assert 0 < table["rel. error (unrounded)"].max() < 0.02


def test_model_sizes_match_the_papers():
    assert 8.2e9 < models.megatron_8_3b().params < 8.4e9
    assert 174e9 < models.gpt3_175b().params < 176e9
    block = models.transformer_layer(1024, 16, 512)
    assert block.params == 12 * 1024**2 + 13 * 1024
    assert block.act_fixed + block.act_sharded == 512 * 1024 * (34 + 5 * 16 * 512 / 1024)


def test_partition_is_optimal_against_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        costs = [rng.uniform(0.1, 5.0) for _ in range(rng.randint(2, 9))]
        pp = rng.randint(1, len(costs))
        stages = search.partition(costs, pp)
        assert len(stages) == pp and sum(stages) == len(costs) and min(stages) >= 1

        def bottleneck(parts, costs=costs):
            bounds = [0, *itertools.accumulate(parts)]
            return max(sum(costs[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True))

        best = min(bottleneck(p) for p in search.compositions(len(costs), pp))
        assert bottleneck(stages) <= best * (1 + 1e-9)


def uniform_chain(layers: int = 8):
    """``layers`` layers of 1e12 FLOPs on an ideal 4-device node (free communication)."""
    model = models.Model("uniform", tuple(models.Layer(f"l{i}", 1e12, 1.0, 0, 0, 0, 0)
                                          for i in range(layers)))
    fast = clusters.Cluster("ideal", 1, 4, 1e12, 1.0, 1e12, clusters.Link(1e30, 0),
                            clusters.Link(1e30, 0))
    return model, fast


def test_pipeline_time_follows_1f1b():
    layers, m, pp = 8, 6, 4
    model, fast = uniform_chain(layers)
    s = cost.Strategy(1, 1, pp, m, 0, False, (2, 2, 2, 2), (True,) * layers)
    est = cost.estimate(model, fast, s, m)
    tau = 2 * 3 * 1.0  # two layers per stage, forward + backward = 3 passes of 1 s
    assert est.pipeline_seconds == pytest.approx((m + pp - 1) * tau)
    assert est.bubble_fraction == pytest.approx((pp - 1) / (m + pp - 1))


@pytest.mark.parametrize("inter", [10.0, 100.0])
def test_planner_matches_exhaustive_search_on_small_models(inter):
    small = models.transformer(4, 1024, 16, 512)
    cluster = clusters.commodity(2, 4, inter)
    fast, best = search.plan(small, cluster, 32), search.exhaustive(small, cluster, 32)
    assert best.evaluated > 10 * fast.evaluated
    assert fast.estimate.step_seconds <= best.estimate.step_seconds * 1.05
    assert fast.estimate.fits


def test_planner_is_never_worse_than_hand_strategies():
    gpt = models.transformer(12, 1024, 16, 512)
    for cluster in (clusters.commodity(2, 4, 10.0), clusters.commodity(4, 4, 1.0)):
        found = search.plan(gpt, cluster, 64)
        for result in search.hand_strategies(gpt, cluster, 64).values():
            if result is not None:
                assert found.estimate.step_seconds <= result[1].step_seconds * (1 + 1e-9)


def test_pipeline_interleaving_divides_the_bubble_by_the_chunks():
    layers, m, pp = 8, 6, 4
    model, fast = uniform_chain(layers)
    tau = 2 * 3 * 1.0
    for chunks in (1, 2):
        s = cost.Strategy(1, 1, pp, m, 0, False, (2, 2, 2, 2), (True,) * layers, chunks)
        est = cost.estimate(model, fast, s, m)
        assert est.pipeline_seconds == pytest.approx((m + (pp - 1) / chunks) * tau)
    with pytest.raises(ValueError, match="chunks=4 .* needs pp >= 2 and at least 4 layers"):
        cost.estimate(model, fast, cost.Strategy(1, 1, pp, m, 0, False, (2, 2, 2, 2),
                                                 (True,) * layers, 4), m)
    with pytest.raises(ValueError, match="chunks must be an int >= 1, got 0"):
        cost.estimate(model, fast, cost.Strategy(1, 1, pp, m, 0, False, (2, 2, 2, 2),
                                                 (True,) * layers, 0), m)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: clusters.Link(0.0, 1e-6), "bandwidth must be a positive number of bytes/s, got 0.0"),
    (lambda: clusters.Link(1e9, -1.0), "latency must be a number of seconds >= 0"),
    (lambda: clusters.commodity(0), "nodes must be an int >= 1, got 0"),
    (lambda: cost.device_count_ok(8, 3, 2, 1), r"8 devices do not factor into dp=3 x tp=2 x pp=1"),
    (lambda: models.transformer(4, 1000, 16, 128), "heads must divide hidden=1000, got 16"),
    (lambda: clusters.commodity(2, 4).with_devices(6), "devices=6 must fill whole nodes of 4"),
    (lambda: search.plan(models.gpt3_175b(), clusters.commodity(1, 4), 64),
     r"needs >= \d+\.\d GB per device even at ZeRO-3 with full recompute on 4 devices"),
    (lambda: cost.estimate(models.transformer(4, 256, 4, 64), clusters.commodity(1, 4),
                           cost.Strategy(2, 2, 1, 1, 0, False, (4,), (True,) * 4), 3),
     "global batch 3 must divide into dp=2 x micro_batches=1"),
])
def test_bad_input_is_refused_clearly(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_holdings_cover_every_layer_exactly_once_per_replica():
    s = cost.Strategy(2, 2, 2, 4, 1, False, (3, 1), (True, False, True, True))
    for key_layer in range(4):
        for kind in ("weights", "optimizer"):
            pieces = [h[(key_layer, kind)] for r in range(8)
                      if (key_layer, kind) in (h := elastic.holdings(r, s))]
            total = sum(hi - lo for lo, hi in pieces)
            copies = 2 if kind == "weights" else 1  # weights replicated over DP, ZeRO-1 shards
            if not s.sharded[key_layer]:
                copies *= 2  # replicated across the tensor group too
            assert total == copies


def test_replan_moves_nothing_when_nothing_changes_and_restores_what_is_lost():
    gpt = models.transformer(8, 1024, 16, 512)
    cluster = clusters.commodity(2, 4, 10.0)
    before = search.plan(gpt, cluster, 32)
    same = elastic.replan(gpt, cluster, before.strategy, list(range(8)), cluster, 32)
    assert same.moves == [] and same.moved_bytes == 0
    lonely = cost.Strategy(1, 1, 8, 8, 0, False, (1,) * 8, (True,) * 8)  # no replicas
    lost = elastic.replan(gpt, cluster, lonely, [0, 1, 2, 4, 5, 6],
                          clusters.commodity(2, 3, 10.0), 32)
    assert lost.checkpoint_bytes > 0 and lost.seconds < 5
    with pytest.raises(ValueError, match="survivors must be distinct old ranks"):
        elastic.replan(gpt, cluster, before.strategy, [0, 0], cluster, 32)


def test_link_fit_recovers_alpha_and_beta():
    truth = clusters.Link(4e8, 1e-4)
    timings = {str(n): coll.ring_all_reduce(n, 2, truth) for n in (2**18, 2**20, 2**22)}
    fitted = execute.fit_link(timings)
    assert fitted.bandwidth == pytest.approx(4e8, rel=1e-6)
    assert fitted.latency == pytest.approx(1e-4, rel=1e-6)


@pytest.mark.slow
def test_two_process_mindspore_data_parallel_run(tmp_path):
    check = execute.check_data_parallel(hidden=(32, 64, 128), batch=32, steps=5, rounds=2,
                                        folder=tmp_path)
    assert check.weights_identical and len(check.rows) == 3
    assert check.grad_bytes == 4 * (256 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10)
    assert check.single_seconds > 0 and check.parallel_seconds > 0
    assert math.isfinite(check.prediction_error)
    assert len(check.loo_errors) == 3 and check.loo_errors[-1] == pytest.approx(
        check.prediction_error)
    assert check.raw_link.bandwidth > 1e6
    record = json.loads((tmp_path / "dp2" / "rank0.json").read_text())["models"][0]
    assert len(record["round_medians"]) == 2 and len(record["losses"]) == 10
    assert record["step_seconds"] == min(record["round_medians"])
    with pytest.raises(ValueError, match="hidden needs >= 3 sizes"):
        execute.check_data_parallel(hidden=(32, 64))
    with pytest.raises(ValueError, match="rounds must be >= 1, got 0"):
        execute.check_data_parallel(rounds=0)
