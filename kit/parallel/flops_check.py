"""Chapter 08's FLOP model against MindSpore's measured training step on this CPU
("Validation 3: the FLOP model on this machine").

The cost model turns FLOPs into seconds with one achieved throughput per device. Here MLPs of
several widths train in GRAPH_MODE; the throughput is fitted on one width (FLOPs / measured
step time) and the other widths' step times are predicted from their FLOPs alone. Timing uses
``kit.core.measure.interleave`` (the widths alternate within each round), so each round gives
one error per held-out width and the rounds give the spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from kit.core.measure import interleave
from kit.parallel import model as models
from kit.parallel.dp_worker import build


def mlp_widths(hidden: int, depth: int = 3, classes: int = 10) -> tuple[int, ...]:
    """The MLP of the check: widths ``hidden`` x ``depth`` (the input included), then
    ``classes`` outputs: ``depth - 1`` square dense layers and a classifier."""
    return (hidden,) * depth + (classes,)


def step_flops(widths: Sequence[int], batch: int) -> float:
    """FLOPs of one training step as the cost model counts them: forward + backward = 3 x the
    forward matrix products of ``model.mlp`` (the update and the loss are not counted)."""
    return 3.0 * models.mlp(list(widths)).flops_per_sample * batch


def score(flops: Sequence[float], seconds: Sequence[float], fit: int) -> tuple[float, list[float]]:
    """Throughput fitted on entry ``fit`` (FLOP/s) and each other entry's relative error
    |flops / throughput - seconds| / seconds, in order with ``fit`` left out."""
    if len(flops) != len(seconds) or len(flops) < 2:
        raise ValueError(f"flops and seconds need the same length >= 2, got {len(flops)} and "
                         f"{len(seconds)}")
    if not 0 <= fit < len(flops):
        raise ValueError(f"fit must index one of the {len(flops)} sizes, got {fit}")
    if min(seconds) <= 0 or min(flops) <= 0:
        raise ValueError("flops and seconds must all be > 0")
    throughput = flops[fit] / seconds[fit]
    return throughput, [abs(f / throughput - t) / t
                        for i, (f, t) in enumerate(zip(flops, seconds, strict=True)) if i != fit]


@dataclass(frozen=True)
class FlopModelCheck:
    """Per width: its step FLOPs and per-round step seconds (the fastest call of the round, the
    least load-dependent on a shared machine); ``fit`` is the width the
    throughput is fitted on (the others are predicted)."""

    hidden: tuple[int, ...]
    flops: tuple[float, ...]
    seconds: tuple[tuple[float, ...], ...]
    fit: int

    @property
    def median_seconds(self) -> tuple[float, ...]:
        return tuple(float(statistics.median(s)) for s in self.seconds)

    @property
    def round_errors(self) -> tuple[float, ...]:
        """Per timing round, the median relative error over the held-out widths."""
        rounds = len(self.seconds[0])
        return tuple(float(statistics.median(score(self.flops, [s[r] for s in self.seconds],
                                                   self.fit)[1])) for r in range(rounds))

    def rows(self) -> list[dict]:
        """One row per width: FLOPs, measured and predicted step time (median over rounds)."""
        throughput, _ = score(self.flops, self.median_seconds, self.fit)
        return [{"hidden": h, "GFLOP per step": f / 1e9, "measured ms": t * 1e3,
                 "predicted ms": f / throughput * 1e3,
                 "rel. error": abs(f / throughput - t) / t if i != self.fit else float("nan"),
                 "role": "fit" if i == self.fit else "predicted"}
                for i, (h, f, t) in enumerate(zip(self.hidden, self.flops, self.median_seconds,
                                                  strict=True))]

    def metrics(self) -> dict[str, object]:
        throughput, errors = score(self.flops, self.median_seconds, self.fit)
        held_out = [h for i, h in enumerate(self.hidden) if i != self.fit]
        return {"flop_model_cpu_error": float(statistics.median(self.round_errors)),
                "flop_model_cpu_errors_by_width": dict(zip(map(str, held_out), errors,
                                                           strict=True)),
                "flop_model_cpu_gflops": throughput / 1e9,
                "flop_model_cpu_fit_width": self.hidden[self.fit]}


def _train_step(ms, nn, widths: Sequence[int], batch: int, seed: int):
    """A compiled GRAPH_MODE training step of one MLP on synthetic data, warmed up (the same
    network and step as the data-parallel worker's)."""
    _, step, x, y = build(ms, nn, list(widths), batch, seed, rank=0)

    def run() -> None:
        step(x, y).asnumpy()

    return run


def check_flop_model(*, hidden: Sequence[int] = (512, 1024, 1536, 2048), batch: int = 128,
                     rounds: int = 3, repeats: int = 3, seed: int = 0) -> FlopModelCheck:
    """Section "Validation 3": time one training step of each MLP in GRAPH_MODE (the notebook
    has called ``kit.setup``), interleaved over ``rounds`` rounds of ``repeats`` calls, and
    fit the throughput on the widest MLP (the most compute-bound)."""
    widths_list = sorted({int(h) for h in hidden})
    if len(widths_list) < 3 or widths_list[0] < 8:
        raise ValueError(f"hidden needs >= 3 distinct widths >= 8 (1 to fit, 2+ to predict), "
                         f"got {list(hidden)}")
    for name, value in (("batch", batch), ("rounds", rounds), ("repeats", repeats)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    import mindspore as ms
    from mindspore import nn

    calls = {str(h): _train_step(ms, nn, mlp_widths(h), batch, seed) for h in widths_list}
    timed = interleave(calls, rounds=rounds, repeats=repeats, warmup=1)
    seconds = tuple(tuple(timed.round_minima(str(h))) for h in widths_list)
    flops = tuple(step_flops(mlp_widths(h), batch) for h in widths_list)
    return FlopModelCheck(tuple(widths_list), flops, seconds, fit=len(widths_list) - 1)
