"""Number formats of chapter 01 ("Method: formats") and their quantization noise in numpy.

A *precision* names one format for a layer: ``fp32``, ``fp16``, ``bf16`` or ``int<b>`` with a
bit-width ``b`` in 2..16 (symmetric integer weights per output channel, unsigned integer
activations per tensor). The numpy quantizers here are the reference for the MindSpore fake-quant
ops in :mod:`kit.lowbit.quant` and give the noise terms of the predicted loss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

FLOATS = ("fp32", "fp16", "bf16")
MIN_BITS, MAX_BITS = 2, 16
_INT = re.compile(r"^int(\d+)$")


@dataclass(frozen=True)
class Format:
    """A parsed precision: ``kind`` is ``"float"`` or ``"int"``, ``bits`` its storage width."""

    name: str
    kind: str
    bits: int

    @property
    def is_int(self) -> bool:
        return self.kind == "int"

    @property
    def qmax_signed(self) -> int:
        """Largest level of a symmetric signed grid (weights): 2^(b-1) - 1."""
        return 2 ** (self.bits - 1) - 1

    @property
    def qmax_unsigned(self) -> int:
        """Largest level of an unsigned grid (post-ReLU activations): 2^b - 1."""
        return 2 ** self.bits - 1


def check_bits(bits: object, name: str = "bits") -> int:
    """Section "Method": a bit-width must be an int in 2..16 (a clear error otherwise)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) \
            or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must be an int in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")
    return int(bits)


def parse(name: object) -> Format:
    """Section "Method": ``"int4"`` -> Format("int4", "int", 4); unknown names raise."""
    if not isinstance(name, str):
        raise ValueError(f"precision must be a string such as 'fp32', 'fp16', 'bf16' or "
                         f"'int8', got {name!r}")
    if name in FLOATS:
        return Format(name, "float", 32 if name == "fp32" else 16)
    match = _INT.match(name)
    if match is None:
        raise ValueError(f"precision must be one of {', '.join(FLOATS)} or int<b> with b in "
                         f"[{MIN_BITS}, {MAX_BITS}], got {name!r}")
    check_bits(int(match.group(1)), f"bit-width of precision {name!r}")
    return Format(name, "int", int(match.group(1)))


def to_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even) and back, in numpy."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def cast(x: np.ndarray, fmt: Format) -> np.ndarray:
    """Round ``x`` to a float format and back to float32."""
    if fmt.name == "fp16":
        return x.astype(np.float16).astype(np.float32)
    if fmt.name == "bf16":
        return to_bf16(x)
    return x.astype(np.float32)


def quantize(x: np.ndarray, step: np.ndarray | float, qmin: int, qmax: int) -> np.ndarray:
    """Uniform quantization ``clip(round(x / step), qmin, qmax) * step`` (numpy reference)."""
    return np.clip(np.round(x / step), qmin, qmax) * step


def mse_step(x: np.ndarray, qmin: int, qmax: int, axis: int | None = None,
             grid: int = 24) -> np.ndarray:
    """Section "Method": the step size minimising quantization MSE, per channel along ``axis``
    (or per tensor), searched over clipping ratios 0.2..1 of the largest magnitude."""
    if axis is None:
        flat = x.reshape(1, -1)
    else:
        flat = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    amax = np.abs(flat).max(axis=1, keepdims=True)
    amax = np.where(amax > 0, amax, 1.0)
    best_err = np.full((flat.shape[0], 1), np.inf)
    best = amax / qmax
    for ratio in np.linspace(0.2, 1.0, grid):
        step = amax * ratio / qmax
        err = ((quantize(flat, step, qmin, qmax) - flat) ** 2).sum(axis=1, keepdims=True)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best = np.where(better, step, best)
    return best.reshape(-1).astype(np.float32)


def weight_noise(w: np.ndarray, fmt: Format) -> tuple[float, np.ndarray | None]:
    """Squared error ``||Q(w) - w||^2`` of a weight tensor (output channels on axis 0) and the
    per-channel step used (None for float formats)."""
    if not fmt.is_int:
        return float(((cast(w, fmt) - w) ** 2).sum()), None
    step = mse_step(w, -fmt.qmax_signed, fmt.qmax_signed, axis=0)
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = quantize(w, step.reshape(shape), -fmt.qmax_signed, fmt.qmax_signed)
    return float(((q - w) ** 2).sum()), step


def act_noise(a: np.ndarray, fmt: Format) -> tuple[float, float | None]:
    """Mean per-sample squared error of quantizing non-negative activations ``a`` (samples on
    axis 0) and the per-tensor step used (None for float formats)."""
    if not fmt.is_int:
        return float(((cast(a, fmt) - a) ** 2).sum() / len(a)), None
    step = float(mse_step(a, 0, fmt.qmax_unsigned)[0])
    q = quantize(a, step, 0, fmt.qmax_unsigned)
    return float(((q - a) ** 2).sum() / len(a)), step
