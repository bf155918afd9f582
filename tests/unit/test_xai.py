"""kit.xai (chapter 09): attributions against closed forms on a linear model, IG completeness,
influence against leave-one-out on a tiny problem, metric values on hand-made cases, TCAV,
counterfactuals, and clear errors for bad input."""

import numpy as np
import pytest

import kit
from kit.xai import attribution as attr
from kit.xai import concepts, counterfactual, examples, metrics
from kit.xai import models as M


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    kit.setup(0, mode="graph")


@pytest.fixture(scope="module")
def linear():
    """A MindSpore linear model (one Dense layer) with known weights W (10 x 64) and b."""
    import mindspore as ms
    from mindspore import nn

    rng = np.random.default_rng(0)
    net = nn.Dense(64, 10)
    w = rng.standard_normal((10, 64)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    net.weight.set_data(ms.Tensor(w))
    net.bias.set_data(ms.Tensor(b))
    net.set_train(False)
    return M.Classifier(net, (64,), 10, "linear"), w, b


@pytest.fixture(scope="module")
def small():
    """A CNN and an MLP trained briefly on 400 digits (enough for non-trivial maps)."""
    from kit.datasets import digits

    d = digits()
    cnn, _ = M.make_classifier("cnn", d.images[:400], d.target[:400], epochs=4)
    mlp, _ = M.make_classifier("mlp", d.images[:400].reshape(-1, 64), d.target[:400], epochs=4)
    return cnn, mlp, d


def test_linear_model_attributions_equal_weights_times_input(linear):
    clf, w, b = linear
    x = np.random.default_rng(1).random((5, 64)).astype(np.float32)
    t = np.array([0, 3, 3, 9, 1])
    np.testing.assert_allclose(attr.gradient(clf, x, t), np.abs(w[t]), rtol=1e-6)
    np.testing.assert_allclose(attr.gradient(clf, x, t, absolute=False), w[t], rtol=1e-6)
    np.testing.assert_allclose(attr.gradient_x_input(clf, x, t), w[t] * x, rtol=1e-5,
                               atol=1e-6)
    for rule in ("trapezoid", "midpoint", "gausslegendre"):
        np.testing.assert_allclose(attr.integrated_gradients(clf, x, t, steps=8, rule=rule),
                                   w[t] * x, rtol=1e-5, atol=1e-6)
    # contrast: why t and not 5 = (w_t - w_5) * x
    np.testing.assert_allclose(attr.gradient_x_input(clf, x, t, contrast=5),
                               (w[t] - w[5]) * x, rtol=1e-5, atol=1e-5)
    # Guided Backprop of a model without ReLUs is the gradient
    np.testing.assert_allclose(clf.grad(x, M.onehot(t, 10)), w[t], rtol=1e-6)


def test_faithfulness_of_gradient_x_input_on_a_linear_model_is_exactly_one(linear):
    clf, _, _ = linear
    x = np.random.default_rng(2).random((4, 64)).astype(np.float32)
    t = clf.predict(x)
    a = attr.gradient_x_input(clf, x, t)
    np.testing.assert_allclose(metrics.faithfulness_correlation(clf, x, t, a), 1.0, atol=1e-4)
    np.testing.assert_allclose(metrics.completeness_error(clf, x, t, a), 0.0, atol=1e-4)


def test_ig_completeness_on_trained_networks(small):
    cnn, mlp, d = small
    x = d.images[500:510]
    t = cnn.predict(x)
    ig = attr.integrated_gradients(cnn, x, t, steps=64)
    assert metrics.completeness_error(cnn, x, t, ig).mean() < 0.01
    xf = x.reshape(-1, 64)
    tf = mlp.predict(xf)
    ig = attr.integrated_gradients(mlp, xf, tf, steps=64)
    assert metrics.completeness_error(mlp, xf, tf, ig).mean() < 0.01
    # with one step the rule is one gradient at x: Gradient x Input, which is not complete
    one = attr.integrated_gradients(cnn, x, t, steps=1)
    np.testing.assert_allclose(one, attr.gradient_x_input(cnn, x, t), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_every_method_gives_maps_of_the_input_shape(small):
    cnn, _, d = small
    x = d.images[500:503]
    t = cnn.predict(x)
    opts = {"RISE": {"masks": 50}, "SmoothGrad": {"samples": 4}, "Integrated Gradients":
            {"steps": 8}}
    for method in attr.METHODS:
        a = attr.explain(method, cnn, x, t, **opts.get(method, {}))
        assert a.shape == x.shape and np.isfinite(a).all(), method
    assert (attr.gradcam(cnn, x, t) >= 0).all()
    assert not np.allclose(attr.guided_backprop(cnn, x, t), attr.gradient(cnn, x, t))


def test_guided_relu_passes_only_positive_gradients():
    import mindspore as ms
    from mindspore import nn

    class Wrap(nn.Cell):
        def __init__(self):
            super().__init__()
            self.act = M.GuidedReLU()

        def construct(self, x, w):
            return (self.act(x) * w).sum()

    x = ms.Tensor(np.array([1.0, -1.0, 2.0, 3.0], np.float32))
    w = ms.Tensor(np.array([1.0, 1.0, -1.0, 0.5], np.float32))
    g = ms.grad(Wrap())(x, w).asnumpy()
    np.testing.assert_allclose(g, [1.0, 0.0, 0.0, 0.5])


def test_guided_backprop_of_a_hand_made_mlp_gates_on_input_and_gradient():
    """GBP through two ReLU layers equals the numpy rule: at each ReLU keep the backward
    signal only where the forward input is > 0 AND the signal itself is > 0."""
    import mindspore as ms

    w1 = np.array([[1.0, -1.0, 0.5], [-1.0, 2.0, 0.0], [0.5, 0.5, 0.5], [2.0, 0.0, -1.0]])
    b1 = np.array([0.0, 0.1, -2.0, 0.2])
    w2 = np.array([[1.0, -2.0, 1.0, 0.5], [-1.0, 1.0, 1.0, 1.0], [0.5, 0.5, -0.5, -1.0],
                   [1.0, 1.0, 1.0, -1.0]])
    b2 = np.array([0.0, -0.5, 0.1, 0.0])
    w3 = np.array([[1.0, -1.0, 2.0, -0.5], [-1.0, 1.0, 0.5, 1.0]])
    net = M.MLP(inp=3, width=4, out=2)
    for p, v in zip(net.get_parameters(), (w1, b1, w2, b2, w3, np.zeros(2)), strict=True):
        p.set_data(ms.Tensor(v.astype(np.float32)))
    clf = M.Classifier(net, (3,), 2, "mlp")
    x = np.array([[1.0, 0.5, 2.0], [0.2, 1.0, -1.0], [-1.0, 2.0, 0.5]], np.float32)
    t = np.array([0, 1, 0])

    def backward(xi, ti, forward_gate, grad_gate):
        h1 = w1 @ xi + b1
        h2 = w2 @ np.maximum(h1, 0) + b2
        r = w3[ti]
        r = r * ((h2 > 0) if forward_gate else 1) * ((r > 0) if grad_gate else 1)
        r = w2.T @ r
        r = r * ((h1 > 0) if forward_gate else 1) * ((r > 0) if grad_gate else 1)
        return w1.T @ r

    gbp = np.array([backward(xi, ti, True, True) for xi, ti in zip(x, t, strict=True)])
    grad = np.array([backward(xi, ti, True, False) for xi, ti in zip(x, t, strict=True)])
    deconv = np.array([backward(xi, ti, False, True) for xi, ti in zip(x, t, strict=True)])
    assert not np.allclose(gbp, grad) and not np.allclose(gbp, deconv)  # both gates matter
    np.testing.assert_allclose(attr.guided_backprop(clf, x, t), gbp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(attr.gradient(clf, x, t, absolute=False), grad, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.slow
def test_randomised_resets_only_the_named_layers(small):
    cnn, _, _ = small
    old = {p.name.split(".")[-2]: {} for p in cnn.net.get_parameters()}
    for p in cnn.net.get_parameters():
        old[p.name.split(".")[-2]][p.name.split(".")[-1]] = p.data.asnumpy()
    for init in M.INITS:
        for layers in (["fc2"], ["fc2", "fc1", "conv2", "conv1"]):
            rnd = M.randomised(cnn, layers, seed=5, init=init)
            for p in rnd.net.get_parameters():
                layer, kind = p.name.split(".")[-2:]
                v = p.data.asnumpy()
                if layer not in layers:
                    np.testing.assert_array_equal(v, old[layer][kind], err_msg=p.name)
                    continue
                assert not np.allclose(v, old[layer][kind]), (init, p.name)
                if init == "zero_bias" and kind == "bias":
                    assert not v.any(), p.name
                elif init != "mindspore_default":  # Adebayo's N(0, 0.01) cut at 2 std
                    assert np.abs(v).max() <= 2 * M.REINIT_STD + 1e-9, p.name
                    if v.size >= 100:
                        assert 0.007 < v.std() < 0.01, p.name
    # the cascade is nested: randomising one more layer keeps the already randomised ones
    one = M.randomised(cnn, ["fc2"], seed=5)
    two = M.randomised(cnn, ["fc2", "fc1"], seed=5)
    np.testing.assert_array_equal(one.net.fc2.weight.data.asnumpy(),
                                  two.net.fc2.weight.data.asnumpy())
    assert not np.array_equal(M.randomised(cnn, ["fc2"], seed=6).net.fc2.weight.data.asnumpy(),
                              one.net.fc2.weight.data.asnumpy())
    # loading a randomised model's weights into another network gives that model's maps
    x = np.random.default_rng(7).random((3, 8, 8)).astype(np.float32)
    t = np.array([1, 2, 3])
    target = M.randomised(cnn, ["fc2", "fc1"], seed=9)
    scratch = M.randomised(cnn, ["fc2"], seed=5)
    scratch.guided()
    assert scratch.load_from(target) is scratch
    np.testing.assert_allclose(attr.guided_backprop(scratch, x, t),
                               attr.guided_backprop(target, x, t), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scratch.logits(x), target.logits(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="other must be a DigitCNN"):
        scratch.load_from(M.Classifier(M.MLP(), (64,), 10, "mlp"))
    with pytest.raises(ValueError, match="layers must be names from"):
        M.randomised(cnn, ["conv9"], seed=5)
    with pytest.raises(ValueError, match="init must be one of"):
        M.randomised(cnn, ["fc2"], seed=5, init="xavier")
    with pytest.raises(ValueError, match="std must be > 0"):
        M.randomised(cnn, ["fc2"], seed=5, std=0.0)


def test_sanity_repeats_table(small):
    from kit.xai import chapter

    cnn, _, d = small
    x = d.images[500:503]
    t = cnn.predict(x)
    rep = chapter.sanity_repeats(cnn, x, t, seed=0, repeats=2)
    assert len(rep) == len(M.INITS) * 2 * 2
    assert all(len(v) == 2 for v in rep["values"])
    assert ((rep["mean"] >= -1) & (rep["mean"] <= 1)).all() and (rep["std"] >= 0).all()
    # the trained model against itself would be 1: randomising every layer lowers Gradient's
    assert rep.loc[("truncated_normal", "Gradient", "|map|"), "mean"] < 0.9
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        chapter.sanity_repeats(cnn, x, t, seed=0, repeats=0)


def test_deletion_insertion_on_a_hand_made_case(linear):
    clf, w, _ = linear
    x = np.random.default_rng(3).random((3, 64)).astype(np.float32)
    t = clf.predict(x)
    good = attr.gradient_x_input(clf, x, t)
    dele_good, ins_good = metrics.deletion_insertion(clf, x, t, good)
    dele_bad, ins_bad = metrics.deletion_insertion(clf, x, t, -good)
    assert (ins_good > ins_bad).all() and (dele_good < dele_bad).all()
    assert ((0 <= dele_good) & (ins_good <= 1)).all()


def test_gini_rank_correlation_and_bootstrap_on_hand_made_cases():
    one_hot = np.zeros((1, 8, 8))
    one_hot[0, 3, 3] = 5.0
    assert metrics.gini(one_hot)[0] == pytest.approx(63 / 64)
    assert metrics.gini(np.ones((1, 8, 8)))[0] == pytest.approx(0.0, abs=1e-12)
    a = np.random.default_rng(0).random((2, 8, 8))
    np.testing.assert_allclose(metrics.rank_correlation(a, a), 1.0)
    np.testing.assert_allclose(metrics.rank_correlation(a, 2 * a + 1), 1.0)
    np.testing.assert_allclose(metrics.rank_correlation(a, -a, absolute=False), -1.0)
    lo, hi = metrics.bootstrap_ci(np.arange(100.0))
    assert lo < 49.5 < hi
    with pytest.raises(ValueError, match="values must hold at least 2"):
        metrics.bootstrap_ci(np.array([1.0]))


def test_max_sensitivity_is_zero_for_a_constant_explainer_and_positive_otherwise(linear):
    clf, _, _ = linear
    x = np.random.default_rng(4).random((3, 64)).astype(np.float32)
    t = clf.predict(x)

    def grad(xx, tt):
        return attr.gradient(clf, xx, tt)

    def gxi(xx, tt):
        return attr.gradient_x_input(clf, xx, tt)

    np.testing.assert_allclose(metrics.max_sensitivity(grad, x, t), 0.0, atol=1e-6)
    assert (metrics.max_sensitivity(gxi, x, t) > 0).all()


def test_influence_matches_leave_one_out_on_a_tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(60) > 0).astype(np.int64) + \
        (x[:, 2] > 1).astype(np.int64)
    model = examples.fit_logistic(x, y, lam=0.05, classes=3)
    g = model.grads(examples.with_bias(x), y)
    assert np.linalg.norm(g.mean(0) + 0.05 * model.w) < 1e-8  # stationary point
    check = examples.loo_check(model, x, y, x[:1] + 0.1, y[:1], top=20)
    assert check.pearson > 0.99
    # the Hessian from MindSpore HVPs equals the closed form sum_i (diag p - p p^T) (x) x x^T
    xb = examples.with_bias(x)
    p = M.softmax(model.logits(xb))
    closed = sum(np.kron(np.outer(xb[i], xb[i]), np.diag(p[i]) - np.outer(p[i], p[i]))
                 for i in range(len(xb))) / len(xb) + 0.05 * np.eye(15)
    np.testing.assert_allclose(model.hessian(xb, y), closed, atol=1e-10)


def test_cg_and_lissa_solve_the_hessian_system():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((80, 5))
    y = rng.integers(0, 3, 80)
    model = examples.fit_logistic(x, y, lam=0.1, classes=3)
    xb = examples.with_bias(x)
    b = rng.standard_normal(18)
    exact = np.linalg.solve(model.hessian(xb, y), b)
    s, residual = examples.conjugate_gradient(model, xb, y, b)
    np.testing.assert_allclose(s, exact, rtol=1e-5, atol=1e-6)
    assert residual < 1e-6
    assert np.corrcoef(examples.lissa(model, xb, y, b, iters=300), exact)[0, 1] > 0.9


def test_self_influence_and_hits():
    scores = np.arange(100.0)
    assert examples.hits_in_top(scores, np.array([99, 98, 0]), 0.05) == 2
    noisy, idx = examples.flip_labels(np.zeros(50, np.int64), 5, seed=0)
    assert (noisy[idx] != 0).all() and (np.delete(noisy, idx) == 0).all()
    with pytest.raises(ValueError, match="count must be an int in"):
        examples.flip_labels(np.zeros(5, np.int64), 6)


def test_nearest_and_mmd_critic_pick_each_cluster():
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2)),
                   rng.normal(10, 0.1, (6, 2))])
    protos, crits = examples.mmd_critic(z, 2, 1, gamma=1.0)
    assert {int(p) // 20 for p in protos} == {0, 1}
    assert crits.tolist()[0] >= 40  # the small cluster no prototype represents
    assert examples.nearest(z, z[:1], 1)[0, 0] == 0 or np.allclose(z[examples.nearest(
        z, z[:1], 1)[0, 0]], z[0])


@pytest.mark.slow
def test_concept_rules_on_drawn_digits_and_tcav_on_a_cnn(small):
    cnn, _, d = small
    ring = np.zeros((8, 8))
    ring[1:7, 2] = ring[1:7, 5] = ring[1, 2:6] = ring[6, 2:6] = 1.0
    bar = np.zeros((8, 8))
    bar[1, 1:6] = 1.0
    assert concepts.closed_loop(ring) and not concepts.closed_loop(bar)
    assert concepts.vertical_stroke(ring) and not concepts.vertical_stroke(bar)
    assert concepts.top_bar(bar)
    idx = concepts.concept_sets(d.images[:400], 15)
    res = concepts.tcav(cnn, d.images[:400], idx, d.images[400:500], d.target[400:500], runs=3)
    assert len(res) == 3 * len(set(d.target[400:500].tolist()))
    assert all(0 <= r.score <= 1 and 0 <= r.p_value <= 1 for r in res)


def test_counterfactual_reaches_the_target_with_few_edits(small):
    cnn, _, d = small
    x = d.images[450]
    target = int(np.argsort(-cnn.logits(x[None])[0])[1])
    cf = counterfactual.greedy_counterfactual(cnn, x, target, d.images[:400], d.target[:400])
    assert cf.reached and cnn.predict(cf.x[None])[0] == target
    assert 1 <= cf.edits <= 20 and cf.plausibility > 0
    real = d.images[d.target == target][0]
    assert counterfactual.plausibility(real, target, d.images[:400], d.target[:400]) < 2


def test_simulatability_returns_a_gain_with_an_interval():
    rng = np.random.default_rng(0)
    x = rng.random((300, 16))
    y = (x[:, 0] > 0.5).astype(int)
    a = np.zeros_like(x)
    a[:, 0] = x[:, 0] - 0.5  # Gradient x Input of the one feature the "model" uses
    sim = metrics.simulatability(x[:200], y[:200], a[:200], x[200:], y[200:], train_size=20,
                                 repeats=10)
    assert sim.gain > 0 and sim.ci[0] <= sim.gain <= sim.ci[1]
    assert sim.with_explanation > sim.control


def test_bad_inputs_give_clear_errors(linear, small):
    clf, _, _ = linear
    cnn, _, d = small
    x = np.random.default_rng(0).random((2, 64)).astype(np.float32)
    with pytest.raises(ValueError, match=r"baseline must have shape \(64,\)"):
        attr.integrated_gradients(clf, x, 0, baseline=np.zeros(10))
    with pytest.raises(ValueError, match="steps must be an int > 0, got 0"):
        attr.integrated_gradients(clf, x, 0, steps=0)
    with pytest.raises(ValueError, match="samples must be an int > 0, got -1"):
        attr.smoothgrad(clf, x, 0, samples=-1)
    with pytest.raises(ValueError, match=r"target must be classes in \[0, 9\], got 10"):
        attr.gradient(clf, x, 10)
    with pytest.raises(ValueError, match=r"contrast must be classes in \[0, 9\], got -1"):
        attr.gradient(clf, x, 0, contrast=-1)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 8, 8\)"):
        attr.gradient(cnn, x, 0)
    with pytest.raises(ValueError, match="method must be one of"):
        attr.explain("LIME", clf, x, 0)
    with pytest.raises(ValueError, match="rule must be one of"):
        attr.integrated_gradients(clf, x, 0, rule="simpson")
    with pytest.raises(ValueError, match="rise needs an image model"):
        attr.rise(clf, x, 0)
    with pytest.raises(ValueError, match="needs at least 10"):
        concepts.concept_sets(d.images[:400], 5, concepts={"blank": lambda im: im.sum() < 3})
    with pytest.raises(ValueError, match="runs must be an int >= 2"):
        concepts.tcav(cnn, d.images[:50], {"c": np.arange(10)}, d.images[:5], d.target[:5],
                      runs=1)
    with pytest.raises(ValueError, match="pos must hold at least 10"):
        concepts.cav(np.zeros((3, 4)), np.ones((20, 4)))
    with pytest.raises(ValueError, match="lam must be > 0"):
        examples.fit_logistic(x, np.array([0, 1]), lam=0.0)
    with pytest.raises(ValueError, match="attr must have the shape of x"):
        metrics.deletion_insertion(clf, x, 0, np.zeros((2, 8)))
    with pytest.raises(ValueError, match="train_size must be an int >= 10"):
        metrics.simulatability(x, np.zeros(2), x, x, np.zeros(2), train_size=2)


# ------------------------------------------------ MindSpore XAI side by side (kit.xai.anchor)

def _xai():
    """mindspore_xai, or skip: it is the optional extra ``anchors``."""
    return pytest.importorskip("mindspore_xai.explainer")


def test_cosine_on_hand_made_maps():
    from kit.xai import anchor

    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0], [1.0, 0.0]])
    np.testing.assert_allclose(anchor.cosine(a, b), [0.0, 1.0, 0.0])


def test_hook_arguments_are_swapped_against_mindspore_xai_1_8():
    _xai()
    from kit.xai import anchor

    seen = anchor.hook_semantics()
    # MindSpore 2.10: grad_input leaves towards the ReLU's input (masked), grad_output arrives
    assert seen == {"grad_input": [0.0, 4.0], "grad_output": [3.0, 4.0]}


@pytest.mark.slow
def test_mindspore_xai_maps_match_the_kit_where_the_definitions_match(small):
    _xai()
    from kit.xai import anchor

    cnn, _, d = small
    x = d.images[500:503]
    t = cnn.predict(x)
    g = anchor.xai_explain("Gradient", cnn, x, t)
    np.testing.assert_allclose(g, attr.gradient(cnn, x, t), rtol=1e-4, atol=1e-6)
    # its GuidedBackprop computes deconvolution and its Deconvolution guided backprop here
    gb = anchor.xai_explain("Guided Backprop", cnn, x, t)
    np.testing.assert_allclose(gb, np.abs(anchor.deconvolution(cnn, x, t)), rtol=1e-4,
                               atol=1e-6)
    dc = anchor.xai_explain("Deconvolution", cnn, x, t)
    np.testing.assert_allclose(dc, np.abs(attr.guided_backprop(cnn, x, t)), rtol=1e-4,
                               atol=1e-6)
    assert anchor.gradcam_reproduction(cnn, x, t) < 1e-4


@pytest.mark.slow
def test_compare_scores_both_libraries_with_the_kit_metrics(small):
    _xai()
    from kit.xai import anchor

    cnn, _, d = small
    x = d.images[500:502]
    c = anchor.compare(cnn, x, cnn.predict(x), {}, rise_masks=20,
                       methods=("Gradient", "Occlusion"))
    assert c.failures == {}
    assert list(c.table.index) == ["Gradient", "Occlusion"]
    assert c.table.loc["Gradient", "Spearman |kit| vs |XAI|"] > 0.99
    # 3x3 occlusion in both; mindspore_xai divides by (windows + 1), so ranks differ a little
    assert c.table.loc["Occlusion", "Spearman |kit| vs |XAI|"] > 0.9
    for col in ("kit insertion AUC", "XAI insertion AUC", "kit s/image", "XAI s/image"):
        assert c.table[col].notna().all()


def test_anchor_bad_inputs(small):
    _xai()
    from kit.xai import anchor

    cnn, mlp, _ = small
    with pytest.raises(ValueError, match="method must be one of"):
        anchor.make_explainer("LRP", cnn)
    with pytest.raises(ValueError, match="image model"):
        anchor.make_explainer("Gradient", mlp)
    with pytest.raises(ValueError, match="rise_masks"):
        anchor.make_explainer("RISE", cnn, rise_masks=0)


# ------------------------------------------------------------ tabular model (kit.xai.tabular)

def test_tabular_data_and_permutation_importance_of_a_linear_model():
    import mindspore as ms
    from mindspore import nn

    from kit.xai import tabular

    data = tabular.load(0)
    assert data.x_train.shape == (398, 30) and data.x_test.shape == (171, 30)
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-5)
    net = nn.Dense(30, 2)
    w = np.zeros((2, 30), np.float32)
    w[0, 3] = 2.0  # only feature 3 (mean area, high in malignant = class 0) matters
    net.weight.set_data(ms.Tensor(w))
    net.bias.set_data(ms.Tensor(np.zeros(2, np.float32)))
    clf = M.Classifier(net, (30,), 2, "linear")
    imp = tabular.permutation_importance(clf, data.x_test, data.y_test, repeats=3)
    assert imp[3] > 0 and np.all(np.delete(imp, 3) == 0)
    with pytest.raises(ValueError, match="repeats"):
        tabular.permutation_importance(clf, data.x_test, data.y_test, repeats=0)
    a, acc = tabular.logistic_attributions(data)
    assert a.shape == data.x_test.shape and acc > 0.9


# --------------------------------------------------------------- Explore (kit.xai.explore)

def test_draw_grid_codes_and_toggles():
    from kit.xai import explore

    img = np.zeros((8, 8), np.float32)
    img[2, 3] = 0.9
    code = explore.image_to_code(img)
    assert code[2 * 8 + 3] == "1" and code.count("1") == 1
    np.testing.assert_array_equal(explore.code_to_image(code), (img >= 0.5).astype(np.float32))
    grid = explore.DrawGrid(img)
    grid.buttons[0].value = True
    assert grid.value[0] == "1" and grid.value[19] == "1"
    grid.draw(np.zeros((8, 8)))
    assert grid.value == "0" * 64
    with pytest.raises(ValueError, match="code must be"):
        explore.code_to_image("01")
    with pytest.raises(ValueError, match="img must have shape"):
        explore.image_to_code(np.zeros((4, 4)))


@pytest.mark.slow
def test_explore_panel_explains_a_test_image_and_a_drawing(small):
    from kit.core import widgets as kw
    from kit.xai import explore

    cnn, _, d = small
    x_tr, y_tr, x_te = d.images[:400], d.target[:400].astype(np.int64), d.images[400:450]
    cidx = concepts.concept_sets(x_tr, 10, 0)
    ctx = explore.context(cnn, x_tr, y_tr, x_te, cidx, {"Integrated Gradients": {"steps": 8}})
    p = kw.panel(explore.controls(ctx, 0, 3), explore.render(ctx))
    assert p.last.text.startswith("test image 0: prediction")
    p.controls["source"].value = "drawing"
    p.controls["drawing"].buttons[10].value = True
    assert p.renders == 3 and p.last.text.startswith("your drawing: prediction")
    assert "closed loop" in p.last.text and "<img" in p.output.value
    with pytest.raises(ValueError, match="why_not"):
        explore.explain_image(ctx, x_te[0], 10)
