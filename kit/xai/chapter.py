"""The experiments, tables and figures of chapter 09's notebook (each names its section)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.datasets import digits
from kit.xai import attribution as attr
from kit.xai import concepts, counterfactual, examples, metrics
from kit.xai.figures import image_strip
from kit.xai.models import INITS, LAYERS, Classifier, make_classifier, randomised

# Petsiuk et al. 2018 (RISE), Table 2: ResNet50 on ImageNet val, insertion / deletion AUC.
RISE_PUBLISHED = {"RISE insertion": 0.7267, "RISE deletion": 0.1082,
                  "Grad-CAM insertion": 0.6766, "Grad-CAM deletion": 0.1232}


@dataclass(frozen=True)
class Data:
    """Digits 8x8 split 70/30, stratified (section "Models")."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(seed: int) -> Data:
    from sklearn.model_selection import train_test_split

    d = digits()
    xtr, xte, ytr, yte = train_test_split(d.images, d.target, test_size=0.3, random_state=seed,
                                          stratify=d.target)
    return Data(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))


def train_models(data: Data, epochs: int, seed: int) -> tuple[Classifier, Classifier, dict]:
    """Section "Models": the CNN and the MLP, with test accuracies and training seconds."""
    out = {}
    start = time.perf_counter()
    cnn, _ = make_classifier("cnn", data.x_train, data.y_train, epochs, seed)
    out["cnn_seconds"] = time.perf_counter() - start
    mlp, _ = make_classifier("mlp", data.x_train.reshape(-1, 64), data.y_train, epochs, seed)
    out["cnn_accuracy"] = float(np.mean(cnn.predict(data.x_test) == data.y_test))
    out["mlp_accuracy"] = float(np.mean(mlp.predict(data.x_test.reshape(-1, 64))
                                        == data.y_test))
    return cnn, mlp, out


def options(ig_steps: int, smoothgrad_samples: int, rise_masks: int, seed: int
            ) -> dict[str, dict]:
    """Per-method settings used everywhere in the chapter."""
    return {"Integrated Gradients": {"steps": ig_steps},
            "SmoothGrad": {"samples": smoothgrad_samples, "seed": seed},
            "Occlusion": {"window": 1},
            "RISE": {"masks": rise_masks, "seed": seed}}


def all_maps(clf: Classifier, x: np.ndarray, target: np.ndarray, opts: dict,
             methods: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Section "Attribution": every method's maps for (x, target)."""
    methods = tuple(attr.METHODS) if methods is None else methods
    return {m: attr.explain(m, clf, x, target, **opts.get(m, {})) for m in methods}


def evaluate(clf: Classifier, x: np.ndarray, target: np.ndarray, opts: dict,
             sens_samples: int, seed: int) -> tuple[pd.DataFrame, dict[str, np.ndarray], float]:
    """Section "Measuring explanations": for every method, deletion and insertion AUC,
    faithfulness correlation, max-sensitivity and sparsity (plus IG completeness), averaged
    over the inputs. Returns the table, the maps and the wall seconds of the whole run."""
    start = time.perf_counter()
    maps, rows = {}, []
    for method in attr.METHODS:
        o = opts.get(method, {})
        t0 = time.perf_counter()
        a = attr.explain(method, clf, x, target, **o)
        explain_s = time.perf_counter() - t0
        maps[method] = a
        dele, ins = metrics.deletion_insertion(clf, x, target, a)

        def again(xx, tt, method=method, o=o):
            return attr.explain(method, clf, xx, tt, **o)

        rows.append({"method": method, "insertion AUC": ins.mean(), "deletion AUC": dele.mean(),
                     "faithfulness corr": metrics.faithfulness_correlation(
                         clf, x, target, a, seed=seed).mean(),
                     "max-sensitivity": metrics.max_sensitivity(
                         again, x, target, samples=sens_samples, seed=seed).mean(),
                     "sparsity (Gini)": metrics.gini(a).mean(),
                     "explain s": explain_s})
    table = pd.DataFrame(rows).set_index("method")
    ig = maps["Integrated Gradients"]
    table["completeness error"] = np.nan
    table.loc["Integrated Gradients", "completeness error"] = metrics.completeness_error(
        clf, x, target, ig).mean()
    return table, maps, time.perf_counter() - start


def sanity_cascade(clf: Classifier, x: np.ndarray, target: np.ndarray, opts: dict,
                   seed: int, methods: tuple[str, ...] | None = None,
                   init: str = "truncated_normal") -> pd.DataFrame:
    """Section "Sanity checks" (Adebayo et al. 2018): re-initialise layers from the top down
    (``init``, see :func:`~kit.xai.models.randomised`) and report the mean Spearman
    correlation of |maps| with the trained model's maps for the same target classes."""
    methods = tuple(attr.METHODS) if methods is None else methods
    base = all_maps(clf, x, target, opts, methods)
    rows = []
    layers = LAYERS[clf.name]
    rnd = randomised(clf, layers[:1], seed + 1, init)  # one network (and its graphs) reused
    for k in range(1, len(layers) + 1):
        rnd.load_from(randomised(clf, layers[:k], seed + 1, init))
        maps = all_maps(rnd, x, target, opts, methods)
        row = {"randomised up to": layers[k - 1]}
        row.update({m: metrics.rank_correlation(base[m], maps[m]).mean() for m in methods})
        rows.append(row)
    return pd.DataFrame(rows).set_index("randomised up to")


SIGNED = {"Gradient": {"absolute": False}}  # the kit's Gradient map is |dy/dx| by default


def sanity_repeats(clf: Classifier, x: np.ndarray, target: np.ndarray, seed: int,
                   repeats: int, layers: tuple[str, ...] | None = None,
                   methods: tuple[str, ...] = ("Gradient", "Guided Backprop")) -> pd.DataFrame:
    """Section "Sanity checks": Spearman of the trained model's maps with those of ``repeats``
    independently randomised models (seeds ``seed + 1``, ...), of |maps| and of signed maps
    (Adebayo's two rank correlations), under each re-initialisation in
    :data:`~kit.xai.models.INITS`; ``layers`` defaults to all of them (full randomisation).
    One row per (init, method, correlation): mean and standard deviation over the seeds, the
    values, and "input recovery", the Spearman of the randomised model's |map| with |x|
    (Nie et al. 2018: Guided Backprop partly reconstructs the image)."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    layers = LAYERS[clf.name] if layers is None else tuple(layers)
    base = {m: attr.explain(m, clf, x, target, **SIGNED.get(m, {})) for m in methods}
    rows = []
    rnd = randomised(clf, layers, seed + 1)  # one network (and its compiled graphs) reused
    for init in INITS:
        vals = {(m, a): [] for m in methods for a in (True, False)}
        recovery = {m: [] for m in methods}
        for r in range(repeats):
            rnd.load_from(randomised(clf, layers, seed + 1 + r, init))
            for m in methods:
                maps = attr.explain(m, rnd, x, target, **SIGNED.get(m, {}))
                recovery[m].append(metrics.rank_correlation(maps, x).mean())
                for a in (True, False):
                    vals[m, a].append(metrics.rank_correlation(base[m], maps, a).mean())
        for (m, a), v in vals.items():
            rows.append({"init": init, "method": m,
                         "correlation": "|map|" if a else "signed map",
                         "mean": float(np.mean(v)), "std": float(np.std(v)),
                         "input recovery": float(np.mean(recovery[m])),
                         "values": [round(float(u), 4) for u in v]})
    return pd.DataFrame(rows).set_index(["init", "method", "correlation"])


def label_randomisation(data: Data, clf: Classifier, epochs: int, x: np.ndarray,
                        target: np.ndarray, opts: dict, seed: int,
                        methods: tuple[str, ...] | None = None) -> tuple[pd.Series, float]:
    """Section "Sanity checks": the same CNN trained on permuted labels; Spearman of its maps
    with the trained model's, and its training accuracy on the permuted labels."""
    methods = tuple(attr.METHODS) if methods is None else methods
    perm = np.random.default_rng(seed + 7).permutation(data.y_train)
    rnd, _ = make_classifier("cnn", data.x_train, perm, epochs, seed)
    base = all_maps(clf, x, target, opts, methods)
    maps = all_maps(rnd, x, target, opts, methods)
    corr = pd.Series({m: metrics.rank_correlation(base[m], maps[m]).mean() for m in methods})
    return corr, float(np.mean(rnd.predict(data.x_train) == perm))


def influence_check(data: Data, top: int, lam: float = 1e-2) -> tuple[examples.LooCheck, int,
                                                                      float]:
    """Section "Influence": logistic model on the 64 pixels, the test point with the highest
    loss, influence vs leave-one-out retraining for the ``top`` points."""
    start = time.perf_counter()
    model = examples.fit_logistic(data.x_train, data.y_train, lam)
    losses = model.losses(examples.with_bias(data.x_test), data.y_test)
    i = int(np.argmax(losses))
    check = examples.loo_check(model, data.x_train, data.y_train, data.x_test[i:i + 1],
                               data.y_test[i:i + 1], top)
    return check, i, time.perf_counter() - start


def mislabel_check(data: Data, flips: int, seed: int, lam: float = 1e-2) -> dict[str, float]:
    """Section "Mislabelled points": plant ``flips`` label flips, rank training points by
    self-influence (and, as baselines, by training loss and at random)."""
    noisy, planted = examples.flip_labels(data.y_train, flips, seed=seed)
    model = examples.fit_logistic(data.x_train, noisy, lam)
    si = examples.self_influence(model, data.x_train, noisy)
    loss = model.losses(examples.with_bias(data.x_train), noisy)
    rnd = np.random.default_rng(seed).random(len(noisy))
    return {"self-influence": examples.hits_in_top(si, planted),
            "training loss": examples.hits_in_top(loss, planted),
            "random": examples.hits_in_top(rnd, planted),
            "top 5% size": int(round(0.05 * len(noisy)))}


def cnn_influence(clf: Classifier, data: Data, index: int) -> dict[str, object]:
    """Section "Influence on the CNN": last-layer influence of every training image on one
    test image's loss by conjugate gradients, compared with LiSSA and the exact solve."""
    model, fb = examples.last_layer(clf, data.x_train)
    xq = data.x_test[index:index + 1]
    yq = data.y_test[index:index + 1]
    g = model.grads(examples.with_bias(clf.hidden(xq)), yq)[0]
    t0 = time.perf_counter()
    s_cg, residual = examples.conjugate_gradient(model, fb, data.y_train, g)
    cg_s = time.perf_counter() - t0
    s_lissa = examples.lissa(model, fb, data.y_train, g, iters=100)
    s_exact = np.linalg.solve(model.hessian(fb, data.y_train), g)
    scores = model.grads(fb, data.y_train) @ s_cg / len(fb)
    return {"scores": scores, "cg_residual": residual, "cg_seconds": cg_s,
            "cg_vs_exact": float(np.corrcoef(s_cg, s_exact)[0, 1]),
            "lissa_vs_exact": float(np.corrcoef(s_lissa, s_exact)[0, 1])}


def simulatability_check(clf: Classifier, data: Data, method: str, opts: dict,
                         train_size: int, repeats: int, seed: int) -> metrics.Simulatability:
    """Section "Simulatability": explanations of the student's training inputs only (drawn
    from the first 300 training images)."""
    pool_x, test_x = data.x_train[:300], data.x_test
    pool_y, test_y = clf.predict(pool_x), clf.predict(test_x)
    maps = attr.explain(method, clf, pool_x, pool_y, **opts.get(method, {}))
    return metrics.simulatability(pool_x, pool_y, maps, test_x, test_y, train_size, repeats,
                                  seed)


def counterfactuals(clf: Classifier, data: Data, count: int) -> pd.DataFrame:
    """Section "Counterfactuals": for the first ``count`` test images, the minimal greedy edit
    to the runner-up class; sparsity (pixels changed), L1 size and plausibility."""
    rows = []
    logits = clf.logits(data.x_test[:count])
    for i in range(count):
        runner_up = int(np.argsort(-logits[i])[1])
        cf = counterfactual.greedy_counterfactual(clf, data.x_test[i], runner_up,
                                                  data.x_train, data.y_train)
        rows.append({"image": i, "from": int(logits[i].argmax()), "to": runner_up,
                     "reached": cf.reached, "pixels changed": cf.edits, "L1": cf.l1,
                     "plausibility": cf.plausibility})
    return pd.DataFrame(rows)


def summarise_tcav(results: list[concepts.TcavResult], alpha: float = 0.05) -> pd.DataFrame:
    """Section "Concepts": one row per (concept, class) with score, random score and p."""
    df = pd.DataFrame([r.__dict__ for r in results])
    df["significant"] = df["p_value"] < alpha / len(df)  # Bonferroni over all tests
    return df


def draw_maps(maps: dict[str, np.ndarray], x: np.ndarray, rows: int = 3):
    """Section "Attribution": inputs and every method's map, one row per input."""
    import matplotlib.pyplot as plt

    names = list(maps)
    fig, axes = plt.subplots(rows, len(names) + 1, figsize=(1.3 * (len(names) + 1), 1.4 * rows))
    for r in range(rows):
        axes[r, 0].imshow(x[r], cmap="gray_r")
        for c, name in enumerate(names):
            m = maps[name][r]
            lim = max(np.abs(m).max(), 1e-12)
            axes[r, c + 1].imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
            if r == 0:
                axes[r, c + 1].set_title(name.replace(" ", "\n", 1), fontsize=7)
    axes[0, 0].set_title("input", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def case_study(clf: Classifier, data: Data, opts: dict, tcav_df: pd.DataFrame,
               index: int | None = None, why_not: int | None = None):
    """Section "Case study": one test digit explained end to end — prediction, attributions,
    "why not", nearest training images, representer points, counterfactual, concept scores.
    Returns the figure and a text summary."""
    pred_all = clf.predict(data.x_test)
    if index is None:
        wrong = np.flatnonzero(pred_all != data.y_test)
        index = int(wrong[0]) if len(wrong) else 0
    x = data.x_test[index:index + 1]
    pred = int(pred_all[index])
    truth = int(data.y_test[index])
    other = truth if why_not is None else int(why_not)
    if other == pred:
        other = int(np.argsort(-clf.logits(x)[0])[1])
    ig = attr.integrated_gradients(clf, x, pred, **opts.get("Integrated Gradients", {}))
    gcam = attr.gradcam(clf, x, pred)
    contrast = attr.integrated_gradients(clf, x, pred, contrast=other,
                                         **opts.get("Integrated Gradients", {}))
    near = examples.nearest(clf.hidden(data.x_train), clf.hidden(x), 3)[0]
    rep = examples.representer_values(clf, data.x_train, data.y_train, x, pred)[0]
    top_rep = np.argsort(-rep)[:3]
    cf = counterfactual.greedy_counterfactual(clf, x[0], other, data.x_train, data.y_train)
    panels = [("input", x[0], "gray_r"), (f"IG for {pred}", ig[0], "RdBu_r"),
              (f"Grad-CAM {pred}", gcam[0], "RdBu_r"),
              (f"why {pred} not {other}", contrast[0], "RdBu_r"),
              (f"counterfactual -> {other}", cf.x, "gray_r")]
    panels += [(f"nearest ({data.y_train[j]})", data.x_train[j], "gray_r") for j in near]
    panels += [(f"representer ({data.y_train[j]})", data.x_train[j], "gray_r") for j in top_rep]
    fig = image_strip(panels, 1.35)
    p = clf.probs(x)[0]
    sig = tcav_df[(tcav_df["cls"] == pred) & tcav_df["significant"]]
    concepts_txt = ", ".join(f"{r.concept} ({r.score:.2f})" for r in sig.itertuples()) or "none"
    text = (f"test image {index}: true {truth}, predicted {pred} (p = {p[pred]:.2f}); "
            f"runner-up {other} (p = {p[other]:.2f}). Nearest training images are labelled "
            f"{[int(data.y_train[j]) for j in near]}; the strongest representer points "
            f"{[int(data.y_train[j]) for j in top_rep]}. A counterfactual changing "
            f"{cf.edits} pixels makes it a {other} ({'reached' if cf.reached else 'not reached'}"
            f", plausibility {cf.plausibility:.2f}). Significant concepts for class {pred}: "
            f"{concepts_txt}.")
    return fig, text, index


def first_mistake(clf: Classifier, data: Data) -> int:
    """Section "Case study": the first misclassified test digit (0 when there is none)."""
    wrong = np.flatnonzero(clf.predict(data.x_test) != data.y_test)
    return int(wrong[0]) if len(wrong) else 0


def reading(m: dict) -> str:
    """Section "Results against the anchors": the honest reading, computed from the metrics."""
    ins = m["insertion_auc"]
    parts = []
    beats = [k for k in ("RISE", "Occlusion") if ins[k] > ins["Gradient"]]
    parts.append(f"On insertion, {' and '.join(beats) or 'neither RISE nor Occlusion'} "
                 f"beat{'s' if len(beats) == 1 else ''} Gradient, as in the RISE paper"
                 if beats else "On insertion, neither RISE nor Occlusion beats Gradient here, "
                 "unlike the RISE paper")
    parts.append(f"IG completeness error {m['ig_completeness_error']:.4f} "
                 f"({'below' if m['ig_completeness_error'] < 0.01 else 'above'} the 1% target)")
    g, gb = m["sanity_spearman_gradient"], m["sanity_spearman_guided_backprop"]
    top, above = m["sanity_spearman_logit_layer"], m["sanity_spearman_cascade"]["conv2"]
    held = top["Guided Backprop"] > 0.5 and above["Guided Backprop"] > above["Gradient"] + 0.2
    parts.append(f"with the logit layer randomised Guided Backprop keeps a rank correlation of "
                 f"{top['Guided Backprop']:.2f} against Gradient's {top['Gradient']:.2f}, and "
                 f"with every layer but conv1 randomised {above['Guided Backprop']:.2f} against "
                 f"{above['Gradient']:.2f}: Adebayo's invariance to the layers above the input "
                 f"is {'' if held else 'not '}reproduced")
    reps = m.get("sanity_full_randomisation_repeats", {})
    means = {k.split(" / ")[0]: v["mean"] for k, v in reps.items()
             if k.endswith("Guided Backprop / |map|")}
    spread = (" (mean over seeds: " + ", ".join(f"{k} {v:.2f}" for k, v in means.items())
              + ")") if means else ""
    parts.append(f"after randomising every layer, Gradient keeps {g:.2f} "
                 f"({'passes' if g < 0.2 else 'misses'} the < 0.2 target) and Guided Backprop "
                 f"{gb:.2f}{spread}, {'above' if gb > 0.5 else 'below'} the issue's 0.5: "
                 f"re-initialising conv1, next to the pixels, changes its maps here, as the "
                 f"paper reports for the input layers")
    parts.append(f"influence predicts leave-one-out retraining with Pearson "
                 f"{m['influence_loo_pearson']:.3f}; self-influence finds "
                 f"{m['mislabel_hits']} planted flips in the top 5% (training loss: "
                 f"{m['mislabel_hits_loss_baseline']}, random: {m['mislabel_hits_random']})")
    lo, hi = m["simulatability_gain_ci"]
    parts.append(f"Gradient x Input maps change a student's accuracy at simulating the CNN by "
                 f"{m['simulatability_gain']:+.3f} (95% CI {lo:+.3f} to {hi:+.3f})")
    return "; ".join(parts) + "."
