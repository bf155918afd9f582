"""Wall time with repeats, peak memory of a call in a child process, FLOP and byte counts.

Used by every chapter's experiments (contract part 6). Performance claims are ratios of two
measurements taken side by side in one run, never absolute times asserted in tests.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (perf_counter wall time)."""

    def __init__(self) -> None:
        self.seconds = float("nan")
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


@dataclass(frozen=True)
class Timing:
    """Repeated wall times of one call; ``median`` is the number to compare."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def spread(self) -> float:
        """Interquartile range divided by the median (0 when fewer than 4 samples)."""
        if len(self.samples) < 4:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return (q3 - q1) / self.median if self.median > 0 else 0.0


def time_call(fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: int = 1,
              **kwargs: Any) -> Timing:
    """Call ``fn`` ``warmup`` times untimed (compilation), then time ``repeats`` calls."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    for _ in range(warmup):
        fn(*args, **kwargs)
    samples = []
    for _ in range(repeats):
        with Timer() as t:
            fn(*args, **kwargs)
        samples.append(t.seconds)
    return Timing(tuple(samples))


def speedup(baseline: Timing, candidate: Timing) -> float:
    """How many times faster ``candidate`` is than ``baseline`` (ratio of medians)."""
    return baseline.median / candidate.median


@dataclass(frozen=True)
class Interleaved:
    """Wall times of several calls taken in interleaved rounds (A B A B ... in every round).

    ``seconds[name][r]`` holds call ``name``'s samples in round ``r``. A speed ratio is taken
    round by round (both sides measured in the same seconds, so a change of machine load hits
    both alike) and summarised over rounds: ``ratios`` are the per-round ratios of medians,
    whose median is the headline and whose min/max are its spread (``kit.core.results``).
    """

    seconds: dict[str, tuple[tuple[float, ...], ...]]

    def timing(self, name: str) -> Timing:
        """All of ``name``'s samples, every round together."""
        return Timing(tuple(t for round_ in self.seconds[name] for t in round_))

    def round_medians(self, name: str) -> list[float]:
        """The median of ``name``'s samples in each round, in seconds."""
        return [statistics.median(round_) for round_ in self.seconds[name]]

    def round_minima(self, name: str) -> list[float]:
        """The fastest of ``name``'s samples in each round, in seconds (a call that was not
        preempted: on a shared machine the least load-dependent estimate of its cost)."""
        return [min(round_) for round_ in self.seconds[name]]

    def ratios(self, baseline: str, candidate: str, stat: str = "median") -> list[float]:
        """Per round, how many times faster ``candidate`` ran than ``baseline``, from each
        side's per-round ``stat``: ``"median"`` or ``"min"`` (:meth:`round_minima`)."""
        if stat not in ("median", "min"):
            raise ValueError(f"stat must be 'median' or 'min', got {stat!r}")
        per_round = self.round_medians if stat == "median" else self.round_minima
        return [b / c for b, c in zip(per_round(baseline), per_round(candidate), strict=True)]

    def ratio(self, baseline: str, candidate: str, stat: str = "median") -> float:
        """The median over rounds of :meth:`ratios` (the number a chapter reports)."""
        return statistics.median(self.ratios(baseline, candidate, stat))


def interleave(calls: dict[str, Callable[[], Any]], *, rounds: int = 5, repeats: int = 3,
               warmup: int = 1) -> Interleaved:
    """Time every call ``repeats`` times per round, alternating the calls (A B A B ...), over
    ``rounds`` rounds, after ``warmup`` untimed calls of each (compilation). One process, never
    one block of A then one block of B: used for every speed ratio a chapter reports."""
    for name, value in (("rounds", rounds), ("repeats", repeats)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    if len(calls) < 1:
        raise ValueError("calls must name at least one callable, got none")
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[list[float]]] = {name: [] for name in calls}
    for _ in range(rounds):
        for times in samples.values():
            times.append([])
        for _ in range(repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                samples[name][-1].append(time.perf_counter() - start)
    return Interleaved({name: tuple(tuple(r) for r in times) for name, times in samples.items()})


@dataclass(frozen=True)
class PeakMemory:
    """Resident memory of a child process: before the call, at its peak, and the growth."""

    baseline_mb: float
    peak_mb: float

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.baseline_mb


def status_mb(field: str = "VmHWM") -> float:
    """A memory figure of this process from /proc/self/status, in MiB: ``VmHWM`` (peak resident
    set size so far) or ``VmRSS`` (resident now). Used by chapters 02 and 08."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def reset_peak() -> None:
    """Reset this process's VmHWM to its current resident size (Linux clear_refs)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _hwm_mb() -> float:
    return status_mb("VmHWM")


def _reset_hwm() -> None:
    reset_peak()


def _child(fn: Callable[..., Any], args: tuple, conn: Any) -> None:
    try:
        _reset_hwm()
        base = _hwm_mb()
        fn(*args)
        conn.send(("ok", base, _hwm_mb()))
    except BaseException as err:  # report any failure to the parent, then exit
        conn.send(("error", f"{type(err).__name__}: {err}", 0.0))
    finally:
        conn.close()


def peak_rss(fn: Callable[..., Any], *args: Any, timeout: float = 600.0) -> PeakMemory:
    """Run ``fn(*args)`` in a fresh (spawned) process and return its RSS growth.

    ``fn`` must be a module-level function (it is pickled). MindSpore's own memory statistics
    read 0 on CPU (finding:memory-stats-zero), so RSS high-water marks are the honest measure
    here (Linux only).
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, child))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        raise TimeoutError(f"peak_rss: {getattr(fn, '__name__', fn)} ran past {timeout} s")
    status, first, second = parent.recv()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"peak_rss: the child process failed: {first}")
    return PeakMemory(baseline_mb=first, peak_mb=second)


def matmul_flops(m: int, k: int, n: int) -> int:
    """Floating-point operations of an (m, k) @ (k, n) product: one multiply and one add each."""
    return 2 * m * k * n


def dense_flops(batch: int, fan_in: int, fan_out: int, bias: bool = True) -> int:
    """FLOPs of a dense layer's forward pass on ``batch`` rows."""
    return matmul_flops(batch, fan_in, fan_out) + (batch * fan_out if bias else 0)


def mlp_flops(batch: int, sizes: Sequence[int], bias: bool = True) -> int:
    """FLOPs of an MLP with layer widths ``sizes`` (input first), activations not counted."""
    return sum(dense_flops(batch, a, b, bias) for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def conv2d_flops(batch: int, c_in: int, c_out: int, out_hw: tuple[int, int],
                 kernel: tuple[int, int], groups: int = 1, bias: bool = True) -> int:
    """FLOPs of a 2-D convolution's forward pass, given its output height and width."""
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups must divide c_in={c_in} and c_out={c_out}, got {groups}")
    positions = batch * out_hw[0] * out_hw[1]
    macs = positions * c_out * (c_in // groups) * kernel[0] * kernel[1]
    return 2 * macs + (positions * c_out if bias else 0)


def tensor_bytes(shape: Sequence[int], dtype: Any = np.float32) -> int:
    """Bytes of a dense tensor of ``shape`` and numpy-compatible ``dtype``."""
    return int(prod(shape)) * np.dtype(dtype).itemsize
