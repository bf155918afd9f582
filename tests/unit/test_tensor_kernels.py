"""Chapter 07's operator level: the kit's C++ kernels, as ctypes calls and MindSpore operators,
and the schedule search."""

import numpy as np
import pytest

from kit.tensor import autotune, blocks, kernels
from kit.tensor.kernels import Schedule


def _gelu(h):
    return 0.5 * h * (1 + np.tanh(blocks.GELU_C * (h + 0.044715 * h ** 3)))


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 48)).astype(np.float32)
    b = rng.standard_normal((48, 32)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    return a, b, bias


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("vec", kernels.WIDTHS)
def test_matmul_matches_numpy_for_every_loop_order_and_width(operands, order, vec):
    a, b, bias = operands
    s = Schedule(16, 16, 8, order, vec, 2)
    np.testing.assert_allclose(kernels.matmul(a, b, s), a @ b, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(kernels.matmul(a, b, s, bias), _gelu(a @ b + bias),
                               rtol=1e-4, atol=1e-4)


def test_fused_layernorm_gelu_matches_the_block_for_every_schedule():
    x, w, b = blocks.inputs("layernorm_gelu", (40, 64), seed=3)
    w = np.linspace(0.5, 1.5, 64).astype(np.float32)
    b = np.linspace(-0.2, 0.2, 64).astype(np.float32)
    reference = blocks.np_block("layernorm_gelu")(x, w, b)
    for vec in kernels.WIDTHS:
        for chunk, threads in ((1, 1), (7, 2)):
            out = kernels.layernorm_gelu(x, w, b, vec, chunk, threads)
            np.testing.assert_allclose(out, reference, atol=1e-5)


def test_bias_gelu_pass_and_large_inputs_stay_finite():
    x = np.array([[-200.0, -3.0, 0.0, 3.0, 200.0, 1e4, -1e4, 0.5]], np.float32)
    out = kernels.bias_gelu(x, np.zeros(8, np.float32))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, _gelu(x.astype(np.float64)), atol=1e-5, rtol=1e-5)


def test_kernels_run_as_mindspore_operators_in_pynative_and_jit(operands):
    import mindspore as ms
    from mindspore import ops

    a, b, bias = operands
    s = ms.Tensor(Schedule(16, 32, 16, 0, 8, 2).array())
    op, fused = kernels.ms_matmul(), kernels.ms_matmul(bias_gelu_epilogue=True)
    ta, tb, tbias = ms.Tensor(a), ms.Tensor(b), ms.Tensor(bias)
    np.testing.assert_allclose(op(ta, tb, s).asnumpy(), ops.matmul(ta, tb).asnumpy(),
                               rtol=1e-5, atol=1e-4)

    @ms.jit
    def layer(x, y, z, sched):
        return fused(x, y, z, sched) * 2

    np.testing.assert_allclose(layer(ta, tb, tbias, s).asnumpy(), 2 * _gelu(a @ b + bias),
                               rtol=1e-4, atol=1e-4)
    x, w, beta = blocks.inputs("layernorm_gelu", (8, 32))
    ln = kernels.ms_layernorm_gelu()
    out = ln(ms.Tensor(x), ms.Tensor(w), ms.Tensor(beta), kernels.ln_schedule_tensor(32, 8))
    np.testing.assert_allclose(out.asnumpy(), blocks.np_block("layernorm_gelu")(x, w, beta),
                               atol=1e-5)


@pytest.mark.parametrize("schedule, message", [
    (Schedule(24, 16, 8), "tile tm=24 must divide the problem size 64"),
    (Schedule(128, 16, 8), "tile tm=128 must divide"),
    (Schedule(16, 16, 8, order=3), "order must be 0..2"),
    (Schedule(16, 16, 8, vec=2), "vec must be one of (1, 4, 8, 16), got 2"),
    (Schedule(16, 8, 8, vec=16), "vec=16 must divide tn=8"),
    (Schedule(16, 16, 8, threads=0), "threads must be in [1, 64], got 0"),
])
def test_bad_schedules_are_refused(operands, schedule, message):
    a, b, _ = operands
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        kernels.matmul(a, b, schedule)


def test_bad_operands_are_refused(operands):
    a, b, _ = operands
    with pytest.raises(ValueError, match="a must be a float32 numpy array.*float64"):
        kernels.matmul(a.astype(np.float64), b, Schedule(16, 16, 8))
    with pytest.raises(ValueError, match="inner sizes differ"):
        kernels.matmul(a, a, Schedule(16, 16, 8))
    with pytest.raises(ValueError, match=r"bias must have shape \(32,\)"):
        kernels.matmul(a, b, Schedule(16, 16, 8), np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="vec must be one of .* divide the width 12"):
        kernels.layernorm_gelu(np.zeros((2, 12), np.float32), np.ones(12, np.float32),
                               np.zeros(12, np.float32), vec=8)


def test_a_missing_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    with pytest.raises(RuntimeError, match="apt install g\\+\\+"):
        kernels.compiler()


def test_search_space_holds_only_valid_schedules():
    candidates = autotune.space(32, 64, 16)
    assert len(candidates) == len(set(candidates)) > 100
    for s in candidates:
        s.check(32, 64, 16)
    assert len({len(autotune.features(s, 32, 64, 16)) for s in candidates}) == 1
    with pytest.raises(ValueError, match="m must be >= 1"):
        autotune.space(0, 8, 8)


def test_searches_spend_exactly_their_budget_and_find_fast_schedules():
    problem = autotune.Problem(64, 64, 64)
    candidates = autotune.space(64, 64, 64)
    naive = problem.seconds(kernels.naive_schedule(64, 64, 64))
    grid = autotune.grid_search(problem, candidates, 12)
    assert grid.schedules == autotune.grid_search(problem, candidates, 12).schedules
    rnd = autotune.random_search(problem, candidates, 12, seed=1)
    warm = Schedule(16, 64, 16, 0, 16, 1)
    model = autotune.model_search(problem, candidates, 20, first=4, batch=4, warm_start=(warm,))
    assert model.schedules[0] == warm
    for search in (grid, rnd, model):
        assert len(search.schedules) == len(set(search.schedules))
        assert len(search.schedules) == (20 if search is model else 12)
        assert (np.diff(search.best_so_far()) <= 0).all()
    assert model.best[1] < naive
    rho, held = autotune.held_out_spearman(problem, candidates, [grid, model], n_held_out=10)
    assert held == 10 and -1 <= rho <= 1
    with pytest.raises(ValueError, match="budget must be in"):
        autotune.random_search(problem, candidates, 0)


def test_loading_the_kernels_leaves_subnormals_alone():
    # -ffast-math in the link step would switch the whole process to flush-to-zero
    kernels.library()
    assert np.float32(1e-40) != 0
    assert np.finfo(np.float32).smallest_subnormal > 0


def test_fusion_choice_times_the_variants_in_rounds():
    tuned = Schedule(32, 32, 16, 0, 8, 1)
    row = autotune.fusion_choice(64, 32, 16, tuned, 8, 5.0, rounds=3)
    assert len(row["co_vs_separate_rounds"]) == 3
    assert row["co_vs_separate"] == pytest.approx(np.median(row["co_vs_separate_rounds"]))
    assert 0 < row["pass share"] < 1 and row["co_schedule"].threads == 1
    assert row["predicted_fused_ms"] <= row["separate_ms"] + 1e-9
