"""Two-party additive secret sharing over Z_2^64 and a dealer of Beaver triples
(chapter 06, "Method: fixed point and sharing", "Offline phase").

A value v is split as v = s0 + s1 (mod 2^64) with s0 uniform, so each share alone is uniform
and says nothing about v. Products need correlated randomness: the dealer hands each party a
share of a random triple (a, b, c = a * b) before any input exists (the offline phase). Boolean
words (for the comparison circuit) are XOR-shared the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

U64 = np.uint64


def random_ring(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform elements of Z_2^64."""
    return rng.integers(0, 2**64, size=shape, dtype=np.uint64, endpoint=False)


def share(v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Additive shares (s0, s1) of ring elements ``v``: s0 uniform, s1 = v - s0."""
    v = np.asarray(v, dtype=np.uint64)
    s0 = random_ring(rng, v.shape)
    return s0, v - s0


def reconstruct(s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
    """v = s0 + s1 mod 2^64."""
    return np.asarray(s0, dtype=np.uint64) + np.asarray(s1, dtype=np.uint64)


def xor_share(v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (XOR) shares of 64-bit words."""
    v = np.asarray(v, dtype=np.uint64)
    s0 = random_ring(rng, v.shape)
    return s0, v ^ s0


def ring_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product modulo 2^64 (numpy's integer matmul wraps)."""
    return np.matmul(a.astype(np.uint64), b.astype(np.uint64))


@dataclass
class Request:
    """One piece of correlated randomness a protocol step consumes."""

    kind: str  # "matmul", "mul", "square", "and", "bit"
    shapes: tuple[tuple[int, ...], ...]


@dataclass
class Material:
    """One party's list of dealer shares, consumed in order (the offline phase's output)."""

    items: list[tuple[str, tuple[np.ndarray, ...]]] = field(default_factory=list)
    position: int = 0

    def take(self, kind: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[np.ndarray, ...]:
        """The next item; it must be of the kind and shapes the protocol asks for."""
        if self.position >= len(self.items):
            raise RuntimeError(f"dealer material exhausted at item {self.position} ({kind})")
        got_kind, arrays = self.items[self.position]
        if got_kind != kind or tuple(a.shape for a in arrays[:len(shapes)]) != shapes:
            raise RuntimeError(f"dealer material out of step at item {self.position}: protocol "
                               f"asks for {kind} {shapes}, material holds {got_kind} "
                               f"{tuple(a.shape for a in arrays)}")
        self.position += 1
        return arrays

    @property
    def nbytes(self) -> int:
        """Bytes the dealer sends this party."""
        return int(sum(a.nbytes for _, arrays in self.items for a in arrays))


class Recorder:
    """Stands in for material in a dry run: records requests and returns zeros of the right
    shapes, so the dealer learns exactly what the online phase will consume."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def take(self, kind: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[np.ndarray, ...]:
        self.requests.append(Request(kind, shapes))
        out = [np.zeros(s, dtype=np.uint64) for s in shapes]
        if kind in ("matmul", "mul", "square", "and"):
            out.append(np.zeros(_product_shape(kind, shapes), dtype=np.uint64))
        if kind == "bit":
            out.append(np.zeros(shapes[0], dtype=np.uint64))
        return tuple(out)


def _product_shape(kind: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    if kind == "matmul":
        return shapes[0][:-1] + shapes[1][-1:]
    return shapes[0]


class Dealer:
    """The trusted dealer of the offline phase: turns requests into triples for both parties.

    ``matmul``: (A, B, C = A @ B); ``mul``: (a, b, c = a * b); ``square``: (a, a^2);
    ``and``: XOR-shared words (a, b, c = a & b); ``bit``: a random bit r as an XOR share
    (in bit 0) and as an additive share (for bit-to-arithmetic conversion).
    """

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def material(self, requests: list[Request]) -> tuple[Material, Material]:
        """Both parties' material for ``requests``, in order."""
        m0, m1 = Material(), Material()
        for req in requests:
            p0, p1 = self.generate(req)
            m0.items.append((req.kind, p0))
            m1.items.append((req.kind, p1))
        return m0, m1

    def generate(self, req: Request) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """Shares of one triple (or bit) for party 0 and party 1."""
        rng = self.rng
        if req.kind in ("matmul", "mul"):
            a, b = random_ring(rng, req.shapes[0]), random_ring(rng, req.shapes[1])
            c = ring_matmul(a, b) if req.kind == "matmul" else a * b
            parts = [share(v, rng) for v in (a, b, c)]
        elif req.kind == "square":
            a = random_ring(rng, req.shapes[0])
            parts = [share(v, rng) for v in (a, a * a)]
        elif req.kind == "and":
            a, b = random_ring(rng, req.shapes[0]), random_ring(rng, req.shapes[1])
            parts = [xor_share(v, rng) for v in (a, b, a & b)]
        elif req.kind == "bit":
            r = rng.integers(0, 2, size=req.shapes[0], dtype=np.uint64)
            parts = [xor_share(r, rng), share(r, rng)]
        else:
            raise ValueError(f"request kind must be matmul, mul, square, and or bit, "
                             f"got {req.kind!r}")
        return tuple(p[0] for p in parts), tuple(p[1] for p in parts)
