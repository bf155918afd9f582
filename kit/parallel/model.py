"""Model descriptions for the strategy search of chapter 08 ("Models and clusters").

A model is a chain of layers, each with its forward FLOPs, parameters and activation bytes per
sample, so the cost model can split, shard and pipeline it. ``transformer`` follows the
accounting of Narayanan et al. 2021 (FLOPs) and Korthikanti et al. 2022 (activation bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FP16 = 2  # bytes of a half-precision value (weights, activations, gradients)


@dataclass(frozen=True)
class Layer:
    """One layer, costs per sample (one sequence for a transformer).

    ``act_fixed`` + ``act_sharded`` are the activation bytes stored for the backward pass
    without recomputation; only ``act_sharded`` divides by the tensor-parallel degree.
    ``tp_bytes`` is the size of each of the ``tp_allreduces`` forward all-reduces a
    Megatron-style tensor-parallel split needs (the backward pass needs as many again).
    ``boundary_bytes`` is the activation handed to the next layer (pipeline sends).
    """

    name: str
    flops: float
    params: float
    act_fixed: float
    act_sharded: float
    boundary_bytes: float
    tp_bytes: float
    tp_allreduces: int = 2

    def __post_init__(self) -> None:
        for name in ("flops", "params", "act_fixed", "act_sharded", "boundary_bytes", "tp_bytes"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"layer {self.name!r}: {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Model:
    """A chain of layers trained with mixed-precision Adam (16 bytes of state per parameter)."""

    name: str
    layers: tuple[Layer, ...]
    state_bytes_per_param: float = 16.0
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError(f"model {self.name!r} needs at least one layer")

    @property
    def params(self) -> float:
        return sum(layer.params for layer in self.layers)

    @property
    def flops_per_sample(self) -> float:
        """Forward FLOPs of one sample through the whole model."""
        return sum(layer.flops for layer in self.layers)


def transformer_layer(hidden: int, heads: int, seq: int, name: str = "block") -> Layer:
    """A GPT block: attention + 4h MLP, fp16 activations, per sequence of ``seq`` tokens."""
    h, s, a = float(hidden), float(seq), float(heads)
    return Layer(
        name=name,
        flops=24 * s * h * h + 4 * s * s * h,  # QKV 6sh^2, proj 2sh^2, MLP 16sh^2, scores 4s^2h
        params=12 * h * h + 13 * h,
        act_fixed=10 * s * h,  # layer norms and dropout masks stay replicated
        act_sharded=24 * s * h + 5 * a * s * s,  # Korthikanti et al. 2022, eq. (2)
        boundary_bytes=FP16 * s * h,
        tp_bytes=FP16 * s * h,
    )


def transformer(layers: int, hidden: int, heads: int, seq: int, vocab: int = 0,
                name: str | None = None) -> Model:
    """A decoder-only transformer; ``vocab > 0`` adds the (tied) embedding and logits layer."""
    for label, value in (("layers", layers), ("hidden", hidden), ("heads", heads), ("seq", seq)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be an int >= 1, got {value!r}")
    if hidden % heads:
        raise ValueError(f"heads must divide hidden={hidden}, got {heads}")
    if not isinstance(vocab, int) or vocab < 0:
        raise ValueError(f"vocab must be an int >= 0, got {vocab!r}")
    blocks = [transformer_layer(hidden, heads, seq, f"block{i}") for i in range(layers)]
    if vocab:
        s, h = float(seq), float(hidden)
        blocks.append(Layer("logits", flops=2 * s * h * vocab, params=vocab * h + seq * h,
                            act_fixed=0.0, act_sharded=FP16 * s * vocab * 2,
                            boundary_bytes=0.0, tp_bytes=FP16 * s * h, tp_allreduces=1))
    params = sum(b.params for b in blocks)
    label = name or f"GPT {params / 1e9:.3g}B ({layers}x{hidden}, {heads} heads, seq {seq})"
    return Model(label, tuple(blocks), meta={"layers": layers, "hidden": hidden, "heads": heads,
                                             "seq": seq, "vocab": vocab})


def mlp(widths: list[int], name: str | None = None) -> Model:
    """An MLP as a chain of dense layers (fp32 activations, as the CPU run uses)."""
    if len(widths) < 2 or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be 2+ ints >= 1, got {widths!r}")
    layers = tuple(
        Layer(f"dense{i}", flops=2.0 * a * b, params=float(a * b + b), act_fixed=4.0 * a,
              act_sharded=4.0 * b, boundary_bytes=4.0 * b, tp_bytes=4.0 * b, tp_allreduces=1)
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)))
    return Model(name or "MLP " + "-".join(map(str, widths)), layers)


def megatron_8_3b() -> Model:
    """Megatron-LM's 8.3B GPT-2 (Shoeybi et al. 2019, Table 1): 72 x 3072, 32 heads, seq 1024."""
    return transformer(72, 3072, 32, 1024, vocab=51200, name="Megatron-LM GPT-2 8.3B")


def gpt3_175b() -> Model:
    """GPT-3 175B (Brown et al. 2020): 96 layers x 12288, 96 heads, seq 2048, vocab 50257."""
    return transformer(96, 12288, 96, 2048, vocab=50257, name="GPT-3 175B")
