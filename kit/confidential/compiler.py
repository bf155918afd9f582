"""The "secure IR" compiler pass (chapter 06, "The secure compiler").

From a trained model's IR (:func:`kit.confidential.model.export`) it

1. folds every trained polynomial c2 z^2 + c1 z + c0 into the neighbouring linear layers so
   that only a bare square remains (one multiplicative level instead of two);
2. counts the multiplicative depth (each plaintext-weight linear layer and each square consumes
   one CKKS level);
3. calibrates the largest intermediate magnitude on plaintext data and picks CKKS parameters:
   the smallest ring degree N whose 128-bit-secure modulus budget holds the chain
   [s + m, s x depth, s + m] (m integer bits, s >= ``min_scale_bits`` fractional bits), and the
   packing (SIMD batch in slots when several samples are queried, per-sample otherwise);
4. assigns each layer to MPC or HE with a cost model, where that pays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kit.confidential.ir import Linear, Op, Poly, Relu, Square, evaluate

# Largest total coefficient-modulus bits for 128-bit security (SEAL/HE standard, ring degree N).
MAX_MODULUS_BITS = {2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
MAX_PRIME_BITS = 60


def fold_polynomials(plan: list[Op]) -> list[Op]:
    """Rewrite Linear -> Poly -> Linear as Linear' -> Square -> Linear'' (same function).

    With z = xW + b and c2 != 0: c2 z^2 + c1 z + c0 = sign(c2) u^2 + k, where
    u = sqrt|c2| (z + c1 / 2c2) and k = c0 - c1^2 / 4c2; sqrt|c2| and the shift go into the
    previous layer, sign(c2) and k into the next one. c2 = 0 folds to an affine map.
    """
    out: list[Op] = []
    pending: tuple[float, float] | None = None  # (multiplier, additive constant) for next layer
    for i, op in enumerate(plan):
        if isinstance(op, Poly):
            if not out or not isinstance(out[-1], Linear):
                raise ValueError(f"op {i}: a polynomial must follow a linear layer to be folded")
            prev = out.pop()
            if abs(op.c2) < 1e-12:
                out.append(Linear(prev.W * op.c1, prev.b * op.c1 + op.c0))
                continue
            s = math.sqrt(abs(op.c2))
            shift = op.c1 / (2 * op.c2)
            out += [Linear(prev.W * s, (prev.b + shift) * s), Square()]
            pending = (math.copysign(1.0, op.c2), op.c0 - op.c1 ** 2 / (4 * op.c2))
        elif isinstance(op, Linear) and pending is not None:
            sign, k = pending
            out.append(Linear(op.W * sign, op.b + k * op.W.sum(axis=0)))
            pending = None
        else:
            if pending is not None:
                raise ValueError(f"op {i}: a folded polynomial must be followed by a linear layer")
            out.append(op)
    if pending is not None:
        raise ValueError("the plan ends with a polynomial; add an output linear layer")
    return out


def depth(plan: list[Op]) -> int:
    """Multiplicative depth under CKKS (Linear and Square: 1 each; an unfolded Poly: 2)."""
    total = 0
    for op in plan:
        if isinstance(op, Relu):
            raise ValueError("ReLU has no exact CKKS evaluation; replace it by a trained "
                             "polynomial (model activation 'poly') or run it under MPC")
        total += 2 if isinstance(op, Poly) else 1
    return total


def max_magnitude(plan: list[Op], x: np.ndarray) -> float:
    """The largest |value| of the input, of every intermediate result and of the output."""
    h = np.asarray(x, np.float64)
    worst = float(np.max(np.abs(h)))
    for op in plan:
        h = evaluate([op], h)
        worst = max(worst, float(np.max(np.abs(h))))
    return worst


@dataclass(frozen=True)
class CKKSParams:
    """CKKS parameters chosen for a plan (section "Automatic parameters")."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    depth: int
    integer_bits: int
    packing: str  # "batch" (samples in slots) or "per-sample"

    @property
    def levels(self) -> int:
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def total_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes)


def choose_ckks(plan: list[Op], calibration: np.ndarray, batch: int,
                min_scale_bits: int = 25, margin: float = 4.0) -> CKKSParams:
    """The smallest ring that holds the plan's depth at >= ``min_scale_bits`` of precision.

    The outer primes carry the integer part: m = ceil(log2(margin x largest calibrated
    magnitude)) bits above the scale.
    """
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    if not isinstance(min_scale_bits, int) or not 20 <= min_scale_bits <= 50:
        raise ValueError(f"min_scale_bits must be an int in [20, 50], got {min_scale_bits!r}")
    d = depth(plan)
    m = max(1, math.ceil(math.log2(margin * max(max_magnitude(plan, calibration), 1.0))))
    for n, budget in MAX_MODULUS_BITS.items():
        s = min(40, (budget - 2 * m) // (d + 2))
        if s >= min_scale_bits and s + m <= MAX_PRIME_BITS:
            chain = (s + m,) + (s,) * d + (s + m,)
            return CKKSParams(n, chain, s, d, m, "batch" if batch > 1 else "per-sample")
    raise ValueError(f"no CKKS ring up to N=32768 holds depth {d} with {min_scale_bits}-bit "
                     f"scale and {m} integer bits; shorten the model or use MPC")


def check_depth(plan: list[Op], params: CKKSParams | tuple[int, ...]) -> int:
    """Refuse a plan deeper than the modulus chain (before encrypting anything)."""
    chain = params.coeff_mod_bit_sizes if isinstance(params, CKKSParams) else tuple(params)
    need, have = depth(plan), len(chain) - 2
    if need > have:
        raise ValueError(f"plan needs multiplicative depth {need}, modulus chain {list(chain)} "
                         f"supports {have}")
    return need


@dataclass(frozen=True)
class UnitCosts:
    """Measured costs that drive the MPC/HE choice (one run, this machine)."""

    he_ms_per_mult: float  # one plaintext-scalar multiplication of a packed ciphertext
    he_ms_per_square: float  # one ciphertext square (with relinearisation)
    he_ciphertext_bytes: int
    slots: int
    mpc_bytes_per_linear_elem: float  # online bytes per (input + weight) ring element
    mpc_bytes_per_relu: float  # online bytes per activation element (comparison protocol)
    mpc_ms_compute_per_elem: float


def choose_backends(plan: list[Op], batch: int, costs: UnitCosts, rtt_ms: float,
                    mbit_s: float) -> tuple[list[dict], float]:
    """Per-layer MPC or HE with a switch cost (dynamic programming over the layer chain).

    Latency model per layer: HE = packed operations x measured unit cost; MPC = rounds x RTT +
    bytes / bandwidth + local compute. Switching HE -> MPC costs one round of masked
    ciphertexts, MPC -> HE one round of encrypted shares. ReLU runs only under MPC.
    """
    def mpc_cost(op: Op, width_in: int) -> float:
        if isinstance(op, Linear):
            elems = batch * op.shape[0] + op.W.size
            nbytes, rounds = 2 * elems * costs.mpc_bytes_per_linear_elem, 1
        elif isinstance(op, Relu):
            nbytes, rounds = batch * width_in * costs.mpc_bytes_per_relu, 9
        else:
            nbytes, rounds = 2 * 2 * 8 * batch * width_in, 1
        compute = costs.mpc_ms_compute_per_elem * nbytes / 8
        return rounds * rtt_ms + nbytes * 8 / (mbit_s * 1e3) + compute

    chunks = math.ceil(batch / costs.slots)

    def he_cost(op: Op, width_in: int) -> float:
        if isinstance(op, Relu):
            return math.inf
        if isinstance(op, Linear):
            return chunks * op.W.size * costs.he_ms_per_mult
        return chunks * width_in * costs.he_ms_per_square

    def switch(width: int) -> float:
        nbytes = chunks * width * costs.he_ciphertext_bytes
        return rtt_ms + nbytes * 8 / (mbit_s * 1e3)

    widths, w = [], plan[0].shape[0] if isinstance(plan[0], Linear) else 0
    for op in plan:
        widths.append(w)
        if isinstance(op, Linear):
            w = op.shape[1]
    best = {"MPC": (0.0, []), "HE": (0.0, [])}  # the input starts shared / encrypted
    for op, width in zip(plan, widths, strict=True):
        step = {}
        for here, own in (("MPC", mpc_cost(op, width)), ("HE", he_cost(op, width))):
            options = [(best[prev][0] + own + (0.0 if prev == here else switch(width)),
                        best[prev][1] + [here]) for prev in best]
            step[here] = min(options, key=lambda t: t[0])
        best = step
    total, choice = min(best.values(), key=lambda t: t[0])
    rows = [{"layer": i, "op": type(op).__name__, "backend": b,
             "MPC ms": mpc_cost(op, wd), "HE ms": he_cost(op, wd)}
            for i, (op, b, wd) in enumerate(zip(plan, choice, widths, strict=True))]
    return rows, total
