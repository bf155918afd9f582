"""Unit tests of chapter 03, Part B: segment aggregations, heterogeneous layers, the stream."""

import mindspore as ms
import numpy as np
import pytest
from mindspore import ops

import kit
from kit.innovation import hetero as ht
from kit.innovation import hetero_chapter as hc


@pytest.fixture(scope="module", autouse=True)
def _setup():
    kit.setup(0)


def _edges(seed=0, e=40, n=7):
    rng = np.random.default_rng(seed)
    msg = rng.normal(size=(e, 3)).astype(np.float32)
    idx = rng.integers(0, n - 1, e).astype(np.int32)  # the last target gets no edge
    return msg, idx, n


def _reference(msg, idx, n, how):
    out = np.zeros((n, msg.shape[1]), np.float32)
    grad = np.zeros_like(msg)  # d sum(out * c) / d msg, c = arange
    c = np.arange(n * msg.shape[1], dtype=np.float32).reshape(n, -1)
    for t in range(n):
        rows = np.flatnonzero(idx == t)
        if rows.size == 0:
            continue
        if how == "sum":
            out[t] = msg[rows].sum(0)
            grad[rows] = c[t]
        elif how == "mean":
            out[t] = msg[rows].mean(0)
            grad[rows] = c[t] / rows.size
        else:
            out[t] = msg[rows].max(0)
            arg = rows[msg[rows].argmax(0)]
            grad[arg, np.arange(msg.shape[1])] = c[t]
    return out, grad, c


def _weighted(msg, idx, c, how, n):
    return (ht.segment_aggregate(msg, idx, n, how) * c).sum()


@pytest.mark.parametrize("how", ["sum", "mean", "max"])
def test_segment_aggregation_matches_numpy_with_gradients(how):
    msg, idx, n = _edges()
    out_ref, grad_ref, c = _reference(msg, idx, n, how)
    out = ht.segment_aggregate(ms.Tensor(msg), ms.Tensor(idx), n, how).asnumpy()
    np.testing.assert_allclose(out, out_ref, rtol=1e-5, atol=1e-6)
    assert np.all(out[-1] == 0)  # no incoming edge: 0, not the dtype's lowest value
    g = ms.grad(_weighted, grad_position=0)(ms.Tensor(msg), ms.Tensor(idx), ms.Tensor(c), how, n)
    np.testing.assert_allclose(g.asnumpy(), grad_ref, rtol=1e-5, atol=1e-5)


def test_unknown_aggregation_in_segment_op():
    msg, idx, n = _edges()
    with pytest.raises(ValueError, match="how must be one of.*'median'"):
        ht.segment_aggregate(ms.Tensor(msg), ms.Tensor(idx), n, "median")


def _softmax_weighted(scores, idx, c, n):
    return (ht.segment_softmax(scores, idx, n) * c).sum()


def test_per_target_softmax_sums_to_one_and_has_the_right_gradient():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(30, 2)).astype(np.float32) * 5
    idx = rng.integers(0, 5, 30).astype(np.int32)
    alpha = ht.segment_softmax(ms.Tensor(scores), ms.Tensor(idx), 6).asnumpy()
    sums = np.zeros((6, 2))
    np.add.at(sums, idx, alpha)
    present = np.unique(idx)
    np.testing.assert_allclose(sums[present], 1.0, rtol=1e-5)
    for t in present:  # each segment is an ordinary softmax
        rows = idx == t
        e = np.exp(scores[rows] - scores[rows].max(0))
        np.testing.assert_allclose(alpha[rows], e / e.sum(0), rtol=1e-5)
    c = rng.normal(size=(30, 2)).astype(np.float32)
    g = ms.grad(_softmax_weighted, grad_position=0)(ms.Tensor(scores), ms.Tensor(idx),
                                                    ms.Tensor(c), 6).asnumpy()
    ref = alpha * c  # d/ds_i sum_j a_j c_j = a_i (c_i - sum_j a_j c_j), per segment
    for t in present:
        rows = idx == t
        ref[rows] = alpha[rows] * (c[rows] - (alpha[rows] * c[rows]).sum(0))
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-5)


def _tiny():
    rng = np.random.default_rng(0)
    feats = {"paper": rng.normal(size=(6, 5)), "author": rng.normal(size=(4, 3))}
    rels = [("author", "writes", "paper", "mean", [0, 1, 2, 3, 1], [0, 1, 2, 3, 4]),
            ("paper", "cites", "paper", "attention", [0, 1, 2, 3], [1, 2, 3, 4])]
    return ht.hetero_graph(feats, [(*r[:4], np.array(r[4]), np.array(r[5])) for r in rels])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rgcn", "hgt"])
def test_heterogeneous_layer_gradients_check_numerically(kind):
    g = _tiny()
    net = ht.HeteroNet(g.schema(), "paper", 3, kind, hidden=4, heads=2)
    ht.reinitialise(net, 3)
    loss = ht._Loss(net)
    xs, srcs, dsts = ht.tensors(g, g.schema())
    idx, y = ms.Tensor(np.arange(5, dtype=np.int32)), ms.Tensor(np.array([0, 1, 2, 0, 1], np.int32))
    w = ms.Tensor(np.ones(5, np.float32))
    params = net.trainable_params()
    grad_fn = ms.value_and_grad(loss, None, params, has_aux=True)
    (_, _), grads = grad_fn(xs, srcs, dsts, idx, y, w)
    checked = 0
    for p, gp in zip(params, grads, strict=True):
        if p.name.startswith(("proj.1", "rel_w.0", "k.0", "w_att_1", "w_msg_0")) and \
                p.name.endswith(("weight", "_1", "_0")):
            base = p.asnumpy().copy()
            pos = np.unravel_index(np.argmax(np.abs(gp.asnumpy())), base.shape)
            vals = []
            for sign in (1, -1):
                bumped = base.copy()
                bumped[pos] += sign * 1e-2
                p.set_data(ms.Tensor(bumped))
                vals.append(float(loss(xs, srcs, dsts, idx, y, w)[0].asnumpy()))
            p.set_data(ms.Tensor(base))
            numeric = (vals[0] - vals[1]) / 2e-2
            assert numeric == pytest.approx(float(gp.asnumpy()[pos]), rel=0.05, abs=1e-3), p.name
            checked += 1
    assert checked >= 2


def test_generator_is_deterministic_and_planted():
    a = ht.planted_stream(300, 150, seed=4)
    b = ht.planted_stream(300, 150, seed=4)
    c = ht.planted_stream(300, 150, seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)
    for ra, rb in zip(a.graph.relations, b.graph.relations, strict=True):
        np.testing.assert_array_equal(ra.src, rb.src)
        np.testing.assert_array_equal(ra.dst, rb.dst)
    np.testing.assert_array_equal(a.graph.features["author"], b.graph.features["author"])
    assert not np.array_equal(a.labels, c.labels)
    assert a.graph.dims() == {"paper": 32, "author": 16, "subject": 8, "venue": 6}
    venue = [r for r in a.graph.relations if r.name == "publishes"][0]
    assert venue.time.min() >= a.t_new  # the new relation appears only after t_new
    first = a.graph.node_time["paper"][:-1] < a.t_new
    assert 0.4 < first.mean() < 0.6
    # the planted signal: a paper's venue matches its class far above chance
    v_class = np.arange(a.real("venue")) % a.classes
    assert (v_class[venue.src] == a.labels[venue.dst]).mean() > 0.7


def test_snapshot_keeps_shapes_and_hides_future_edges():
    s = ht.planted_stream(300, 150, seed=0)
    snap = ht.snapshot(s, 0.5)
    for r_full, r in zip(s.graph.relations, snap.relations, strict=True):
        assert r.src.shape == r_full.src.shape
        late = r_full.time > 0.5
        assert np.all(r.src[late] == s.graph.nodes(r.source) - 1)
        np.testing.assert_array_equal(r.dst[~late], r_full.dst[~late])
    old = ht.snapshot(s, 0.5, drop_new=True)
    assert "venue" not in old.node_types and len(old.relations) == len(s.graph.relations) - 1


def test_receptive_subgraph_and_padding():
    s = ht.planted_stream(300, 150, seed=0)
    seeds = np.array([5, 17])
    one = ht.receptive_subgraph(s.graph, "paper", seeds, hops=1)
    for r in one.relations:
        assert np.all(np.isin(r.dst, seeds)) and r.target == "paper" or r.src.size == 0
    two = ht.receptive_subgraph(s.graph, "paper", seeds, hops=2)
    assert one.edges() < two.edges() < s.graph.edges()
    padded = ht.pad_edges(one, {r.key: r.src.size + 3 for r in one.relations})
    assert padded.edges() == one.edges() + 3 * len(one.relations)
    with pytest.raises(ValueError, match="smaller than"):
        ht.pad_edges(two, {r.key: 0 for r in two.relations})


@pytest.mark.slow
def test_incremental_adaptation_keeps_old_parameters_and_learns():
    s = ht.planted_stream(300, 150, seed=0)
    old_graph = ht.snapshot(s, s.t_new, drop_new=True)
    old = ht.Trainer.build(old_graph.schema(), "paper", s.classes, "hgt", hidden=8, seed=0)
    train, _ = hc.split(s, 0)
    old.fit(old_graph, train, s.labels[train], 3)
    new = ht.extend(old, s.graph.schema(), seed=1)
    before = {p.name: p.asnumpy() for p in old.net.trainable_params()}
    after = {p.name: p.asnumpy() for p in new.net.trainable_params()}
    copied = 0
    for name, value in after.items():  # every old parameter reappears under its new index
        old_name = ht._old_name(name, 3, 4, 4, 5)
        if old_name is not None:
            np.testing.assert_array_equal(value, before[old_name])
            copied += 1
    assert copied == len(before)
    assert "proj.3.weight" in after and "proj.3.weight" not in before  # venue's projection
    assert after["proj.3.weight"].shape == (6, 8)
    assert not np.array_equal(after["q.7.weight"], before["q.5.weight"])  # layer 2, venue
    assert "w_att_9" in after and "w_att_9" not in before  # the new relation, layer 2
    losses = new.fit(s.graph, train, s.labels[train], 15)
    assert losses[-1] < losses[0]
    assert new.edges_processed == 15 * new.net.edges_read(
        tuple(r.src.size for r in s.graph.relations))


@pytest.mark.slow
def test_restart_equals_a_fresh_model():
    s = ht.planted_stream(300, 150, seed=0)
    train, _ = hc.split(s, 0)
    tr = ht.Trainer.build(s.graph.schema(), "paper", s.classes, "rgcn", hidden=8, seed=0)
    first = tr.fit(s.graph, train, s.labels[train], 4)
    tr.restart(0)  # same compiled step, fresh weights and optimiser state
    assert tr.fit(s.graph, train, s.labels[train], 4) == first
    assert tr.steps == 4


def test_old_name_mapping_for_two_layers():
    # 3 old types -> 4, 4 old relations -> 5: layer 1's entries shift
    assert ht._old_name("q.5.weight", 3, 4, 4, 5) == "q.4.weight"  # layer 1, type 1
    assert ht._old_name("q.7.weight", 3, 4, 4, 5) is None  # layer 1, the new type
    assert ht._old_name("w_att_6", 3, 4, 4, 5) == "w_att_5"
    assert ht._old_name("w_att_4", 3, 4, 4, 5) is None
    assert ht._old_name("out.weight", 3, 4, 4, 5) == "out.weight"


def test_extend_rejects_a_schema_that_is_not_an_extension():
    s = ht.planted_stream(300, 150, seed=0)
    old = ht.Trainer.build(s.graph.schema(), "paper", s.classes, "rgcn", hidden=8)
    with pytest.raises(ValueError, match="schema must extend"):
        ht.extend(old, ht.snapshot(s, 0.5, drop_new=True).schema())


@pytest.mark.slow
def test_models_learn_and_mlp_ignores_edges():
    s = ht.planted_stream(300, 150, seed=0)
    train, test = hc.split(s, 0)
    for kind in ("mlp", "rgcn"):
        tr = ht.Trainer.build(s.graph.schema(), "paper", s.classes, kind, hidden=8)
        losses = tr.fit(s.graph, train, s.labels[train], 20)
        assert losses[-1] < losses[0]
        assert tr.predict(s.graph).shape == (s.graph.nodes("paper"),)
    assert ht.HeteroNet(s.graph.schema(), "paper", 4, "mlp").edges_read((5, 5, 5, 5, 5)) == 0


# ---------------------------------------------------------------- bad input

def test_bad_graph_input_names_parameter_value_and_allowed():
    x = {"paper": np.zeros((3, 4)), "author": np.zeros((2, 2))}
    ok = ("author", "writes", "paper", "mean", np.array([0, 1]), np.array([0, 2]))
    ht.hetero_graph(x, [ok])
    with pytest.raises(ValueError, match=r"aggregation of relation 'writes' must be one of "
                                         r"\('sum', 'mean', 'max', 'attention'\), got 'median'"):
        ht.hetero_graph(x, [(*ok[:3], "median", *ok[4:])])
    with pytest.raises(ValueError, match=r"features\['author'\] has dimension 2, but "
                                         r"dims\['author'\] declares 3"):
        ht.hetero_graph(x, [ok], dims={"author": 3})
    with pytest.raises(ValueError, match=r"dst of relation 'writes' references node 7.*0\.\.2"):
        ht.hetero_graph(x, [(*ok[:5], np.array([0, 7]))])
    with pytest.raises(ValueError, match=r"src of relation 'writes' references node -1"):
        ht.hetero_graph(x, [(*ok[:4], np.array([-1, 0]), ok[5])])
    with pytest.raises(ValueError, match=r"unknown source node type 'venue'; allowed: "
                                         r"\['author', 'paper'\]"):
        ht.hetero_graph(x, [("venue", *ok[1:])])
    with pytest.raises(ValueError, match="1-D integer array, got dtype float64"):
        ht.hetero_graph(x, [(*ok[:4], np.array([0.0, 1.0]), ok[5])])
    with pytest.raises(ValueError, match="as many src as dst"):
        ht.hetero_graph(x, [(*ok[:4], np.array([0]), ok[5])])


def test_bad_model_input():
    s = _tiny().schema()
    with pytest.raises(ValueError, match="kind must be one of 'rgcn', 'hgt', 'mlp', got 'gat'"):
        ht.HeteroNet(s, "paper", 2, "gat")
    with pytest.raises(ValueError, match="hidden must be a multiple of heads=2, got 5"):
        ht.HeteroNet(s, "paper", 2, "hgt", hidden=5)
    tr = ht.Trainer.build(s, "paper", 2, "rgcn", hidden=4)
    with pytest.raises(ValueError, match="weight must have one"):
        tr.fit(_tiny(), np.array([0, 1]), np.array([0, 1]), 1, np.zeros(2))


def test_segment_ops_are_plain_mindspore():
    # the aggregation is a MindSpore graph op: it runs inside ms.jit too
    msg, idx, n = _edges()
    out = _jitted_mean(ms.Tensor(msg), ms.Tensor(idx))
    np.testing.assert_allclose(out.asnumpy(), _reference(msg, idx, n, "mean")[0], rtol=1e-5)
    assert ops.isfinite(out).all()


@ms.jit
def _jitted_mean(msg, idx):
    return ht.segment_aggregate(msg, idx, 7, "mean")


@pytest.mark.slow
def test_stream_experiment_counts_compute_and_explore_retrains():
    s = ht.planted_stream(300, 150, seed=0)
    table, trainers = hc.compare_models(s, 5, [0, 1], hidden=8)
    assert list(table["model"]) == ["MLP"] * 2 + ["R-GCN"] * 2 + ["HGT"] * 2
    run, inc = hc.stream_experiment(s, trainers["R-GCN"], 5, 2, 2, 0, kind="rgcn")
    assert run.checkpoints == [0.75, 1.0] and len(run.incremental) == 2
    assert inc.steps == 4 and run.retrain_steps == 5
    # fine-tuning reads only the new chunks' neighbourhoods: fewer edges than a retrain step
    assert run.incremental_edges / inc.steps < run.retrain_edges / run.retrain_steps
    fig = hc.explore_stream(s, run, trainers["R-GCN"], 5, 0, 0)
    assert set(run.retrain) == {0.75, 1.0} and fig.axes
