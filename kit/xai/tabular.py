"""Chapter 09's tabular model ("A tabular model"): a MindSpore MLP on scikit-learn's bundled
breast-cancer data (569 tumours, 30 features, 2 classes), the kit's attribution methods on its
features, deletion/insertion AUC and IG completeness there, and global feature importance
(mean |attribution|) against permutation importance (scikit-learn) of the same MLP and
against the exact attributions w_j (x_j - x'_j) of a logistic model on the same features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from kit.xai import attribution as attr
from kit.xai import metrics
from kit.xai.models import Classifier, make_classifier

METHODS = ("Gradient", "Gradient x Input", "Integrated Gradients", "SmoothGrad", "Occlusion",
           "Guided Backprop")


@dataclass(frozen=True)
class Tabular:
    """Breast cancer, split 70/30 (stratified), standardised with the training statistics, so
    the all-zero baseline is the training mean."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    features: tuple[str, ...]


def load(seed: int) -> Tabular:
    """Section "A tabular model": the data (bundled with scikit-learn, no download)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    d = load_breast_cancer()
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.3, random_state=seed,
                                          stratify=d.target)
    mu, sd = xtr.mean(0), xtr.std(0)
    return Tabular(((xtr - mu) / sd).astype(np.float32), ytr.astype(np.int64),
                   ((xte - mu) / sd).astype(np.float32), yte.astype(np.int64),
                   tuple(d.feature_names))


def train(data: Tabular, epochs: int, seed: int) -> tuple[Classifier, float]:
    """Section "A tabular model": the MindSpore MLP (30-32-32-2) and its test accuracy."""
    clf, _ = make_classifier("tabular", data.x_train, data.y_train, epochs, seed, classes=2,
                             width=32)
    return clf, float(np.mean(clf.predict(data.x_test) == data.y_test))


def permutation_importance(clf: Classifier, x: np.ndarray, y: np.ndarray, repeats: int = 5,
                           seed: int = 0) -> np.ndarray:
    """Permutation importance of the MindSpore model (Breiman 2001; the algorithm of
    scikit-learn's ``permutation_importance``, which accepts only estimators with ``fit``):
    the mean rise of the cross-entropy when one feature's column is shuffled, over
    ``repeats`` shuffles, all permuted copies scored in one batched call."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    x = clf.check_input(x)
    y = clf.check_target(y, len(x), "y")
    n, d = x.shape
    rng = np.random.default_rng(seed)
    copies = np.repeat(x[None, None], d, 0).repeat(repeats, 1)  # (d, repeats, n, d)
    for j in range(d):
        for r in range(repeats):
            copies[j, r, :, j] = x[rng.permutation(n), j]
    def loss(xx: np.ndarray) -> np.ndarray:
        p = clf.probs(xx.reshape(-1, d)).reshape(*xx.shape[:-2], n, -1)
        return -np.log(np.maximum(np.take_along_axis(
            p, np.broadcast_to(y[:, None], (*p.shape[:-1], 1)), -1)[..., 0], 1e-12)).mean(-1)

    return (loss(copies) - loss(x[None])[0]).mean(1)


def logistic_attributions(data: Tabular, seed: int = 0) -> tuple[np.ndarray, float]:
    """A logistic model on the same features: its exact attributions w_j (x_j - 0) to the
    logit of the predicted class (signed towards it) on the test set, and its accuracy."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(max_iter=5000, random_state=seed).fit(data.x_train, data.y_train)
    pred = lr.predict(data.x_test)
    sign = np.where(pred == 1, 1.0, -1.0)[:, None]
    return sign * lr.coef_[0][None] * data.x_test, float(np.mean(pred == data.y_test))


def evaluate(clf: Classifier, data: Tabular, opts: dict, seed: int = 0,
             repeats: int = 5) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, float]]:
    """Section "A tabular model": per method on the test set (predicted class), deletion and
    insertion AUC (features set to the training mean, most important first), Spearman between
    its global importance (mean |attribution|) and permutation importance of the MLP, and
    with the logistic model's exact importance; plus IG's completeness error."""
    x, t = data.x_test, clf.predict(data.x_test)
    perm = permutation_importance(clf, x, data.y_test, repeats, seed)
    logit_attr, logit_acc = logistic_attributions(data, seed)
    logit_imp = np.abs(logit_attr).mean(0)
    rows, maps = [], {}
    for m in METHODS:
        a = attr.explain(m, clf, x, t, **{k: v for k, v in opts.get(m, {}).items()
                                          if k != "window"})
        maps[m] = a
        dele, ins = metrics.deletion_insertion(clf, x, t, a)
        imp = np.abs(a).mean(0)
        rows.append({"method": m, "deletion AUC": dele.mean(), "insertion AUC": ins.mean(),
                     "Spearman vs permutation": stats.spearmanr(imp, perm).statistic,
                     "Spearman vs logistic": stats.spearmanr(imp, logit_imp).statistic})
    extra = {"ig_completeness_error": float(metrics.completeness_error(
        clf, x, t, maps["Integrated Gradients"]).mean()),
             "logistic_accuracy": logit_acc,
             "permutation_vs_logistic": float(stats.spearmanr(perm, logit_imp).statistic)}
    maps["permutation"] = np.broadcast_to(perm, x.shape)
    maps["logistic"] = logit_attr
    return pd.DataFrame(rows).set_index("method"), maps, extra


def importance_table(maps: dict[str, np.ndarray], features: tuple[str, ...],
                     top: int = 8) -> pd.DataFrame:
    """Section "A tabular model": each method's global importance, scaled to a maximum of 1,
    for the ``top`` features ranked by permutation importance."""
    imp = pd.DataFrame({m: np.abs(a).mean(0) for m, a in maps.items()}, index=list(features))
    imp = imp / imp.max()
    return imp.sort_values("permutation", ascending=False).head(top)


def shap_side_by_side(clf: Classifier, data: Tabular, ig: np.ndarray, rows: int,
                      seed: int = 0) -> dict[str, float]:
    """Section "A tabular model": mindspore_xai's Kernel SHAP (100 training rows as the
    background) on the first ``rows`` test rows beside the kit's IG on the same rows: mean
    Spearman of |attributions|, deletion AUC of each, and Kernel SHAP's seconds per row.
    Raises ImportError without the ``anchors`` extra."""
    from kit.xai import anchor

    if not isinstance(rows, int) or not 1 <= rows <= len(data.x_test):
        raise ValueError(f"rows must be an int in [1, {len(data.x_test)}], got {rows!r}")
    x = data.x_test[:rows]
    t = clf.predict(x)
    shap, seconds = anchor.shap_kernel(clf, data.x_train[:100], x, t, seed=seed)
    ig = ig[:rows]
    d_shap, _ = metrics.deletion_insertion(clf, x, t, shap)
    d_ig, _ = metrics.deletion_insertion(clf, x, t, ig)
    return {"spearman_vs_ig": float(metrics.rank_correlation(shap, ig).mean()),
            "deletion_auc_shap": float(d_shap.mean()), "deletion_auc_ig": float(d_ig.mean()),
            "seconds_per_row": seconds}
