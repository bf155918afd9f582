"""A simulated trusted execution environment (chapter 06, "TEE row").

Trust model, stated plainly: the client trusts the CPU vendor's hardware and attestation and
the enclave's code; the host OS, the cloud operator and the model server outside the enclave are
not trusted. Inside the enclave the model runs *in plaintext*; confidentiality rests on the
hardware, and side channels (timing, cache, power) are out of scope. Nothing here is real
enclave isolation: the row measures the *costs* an enclave adds to plaintext inference on this
machine: sealing inputs and outputs with an authenticated stream cipher (SHAKE-256 keystream +
HMAC-SHA256, standard library only), checking the tag inside, and copying across the boundary.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass

import numpy as np

from kit.confidential.ir import Op, evaluate


def seal(key: bytes, plaintext: bytes, nonce: bytes) -> bytes:
    """Encrypt-then-MAC: SHAKE-256(key || nonce) keystream XOR, then HMAC-SHA256 tag."""
    stream = hashlib.shake_256(key + nonce).digest(len(plaintext))
    body = (np.frombuffer(plaintext, np.uint8) ^ np.frombuffer(stream, np.uint8)).tobytes()
    return nonce + body + hmac.new(key, nonce + body, hashlib.sha256).digest()


def unseal(key: bytes, sealed: bytes) -> bytes:
    """Check the tag, then decrypt; a tampered message raises ``ValueError``."""
    nonce, body, tag = sealed[:16], sealed[16:-32], sealed[-32:]
    if not hmac.compare_digest(tag, hmac.new(key, nonce + body, hashlib.sha256).digest()):
        raise ValueError("sealed message failed authentication (tampered or wrong key)")
    stream = hashlib.shake_256(key + nonce).digest(len(body))
    return (np.frombuffer(body, np.uint8) ^ np.frombuffer(stream, np.uint8)).tobytes()


@dataclass
class TEERun:
    """Outputs and costs of the simulated enclave inference."""

    logits: np.ndarray
    n: int
    seconds: float
    seconds_plain: float
    bytes_moved: int

    @property
    def ms_per_inference(self) -> float:
        return self.seconds * 1e3 / self.n

    @property
    def overhead(self) -> float:
        return self.seconds / self.seconds_plain


def infer(plan: list[Op], x: np.ndarray, repeats: int = 5) -> TEERun:
    """Per-sample sealed inference: client seals x, enclave unseals, runs the plan in
    plaintext, seals the logits, client unseals. Median of ``repeats`` passes over ``x``."""
    key = os.urandom(32)
    x = np.asarray(x, np.float64)
    total, plain, moved = [], [], 0
    logits = evaluate(plan, x)
    for _ in range(repeats):
        start = time.perf_counter()
        outs, moved = [], 0
        for row in x:
            sealed_in = seal(key, row.tobytes(), os.urandom(16))
            inside = np.frombuffer(unseal(key, sealed_in), np.float64).copy()
            out = evaluate(plan, inside[None])[0]
            sealed_out = seal(key, out.tobytes(), os.urandom(16))
            outs.append(np.frombuffer(unseal(key, sealed_out), np.float64))
            moved += len(sealed_in) + len(sealed_out)
        total.append(time.perf_counter() - start)
        start = time.perf_counter()
        for row in x:
            evaluate(plan, row[None])
        plain.append(time.perf_counter() - start)
        logits = np.stack(outs)
    return TEERun(logits, len(x), float(np.median(total)), float(np.median(plain)), moved)


def infer_batch(plan: list[Op], x: np.ndarray, key: bytes) -> np.ndarray:
    """Batch sealed inference: the client seals the whole batch in one message, the enclave
    unseals it, runs the plan on the batch in plaintext and seals the logits in one message
    (the TEE counterpart of MPC's and packed CKKS's amortised batch)."""
    x = np.asarray(x, np.float64)
    sealed_in = seal(key, x.tobytes(), os.urandom(16))
    inside = np.frombuffer(unseal(key, sealed_in), np.float64).reshape(x.shape)
    out = evaluate(plan, inside)
    return np.frombuffer(unseal(key, seal(key, out.tobytes(), os.urandom(16))),
                         np.float64).reshape(out.shape)


def infer_each(plan: list[Op], x: np.ndarray, key: bytes) -> np.ndarray:
    """Per-query sealed inference: every image sealed, run and answered on its own (what one
    client's single query costs, as in :func:`infer`)."""
    x = np.asarray(x, np.float64)
    return np.stack([infer_batch(plan, row[None], key)[0] for row in x])
