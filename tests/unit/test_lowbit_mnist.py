"""kit.lowbit.mnist (chapter 01, section "MNIST"): the data slice, the im2col convolution, the
distinct random policies of equal cost, and the arithmetic of the equal-budget gains."""

import mindspore as ms
import numpy as np
import pytest
from mindspore import ops

import kit
from kit.lowbit import chapter, mnist, nets, policy


@pytest.fixture(scope="module", autouse=True)
def _setup():
    kit.setup(0)


def test_mnist_data_is_the_fixed_split_with_a_stratified_slice():
    xtr, xte, ytr, yte = mnist.mnist_data(train_images=4000)
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert xtr.dtype == np.float32 and 0.0 <= xtr.min() and xtr.max() <= 1.0
    small = mnist.mnist_data(train_images=500, test_images=200)
    assert small[0].shape == (500, 1, 28, 28) and small[1].shape == (200, 1, 28, 28)
    assert np.bincount(small[2], minlength=10).tolist() == [50] * 10  # stratified
    again = mnist.mnist_data(train_images=500, test_images=200)
    assert np.array_equal(small[0], again[0])  # the same slice every time
    with pytest.raises(ValueError, match=r"train_images must be an int in \[100, 4000\], "
                                         r"got 50"):
        mnist.mnist_data(train_images=50)
    with pytest.raises(ValueError, match=r"test_images must be an int in \[100, 1000\], "
                                         r"got 1001"):
        mnist.mnist_data(train_images=500, test_images=1001)


def test_im2col_convolution_equals_conv2d():
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.standard_normal((3, 4, 14, 14)).astype(np.float32))
    w = ms.Tensor(rng.standard_normal((8, 4, 3, 3)).astype(np.float32))
    ref = ops.conv2d(x, w, pad_mode="pad", padding=1).asnumpy()
    assert np.allclose(nets.conv_im2col(x, w, 3).asnumpy(), ref, atol=1e-4)
    arch = nets.architecture(nets.MNIST_NET)
    assert [layer.name for layer in arch] == ["conv1", "conv2", "fc1", "fc2"]
    assert arch[2].cin == 8 * 7 * 7
    assert [layer.im2col for layer in arch] == [True, True, False, False]  # unfold convs


def test_random_policies_can_be_distinct_and_of_equal_cost():
    rng = np.random.default_rng(1)
    omega = rng.uniform(0, 1, (4, 3))
    cost = np.array([[3.0, 2.0, 1.0]] * 4)
    budget = 8.0
    drawn = policy.random_policies(omega, cost, ["a", "b", "c"], budget, 50, 0, unique=True)
    assert len({p.choice for p in drawn}) == len(drawn)
    assert all(budget * 0.9 <= p.cost <= budget for p in drawn)
    # every policy of the band (cost exactly 8 here: 19 of 81) and no more
    assert len(drawn) == sum(1 for c in np.ndindex(3, 3, 3, 3) if sum(3 - i for i in c) == 8)
    few = policy.random_policies(omega, cost, ["a", "b", "c"], budget, 5, 0, unique=True)
    assert len(few) == 5


def _result():
    arms = []
    for seed, (k, g, best, med) in ((0, (0.95, 0.94, 0.96, 0.90)),
                                    (1, (0.93, 0.93, 0.92, 0.91)),
                                    (2, (0.97, 0.95, 0.97, 0.92))):
        for table in ("a", "b"):
            arms += [mnist.Arm(seed, table, "kit (MILP)", ("int4",), 1.5, k),
                     mnist.Arm(seed, table, "greedy", ("int4",) if seed else ("int8",), 1.45,
                               g),
                     mnist.Arm(seed, table, "uniform int8", ("int8",), 1.0, 0.96),
                     mnist.Arm(seed, table, "uniform int4", ("int4",), 2.0, 0.9)]
            if table == "a":
                arms += [mnist.Arm(seed, table, "random, best", ("int2",), 1.5, best),
                         mnist.Arm(seed, table, "random, median", (), 1.48, med)]
    return mnist.MnistResult(arms, {0: 0.97, 1: 0.96, 2: 0.97}, {(0, "a"): 3}, {},
                             ["a", "b"], ["a"], 400, 500, 0.7, 1.0, 12)


def test_gains_are_kit_minus_baseline_per_seed():
    r = _result()
    s = r.samples()
    assert s["accuracy_gain_vs_random_equal_cost_pts"] == pytest.approx([-1.0, 1.0, 0.0])
    assert s["accuracy_gain_vs_random_median_pts"] == pytest.approx([5.0, 2.0, 5.0])
    assert s["accuracy_gain_vs_greedy_pts"] == pytest.approx([1.0, 0.0, 2.0])
    assert s["mnist_accuracy_drop_pts"] == pytest.approx([2.0, 3.0, 0.0])
    assert s["mnist_latency_ratio_vs_int8"] == [1.5, 1.5, 1.5]
    m = r.metrics()
    assert m["mnist_kit_equals_greedy_share"] == pytest.approx(4 / 6)
    assert set(m["mnist_random_best_accuracy"]) == {"a"}
    frame = r.frame()
    assert frame.loc[("a", "kit (MILP)"), "accuracy %"] == pytest.approx(95.0)
    assert frame.loc[("a", "kit (MILP)"), "seeds"] == 3


def test_reading_says_the_sign_whichever_way_it_falls():
    from kit.core.results import spread_of

    r = _result()
    metrics = r.metrics()
    spreads = {k: spread_of(v, "seeds") for k, v in r.samples().items()}
    text = mnist.reading(metrics, spreads)
    assert "the seeds disagree on the sign against the oracle-picked random policy" in text
    assert "the kit is ahead of a typical random policy on every seed" in text
    frame = mnist.anchor_frame(metrics, spreads)
    assert "BinaryConnect" in " ".join(frame["setting"])


def test_compare_refuses_bad_tables_and_seeds():
    tables = chapter.tables(None)
    common = dict(all_tables=tables, candidates=["fp32", "int8"], train_images=100,
                  test_images=100, epochs=1, qat_epochs=1, batch=32, lr=0.01, samples=1,
                  hutch_batch=16, budget=0.7, deploy_batch=1, adapt_every=0, n_random=1)
    with pytest.raises(ValueError, match="random_tables must name one or more of"):
        mnist.compare(random_tables=["tpu"], seeds=[0], **common)
    with pytest.raises(ValueError, match="seeds must be one or more distinct ints"):
        mnist.compare(random_tables=["edge-npu"], seeds=[0, 0], **common)
