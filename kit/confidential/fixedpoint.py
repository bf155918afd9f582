"""Fixed-point encoding in the ring Z_2^64 (chapter 06, "Method: fixed point and sharing").

A real number x becomes the integer round(x * 2^f) modulo 2^64, stored as ``uint64`` (numpy
wraps modulo 2^64 for free). Products carry 2f fractional bits and are truncated back to f
(SecureML truncation, :func:`truncate_share`). Inputs are checked *before* anything is
computed: a value whose square would not fit the ring with ``GUARD_BITS`` of headroom for sums
is refused with a ``ValueError``.
"""

from __future__ import annotations

import numpy as np

RING_BITS = 64
GUARD_BITS = 12  # headroom for sums of products (a matmul over up to 2^12 terms)


def check_frac_bits(frac_bits: int) -> int:
    """Validate the number of fractional bits (section "Method")."""
    if not isinstance(frac_bits, int) or isinstance(frac_bits, bool) or not 4 <= frac_bits <= 24:
        raise ValueError(f"frac_bits must be an int in [4, 24], got {frac_bits!r}")
    return frac_bits


def max_abs(frac_bits: int) -> float:
    """Largest |x| that is safe to encode: x^2 * 2^(2f) must stay below 2^(63 - GUARD_BITS)."""
    check_frac_bits(frac_bits)
    return float(2.0 ** ((RING_BITS - 1 - GUARD_BITS - 2 * frac_bits) / 2))


def encode(x: np.ndarray, frac_bits: int, name: str = "x") -> np.ndarray:
    """round(x * 2^f) mod 2^64 as uint64; refuses non-finite or out-of-range values first."""
    x = np.asarray(x, dtype=np.float64)
    limit = max_abs(frac_bits)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite to be encoded, got NaN or inf")
    worst = float(np.max(np.abs(x))) if x.size else 0.0
    if worst > limit:
        raise ValueError(f"{name} has |value| {worst:.6g} beyond the encodable range "
                         f"{limit:.6g} for frac_bits={frac_bits} in Z_2^{RING_BITS} "
                         f"(fixed-point overflow risk); rescale the input or lower frac_bits")
    return np.round(x * 2.0**frac_bits).astype(np.int64).view(np.uint64)


def encode_int(x: np.ndarray) -> np.ndarray:
    """Plain integers (indices, 0/1 bits) as ring elements, without scaling."""
    return np.asarray(x, dtype=np.int64).view(np.uint64)


def decode(v: np.ndarray, frac_bits: int) -> np.ndarray:
    """The real numbers held by ring elements with ``frac_bits`` fractional bits."""
    return np.asarray(v, dtype=np.uint64).view(np.int64).astype(np.float64) / 2.0**frac_bits


def truncate_share(share: np.ndarray, role: int, frac_bits: int) -> np.ndarray:
    """SecureML's local truncation of one party's share by 2^f (section "Truncation").

    Party 0 shifts its share arithmetically; party 1 shifts the negation and negates back.
    The result is off by at most one unit in the last place, except with probability about
    |x| / 2^63 when the shares wrap (Mohassel and Zhang, S&P 2017, Theorem 1).
    """
    signed = np.asarray(share, dtype=np.uint64).view(np.int64)
    if role == 0:
        return (signed >> frac_bits).view(np.uint64)
    return (-((-signed) >> frac_bits)).view(np.uint64)
