"""kit.xai.mnist and MnistCNN (chapter 09, "Sanity checks on MNIST"): balanced slices, the
28x28 CNN's shapes, its guided twin and layer-wise randomisation, the per-seed summary, and
clear errors for bad input. Training is left to the claims test (it runs the chapter)."""

import numpy as np
import pytest

import kit
from kit.xai import attribution as attr
from kit.xai import mnist
from kit.xai import models as M


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    kit.setup(0, mode="graph")


@pytest.fixture(scope="module")
def untrained():
    import mindspore as ms

    ms.set_seed(0)
    net = M.MnistCNN()
    net.set_train(False)
    return M.Classifier(net, (28, 28), 10, "mnist_cnn")


def test_stratified_head_is_balanced_and_nested():
    labels = np.repeat(np.arange(10), 40)  # sorted by class, as mnist5k's split is
    head = mnist.stratified_head(labels, 100)
    assert np.bincount(labels[head], minlength=10).tolist() == [10] * 10
    assert len(set(head.tolist())) == 100
    assert set(mnist.stratified_head(labels, 30).tolist()) <= set(head.tolist())
    assert np.bincount(labels[mnist.stratified_head(labels, 25)]).max() == 3


@pytest.mark.parametrize("n", [0, 401, 2.0, True])
def test_stratified_head_refuses_bad_counts(n):
    with pytest.raises(ValueError, match="n must be an int in"):
        mnist.stratified_head(np.repeat(np.arange(10), 40), n)


@pytest.mark.parametrize("kwargs,match", [
    ({"train_images": 50}, "train_images must be an int in \\[100, 4000\\]"),
    ({"epochs": 0}, "epochs must be"),
    ({"explained": 1}, "explained must be"),
    ({"seeds": 1}, "seeds must be an int in \\[2, 50\\]"),
])
def test_sanity_refuses_bad_sizes_before_training(kwargs, match):
    args = {"train_images": 100, "epochs": 1, "explained": 2, "seeds": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        mnist.sanity(**args)


def test_mnist_cnn_maps_and_guided_twin(untrained):
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    assert untrained.logits(x).shape == (3, 10)
    assert untrained.features(x).shape == (3, 16 * 7 * 7)
    assert untrained.hidden(x).shape == (3, 128)
    t = untrained.predict(x)
    g = attr.gradient(untrained, x, t, absolute=False)
    gb = attr.guided_backprop(untrained, x, t)
    assert g.shape == gb.shape == (3, 28, 28)
    assert not np.allclose(g, gb)  # the twin's ReLUs drop negative gradients
    # a finite difference along the gradient agrees with it (the map is d logit / dx)
    eps = 1e-3
    d = g[0] / np.linalg.norm(g[0])
    lo, hi = (untrained.logits(x[:1] + s * eps * d)[0, t[0]] for s in (-1, 1))
    assert (hi - lo) / (2 * eps) == pytest.approx(np.linalg.norm(g[0]), rel=0.05)


def test_randomised_mnist_cnn_reinitialises_only_the_chosen_layers(untrained):
    rnd = M.randomised(untrained, ("fc2", "fc1"), seed=3)
    for new, old in zip(rnd.net.get_parameters(), untrained.net.get_parameters(), strict=True):
        same = np.array_equal(new.data.asnumpy(), old.data.asnumpy())
        assert same == (new.name.split(".")[0] not in ("fc2", "fc1")), new.name
        if not same:  # Adebayo App. B: truncated N(0, 0.01^2)
            assert np.abs(new.data.asnumpy()).max() <= 0.02 + 1e-7
    with pytest.raises(ValueError, match="layers must be names from"):
        M.randomised(untrained, ("conv3",), seed=0)


def _result(seeds=(0, 1, 2)):
    k = len(seeds)
    cascade = {layer: {"Gradient": tuple(0.1 * (i + 1) for i in range(k)),
                       "Guided Backprop": tuple(0.5 + 0.1 * i for i in range(k))}
               for layer in ("fc2", "fc1", "conv2", "conv1")}
    return mnist.MnistSanity(1000, 1, 8, tuple(seeds), 64, (0.9, 0.92, 0.94)[:k], cascade,
                             (0.01, 0.02, 0.03)[:k],
                             {"Integrated Gradients": (0.6, 0.7, 0.8)[:k],
                              "Gradient": (0.5, 0.5, 0.5)[:k]},
                             (0.3, 0.3, 0.3)[:k], 12.0)


def test_metrics_give_mean_and_sample_std_of_every_spread():
    r = _result()
    spreads, m = r.spreads(), r.metrics()
    assert spreads["mnist_sanity_spearman_gradient"] == pytest.approx((0.1, 0.2, 0.3))
    assert m["mnist_insertion_auc_mean"] == pytest.approx(0.7)
    assert m["mnist_insertion_auc_std"] == pytest.approx(0.1)  # ddof 1
    assert m["mnist_insertion_auc_gradient_std"] == 0.0
    assert m["mnist_sanity_cascade"]["conv2"]["Guided Backprop"]["mean"] == pytest.approx(0.6)
    assert {f"{n}_mean" for n in spreads} <= set(m) and m["mnist_seeds"] == 3
    assert r.table().loc["conv1", "Gradient"] == "0.200 ± 0.100"


def test_reading_follows_the_numbers():
    text = mnist.reading(_result())
    assert "invariance to the layers above the input is reproduced" in text
    low = _result()
    low.cascade["fc2"]["Guided Backprop"] = (0.2, 0.2, 0.2)
    assert "is not reproduced" in mnist.reading(low)
