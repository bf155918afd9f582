"""The cost model of chapter 08: step time and memory per device of a parallel strategy.

A strategy combines data (``dp``), tensor (``tp``) and pipeline (``pp``) parallelism with a
micro-batch count, a ZeRO stage, activation recomputation, a stage partition, per-layer
tensor-sharding choices and the interleaved schedule's model chunks per device (Narayanan et
al. 2021, section 2.2.2). Ranks are laid out tensor-parallel innermost, then data, then
pipeline (as Megatron-LM does), which decides which groups stay inside a node.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

from kit.parallel.cluster import Cluster
from kit.parallel.collectives import group_cost
from kit.parallel.model import FP16, Layer, Model

WEIGHT_AND_GRAD_BYTES = 2 * FP16  # fp16 weights and gradients; the rest is optimizer state


@dataclass(frozen=True)
class Strategy:
    """One way to run a model; ``stages`` are layer counts per pipeline stage and ``sharded``
    says per layer whether it is split across the tensor-parallel group (else replicated).
    ``chunks`` > 1 is the interleaved 1F1B schedule: each device runs ``chunks`` model chunks,
    which divides the pipeline bubble by ``chunks`` and multiplies pipeline sends by it."""

    dp: int
    tp: int
    pp: int
    micro_batches: int
    zero: int
    recompute: bool
    stages: tuple[int, ...]
    sharded: tuple[bool, ...]
    chunks: int = 1

    @property
    def devices(self) -> int:
        return self.dp * self.tp * self.pp

    def describe(self) -> str:
        rc = "+recompute" if self.recompute else ""
        chunks = f", {self.chunks} chunks" if self.chunks > 1 else ""
        return (f"DP{self.dp} x TP{self.tp} x PP{self.pp}, {self.micro_batches} micro-batches"
                f"{chunks}, ZeRO-{self.zero}{rc}")


def uniform_stages(layers: int, pp: int) -> tuple[int, ...]:
    """Layer counts per stage as even as possible (earlier stages take the remainder)."""
    if not 1 <= pp <= layers:
        raise ValueError(f"pp must be in [1, {layers}] for {layers} layers, got {pp}")
    base, extra = divmod(layers, pp)
    return tuple(base + (i < extra) for i in range(pp))


def validate(model: Model, cluster: Cluster, strategy: Strategy, batch: int) -> None:
    """Refuse strategies that do not describe a run of this model on this cluster."""
    s = strategy
    if s.devices != cluster.devices:
        raise ValueError(f"dp x tp x pp = {s.dp} x {s.tp} x {s.pp} = {s.devices} must equal "
                         f"the cluster's {cluster.devices} devices")
    if batch % (s.dp * s.micro_batches):
        raise ValueError(f"global batch {batch} must divide into dp={s.dp} x "
                         f"micro_batches={s.micro_batches}")
    if s.zero not in (0, 1, 2, 3):
        raise ValueError(f"zero must be one of 0, 1, 2, 3, got {s.zero}")
    if len(s.stages) != s.pp or sum(s.stages) != len(model.layers) or min(s.stages) < 1:
        raise ValueError(f"stages must be {s.pp} positive layer counts summing to "
                         f"{len(model.layers)}, got {s.stages}")
    if not isinstance(s.chunks, int) or s.chunks < 1:
        raise ValueError(f"chunks must be an int >= 1, got {s.chunks!r}")
    if s.chunks > 1 and (s.pp < 2 or min(s.stages) < s.chunks):
        raise ValueError(f"chunks={s.chunks} (interleaved schedule) needs pp >= 2 and at least "
                         f"{s.chunks} layers per stage, got pp={s.pp}, stages {s.stages}")
    if len(s.sharded) != len(model.layers):
        raise ValueError(f"sharded needs one flag per layer ({len(model.layers)}), "
                         f"got {len(s.sharded)}")


def zero_state_bytes(params: float, stage: int, dp: int, state_bytes: float = 16.0) -> float:
    """Model-state bytes per device under ZeRO (Rajbhandari et al. 2020, section 5):
    stage 0: (2+2+K)P; 1: 4P + KP/dp; 2: 2P + (2+K)P/dp; 3: (2+2+K)P/dp, K = state - 4."""
    k = state_bytes - WEIGHT_AND_GRAD_BYTES
    if stage == 0:
        return state_bytes * params
    if stage == 1:
        return WEIGHT_AND_GRAD_BYTES * params + k * params / dp
    if stage == 2:
        return FP16 * params + (FP16 + k) * params / dp
    if stage == 3:
        return state_bytes * params / dp
    raise ValueError(f"ZeRO stage must be one of 0, 1, 2, 3, got {stage}")


def split(tp: int, sharded: bool) -> int:
    """How many ways a layer's work and weights divide: ``tp`` when sharded, else 1."""
    return tp if (sharded and tp > 1) else 1


def layer_compute_seconds(layer: Layer, cluster: Cluster, micro: int, tp: int, sharded: bool,
                          recompute: bool) -> float:
    """Arithmetic only: forward + backward (+ recomputed forward) of one micro-batch."""
    passes = 4 if recompute else 3
    return passes * layer.flops * micro / split(tp, sharded) / cluster.flops


def layer_seconds(layer: Layer, cluster: Cluster, micro: int, tp: int, sharded: bool,
                  recompute: bool) -> float:
    """Forward + backward (+ recomputed forward) time of one layer for one micro-batch,
    including its tensor-parallel all-reduces."""
    seconds = layer_compute_seconds(layer, cluster, micro, tp, sharded, recompute)
    if split(tp, sharded) > 1:
        reduces = layer.tp_allreduces * (3 if recompute else 2)
        seconds += reduces * group_cost(cluster, "all_reduce", layer.tp_bytes * micro, tp, 1)
    return seconds


def layer_activation_bytes(layer: Layer, micro: int, tp: int, sharded: bool) -> float:
    """Activation bytes one micro-batch leaves stored in a layer (no recomputation)."""
    return micro * (layer.act_fixed + layer.act_sharded / split(tp, sharded))


@functools.lru_cache(maxsize=1 << 12)  # the planner re-asks for the same table many times
def layer_table(model: Model, cluster: Cluster, micro: int, tp: int, sharded: tuple[bool, ...],
                recompute: bool) -> tuple[tuple[float, float, float], ...]:
    """Per layer: (seconds with tensor-parallel all-reduces, compute seconds, activation
    bytes) of one micro-batch; section "Cost model" sums slices of it per pipeline stage."""
    return tuple((layer_seconds(layer, cluster, micro, tp, f, recompute),
                  layer_compute_seconds(layer, cluster, micro, tp, f, recompute),
                  layer_activation_bytes(layer, micro, tp, f))
                 for layer, f in zip(model.layers, sharded, strict=True))


@dataclass(frozen=True)
class Estimate:
    """Predicted step time (and its parts) and peak memory per device of one strategy."""

    step_seconds: float
    pipeline_seconds: float
    dp_seconds: float
    bubble_fraction: float
    memory_bytes: float
    fits: bool
    utilisation: float
    compute_fraction: float


def estimate(model: Model, cluster: Cluster, s: Strategy, batch: int) -> Estimate:
    """Step time and peak memory per device of strategy ``s`` at global ``batch`` samples."""
    validate(model, cluster, s, batch)
    micro = batch // (s.dp * s.micro_batches)
    bounds = [0, *itertools.accumulate(s.stages)]
    stage_times, stage_memory, dp_times, compute = [], [], [], 0.0
    table = layer_table(model, cluster, micro, s.tp, s.sharded, s.recompute)
    for i in range(s.pp):
        layers = model.layers[bounds[i]:bounds[i + 1]]
        flags = s.sharded[bounds[i]:bounds[i + 1]]
        rows = table[bounds[i]:bounds[i + 1]]
        tau = sum(r[0] for r in rows)
        compute += sum(r[1] for r in rows)
        if s.pp > 1:
            edge = max(layers[-1].boundary_bytes, model.layers[bounds[i] - 1].boundary_bytes
                       if i else 0.0)
            tau += 2 * s.chunks * group_cost(cluster, "p2p", edge * micro, 2, s.tp * s.dp)
        stage_times.append(tau)
        local = sum(layer.params / split(s.tp, f) for layer, f in zip(layers, flags, strict=True))
        grads = FP16 * local
        if s.zero <= 2:
            dp_times.append(group_cost(cluster, "all_reduce", grads, s.dp, s.tp))
        else:
            gather = group_cost(cluster, "all_gather", grads, s.dp, s.tp)
            dp_times.append(group_cost(cluster, "reduce_scatter", grads, s.dp, s.tp)
                            + 2 * s.micro_batches * gather)
        in_flight = min(s.pp - i, s.micro_batches)
        if s.recompute:
            stored = sum(micro * layer.boundary_bytes for layer in layers)
            working = max(r[2] for r in rows)
            activations = in_flight * stored + working
        else:
            activations = in_flight * sum(r[2] for r in rows)
        stage_memory.append(zero_state_bytes(local, s.zero, s.dp, model.state_bytes_per_param)
                            + activations)
    # 1F1B: m slots of the slowest stage plus the fill and drain of the others, the latter
    # divided by the chunks of the interleaved schedule (its bubble is (p - 1) / (v m))
    pipeline = (s.micro_batches * max(stage_times)
                + (sum(stage_times) - max(stage_times)) / s.chunks)
    ideal = s.micro_batches * max(stage_times)
    step = pipeline + max(dp_times)
    useful = 3 * model.flops_per_sample * batch
    memory = max(stage_memory)
    return Estimate(
        step_seconds=step, pipeline_seconds=pipeline, dp_seconds=max(dp_times),
        bubble_fraction=1 - ideal / pipeline if pipeline > 0 else 0.0,
        memory_bytes=memory, fits=memory <= cluster.memory_bytes,
        utilisation=useful / (step * cluster.devices * cluster.peak_flops),
        compute_fraction=(compute * s.micro_batches / s.pp) / step if step > 0 else 0.0)


def min_memory_bytes(model: Model, cluster: Cluster) -> float:
    """A lower bound on per-device memory over all strategies: ZeRO-3 with full recompute
    across every device, one sample in flight, the largest layer's working set."""
    n = cluster.devices
    states = zero_state_bytes(model.params / n, 3, 1, model.state_bytes_per_param)
    working = max(layer_activation_bytes(layer, 1, n, True) for layer in model.layers)
    return states + working


def check_fits_somewhere(model: Model, cluster: Cluster) -> None:
    """Refuse a model that cannot fit at any strategy, saying how much memory it needs."""
    need = min_memory_bytes(model, cluster)
    if need > cluster.memory_bytes:
        raise ValueError(f"{model.name} needs >= {need / 1e9:.1f} GB per device even at ZeRO-3 "
                         f"with full recompute on {cluster.devices} devices; each has "
                         f"{cluster.memory_bytes / 1e9:.1f} GB")


def device_count_ok(devices: int, dp: int, tp: int, pp: int) -> None:
    """Refuse degrees that do not factor the device count."""
    for label, value in (("dp", dp), ("tp", tp), ("pp", pp)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be an int >= 1, got {value!r}")
    if dp * tp * pp != devices:
        raise ValueError(f"{devices} devices do not factor into dp={dp} x tp={tp} x pp={pp} "
                         f"(= {dp * tp * pp})")


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` in increasing order."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))
