"""kit.trust (chapter 05): bounds contain sampled outputs (dense, conv, CROWN, alpha-CROWN),
Clopper-Pearson and the DP accountant against scipy and dp_accounting, per-example gradients,
attacks increase the loss, the soundness test at small size (MLP and CNN), MindArmour side by
side (skipped only when it cannot be imported), and clear errors for bad input."""

import math

import numpy as np
import pytest
from scipy import stats

import kit
from kit.trust import PARAMS, attacks, backdoor, chapter, fairness, privacy, smoothing, verify
from kit.trust import models as M


@pytest.fixture(scope="module")
def data():
    kit.setup(0, mode="graph")
    return chapter.load(0)


@pytest.fixture(scope="module")
def ibp_net(data):
    return M.train(data.x_train, data.y_train,
                   M.TrainConfig(kind="ibp", hidden=32, epochs=6, eps=0.1, seed=0))


def random_params(rng, sizes=(64, 20, 20, 10)):
    return [(rng.normal(0, 1 / math.sqrt(a), (b, a)), rng.normal(0, 0.1, b))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


@pytest.mark.parametrize("method", ["ibp", "crown"])
def test_bounds_contain_sampled_outputs(method):
    rng = np.random.default_rng(1)
    params = random_params(rng)
    x = rng.uniform(0, 1, (5, 64))
    y = rng.integers(0, 10, 5)
    eps = 0.05
    fn = verify.ibp_margins if method == "ibp" else verify.crown_margins
    low = fn(params, x, y, eps)
    lo, hi = verify.input_box(x, eps)
    for _ in range(200):
        z = M.forward_np(params, rng.uniform(lo, hi))
        margins = z[np.arange(5), y][:, None] - z
        assert (margins >= low - 1e-9).all()
    corners = M.forward_np(params, np.where(rng.random(x.shape) < 0.5, lo, hi))
    assert (corners[np.arange(5), y][:, None] - corners >= low - 1e-9).all()


def test_hidden_layer_bounds_contain_samples_and_crown_is_tighter_on_average():
    rng = np.random.default_rng(2)
    params = random_params(rng)
    x = rng.uniform(0, 1, (4, 64))
    eps = 0.03
    crown = verify.crown_layers(params, x, eps)
    lo_x, hi_x = verify.input_box(x, eps)
    ibp = verify.ibp_layers(params[:-1], lo_x, hi_x)
    for _ in range(100):
        h = rng.uniform(lo_x, hi_x)
        for k, (w, b) in enumerate(params[:-1]):
            z = h @ w.T + b
            assert (z >= crown[k][0] - 1e-9).all() and (z <= crown[k][1] + 1e-9).all()
            assert (z >= ibp[k][0] - 1e-9).all() and (z <= ibp[k][1] + 1e-9).all()
            h = np.maximum(z, 0)
    width = [(c[1] - c[0]).mean() for c in crown]
    assert width[-1] < (ibp[-1][1] - ibp[-1][0]).mean()
    y = rng.integers(0, 10, 4)
    assert verify.crown_margins(params, x, y, eps).mean() > verify.ibp_margins(
        params, x, y, eps).mean()


def test_mindspore_ibp_matches_numpy_bounds(data, ibp_net):
    import mindspore as ms

    x, y = data.x_test[:16], data.y_test[:16]
    worst = M.ibp_worst_logits(ibp_net, ms.Tensor(x), ms.Tensor(y),
                               ms.Tensor(np.float32(0.1))).asnumpy()
    np.testing.assert_allclose(-worst, verify.ibp_margins(M.weights(ibp_net), x, y, 0.1),
                               atol=1e-4)


def test_zero_eps_verifies_exactly_the_correct_points(data, ibp_net):
    x, y = data.x_test[:50], data.y_test[:50]
    acc, _ = verify.verified_accuracy(M.weights(ibp_net), x, y, 0.0, "crown")
    assert acc == pytest.approx(M.accuracy(ibp_net, x, y), abs=0.021)


@pytest.mark.parametrize(("k", "n", "alpha"), [(0, 10, 0.05), (7, 10, 0.05), (100, 100, 0.001),
                                               (990, 1000, 0.001), (512, 1000, 0.01)])
def test_clopper_pearson_matches_scipy(k, n, alpha):
    ours = float(smoothing.clopper_pearson_lower(k, n, alpha))
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
    assert ours == pytest.approx(ref, abs=1e-12)


def test_certify_radius_of_a_constant_classifier(data):
    import mindspore as ms

    net = M.MLP((64, 4, 4, 10))
    for layer in net.layers:
        layer.weight.set_data(ms.Tensor(np.zeros(layer.weight.shape, np.float32)))
    bias = np.zeros(10, np.float32)
    bias[3] = 5.0
    net.layers[2].bias.set_data(ms.Tensor(bias))
    cert = smoothing.certify(net, data.x_test[:3], 0.5, 20, 100, 0.001)
    assert (cert.label == 3).all()
    np.testing.assert_allclose(cert.radius, 0.5 * stats.norm.ppf(0.001 ** (1 / 100)))
    assert (smoothing.predict(net, data.x_test[:3], 0.5, 100, 0.001) == 3).all()


def test_sample_counts_too_small_are_refused():
    with pytest.raises(ValueError, match="n=10 cannot predict at alpha=0.001: abstains everywhere"):
        smoothing.check_samples(10, 0.001, "predict")
    with pytest.raises(ValueError, match="n=9 cannot certify at alpha=0.001"):
        smoothing.check_samples(9, 0.001, "certify")
    assert smoothing.check_samples(10, 0.001, "certify") == 10
    assert smoothing.min_predict_samples(0.001) == 11
    with pytest.raises(ValueError, match="n_smooth=8 cannot certify"):
        chapter.check_params({"n_smooth": 8, "alpha": 0.001, "n_certify": 10})


@pytest.mark.parametrize(("fn", "message"), [
    (lambda: smoothing.check_sigma(0.0), "sigma must be a number > 0, got 0.0"),
    (lambda: smoothing.check_alpha(1.0), r"alpha must be in \(0, 1\), got 1.0"),
    (lambda: privacy.check_delta(0.0), r"delta must be in \(0, 1\), got 0.0"),
    (lambda: attacks.check_eps(-0.1), "eps must be a number >= 0, got -0.1"),
    (lambda: verify.input_box(np.zeros(3), -1.0), "eps must be >= 0, got -1.0"),
    (lambda: backdoor.check_rate(0.7), r"poison_rate must be in \[0, 0.5\], got 0.7"),
    (lambda: fairness.bootstrap(np.ones(4), np.ones(4), np.ones(4), "xx"), "metric must be"),
    (lambda: privacy.noise_for_epsilon(-1.0, 0.1, 10, 1e-5), "epsilon must be > 0"),
    (lambda: M.train(np.zeros((4, 64), np.float32), np.zeros(4, np.int32),
                     M.TrainConfig(sigma=0.0)), "sigma must be > 0"),
    (lambda: M.train(np.zeros((4, 64), np.float32), np.zeros(4, np.int32),
                     M.TrainConfig(arch="rnn")), "arch must be one of mlp, cnn, got 'rnn'"),
    (lambda: M.CNN((8,)), r"channels must be two positive widths, got \(8,\)"),
    (lambda: verify.conv2d_np(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), 0, 1),
     "stride must be >= 1 and pad >= 0, got 0 and 1"),
    (lambda: verify.verified_accuracy([(np.eye(2), np.zeros(2))], np.zeros((1, 2)),
                                      np.zeros(1, int), 0.1, "lp"), "method must be one of"),
    (lambda: verify.alpha_crown_margins([(np.eye(2), np.zeros(2))], np.zeros((1, 2)),
                                        np.zeros(1, int), 0.1, steps=-1), "steps must be >= 0"),
])
def test_bad_input_raises_clear_errors(fn, message):
    with pytest.raises(ValueError, match=message):
        fn()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("eps", -0.1, r"eps must be a number in \[0.0, 1.0\], got -0.1"),
    ("sigmas", [0.25, 0.0], "sigmas must be"),
    ("alpha", 1.5, "alpha must be"),
    ("delta", 0.0, "delta must be"),
])
def test_params_spec_rejects_bad_values(name, value, message):
    with pytest.raises(ValueError, match=message):
        PARAMS.check_values({name: value})


@pytest.mark.parametrize(("q", "sigma", "steps"), [(0.01, 1.1, 1000), (0.1, 2.0, 150),
                                                   (0.2, 0.8, 50), (1.0, 5.0, 10)])
def test_rdp_accountant_matches_dp_accounting(q, sigma, steps):
    ours = privacy.dp_sgd_epsilon(q, sigma, steps, 1e-5)
    ref = privacy.library_epsilon(q, sigma, steps, 1e-5)
    assert ours == pytest.approx(ref, rel=1e-9)


def test_noise_calibration_meets_the_target():
    sigma = privacy.noise_for_epsilon(2.0, 0.1, 200, 1e-5)
    assert privacy.dp_sgd_epsilon(0.1, sigma, 200, 1e-5) <= 2.0
    assert privacy.dp_sgd_epsilon(0.1, sigma * 0.99, 200, 1e-5) > 2.0


@pytest.mark.slow
def test_per_example_gradients_match_single_example_grads_and_clip(data):
    import mindspore as ms

    net = M.MLP((64, 8, 8, 10))
    params = [ms.Tensor(p.asnumpy()) for p in net.trainable_params()]
    x, y = data.x_train[:6], data.y_train[:6]
    grads = privacy.per_example_grads(*params, ms.Tensor(x), ms.Tensor(y))
    single = ms.grad(privacy._loss_one, grad_position=(0, 1, 2, 3, 4, 5))
    for i in (0, 5):
        gi = single(*params, ms.Tensor(x[i]), ms.Tensor(y[i]))
        for a, b in zip(grads, gi, strict=True):
            np.testing.assert_allclose(a.asnumpy()[i], b.asnumpy(), atol=1e-6)
    clip = 0.01
    sums = privacy.clipped_sum(*params, ms.Tensor(x[:1]), ms.Tensor(y[:1]),
                               ms.Tensor(np.ones(1, np.float32)), ms.Tensor(np.float32(clip)))
    norm = math.sqrt(sum(float((s.asnumpy() ** 2).sum()) for s in sums))
    assert norm == pytest.approx(clip, rel=1e-4)


def test_attacks_increase_loss_and_stay_in_the_ball(data, ibp_net):
    x, y = data.x_test[:64], data.y_test[:64]
    base = privacy.example_losses(ibp_net, x, y).mean()
    xf = attacks.fgsm(ibp_net, x, y, 0.1)
    assert np.abs(xf - x).max() <= 0.1 + 1e-6
    assert privacy.example_losses(ibp_net, xf, y).mean() > base
    xp = attacks.pgd(ibp_net, x, y, 0.1, "linf", 10, 2)
    assert np.abs(xp - x).max() <= 0.1 + 1e-6 and xp.min() >= 0 and xp.max() <= 1
    assert privacy.example_losses(ibp_net, xp, y).mean() > privacy.example_losses(
        ibp_net, xf, y).mean() * 0.9
    x2 = attacks.pgd(ibp_net, x, y, 0.8, "l2", 10, 1)
    assert np.linalg.norm(x2 - x, axis=1).max() <= 0.8 + 1e-5
    assert privacy.example_losses(ibp_net, x2, y).mean() > base


@pytest.mark.slow
def test_soundness_no_pgd_counterexample_inside_certificates(data, ibp_net):
    x, y = data.x_test[:60], data.y_test[:60]
    nets = {"ibp": ibp_net}
    rob = chapter.robustness(nets, x, y, 0.1, 10, 1, 0)
    masks = rob.masks["ibp"]
    assert masks["ibp"].sum() + masks["crown"].sum() > 0
    assert (masks["alpha_crown"] >= masks["crown"]).all()
    violations, attacked = chapter.verification_soundness(nets, rob.masks, x, y, 0.1, 10, 1, 0)
    assert violations == 0 and attacked > 0
    run = chapter.SmoothingRun(0.25, ibp_net,
                               smoothing.certify(ibp_net, x[:20], 0.25, 20, 200, 0.001), 0.0)
    v, n = chapter.smoothing_soundness([run], x[:20], 200, 0.001, 5, 0)
    assert v == 0 and n > 0


def test_mia_auc_is_chance_for_identical_distributions(data, ibp_net):
    x = data.x_test[:100]
    y = data.y_test[:100]
    assert privacy.mia_auc(ibp_net, (x, y), (x, y)) == pytest.approx(0.5)


def test_backdoor_trigger_and_poisoning():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.5, (200, 64)).astype(np.float32)
    y = rng.integers(0, 10, 200).astype(np.int32)
    xp, yp, mask = backdoor.poison(x, y, 0.05, target=0)
    assert mask.sum() == 10 and (yp[mask] == 0).all() and (y[mask] != 0).all()
    assert (xp[mask].reshape(-1, 8, 8)[:, 5:, 5:] == 1).all()
    np.testing.assert_array_equal(xp[~mask], x[~mask])
    flags = np.zeros(200, bool)
    flags[mask] = True
    assert backdoor.score(flags, mask) == backdoor.Detection(1.0, 0.0, 10)


def test_trigger_transfer_confirms_poisons_and_rejects_a_clean_sub_style():
    kit.setup(0)
    data = chapter.load(0)
    xp, yp, poisoned = backdoor.poison(data.x_train, data.y_train, 0.05, seed=0)
    net = M.train(xp, yp, M.TrainConfig(hidden=32, epochs=10, seed=0))
    sub_style = (yp == 1) & (np.arange(len(yp)) % 3 == 0)  # an arbitrary third of the 1s
    kept = backdoor.confirm_by_transfer(net, xp, yp, poisoned | sub_style)
    np.testing.assert_array_equal(kept, poisoned)
    with pytest.raises(ValueError, match="keep_if=1.5"):
        backdoor.confirm_by_transfer(net, xp, yp, poisoned, keep_if=1.5)


def test_fairness_gaps_and_bootstrap():
    pred = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    a = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    assert fairness.dp_gap(pred, a) == pytest.approx(0.25)
    assert fairness.eo_gap(pred, y, a) == pytest.approx(0.5)
    x, yy, aa = fairness.synthetic(2000)
    assert yy[aa == 1].mean() < yy[aa == 0].mean()
    ci = fairness.bootstrap((x[:, 0] > 0.5).astype(int), yy, aa, "dp", 200)
    assert ci.low <= ci.high and 0 <= ci.low


def test_smoothing_tradeoff_needs_a_strict_win_below_the_radius_cap():
    y = np.zeros(4, int)

    def run(sigma, radius):
        cert = smoothing.Certificate(np.zeros(4, int), np.array(radius, float), np.ones(4), sigma)
        return chapter.SmoothingRun(sigma, None, cert, 0.0)

    assert chapter.radius_cap(0.25, 200, 0.001) == pytest.approx(0.4564, abs=1e-4)
    small = run(0.25, [0.45, 0.45, 0.45, 0.45])
    large = run(0.5, [0.9, 0.9, -1, -1])
    # the large sigma wins from r = 0.46: below the cap with N = 10000 (0.80), above it with
    # N = 200 (0.456), where the win only shows that N is too small
    assert chapter.smoothing_tradeoff([small, large], y, 10000, 0.001)["holds"]
    capped = chapter.smoothing_tradeoff([small, large], y, 200, 0.001)
    assert not capped["holds"] and capped["pairs"]["0.25->0.5"]["higher_far"]
    assert not chapter.smoothing_tradeoff([small, run(0.5, [0.3, 0.3, -1, -1])], y, 10000,
                                          0.001)["holds"]
    three = chapter.smoothing_tradeoff([run(1.0, [0.1, -1, -1, -1]), small, large], y, 10000,
                                       0.001)
    assert list(three["pairs"]) == ["0.25->0.5", "0.5->1.0"]
    assert three["pairs"]["0.25->0.5"]["holds"] and not three["pairs"]["0.5->1.0"]["holds"]
    assert not three["holds"] and three["pairs_holding"] == 1      # every pair must hold


# --- convolutions, the CNN and alpha-CROWN ---------------------------------------------------

@pytest.fixture(scope="module")
def cnn_net(data):
    return M.train(data.x_train, data.y_train,
                   M.TrainConfig(kind="standard", arch="cnn", epochs=2, seed=0))


def test_conv_interval_contains_samples_and_is_exact_at_zero_width():
    import mindspore as ms
    from mindspore import ops

    rng = np.random.default_rng(3)
    w, b = rng.normal(0, 0.5, (4, 2, 3, 3)), rng.normal(0, 0.1, 4)
    x = rng.uniform(0, 1, (3, 2, 8, 8))
    ref = ops.conv2d(ms.Tensor(x.astype(np.float32)), ms.Tensor(w.astype(np.float32)), None, 2,
                     "pad", 1).asnumpy()
    np.testing.assert_allclose(verify.conv2d_np(x, w, 2, 1), ref, atol=1e-5)
    lo, hi = x - 0.1, x + 0.1
    for stride in (1, 2):
        low, high = verify.conv_interval(w, b, lo, hi, stride, 1)
        for _ in range(100):
            z = verify.conv2d_np(rng.uniform(lo, hi), w, stride, 1) + b.reshape(1, -1, 1, 1)
            assert (z >= low - 1e-9).all() and (z <= high + 1e-9).all()
        corner = np.where(rng.random(x.shape) < 0.5, lo, hi)
        z = verify.conv2d_np(corner, w, stride, 1) + b.reshape(1, -1, 1, 1)
        assert (z >= low - 1e-9).all() and (z <= high + 1e-9).all()
        exact = verify.conv2d_np(x, w, stride, 1) + b.reshape(1, -1, 1, 1)
        low0, high0 = verify.conv_interval(w, b, x, x, stride, 1)
        np.testing.assert_allclose(low0, exact, atol=1e-12)
        np.testing.assert_allclose(high0, exact, atol=1e-12)


def test_cnn_lowering_native_conv_ibp_and_mindspore_ibp_agree(data, cnn_net):
    import mindspore as ms

    x, y = data.x_test[:16], data.y_test[:16]
    p = M.weights(cnn_net)
    assert [w.shape for w, _ in p] == [(512, 64), (256, 512), (10, 256)]
    np.testing.assert_allclose(M.forward_np(p, x), M.predict_logits(cnn_net, x), atol=1e-4)
    native = verify.ibp_conv_margins(cnn_net.conv_layers(), p[-1], x, y, 0.05)
    np.testing.assert_allclose(native, verify.ibp_margins(p, x, y, 0.05), atol=1e-10)
    worst = M.cnn_worst_logits(cnn_net, ms.Tensor(x), ms.Tensor(y),
                               ms.Tensor(np.float32(0.05))).asnumpy()
    np.testing.assert_allclose(-worst, native, atol=1e-3)
    crown = verify.crown_margins(p, x, y, 0.05)
    assert crown.mean() > native.mean()
    rng = np.random.default_rng(4)
    lo, hi = verify.input_box(x, 0.05)
    for _ in range(50):
        z = M.forward_np(p, rng.uniform(lo, hi))
        assert (z[np.arange(16), y][:, None] - z >= crown - 1e-9).all()


@pytest.mark.slow
def test_cnn_ibp_training_runs_and_certificates_survive_pgd(data, cnn_net):
    ibp_cnn = M.train(data.x_train[:256], data.y_train[:256],
                      M.TrainConfig(kind="ibp", arch="cnn", epochs=2, eps=0.05, seed=0))
    assert np.isfinite(M.predict_logits(ibp_cnn, data.x_test[:8])).all()
    x, y = data.x_test[:60], data.y_test[:60]
    nets = {"cnn": cnn_net, "cnn_ibp": ibp_cnn}
    rob = chapter.robustness(nets, x, y, 0.02, 10, 1, 0, alpha_models=())
    assert sum(m["ibp"].sum() + m["crown"].sum() for m in rob.masks.values()) > 0
    violations, attacked = chapter.verification_soundness(nets, rob.masks, x, y, 0.02, 10, 1, 0)
    assert violations == 0 and attacked > 0


def test_alpha_crown_is_sound_and_never_below_crown():
    rng = np.random.default_rng(5)
    params = random_params(rng)
    x = rng.uniform(0, 1, (6, 64))
    y = rng.integers(0, 10, 6)
    eps = 0.05
    lo, hi = verify.input_box(x, eps)
    pre = verify.crown_layers(params, x, eps)
    wd, bd = verify.margin_spec(params, y)
    crown = verify.crown_margins(params, x, y, eps)
    np.testing.assert_allclose(verify.spec_bound(params, pre, wd, bd, lo, hi), crown, atol=1e-12)
    alpha = verify.alpha_crown_margins(params, x, y, eps, steps=15)
    assert (alpha >= crown - 1e-12).all() and (alpha - crown).mean() > 0
    for _ in range(200):
        z = M.forward_np(params, rng.uniform(lo, hi))
        assert (z[np.arange(6), y][:, None] - z >= alpha - 1e-9).all()
    corners = M.forward_np(params, np.where(rng.random(x.shape) < 0.5, lo, hi))
    assert (corners[np.arange(6), y][:, None] - corners >= alpha - 1e-9).all()


# --- MindArmour side by side (optional extra 'anchors') ----------------------------------------

@pytest.mark.slow
def test_mindarmour_fgsm_matches_kit_and_pgd_agrees(data, ibp_net):
    pytest.importorskip("mindarmour")
    from kit.trust import anchor

    out = anchor.attack_comparison(ibp_net, data.x_test[:40], data.y_test[:40], 0.1, 10)
    assert out["fgsm_agreement"] == 1.0 and out["fgsm_pixels_differing"] < 0.01
    assert out["kit_fgsm_accuracy"] == out["mindarmour_fgsm_accuracy"]
    clean = M.accuracy(ibp_net, data.x_test[:40], data.y_test[:40])
    assert max(out["kit_pgd_accuracy"], out["mindarmour_pgd_accuracy"]) <= clean
    assert out["pgd_agreement"] >= 0.85


@pytest.mark.slow
def test_mindarmour_dp_mechanism_and_accountant_beside_the_kit(data):
    pytest.importorskip("mindarmour")
    from kit.trust import anchor

    cfg = privacy.DPConfig(epsilon=4.0, epochs=1, batch=128, hidden=16, seed=0)
    out = anchor.dp_comparison(data.x_train, data.y_train, data.x_test, data.y_test, cfg)
    assert out.mechanism_noise_std == pytest.approx(cfg.noise_multiplier * cfg.clip, rel=0.05)
    assert out.kit_epsilon == pytest.approx(out.dp_accounting_epsilon, rel=1e-6)
    # MindArmour's RDP conversion is the older, looser one: a larger epsilon for the same run
    assert out.dp_accounting_epsilon < out.mindarmour_rdp_epsilon < 3 * out.dp_accounting_epsilon
    assert 0.1 < out.mindarmour_mechanism_accuracy <= 1.0 and isinstance(out.dpmodel_error, str)
