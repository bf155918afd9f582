"""Chapter 09 contrast and counterfactuals ("Why 3 and not 8"): minimal pixel edits that flip
the CNN's prediction, with their sparsity and plausibility measured."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kit.xai.models import Classifier


@dataclass(frozen=True)
class Counterfactual:
    x: np.ndarray
    target: int
    reached: bool
    edits: int  # pixels changed (sparsity)
    l1: float
    plausibility: float  # kNN distance to the target class / typical kNN distance (1 = typical)


def _margin(logits: np.ndarray, target: int) -> np.ndarray:
    others = np.delete(logits, target, axis=1)
    return logits[:, target] - others.max(1)


def greedy_counterfactual(clf: Classifier, x: np.ndarray, target: int,
                          train_x: np.ndarray, train_y: np.ndarray, max_edits: int = 20,
                          values: tuple[float, ...] = (0.0, 0.5, 1.0)) -> Counterfactual:
    """Section "Counterfactuals": change one pixel at a time to the value (from ``values``)
    that most raises logit_target - max_other, until the prediction becomes ``target``."""
    x = clf.check_input(np.asarray(x, np.float32)[None])[0]
    target = int(clf.check_target(target, 1)[0])
    if not isinstance(max_edits, int) or max_edits < 1:
        raise ValueError(f"max_edits must be an int >= 1, got {max_edits!r}")
    cur = x.copy()
    d = cur.size
    for _ in range(max_edits):
        if clf.predict(cur[None])[0] == target:
            break
        cands = np.repeat(cur.reshape(1, -1), d * len(values), 0)
        cands[np.arange(d * len(values)), np.tile(np.arange(d), len(values))] = np.repeat(
            values, d)
        m = _margin(clf.logits(cands.reshape(-1, *x.shape)), target)
        cur = cands[int(np.argmax(m))].reshape(x.shape)
    reached = bool(clf.predict(cur[None])[0] == target)
    changed = np.abs(cur - x) > 1e-6
    return Counterfactual(cur, target, reached, int(changed.sum()), float(np.abs(cur - x).sum()),
                          plausibility(cur, target, train_x, train_y))


def plausibility(x: np.ndarray, cls: int, train_x: np.ndarray, train_y: np.ndarray,
                 k: int = 5) -> float:
    """Mean distance from ``x`` to its ``k`` nearest training images of ``cls``, divided by
    the same quantity for the real training images of ``cls`` (leave-one-out): about 1 for a
    typical digit of that class, larger for an implausible one."""
    pts = train_x[train_y == cls].reshape(-1, x.size)
    if len(pts) <= k:
        raise ValueError(f"class {cls} needs more than k={k} training images, got {len(pts)}")
    dist = np.sort(np.linalg.norm(pts - x.reshape(1, -1), axis=1))[:k].mean()
    pair = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(pair, np.inf)
    typical = np.sort(pair, axis=1)[:, :k].mean()
    return float(dist / typical)
