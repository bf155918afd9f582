"""Chapter 09 concepts ("Concepts"): concept sets defined by rules on the digits themselves,
concept activation vectors (CAVs) on the CNN's conv layer, TCAV scores and their statistical
significance against random concepts (Kim et al. 2018)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats

from kit.xai.models import Classifier, onehot

MIN_CONCEPT = 10  # examples per concept set; fewer make the t-test meaningless


def closed_loop(img: np.ndarray) -> bool:
    """A hole: background pixels that the border cannot reach (0, 6, 8, 9 ...)."""
    ink = img > 0.3
    return bool((ndimage.binary_fill_holes(ink) & ~ink).sum() >= 1)


def vertical_stroke(img: np.ndarray) -> bool:
    """A column with at least 5 consecutive bright pixels (1, 4, 7 ...)."""
    bright = img > 0.5
    for col in bright.T:
        run = best = 0
        for v in col:
            run = run + 1 if v else 0
            best = max(best, run)
        if best >= 5:
            return True
    return False


def top_bar(img: np.ndarray) -> bool:
    """A row in the top three with at least 4 consecutive bright pixels (5, 7 ...)."""
    bright = img[:3] > 0.5
    for row in bright:
        run = best = 0
        for v in row:
            run = run + 1 if v else 0
            best = max(best, run)
        if best >= 4:
            return True
    return False


CONCEPTS: dict[str, Callable[[np.ndarray], bool]] = {
    "closed loop": closed_loop, "vertical stroke": vertical_stroke, "top bar": top_bar}


def concept_sets(images: np.ndarray, size: int, seed: int = 0,
                 concepts: dict[str, Callable] | None = None) -> dict[str, np.ndarray]:
    """Section "Concepts": for each rule, ``size`` random images that satisfy it and an equal
    number that do not (kept apart as negatives are not used here); indices into ``images``."""
    concepts = CONCEPTS if concepts is None else concepts
    rng = np.random.default_rng(seed)
    out = {}
    for name, rule in concepts.items():
        idx = np.flatnonzero([rule(im) for im in images])
        if len(idx) < max(size, MIN_CONCEPT):
            raise ValueError(f"concept {name!r} has {len(idx)} examples; the significance test "
                             f"needs at least {max(size, MIN_CONCEPT)}")
        out[name] = rng.choice(idx, size, replace=False)
    return out


def cav(pos: np.ndarray, neg: np.ndarray, seed: int = 0) -> np.ndarray:
    """A unit concept activation vector: the normal of a logistic regression separating the
    concept's activations from random ones."""
    from sklearn.linear_model import LogisticRegression

    for name, a in (("pos", pos), ("neg", neg)):
        if len(a) < MIN_CONCEPT:
            raise ValueError(f"{name} must hold at least {MIN_CONCEPT} activations for a CAV, "
                             f"got {len(a)}")
    x = np.vstack([pos, neg])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    w = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(x, y).coef_[0]
    return w / max(np.linalg.norm(w), 1e-12)


def tcav_score(grads: np.ndarray, v: np.ndarray) -> float:
    """Fraction of inputs whose class logit increases along the concept direction."""
    return float(np.mean(grads @ v > 0))


def _ttest(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch t-test p-value; identical constant samples give p = 1 and different
    constant samples p = 0 (scipy warns and returns nan there)."""
    if np.ptp(a) < 1e-12 and np.ptp(b) < 1e-12:
        return 1.0 if abs(a.mean() - b.mean()) < 1e-12 else 0.0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


@dataclass(frozen=True)
class TcavResult:
    concept: str
    cls: int
    score: float
    random_mean: float
    p_value: float


def tcav(clf: Classifier, pool: np.ndarray, concept_idx: dict[str, np.ndarray],
         x_eval: np.ndarray, y_eval: np.ndarray, runs: int = 10, seed: int = 0
         ) -> list[TcavResult]:
    """TCAV for every concept and class: ``runs`` CAVs against different random sets from
    ``pool`` give a score distribution, compared by a two-sided t-test with the scores of
    random-vs-random CAVs (Kim et al. 2018, section 3.2)."""
    if not isinstance(runs, int) or runs < 2:
        raise ValueError(f"runs must be an int >= 2 for a t-test, got {runs!r}")
    rng = np.random.default_rng(seed)
    acts = clf.features(pool)
    size = len(next(iter(concept_idx.values())))
    randoms = [rng.choice(len(pool), size, replace=False) for _ in range(runs + 1)]
    classes = sorted(set(int(c) for c in y_eval))
    grads = {}
    for c in classes:
        xc = x_eval[y_eval == c]
        _, g = clf.feature_grad(xc, onehot(np.full(len(xc), c), clf.classes))
        grads[c] = g.reshape(len(xc), -1)
    rand_cavs = [cav(acts[randoms[r]], acts[randoms[-1]], seed) for r in range(runs)]
    out = []
    for name, idx in concept_idx.items():
        cavs = [cav(acts[idx], acts[randoms[r]], seed) for r in range(runs)]
        for c in classes:
            s = np.array([tcav_score(grads[c], v) for v in cavs])
            r = np.array([tcav_score(grads[c], v) for v in rand_cavs])
            p = _ttest(s, r)
            out.append(TcavResult(name, c, float(s.mean()), float(r.mean()), p))
    return out
