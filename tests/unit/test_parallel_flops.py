"""kit.parallel.flops_check (chapter 08, "Validation 3"): FLOP counts, the fit-and-predict
scoring on synthetic timings (exact when time is FLOPs / throughput, wrong when overhead
dominates: the claim can fail), clear errors, and a tiny real MindSpore run."""

import pytest

from kit.parallel import flops_check as fc


def test_step_flops_are_three_forward_passes():
    h, batch = 64, 8
    # widths h-h-h-10: two h x h dense layers and the classifier
    assert fc.step_flops(fc.mlp_widths(h), batch) == 3 * 2 * batch * (h * h + h * h + h * 10)


def test_score_is_exact_for_pure_compute_and_fails_under_fixed_overhead():
    flops = [1e8, 4e8, 1.6e9]
    pure = [f / 2e10 for f in flops]
    throughput, errors = fc.score(flops, pure, fit=2)
    assert throughput == pytest.approx(2e10) and max(errors) < 1e-12
    # 20 ms of fixed per-step overhead: the small models' times are mostly overhead
    _, errors = fc.score(flops, [t + 20e-3 for t in pure], fit=2)
    assert errors[0] > 0.5


def test_check_summarises_rounds():
    flops = (1e8, 4e8, 1.6e9)
    seconds = tuple((f / 1e10, f / 1e10 * 1.2) for f in flops)  # round 2: uniformly slower
    check = fc.FlopModelCheck((64, 128, 256), flops, seconds, fit=2)
    assert check.round_errors == pytest.approx((0.0, 0.0), abs=1e-12)
    m = check.metrics()
    assert m["flop_model_cpu_fit_width"] == 256 and set(m["flop_model_cpu_errors_by_width"]) == {
        "64", "128"}
    assert [r["role"] for r in check.rows()] == ["predicted", "predicted", "fit"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: fc.score([1.0], [1.0], 0), "same length >= 2"),
    (lambda: fc.score([1.0, 2.0], [1.0, 2.0], 2), "fit must index one of the 2 sizes, got 2"),
    (lambda: fc.score([1.0, 2.0], [0.0, 2.0], 0), "must all be > 0"),
    (lambda: fc.check_flop_model(hidden=(64, 128)), r"hidden needs >= 3 distinct widths"),
    (lambda: fc.check_flop_model(rounds=0), "rounds must be an int >= 1, got 0"),
])
def test_bad_input_is_refused_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.slow
def test_tiny_real_run_times_every_width():
    import kit

    kit.setup(0, mode="graph")
    check = fc.check_flop_model(hidden=(16, 32, 64), batch=8, rounds=2, repeats=1)
    assert check.hidden == (16, 32, 64) and all(len(s) == 2 for s in check.seconds)
    assert all(t > 0 for s in check.seconds for t in s)
    assert len(check.round_errors) == 2
