"""The secure IR: a model as a list of secure operations (chapter 06, "The secure compiler").

Only four operations: ``Linear`` (x @ W + b), ``Square``, ``Poly`` (c0 + c1 x + c2 x^2) and
``Relu``. Both backends (MPC in :mod:`protocol`, CKKS in :mod:`ckks`) evaluate this list; the
compiler (:mod:`compiler`) produces it from a trained MindSpore model. numpy only, so the party
processes never import MindSpore.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Linear:
    """x @ W + b with W of shape (inputs, outputs)."""

    W: np.ndarray
    b: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.W.shape)


@dataclass(frozen=True)
class Square:
    """x -> x^2 elementwise."""


@dataclass(frozen=True)
class Poly:
    """x -> c0 + c1 x + c2 x^2 elementwise (a trained polynomial activation)."""

    c0: float
    c1: float
    c2: float


@dataclass(frozen=True)
class Relu:
    """x -> max(x, 0): exact in MPC (comparison protocol), impossible in CKKS without approx."""


Op = Linear | Square | Poly | Relu


def evaluate(plan: list[Op], x: np.ndarray) -> np.ndarray:
    """Plaintext float64 evaluation of a plan (the reference every backend is compared with)."""
    h = np.asarray(x, dtype=np.float64)
    for op in plan:
        if isinstance(op, Linear):
            h = h @ op.W.astype(np.float64) + op.b.astype(np.float64)
        elif isinstance(op, Square):
            h = h * h
        elif isinstance(op, Poly):
            h = op.c0 + op.c1 * h + op.c2 * h * h
        elif isinstance(op, Relu):
            h = np.maximum(h, 0.0)
        else:
            raise ValueError(f"plan op must be Linear, Square, Poly or Relu, got {op!r}")
    return h


def describe(plan: list[Op]) -> str:
    """A one-line summary such as ``Linear(64x32) -> Square -> Linear(32x10)``."""
    parts = []
    for op in plan:
        if isinstance(op, Linear):
            parts.append(f"Linear({op.shape[0]}x{op.shape[1]})")
        elif isinstance(op, Poly):
            parts.append(f"Poly({op.c0:.2g}+{op.c1:.2g}x+{op.c2:.2g}x^2)")
        else:
            parts.append(type(op).__name__)
    return " -> ".join(parts)
