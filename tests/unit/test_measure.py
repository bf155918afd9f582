"""kit.core.measure: timers, repeated timing, child-process peak memory, FLOP counts."""

import time

import numpy as np
import pytest

from kit.core import measure


def allocate_mb(mb: int) -> None:
    """Touch ``mb`` MiB (module level so the child process can unpickle it)."""
    block = np.ones(mb * 1024 * 1024 // 8)
    block.sum()


def fail() -> None:
    raise ValueError("boom")


def test_timer_and_time_call_measure_sleep():
    with measure.Timer() as t:
        time.sleep(0.02)
    assert 0.015 < t.seconds < 1.0
    calls = []
    timing = measure.time_call(lambda: calls.append(1) or time.sleep(0.01), repeats=4, warmup=2)
    assert len(calls) == 6 and len(timing.samples) == 4
    assert 0.008 < timing.best <= timing.median < 1.0
    assert timing.spread >= 0


def test_speedup_is_a_ratio_of_medians():
    slow, fast = measure.Timing((4.0, 4.0, 4.0)), measure.Timing((1.0, 2.0, 3.0))
    assert measure.speedup(slow, fast) == 2.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"repeats": 0}, "repeats must be an int >= 1, got 0"),
    ({"warmup": -1}, "warmup must be an int >= 0, got -1"),
])
def test_time_call_refuses_bad_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure.time_call(print, **kwargs)


@pytest.mark.slow
def test_peak_rss_sees_a_large_allocation_in_the_child():
    small = measure.peak_rss(allocate_mb, 1)
    large = measure.peak_rss(allocate_mb, 200)
    assert large.growth_mb > 150
    assert large.growth_mb > small.growth_mb + 150
    assert large.peak_mb >= large.baseline_mb


def test_peak_rss_reports_child_failures():
    with pytest.raises(RuntimeError, match="ValueError: boom"):
        measure.peak_rss(fail)


def test_flop_and_byte_counts():
    assert measure.matmul_flops(2, 3, 4) == 48
    assert measure.dense_flops(10, 64, 32) == 2 * 10 * 64 * 32 + 10 * 32
    assert measure.dense_flops(10, 64, 32, bias=False) == 40960
    assert measure.mlp_flops(1, [4, 3, 2]) == (24 + 3) + (12 + 2)
    assert measure.conv2d_flops(1, 3, 8, (6, 6), (3, 3), bias=False) == 2 * 36 * 8 * 27
    assert measure.conv2d_flops(1, 4, 4, (1, 1), (1, 1), groups=4, bias=False) == 8
    with pytest.raises(ValueError, match="groups must divide"):
        measure.conv2d_flops(1, 3, 8, (1, 1), (1, 1), groups=2)
    assert measure.tensor_bytes((2, 3), np.float16) == 12
    assert measure.tensor_bytes([]) == 4


def test_interleave_alternates_calls_and_takes_ratios_round_by_round():
    order = []
    calls = {"slow": lambda: (order.append("slow"), time.sleep(0.004)),
             "fast": lambda: (order.append("fast"), time.sleep(0.001))}
    timed = measure.interleave(calls, rounds=3, repeats=2, warmup=1)
    assert order[:2] == ["slow", "fast"]  # warm-up, once each
    assert order[2:] == ["slow", "fast"] * 6  # A B A B ..., never a block of A then of B
    assert [len(r) for r in timed.seconds["slow"]] == [2, 2, 2]
    ratios = timed.ratios("slow", "fast")
    assert len(ratios) == 3 and all(r > 1.5 for r in ratios)
    assert timed.ratio("slow", "fast") == sorted(ratios)[1]
    assert len(timed.timing("fast").samples) == 6


@pytest.mark.parametrize("kwargs, message", [
    ({"rounds": 0}, "rounds must be an int >= 1, got 0"),
    ({"repeats": 1.5}, "repeats must be an int >= 1, got 1.5"),
    ({"warmup": -1}, "warmup must be an int >= 0, got -1"),
])
def test_interleave_refuses_bad_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure.interleave({"a": lambda: None}, **kwargs)
