"""kit.core.tensors.fetch: outputs back in the order given, converted, largest read first."""

import mindspore as ms
import numpy as np
import pytest

from kit.core.tensors import fetch


def test_fetch_keeps_order_and_converts():
    loss = ms.Tensor(np.float32(2.5))
    grad = ms.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    value, g = fetch(loss, grad, dtype=np.float64)
    assert value.dtype == np.float64 and g.dtype == np.float64
    assert float(value) == 2.5
    np.testing.assert_array_equal(g, np.arange(6).reshape(2, 3))


def test_fetch_reads_largest_first():
    class Spy:
        read: list[int] = []

        def __init__(self, n):
            self.shape, self.n = (n,), n

        def asnumpy(self):
            Spy.read.append(self.n)
            return np.zeros(self.n)

    out = fetch(Spy(1), Spy(50), Spy(7))
    assert Spy.read == [50, 7, 1]
    assert [len(a) for a in out] == [1, 50, 7]


def test_fetch_needs_a_tensor():
    with pytest.raises(ValueError, match="at least one tensor"):
        fetch()
