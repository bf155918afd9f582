"""kit.lowbit (chapter 01): fake quantization (values on the grid, gradients through), LSQ,
sensitivity against exact Hessians, the MILP against brute force, hardware tables and errors."""

import itertools
import json

import mindspore as ms
import numpy as np
import pytest
from mindspore import ops

import kit
from kit.lowbit import chapter, hardware, nets, policy, quant, sensitivity
from kit.lowbit import precision as fmt


@pytest.fixture(scope="module", autouse=True)
def _setup():
    kit.setup(0)


# --- formats and fake quantization -------------------------------------------------------

def test_parse_precisions_and_errors():
    assert fmt.parse("int4") == fmt.Format("int4", "int", 4)
    assert fmt.parse("fp16").bits == 16 and fmt.parse("fp32").bits == 32
    assert fmt.parse("int16").qmax_signed == 32767
    with pytest.raises(ValueError, match="precision must be one of fp32, fp16, bf16 or int<b>"):
        fmt.parse("fp8")
    with pytest.raises(ValueError, match=r"bit-width of precision 'int1' must be an int in "
                                         r"\[2, 16\], got 1"):
        fmt.parse("int1")
    with pytest.raises(ValueError, match=r"bits must be an int in \[2, 16\], got 17"):
        fmt.check_bits(17)
    with pytest.raises(ValueError, match=r"bits must be an int in \[2, 16\], got 1"):
        quant.fake_quant_np(np.ones((2, 2), np.float32), 1)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fake_quant_values_lie_on_the_grid(bits, per_channel):
    rng = np.random.default_rng(bits)
    w = (rng.standard_normal((6, 20)) * rng.uniform(0.1, 2, (6, 1))).astype(np.float32)
    q, step = quant.fake_quant_np(w, bits, per_channel)
    s = step.reshape(-1, 1) if per_channel else step.reshape(())
    levels = q / s
    assert np.allclose(levels, np.round(levels), atol=1e-4)
    qmax = 2 ** (bits - 1) - 1
    assert np.abs(np.round(levels)).max() <= qmax
    # the MindSpore op agrees with the numpy reference
    assert np.allclose(q, fmt.quantize(w, s, -qmax, qmax), atol=1e-6)
    if per_channel:  # per-channel never worse than per-tensor
        qt, _ = quant.fake_quant_np(w, bits, False)
        assert ((q - w) ** 2).sum() <= ((qt - w) ** 2).sum() + 1e-9


def _fq_sum(x, s, weight):
    return (quant.fake_quant(x, s, -7.0, 7.0) * weight).sum()


def test_ste_passes_the_gradient_and_lsq_step_gradient():
    x = ms.Tensor(np.array([0.26, -0.4, 0.61, 5.0], np.float32))  # last one is clipped
    s = ms.Tensor(np.float32(0.1))
    weight = ms.Tensor(np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    gx, gs = ms.grad(_fq_sum, grad_position=(0, 1))(x, s, weight)
    # straight through inside the range, zero where clipped
    assert np.allclose(gx.asnumpy(), [1.0, 2.0, 3.0, 0.0])
    # LSQ: d q / d s = round(x/s) - x/s inside, the clip level outside
    v = x.asnumpy() / 0.1
    expected = np.where(np.abs(v) <= 7, np.round(v) - v, np.sign(v) * 7) @ weight.asnumpy()
    assert gs.asnumpy() == pytest.approx(expected, rel=1e-4)


@pytest.mark.slow
def test_fake_quant_trains_under_jit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    true_w = rng.uniform(-1, 1, (8, 1)).astype(np.float32)
    y = x @ true_w
    cfg = quant.cfg_table(["int4"], ["fp32"])
    grad = ms.jit(ms.value_and_grad(_lin_loss, grad_position=0))
    theta = ms.Tensor(np.zeros(9, np.float32))
    first = None
    for _ in range(150):
        loss, g = grad(theta, ms.Tensor(x), ms.Tensor(y), ms.Tensor(cfg))
        first = first if first is not None else float(loss.asnumpy())
        theta = theta - 0.1 * g
    assert float(loss.asnumpy()) < 0.05 * first
    w = theta.asnumpy()[:8]
    assert np.abs(np.round(w * 7) - np.clip(np.round(true_w.ravel() * 7), -7, 7)).max() <= 1


def _lin_loss(theta, x, y, cfg):
    keys = (("dense", 8, 1, 1, 1, False, False, False, 1),)
    out = nets.forward(keys, theta, ops.ones(1, ms.float32) / 7.0,
                       ops.ones(1, ms.float32) * 0.05, x, cfg)
    return ((out - y) ** 2).mean()


def test_cfg_rows_and_float_simulation():
    row = quant.cfg_row("int4", "fp16")
    assert row.tolist() == [0, 0, 0, 1, 7, 0, 1, 0, 0, 127]
    with pytest.raises(ValueError, match="precision must be one of"):
        quant.cfg_row("int4", "fp12")
    x = np.array([1.0 + 2 ** -9, 3.14159], np.float32)
    assert fmt.to_bf16(x).tolist() == [1.0, 3.140625]
    out = quant.fake_cast(ms.Tensor(x), ms.float16).asnumpy()
    assert np.allclose(out, x.astype(np.float16).astype(np.float32))


def test_unknown_network_is_refused():
    with pytest.raises(ValueError, match="network must be one of mlp, cnn, dsconv"):
        nets.architecture("resnet")


# --- sensitivity -------------------------------------------------------------------------

def _small_trainer():
    arch = [nets.Layer("fc1", "dense", 5, 4), nets.Layer("fc2", "dense", 4, 3)]
    return nets.Trainer(arch, nets.init_params(arch, 3), 0.01)


def _exact_weight_traces(trainer, x, y, eps=1e-3):
    """Block traces of the loss Hessian by central differences in float64 numpy."""
    theta = trainer.theta.astype(np.float64)
    arch = trainer.arch

    def loss(t):
        (w1, b1), (w2, b2) = nets.split_params(arch, t)
        h = np.maximum(x @ w1.T + b1, 0)
        z = h @ w2.T + b2
        z = z - z.max(1, keepdims=True)
        return (np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]).mean()

    out, off = [], 0
    for layer in arch:
        total = 0.0
        for i in range(off, off + layer.n_weights):
            e = np.zeros_like(theta)
            e[i] = eps
            total += (loss(theta + e) - 2 * loss(theta) + loss(theta - e)) / eps ** 2
        out.append(total)
        off += layer.n_weights + layer.cout
    return np.array(out)


@pytest.mark.slow
def test_hutchinson_and_perturbation_match_the_exact_trace():
    trainer = _small_trainer()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    exact = _exact_weight_traces(trainer, x.astype(np.float64), y)
    traces = sensitivity.hutchinson(trainer, x, y, 400, 0)
    assert np.allclose(traces.weight, exact, rtol=0.25, atol=0.02)
    assert (traces.weight_se < np.abs(exact)).all()
    pert = sensitivity.perturbation_traces(trainer, x, y, 100, 0, rel_sigma=0.005)
    # the loss is smooth in the last layer's weights: the forward-only estimate agrees there;
    # in the first layer perturbations cross ReLU kinks, whose curvature the pointwise Hessian
    # does not see, so the estimate there is larger
    assert pert[1] == pytest.approx(exact[1], rel=0.2)
    assert pert[0] > 0.8 * exact[0]
    with pytest.raises(ValueError, match="samples must be an int >= 1, got 0"):
        sensitivity.hutchinson(trainer, x, y, 0, 0)
    with pytest.raises(ValueError, match=r"rel_sigma must be in \(0, 1\), got 2"):
        sensitivity.perturbation_traces(trainer, x, y, 1, 0, rel_sigma=2)


def test_predicted_loss_orders_formats():
    trainer = _small_trainer()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    traces = sensitivity.hutchinson(trainer, x, y, 20, 0)
    formats = ["fp32", "fp16", "int8", "int4", "int2"]
    noise = sensitivity.quant_noise(trainer, np.abs(x), formats)
    om = sensitivity.omega(sensitivity.loss_terms(trainer.arch, traces, noise),
                           noise.formats, formats, formats)
    assert (om[:, 0] == 0).all()
    assert (np.diff(om, axis=1) >= 0).all()  # fewer bits, more predicted loss
    assert sensitivity.spearman(np.array([1, 2, 3.0]), np.array([2, 4, 9.0])) == 1.0


# --- policy search -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_milp_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    layers, k = 5, 4
    omega = rng.uniform(0, 1, (layers, k)) * np.array([0, 0.01, 0.3, 1.0])
    cost = rng.uniform(0.5, 1.5, (layers, 1)) * np.array([4.0, 2.0, 1.0, 0.5])
    names = ["fp32", "fp16", "int8", "int4"]
    budget = float(rng.uniform(policy.cheapest(cost), cost[:, 1].sum()))
    found = policy.milp(omega, cost, names, budget)
    best = policy.brute_force(omega, cost, names, budget)
    assert found.loss == pytest.approx(best.loss, abs=1e-12)
    assert found.cost <= budget * (1 + 1e-9)
    greedy = policy.greedy(omega, cost, names, budget)
    assert greedy.cost <= budget * (1 + 1e-9) and greedy.loss >= found.loss - 1e-12
    for p in policy.random_policies(omega, cost, names, budget, 5, seed):
        assert budget * 0.9 <= p.cost <= budget and p.loss >= found.loss - 1e-12


def test_milp_respects_missing_precisions_and_budget_errors():
    omega = np.array([[0.0, 1.0], [0.0, 1.0]])
    cost = np.array([[2.0, 1.0], [2.0, np.inf]])
    p = policy.milp(omega, cost, ["int8", "int4"], 3.0)
    assert p.names == ["int4", "int8"]
    with pytest.raises(ValueError, match="no policy fits a budget of 2.5 s; the cheapest "
                                         "costs 3 s"):
        policy.milp(omega, cost, ["int8", "int4"], 2.5)
    with pytest.raises(ValueError, match="precision must be one of int8, int4, got 'fp32'"):
        policy.uniform("fp32", omega, cost, ["int8", "int4"])
    assert policy.difference_fraction(["a", "b", "c"], ["a", "x", "y"]) == pytest.approx(2 / 3)


# --- hardware ----------------------------------------------------------------------------

def test_shipped_tables_differ_as_described():
    tables = hardware.shipped()
    assert len(tables) >= 3
    cpu, npu, cloud = tables["cpu-x86-vnni"], tables["edge-npu"], tables["cloud-int4-fallback"]
    assert cpu.mac_ps["fp16"] >= cpu.mac_ps["fp32"]  # fp16 buys nothing on the CPU
    assert npu.mac_ps["int4"] == pytest.approx(npu.mac_ps["int8"] / 2)
    assert cloud.compute_format("int4") == "fp16"
    layer = nets.Layer("fc", "dense", 256, 256)
    # bandwidth-bound on the cloud table: W4A16 moves half the weights and twice the inputs
    t4 = hardware.layer_latency(layer, "int4", cloud, 1)
    t8 = hardware.layer_latency(layer, "int8", cloud, 1)
    expected = (256 * 256 * 0.5 + 512 * 2) / (256 * 256 + 512)
    assert t4 / t8 == pytest.approx(expected)


def test_malformed_tables_are_refused(tmp_path):
    good = json.loads((hardware.HARDWARE / "edge-npu.json").read_text())
    cases = [
        ({"bandwidth_gb_s": -1}, "bandwidth_gb_s must be a number > 0, got -1"),
        ({"precisions": {}}, "precisions must be a non-empty object"),
        ({"precisions": {"int9x": {"mac_ps": 1}}}, "precision must be one of"),
        ({"precisions": {"int1": {"mac_ps": 1}}}, r"must be an int in \[2, 16\]"),
        ({"precisions": {"int8": {"mac_ps": 0}}}, "precisions.int8.mac_ps must be a number > 0"),
        ({"precisions": {"int8": {"mac_ps": 1}, "int4": {"mac_ps": 1, "fallback": "fp16"}}},
         "precisions.int4.fallback must name another precision"),
        ({"colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ]
    for change, message in cases:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(ValueError, match=message):
            hardware.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        hardware.load(path)


def test_measured_table_is_valid():
    m = hardware.measure_table(repeats=1, n=64, copy_mb=4, rounds=3)
    t = hardware.check_table(m.table)
    assert set(t.mac_ps) >= {"fp32", "fp16", "int8", "int4"}
    assert t.compute_format("int4") == "fp32" and t.bandwidth_gb_s > 0
    # the table's int8 is the fastest of MindSpore's int8 paths, each timed in every round
    paths = m.metrics()["measured_int8_paths_speedup_vs_fp32"]
    assert set(paths) == set(hardware.INT8_PATHS) and m.int8_path in paths
    assert paths[m.int8_path] == max(paths.values())
    assert t.mac_ps["int8"] == pytest.approx(t.mac_ps["fp32"] / paths[m.int8_path])
    rounds = m.speed_rounds()
    assert all(len(v) == 3 and min(v) > 0 for v in rounds.values())
    assert m.add_seconds > 0


def test_size_and_policy_helpers():
    arch = nets.architecture("mlp")
    assert chapter.size_reduction(arch, ["fp32"] * 4) == pytest.approx(1.0)
    weights = sum(layer.n_weights for layer in arch)
    biases = sum(layer.cout for layer in arch)
    assert chapter.size_reduction(arch, ["int4"] * 4) == pytest.approx(
        (4 * weights + 4 * biases) / (weights / 2 + 4 * biases))
    diff, pair = chapter.max_difference({"a": ["x", "y"], "b": ["x", "z"], "c": ["w", "z"]})
    assert diff == 1.0 and pair == ("a", "c")


def test_params_spec_refuses_bad_values():
    from kit.lowbit import PARAMS

    with pytest.raises(ValueError, match="precisions must be a list of 2-6 items"):
        PARAMS.check_values({"precisions": ["fp32", "int3"]})
    with pytest.raises(ValueError, match="networks must be a list"):
        PARAMS.check_values({"networks": ["resnet"]})


def test_every_format_pair_builds_a_cfg():
    names = ["fp32", "fp16", "bf16", "int8", "int4", "int2"]
    for w, a in itertools.product(names, names):
        row = quant.cfg_row(w, a)
        assert row[:4].sum() == 1 and row[5:9].sum() == 1


def test_underflow_fraction_counts_entries_flushed_to_zero():
    from kit.lowbit import lossscale

    reference = np.array([1e-3, 1e-9, 0.0, 2e-9])
    half = np.array([1e-3, 0.0, 0.0, 0.0])
    assert lossscale.underflow_fraction(reference, half) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="half.shape"):
        lossscale.underflow_fraction(reference, half[:2])


@pytest.mark.slow
def test_loss_scaling_keeps_float16_gradients_alive():
    from kit.lowbit import lossscale

    kit.setup(0)
    xtr, xte, ytr, yte = chapter.data("mlp", 0)
    arms = lossscale.train_arms((xtr[:512], xte[:200], ytr[:512], yte[:200]), epochs=3, seed=0)
    plain, scaled = arms["fp16"], arms["fp16 + loss scaling"]
    assert plain.scale[-1] == 1.0 and scaled.scale[-1] >= 2.0 ** 16
    assert max(plain.underflow) > 0.0
    assert max(scaled.underflow) < max(plain.underflow)
    assert arms["fp32"].accuracy[-1] > 0.8
    with pytest.raises(ValueError, match="epochs=0"):
        lossscale.train_arms((xtr, xte, ytr, yte), epochs=0, seed=0)
