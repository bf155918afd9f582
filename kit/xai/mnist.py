"""Chapter 09, section "Sanity checks on MNIST": Adebayo et al. 2018's cascading model
randomisation in their own 28x28 MNIST setting, repeated over training seeds, with IG
completeness and insertion AUC on the same models.

Each seed trains a fresh :class:`~kit.xai.models.MnistCNN` (its own initialisation and batch
order) on a class-balanced slice of ``kit.datasets.mnist5k()``'s 4,000 training images,
explains the same balanced slice of its 1,000 test images (the predicted class), and
re-initialises the layers from the logits down to conv1 (Adebayo's Appendix B truncated
normal, seed + 1). One explainer network per role is compiled once and reloaded per seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.datasets import mnist5k, stratified_head  # noqa: F401 (re-exported)
from kit.xai import attribution as attr
from kit.xai import metrics
from kit.xai.models import LAYERS, Classifier, make_classifier, randomised

SANITY_METHODS = ("Gradient", "Guided Backprop")
INSERTION_METHODS = ("Integrated Gradients", "Gradient")
INSERTION_STEP = 28  # pixels added per step of the insertion curve (one row: 28 steps)


def _count(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return int(value)


def _slug(method: str) -> str:
    return method.lower().replace(" ", "_")


@dataclass(frozen=True)
class MnistSanity:
    """Per-seed results of :func:`sanity` (section "Sanity checks on MNIST").

    ``cascade[layer][method]`` holds one mean Spearman of |maps| per seed, with every layer
    from the logits down to ``layer`` re-initialised; the last layer (conv1) is full
    randomisation. ``input_recovery`` is the Spearman of the fully randomised model's
    Guided Backprop |map| with the image, per seed (Nie et al. 2018)."""

    train_images: int
    epochs: int
    explained: int
    seeds: tuple[int, ...]
    ig_steps: int
    accuracy: tuple[float, ...]
    cascade: dict[str, dict[str, tuple[float, ...]]]
    ig_completeness: tuple[float, ...]
    insertion: dict[str, tuple[float, ...]]
    input_recovery: tuple[float, ...]
    seconds: float

    def spreads(self) -> dict[str, tuple[float, ...]]:
        """The repeated metrics, one value per seed, for ``rec.spread(name, v, "seeds")``."""
        full, above = self.cascade["conv1"], self.cascade["conv2"]
        out = {"mnist_cnn_accuracy": self.accuracy,
               "mnist_sanity_spearman_gradient": full["Gradient"],
               "mnist_sanity_spearman_guided_backprop": full["Guided Backprop"],
               "mnist_sanity_spearman_logit_layer_guided_backprop":
                   self.cascade["fc2"]["Guided Backprop"],
               "mnist_sanity_spearman_above_conv1_gradient": above["Gradient"],
               "mnist_sanity_spearman_above_conv1_guided_backprop": above["Guided Backprop"],
               "mnist_ig_completeness_error": self.ig_completeness,
               "mnist_insertion_auc": self.insertion["Integrated Gradients"],
               "mnist_guided_backprop_input_recovery": self.input_recovery}
        for m in INSERTION_METHODS[1:]:
            out[f"mnist_insertion_auc_{_slug(m)}"] = self.insertion[m]
        return out

    def metrics(self) -> dict[str, object]:
        """``<name>_mean`` and ``<name>_std`` (sample std, ddof 1) of every spread, the
        cascade's mean and std per layer and method, and the settings."""
        out: dict[str, object] = {}
        for name, v in self.spreads().items():
            out[f"{name}_mean"] = float(np.mean(v))
            out[f"{name}_std"] = float(np.std(v, ddof=1))
        out["mnist_sanity_cascade"] = {
            layer: {m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))}
                    for m, v in row.items()} for layer, row in self.cascade.items()}
        out.update(mnist_train_images=self.train_images, mnist_epochs=self.epochs,
                   mnist_explained_images=self.explained, mnist_seeds=len(self.seeds),
                   mnist_seconds=self.seconds)
        return out

    def table(self) -> pd.DataFrame:
        """The cascade as "mean ± std" strings: rows the last layer re-initialised, columns
        the methods."""
        return pd.DataFrame({m: [f"{np.mean(row[m]):.3f} ± {np.std(row[m], ddof=1):.3f}"
                                 for row in self.cascade.values()] for m in SANITY_METHODS},
                            index=pd.Index(list(self.cascade), name="randomised down to"))


def sanity(*, train_images: int, epochs: int, explained: int, seeds: int, ig_steps: int = 64,
           seed: int = 0) -> tuple[MnistSanity, dict[str, np.ndarray]]:
    """Section "Sanity checks on MNIST": for training seeds ``seed``, ..., ``seed + seeds - 1``,
    train the MNIST CNN for ``epochs`` on ``train_images`` balanced training images, run the
    cascade on ``explained`` balanced test images, and measure IG completeness
    (``ig_steps`` trapezoid nodes) and insertion AUC. Returns the results and, for the
    figure, the first seed's images and maps (trained and fully randomised)."""
    train_images = _count("train_images", train_images, 100, 4000)
    epochs = _count("epochs", epochs, 1, 100)
    explained = _count("explained", explained, 2, 1000)
    seeds = _count("seeds", seeds, 2, 50)
    start = time.perf_counter()
    d = mnist5k()
    tr = stratified_head(d.train_target, train_images)
    x_train, y_train = d.train_images[tr], d.train_target[tr]
    x = d.test_images[stratified_head(d.test_target, explained)]
    layers = LAYERS["mnist_cnn"]
    holder: Classifier | None = None
    rnd: Classifier | None = None
    acc, comp, recovery = [], [], []
    cascade = {layer: {m: [] for m in SANITY_METHODS} for layer in layers}
    insertion = {m: [] for m in INSERTION_METHODS}
    shown: dict[str, np.ndarray] = {}
    run_seeds = tuple(range(seed, seed + seeds))
    for s in run_seeds:
        trained, _ = make_classifier("mnist_cnn", x_train, y_train, epochs, s)
        holder = trained if holder is None else holder.load_from(trained)  # graphs reused
        acc.append(float(np.mean(holder.predict(d.test_images) == d.test_target)))
        t = holder.predict(x)
        base = {m: attr.explain(m, holder, x, t) for m in SANITY_METHODS}
        ig = attr.integrated_gradients(holder, x, t, steps=ig_steps)
        comp.append(float(metrics.completeness_error(holder, x, t, ig).mean()))
        for m, a in (("Integrated Gradients", ig), ("Gradient", base["Gradient"])):
            ins = metrics.deletion_insertion(holder, x, t, a, per_step=INSERTION_STEP)[1]
            insertion[m].append(float(ins.mean()))
        for k in range(1, len(layers) + 1):
            r = randomised(holder, layers[:k], s + 1)
            rnd = r if rnd is None else rnd.load_from(r)
            for m in SANITY_METHODS:
                maps = attr.explain(m, rnd, x, t)
                cascade[layers[k - 1]][m].append(
                    float(metrics.rank_correlation(base[m], maps).mean()))
                if k == len(layers) and m == "Guided Backprop":
                    recovery.append(float(metrics.rank_correlation(maps, x).mean()))
                if k == len(layers) and s == seed:
                    shown[f"{m} (random)"] = maps
        if s == seed:
            shown.update({"input": x, **base})
    result = MnistSanity(train_images, epochs, explained, run_seeds, ig_steps, tuple(acc),
                         {k: {m: tuple(v) for m, v in row.items()} for k, row in cascade.items()},
                         tuple(comp), {m: tuple(v) for m, v in insertion.items()},
                         tuple(recovery), time.perf_counter() - start)
    return result, shown


def draw_cascade(result: MnistSanity):
    """Section "Sanity checks on MNIST": mean Spearman per cascade step with the seeds' std."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    steps = list(result.cascade)
    for m in SANITY_METHODS:
        v = np.array([result.cascade[layer][m] for layer in steps])
        ax.errorbar(range(len(steps)), v.mean(1), yerr=v.std(1, ddof=1), marker="o",
                    capsize=3, label=m)
    ax.set_xticks(range(len(steps)), steps)
    ax.set(xlabel="layers re-initialised, top down", ylabel="Spearman |map| vs trained",
           ylim=(-0.05, 1.05),
           title=f"MNIST CNN, {len(result.seeds)} seeds (mean ± std)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_maps(shown: dict[str, np.ndarray], rows: int = 2):
    """Section "Sanity checks on MNIST": images with the trained and fully randomised
    models' Gradient and Guided Backprop |maps| (first seed)."""
    import matplotlib.pyplot as plt

    names = ["input", *SANITY_METHODS, *(f"{m} (random)" for m in SANITY_METHODS)]
    rows = min(rows, len(shown["input"]))
    fig, axes = plt.subplots(rows, len(names), figsize=(1.4 * len(names), 1.5 * rows),
                             squeeze=False)
    for r in range(rows):
        for c, name in enumerate(names):
            img = np.abs(shown[name][r])
            axes[r, c].imshow(img, cmap="gray_r" if c == 0 else "magma",
                              vmin=0, vmax=max(img.max(), 1e-12))
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(name.replace(" (", "\n("), fontsize=7)
    fig.tight_layout()
    return fig


def reading(result: MnistSanity) -> str:
    """Section "Sanity checks on MNIST": what the paper's final text claims, and whether it
    reproduces here, computed from the per-seed numbers."""
    m = result.metrics()

    def pm(name: str) -> str:
        return f"{m[name + '_mean']:.2f} ± {m[name + '_std']:.2f}"

    key = "mnist_sanity_spearman_"
    top = m[key + "logit_layer_guided_backprop_mean"]
    above = m[key + "above_conv1_guided_backprop_mean"]
    held = top > 0.5 and above > m[key + "above_conv1_gradient_mean"] + 0.2
    full_gb, full_g = m[key + "guided_backprop_mean"], m[key + "gradient_mean"]
    conv1 = ("conv1's re-initialisation is what decorrelates it, as on the 8x8 digits"
             if above - full_gb > 0.1 else "conv1's re-initialisation changes it little")
    return (f"Adebayo et al.'s final text: Guided Backprop stays similar to the trained model's "
            f"maps until the layers next to the input are re-initialised. On MNIST 28x28 "
            f"({len(result.seeds)} seeds, mean ± std) it keeps "
            f"{pm(key + 'logit_layer_guided_backprop')} with the logit layer randomised and "
            f"{pm(key + 'above_conv1_guided_backprop')} with every layer but conv1 randomised, "
            f"against Gradient's {pm(key + 'above_conv1_gradient')}: the invariance to the "
            f"layers above the input is {'' if held else 'not '}reproduced. With conv1 "
            f"re-initialised too, Guided Backprop falls to {pm(key + 'guided_backprop')} "
            f"({'above' if full_gb > 0.5 else 'below'} 0.5) and Gradient to "
            f"{pm(key + 'gradient')}{' (below 0.2)' if full_g < 0.2 else ''}: {conv1}.")
