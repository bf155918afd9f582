"""Chapter 05's MNIST part: the generalised CNN (unfold + matmul equals MindSpore's Conv2d),
sparse CROWN equals dense CROWN, the stratified MNIST slices, and a tiny end-to-end run whose
certificates survive the attack."""

import numpy as np
import pytest

import kit
from kit.trust import chapter, mnist, verify
from kit.trust import models as M


@pytest.fixture(scope="module")
def digits():
    kit.setup(0, mode="graph")
    return chapter.load(0)


def test_unfold_convolution_equals_mindspore_conv2d():
    import mindspore as ms

    kit.setup(0, mode="graph")
    net = M.CNN((4, 8), 10, 28, (4, 4), (2, 2), (1, 1))
    x = np.random.default_rng(0).random((5, 784), np.float32)
    fast = net(ms.Tensor(x)).asnumpy()
    net.native = True
    np.testing.assert_allclose(net(ms.Tensor(x)).asnumpy(), fast, atol=1e-5)
    p = M.weights(net)
    assert [w.shape for w, _ in p] == [(784, 784), (392, 784), (10, 392)]
    np.testing.assert_allclose(M.forward_np(p, x), fast, atol=1e-4)


def test_cnn_refuses_bad_geometry():
    with pytest.raises(ValueError, match=r"kernels must be two ints >= 1, got \(3,\)"):
        M.CNN(kernels=(3,))
    with pytest.raises(ValueError, match="side=2 is too small"):
        M.CNN(side=2, kernels=(4, 4), strides=(2, 2), pads=(0, 0))


@pytest.mark.slow
def test_sparse_crown_equals_dense_crown_on_the_digits_cnn(digits):
    net = M.train(digits.x_train[:300], digits.y_train[:300],
                  M.TrainConfig(kind="standard", arch="cnn", epochs=1, seed=0))
    p, x, y = M.weights(net), digits.x_test[:12], digits.y_test[:12]
    for eps in (0.02, 0.1):
        np.testing.assert_allclose(verify.crown_sparse_margins(p, x, y, eps),
                                   verify.crown_margins(p, x, y, eps), atol=1e-10)
        for a, b in zip(verify.crown_sparse_layers(p, x, eps), verify.crown_layers(p, x, eps),
                        strict=True):
            np.testing.assert_allclose(a[0], b[0], atol=1e-10)
            np.testing.assert_allclose(a[1], b[1], atol=1e-10)


def test_mnist_slices_are_stratified_and_checked():
    d = mnist.load(n_train=50, n_eval=20)
    assert d.x_train.shape == (50, 784) and d.x_test.shape == (20, 784)
    assert np.bincount(d.y_train, minlength=10).tolist() == [5] * 10
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    with pytest.raises(ValueError, match="n_train must be in 10..4000, got 5000"):
        mnist.load(n_train=5000, n_eval=20)
    with pytest.raises(ValueError, match="mnist_train must be 0"):
        chapter.check_params({"n_smooth": 200, "alpha": 0.001, "n_certify": 40,
                              "mnist_train": 5})
    assert mnist.eps_tag(0.1) == "eps01" and mnist.eps_tag(0.3) == "eps03"


@pytest.mark.slow
def test_tiny_mnist_run_is_sound_and_orders_its_errors():
    kit.setup(0, mode="graph")
    d = mnist.load(n_train=200, n_eval=40)
    r = mnist.run(data=d, eps=0.1, epochs=2, seed=0, pgd_steps=5, pgd_restarts=1,
                  alpha_points=4)
    assert r.violations == 0
    assert r.clean_error <= r.pgd_error <= r.ibp_verified_error <= 1.0
    assert r.pgd_error <= r.crown_verified_error <= 1.0
    assert 0.0 <= r.alpha_crown_gain_pts <= 100.0 * r.alpha_candidates / 40
    assert set(r.metrics()) == {"mnist_clean_error_eps01", "mnist_ibp_verified_error_eps01",
                                "mnist_pgd_error_eps01", "mnist_crown_verified_error_eps01"}
