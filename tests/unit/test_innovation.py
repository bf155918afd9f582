"""Unit tests of chapter 03's kit: diagnostics, distributions, NUTS, graph storage."""

import numpy as np
import pytest
from scipy import stats

import kit
from kit.innovation import chapter
from kit.innovation import diagnostics as dg
from kit.innovation import graphstore as gs
from kit.innovation import probability as pr


@pytest.fixture(scope="module", autouse=True)
def _setup():
    kit.setup(0)


# ---------------------------------------------------------------- diagnostics

def test_rhat_and_ess_of_iid_draws():
    x = np.random.default_rng(0).normal(size=(4, 1000))
    assert abs(dg.rhat(x) - 1.0) < 0.01
    assert 3000 < dg.ess_bulk(x) < 5500
    assert 3000 < dg.ess_tail(x) < 5500
    assert dg.mcse_mean(x) == pytest.approx(1 / np.sqrt(4000), rel=0.2)


def test_rhat_detects_shifted_and_stuck_chains():
    x = np.random.default_rng(1).normal(size=(4, 500))
    shifted = x.copy()
    shifted[0] += 3
    assert dg.rhat(shifted) > 1.3  # rank normalisation bounds it; classic R-hat ~1.7
    trend = x + np.linspace(0, 5, 500)  # non-stationary: split halves disagree
    assert dg.rhat(trend) > 1.1


def test_ess_of_ar1_matches_theory():
    rng = np.random.default_rng(2)
    z = np.zeros((4, 5000))
    e = rng.normal(size=z.shape)
    for t in range(1, z.shape[1]):
        z[:, t] = 0.9 * z[:, t - 1] + e[:, t]
    assert dg.ess_bulk(z) == pytest.approx(20000 * 0.1 / 1.9, rel=0.2)


def test_diagnostics_refuse_bad_draws():
    with pytest.raises(ValueError, match="draws"):
        dg.rhat(np.zeros(10))
    with pytest.raises(ValueError, match="finite"):
        dg.rhat(np.full((2, 10), np.nan))


# ---------------------------------------------------------------- distributions

def test_log_probs_match_scipy():
    x = np.array([0.3, 1.2, 2.5])
    np.testing.assert_allclose(pr.Normal(0.5, 2.0).log_prob(x).asnumpy(),
                               stats.norm(0.5, 2.0).logpdf(x), rtol=1e-5)
    np.testing.assert_allclose(pr.HalfCauchy(5.0).log_prob(x).asnumpy(),
                               stats.halfcauchy(scale=5.0).logpdf(x), rtol=1e-5)
    np.testing.assert_allclose(pr.Gamma(2.0, 3.0).log_prob(x).asnumpy(),
                               stats.gamma(2.0, scale=1 / 3.0).logpdf(x), rtol=1e-5)
    np.testing.assert_allclose(pr.Bernoulli(0.3).log_prob(np.array([0.0, 1.0])).asnumpy(),
                               stats.bernoulli(0.3).logpmf([0, 1]), rtol=1e-5)
    np.testing.assert_allclose(pr.Categorical(np.array([0.2, 0.5, 0.3]))
                               .log_prob(np.array([0, 2])).asnumpy(), np.log([0.2, 0.3]),
                               rtol=1e-5)


def test_samples_have_the_right_moments():
    s = pr.Normal(1.0, 2.0).sample((20000,)).asnumpy()
    assert abs(s.mean() - 1.0) < 0.05 and abs(s.std() - 2.0) < 0.05
    h = pr.HalfCauchy(1.0).sample((20000,)).asnumpy()
    assert abs(np.median(h) - 1.0) < 0.05  # median of HalfCauchy(1) is 1


def test_bad_distribution_parameters_are_refused():
    with pytest.raises(ValueError, match="scale"):
        pr.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="scale"):
        pr.HalfCauchy(0.0)
    with pytest.raises(ValueError, match="rate"):
        pr.Gamma(1.0, -2.0)
    with pytest.raises(ValueError, match="probs"):
        pr.Bernoulli(1.5)


# ---------------------------------------------------------------- samplers

@pytest.mark.slow
def test_nuts_recovers_the_exact_conjugate_posterior():
    target = pr.conjugate_regression(seed=0)
    run = pr.nuts(target, chains=4, warmup=100, draws=150, max_depth=5, seed=0)
    table = chapter.posterior_table(run, target)
    assert run.divergent.sum() == 0
    assert (table["|error| / MCSE"] < 4).all()
    np.testing.assert_allclose(table["sd"], target.exact_sd, rtol=0.25)


def test_gradients_from_mindspore_match_finite_differences():
    target = pr.eight_schools(centred=False)
    q = np.random.default_rng(0).normal(size=(2, target.dim))
    lp, g = target.value_and_grad(q)
    h = 1e-2
    for j in (0, 1, 5):
        dq = np.zeros_like(q)
        dq[:, j] = h
        fd = (target.value_and_grad(q + dq)[0] - target.value_and_grad(q - dq)[0]) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=2e-2, atol=2e-2)


def test_non_finite_initial_density_names_the_problem():
    def bad(q, y):
        return (q * 0 + np.inf).sum(), (q * 0 + np.inf).sum(axis=1)

    target = pr.Target("bad", bad, (np.zeros(1),), ["a", "b"])
    with pytest.raises(ValueError, match="not finite at the initial point"):
        pr.nuts(target, chains=2, warmup=0, draws=4)


def test_nuts_refuses_bad_settings():
    target = pr.conjugate_regression()
    with pytest.raises(ValueError, match="chains"):
        pr.nuts(target, chains=0)
    with pytest.raises(ValueError, match="step_size"):
        pr.nuts(target, step_size=-0.1)


# ---------------------------------------------------------------- graph storage

def test_csr_matches_the_edge_list(tmp_path):
    edges = np.array([[0, 1], [1, 2], [2, 0], [3, 1]])
    g = gs.build_csr(iter([edges[:2], edges[2:]]), 5, tmp_path, chunk=3)
    assert g.arcs == 8
    assert sorted(g.neighbours(1).tolist()) == [0, 2, 3]
    assert g.neighbours(4).size == 0
    np.testing.assert_array_equal(g.degrees(), [2, 3, 2, 1, 0])
    gs.open_csr(tmp_path, verify=True)


def test_corrupt_files_fail_the_checksum(tmp_path):
    gs.build_csr(iter([np.array([[0, 1], [1, 2]])]), 3, tmp_path)
    data = bytearray((tmp_path / "indices.npy").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "indices.npy").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        gs.open_csr(tmp_path, verify=True)


def test_malformed_edges_are_refused(tmp_path):
    with pytest.raises(ValueError, match="out of range"):
        gs.build_csr(iter([np.array([[0, 7]])]), 3, tmp_path)
    with pytest.raises(ValueError, match="integer dtype"):
        gs.build_csr(iter([np.array([[0.0, 1.0]])]), 3, tmp_path)
    with pytest.raises(ValueError, match="shape"):
        gs.check_edges(np.array([0, 1, 2]), 3)


@pytest.fixture(scope="module")
def small_graph(tmp_path_factory):
    g, _ = chapter.build_graph(2000, 20000, 16, 0, tmp_path_factory.mktemp("g"))
    return g


@pytest.mark.parametrize("method", gs.PARTITIONERS)
def test_partitions_cover_every_node_once(small_graph, method):
    part = gs.partition(small_graph, 4, method)
    gs.check_partition(part, small_graph.nodes, 4)
    assert np.bincount(part, minlength=4).sum() == small_graph.nodes
    assert gs.imbalance(part, 4) < 1.2


def test_partition_quality_ordering(small_graph):
    cut = {m: gs.edge_cut(small_graph, gs.partition(small_graph, 4, m)) for m in gs.PARTITIONERS}
    assert cut["METIS"] < cut["streaming (Fennel)"] < 0.5 * cut["hash"]
    assert cut["hash"] == pytest.approx(0.75, abs=0.05)  # random: (k - 1) / k


def test_restreaming_improves_on_one_pass_and_keeps_balance(small_graph):
    order = gs.bfs_order(small_graph, 0)
    one = gs.fennel_partition(small_graph, 4, order, slack=1.05)
    again = gs.fennel_partition(small_graph, 4, order, slack=1.05, initial=one)
    five = gs.restream_fennel(small_graph, 4, 5, order)
    cuts = [gs.edge_cut(small_graph, p) for p in (one, again, five)]
    assert cuts[2] <= cuts[1] < cuts[0]
    assert gs.imbalance(five, 4) <= 1.05 + 1e-9
    with pytest.raises(ValueError, match="passes"):
        gs.restream_fennel(small_graph, 4, 0, order)


def test_buffered_partition_covers_every_node_once_and_balances(small_graph):
    order = gs.degree_order(small_graph)
    deg = small_graph.degrees()
    assert np.all(np.diff(deg[order]) <= 0)  # hubs first
    part = gs.buffered_partition(small_graph, 4, order, buffer=256, slack=1.05)
    gs.check_partition(part, small_graph.nodes, 4)
    sizes = np.bincount(part, minlength=4)
    assert sizes.sum() == small_graph.nodes
    assert sizes.max() <= np.floor(1.05 * small_graph.nodes / 4)  # the hard cap holds
    assert np.array_equal(part, gs.buffered_partition(small_graph, 4, order, buffer=256))
    assert np.all(gs.buffered_partition(small_graph, 1) == 0)


def test_buffered_partition_beats_one_pass_fennel(small_graph):
    # 2,000 nodes, 16 communities, buffers of 256 nodes: 8 buffers, each read once
    fennel = gs.fennel_partition(small_graph, 4, gs.bfs_order(small_graph, 0), slack=1.05)
    buffered = gs.buffered_partition(small_graph, 4, buffer=256)
    metis = gs.metis_partition(small_graph, 4)
    cut = {name: gs.edge_cut(small_graph, p)
           for name, p in [("fennel", fennel), ("buffered", buffered), ("metis", metis)]}
    assert cut["metis"] < cut["buffered"] < 0.75 * cut["fennel"]
    # a single buffer holding the whole graph is one METIS call on it: close to METIS
    whole = gs.edge_cut(small_graph, gs.buffered_partition(small_graph, 4, buffer=4096))
    assert whole < 1.2 * cut["metis"]


def test_buffered_partition_refuses_bad_input(small_graph):
    n = small_graph.nodes
    with pytest.raises(ValueError, match="k must"):
        gs.buffered_partition(small_graph, 0)
    with pytest.raises(ValueError, match="buffer must"):
        gs.buffered_partition(small_graph, 4, buffer=0)
    with pytest.raises(ValueError, match="slack must"):
        gs.buffered_partition(small_graph, 4, slack=0.9)
    for bad in (np.zeros(n, dtype=np.int64), np.arange(n - 1), np.arange(n) + 1,
                np.arange(n, dtype=np.float64)):
        with pytest.raises(ValueError, match="order must be a permutation"):
            gs.buffered_partition(small_graph, 4, bad)


def test_sampling_counts_halo(small_graph):
    part = np.zeros(small_graph.nodes, dtype=np.int32)
    assert gs.minibatch_halo(small_graph, part, 64, (5, 3), 4).remote == 0
    part = gs.hash_partition(small_graph.nodes, 4)
    stats = gs.minibatch_halo(small_graph, part, 64, (5, 3), 8)
    assert 0.6 < stats.remote_fraction < 0.9


def test_scale_out_is_linear_in_machines():
    rows = gs.scale_out(1e12, [16, 32], 8.0, 20.0, 0.2, 0.3, 1e6)
    assert rows[0]["CSR storage per machine (GB)"] == pytest.approx(2 * 1e12 * 8 / 16 / 1e9)
    assert rows[1]["CSR storage per machine (GB)"] == pytest.approx(
        rows[0]["CSR storage per machine (GB)"] / 2)
    with pytest.raises(ValueError, match="edges"):
        gs.scale_out(-1, [1], 8.0, 20.0, 0.2, 0.3, 1e6)
