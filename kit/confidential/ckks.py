"""CKKS inference with TenSEAL (chapter 06, "Homomorphic encryption").

Two ways to run the same plan on encrypted inputs:

* **per-sample**: one ciphertext per image, TenSEAL's vector-matrix ``matmul`` (rotations,
  Galois keys) and ``square``; the path TenSEAL's tutorials use;
* **batch (SIMD)**: CryptoNets' packing, one ciphertext per input feature holding that feature
  of every sample in its slots; a linear layer is then plaintext-scalar multiplications and
  additions only, and one evaluation serves up to N/2 samples at once.

The client keeps the secret key; the server sees ciphertexts only.

Threads: TenSEAL parallelises a vector-matrix ``matmul`` over its context's thread pool (by
default one thread per core) while the packed path is a sequence of single-threaded scalar
products. Timed with default contexts, the per-sample side had two cores and the packed side
one, so their ratio moved with whatever ran on the second core (89.7 on a quiet machine, 162-230
on a busy one). Every context here has ``threads`` = 1 unless asked otherwise, and
:func:`packed_speedup` times both sides in interleaved rounds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import tenseal as ts

from kit.confidential.compiler import CKKSParams, check_depth
from kit.confidential.ir import Linear, Op, Square
from kit.core.measure import interleave


def context(params: CKKSParams | tuple[int, tuple[int, ...], int],
            galois: bool = False, threads: int = 1) -> ts.Context:
    """A TenSEAL CKKS context from chosen parameters (or a raw (N, chain, scale_bits)) whose
    thread pool has ``threads`` threads (1: every timed side on one core)."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    if isinstance(params, CKKSParams):
        n, chain, scale = params.poly_modulus_degree, params.coeff_mod_bit_sizes, \
            params.scale_bits
    else:
        n, chain, scale = params
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, n, coeff_mod_bit_sizes=list(chain), n_threads=threads)
    ctx.global_scale = 2.0 ** scale
    if galois:
        ctx.generate_galois_keys()
    return ctx


@dataclass
class HERun:
    """Outputs and costs of one encrypted evaluation (section "Homomorphic encryption")."""

    logits: np.ndarray
    n: int
    seconds_encrypt: float
    seconds_eval: float
    seconds_decrypt: float
    bytes_up: int  # ciphertexts client -> server
    bytes_down: int  # ciphertexts server -> client
    plain_mults: int

    @property
    def ms_per_sample(self) -> float:
        """Server evaluation time per sample (the CryptoNets throughput measure)."""
        return self.seconds_eval * 1e3 / self.n

    @property
    def bytes_per_sample(self) -> float:
        return (self.bytes_up + self.bytes_down) / self.n


def _packed_eval(plan: list[Op], cts: list) -> tuple[list, int]:
    mults = 0
    for op in plan:
        if isinstance(op, Linear):
            outs = []
            for j in range(op.shape[1]):
                acc = None
                for i, ct in enumerate(cts):
                    w = float(op.W[i, j])
                    if w == 0.0:
                        continue
                    term = ct * w
                    mults += 1
                    acc = term if acc is None else acc + term
                outs.append(acc + float(op.b[j]))
            cts = outs
        elif isinstance(op, Square):
            cts = [ct.square() for ct in cts]
        else:
            raise ValueError(f"CKKS evaluates Linear and Square only (fold polynomials first), "
                             f"got {op!r}")
    return cts, mults


def infer_packed(plan: list[Op], x: np.ndarray, params: CKKSParams) -> HERun:
    """Batch (SIMD) inference: samples in slots, one ciphertext per feature."""
    check_depth(plan, params)
    ctx = context(params)
    logits: list[np.ndarray] = []
    enc = ev = dec = 0.0
    up = down = mults = 0
    for start in range(0, len(x), params.slots):
        chunk = np.asarray(x[start:start + params.slots], np.float64)
        t0 = time.perf_counter()
        cts = [ts.ckks_vector(ctx, chunk[:, i]) for i in range(chunk.shape[1])]
        t1 = time.perf_counter()
        outs, m = _packed_eval(plan, cts)
        t2 = time.perf_counter()
        logits.append(np.stack([np.array(c.decrypt()) for c in outs], axis=1))
        t3 = time.perf_counter()
        enc, ev, dec, mults = enc + t1 - t0, ev + t2 - t1, dec + t3 - t2, mults + m
        up += sum(len(c.serialize()) for c in cts[:1]) * len(cts)
        down += len(outs[0].serialize()) * len(outs)
    return HERun(np.concatenate(logits), len(x), enc, ev, dec, up, down, mults)


def augment_biases(plan: list[Op]) -> list[Op]:
    """Fold every bias into its matrix with a constant-1 input carried through the plan.

    TenSEAL pitfall found here: ``ct.matmul(W) + b`` decrypts correctly, but a *following*
    ``matmul`` is wrong (max error 1.27 on a random 64-32-10 layer pair), because the bias is not
    added to the replicated copies the next rotation-based product reads. With x' = [x, 1],
    W' = [[W, 0], [b, 1]] keeps a 1 in the last slot (1^2 = 1 through squares), so no plaintext
    is ever added after a matmul; the last layer uses [[W], [b]].
    """
    linear = [i for i, op in enumerate(plan) if isinstance(op, Linear)]
    out: list[Op] = []
    for i, op in enumerate(plan):
        if isinstance(op, Linear):
            top = np.vstack([op.W, op.b[None, :]])
            if i != linear[-1]:
                unit = np.zeros((top.shape[0], 1))
                unit[-1, 0] = 1.0
                top = np.hstack([top, unit])
            out.append(Linear(top, np.zeros(top.shape[1])))
        elif isinstance(op, Square):
            out.append(op)
        else:
            raise ValueError(f"CKKS evaluates Linear and Square only, got {op!r}")
    return out


def _per_sample_eval(aug: list[Op], ct):
    for op in aug:
        ct = ct.matmul(op.W) if isinstance(op, Linear) else ct.square()
    return ct


def infer_per_sample(plan: list[Op], x: np.ndarray, params: CKKSParams) -> HERun:
    """One ciphertext per sample with TenSEAL's vector-matrix ``matmul`` (needs Galois keys);
    biases ride on an augmented constant input (:func:`augment_biases`)."""
    check_depth(plan, params)
    aug = augment_biases(plan)
    ctx = context(params, galois=True)
    logits, enc, ev, dec, up, down = [], 0.0, 0.0, 0.0, 0, 0
    for row in np.asarray(x, np.float64):
        t0 = time.perf_counter()
        ct = ts.ckks_vector(ctx, np.append(row, 1.0))
        t1 = time.perf_counter()
        up += len(ct.serialize())
        ct = _per_sample_eval(aug, ct)
        t2 = time.perf_counter()
        logits.append(np.array(ct.decrypt()))
        t3 = time.perf_counter()
        down += len(ct.serialize())
        enc, ev, dec = enc + t1 - t0, ev + t2 - t1, dec + t3 - t2
    return HERun(np.stack(logits), len(x), enc, ev, dec, up, down, 0)


@dataclass
class PackedSpeedup:
    """Section "Homomorphic encryption": server evaluation per sample, packed against
    per-sample, timed in interleaved rounds on one thread each."""

    ratios: list[float]  # per round: per-sample ms/sample over packed ms/sample
    ms_packed: list[float]  # per round, packed evaluation ms per sample
    ms_single: list[float]  # per round, per-sample evaluation ms per sample
    n_packed: int
    n_single: int
    slots: int

    def metrics(self) -> dict[str, float]:
        return {"ckks_ms_per_sample_packed": statistics.median(self.ms_packed),
                "ckks_ms_per_sample_single": statistics.median(self.ms_single),
                "ckks_slots_used": self.n_packed / self.slots}

    def spreads(self) -> dict[str, list[float]]:
        return {"ckks_packed_speedup": self.ratios}


def packed_speedup(*, plan: list[Op], x: np.ndarray, params: CKKSParams, per_sample_n: int,
                   rounds: int) -> PackedSpeedup:
    """Section "Homomorphic encryption": the packed evaluation of all of ``x`` (samples in
    slots) and the per-sample evaluation of its first ``per_sample_n`` images, both contexts on
    one thread, alternated over ``rounds`` rounds (one call of each per round, after one
    untimed call of each); each round's ratio compares ms per sample."""
    if not isinstance(per_sample_n, int) or not 1 <= per_sample_n <= len(x):
        raise ValueError(f"per_sample_n must be an int in [1, {len(x)}], got {per_sample_n!r}")
    if len(x) > params.slots:
        raise ValueError(f"x must hold at most {params.slots} samples (the slots), got {len(x)}")
    check_depth(plan, params)
    rows = np.asarray(x, np.float64)
    packed_ctx, single_ctx = context(params), context(params, galois=True)
    cts = [ts.ckks_vector(packed_ctx, rows[:, i]) for i in range(rows.shape[1])]
    aug = augment_biases(plan)
    singles = [ts.ckks_vector(single_ctx, np.append(r, 1.0)) for r in rows[:per_sample_n]]
    timed = interleave({"single": lambda: [_per_sample_eval(aug, ct) for ct in singles],
                        "packed": lambda: _packed_eval(plan, cts)},
                       rounds=rounds, repeats=1, warmup=1)
    ms_packed = [t * 1e3 / len(rows) for t in timed.round_minima("packed")]
    ms_single = [t * 1e3 / per_sample_n for t in timed.round_minima("single")]
    return PackedSpeedup([s / p for s, p in zip(ms_single, ms_packed, strict=True)], ms_packed,
                         ms_single, len(rows), per_sample_n, params.slots)


def bias_pitfall(seed: int = 0) -> float:
    """Max error of TenSEAL's ``(ct.matmul(W1) + b1).matmul(W2)`` on random data (the pitfall
    :func:`augment_biases` avoids); N=8192, scale 2^40."""
    rng = np.random.default_rng(seed)
    w1, x, b1, w2 = (rng.normal(size=(64, 32)) * 0.3, rng.random(64), rng.random(32),
                     rng.normal(size=(32, 10)) * 0.3)
    ctx = context((8192, (48, 40, 40, 40, 48), 40), galois=True)
    out = (ts.ckks_vector(ctx, x).matmul(w1) + b1).matmul(w2)
    return float(np.abs(np.array(out.decrypt()) - (x @ w1 + b1) @ w2).max())


def unit_costs(params: CKKSParams, repeats: int = 10) -> dict[str, float]:
    """Milliseconds of one plaintext-scalar product and one square of a packed ciphertext, and
    its size in bytes (inputs to the per-layer MPC/HE choice)."""
    ctx = context(params)  # one thread, as every timed side
    ct = ts.ckks_vector(ctx, np.linspace(0, 1, params.slots))
    start = time.perf_counter()
    for _ in range(repeats):
        ct * 0.5
    mult = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(max(repeats // 2, 1)):
        ct.square()
    square = (time.perf_counter() - start) / max(repeats // 2, 1)
    return {"mult_ms": mult * 1e3, "square_ms": square * 1e3, "bytes": len(ct.serialize())}


def try_params(plan: list[Op], x: np.ndarray, chain: tuple[int, ...],
               scale_bits: int, n: int = 8192) -> str:
    """Run the packed path with hand-chosen parameters; returns "ok" or the error TenSEAL
    raised (the README-defaults experiment)."""
    params = CKKSParams(n, tuple(chain), scale_bits, len(chain) - 2, 0, "batch")
    ctx = context(params)
    try:
        cts = [ts.ckks_vector(ctx, x[:, i]) for i in range(x.shape[1])]
        outs, _ = _packed_eval(plan, cts)
        np.array(outs[0].decrypt())
    except (ValueError, RuntimeError) as err:
        return f"{type(err).__name__}: {err}"
    return "ok"
