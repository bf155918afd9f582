"""Chapter 09's in-framework anchor ("MindSpore XAI side by side"): the explainers of
``mindspore-xai`` 1.8 run on the same MindSpore CNN and the same images as the kit's, scored
with the kit's metrics, with agreement (Spearman of |maps|, cosine) and seconds per image.

``mindspore-xai`` is the optional extra ``anchors``; :func:`load` raises ImportError when it
is missing, and the notebook says so instead of running this section. Its explainers use cell
hooks, which need PyNative mode: :func:`xai_explain` switches to PyNative for the call and back
to the previous mode afterwards. Its RISE draws masks from numpy's global generator; the state
is seeded for the call and restored afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mindspore import nn, ops

from kit.xai import attribution as attr
from kit.xai import metrics
from kit.xai.models import Classifier

# kit method name -> mindspore_xai explainer class name
XAI_NAMES = {"Gradient": "Gradient", "Grad-CAM": "GradCAM", "Guided Backprop": "GuidedBackprop",
             "Occlusion": "Occlusion", "RISE": "RISE", "Deconvolution": "Deconvolution"}


def load():
    """The ``mindspore_xai.explainer`` module (raises ImportError if the extra is missing)."""
    from mindspore_xai import explainer

    return explainer


def make_explainer(method: str, clf: Classifier, rise_masks: int | None = None):
    """Section "MindSpore XAI": the ``mindspore_xai`` explainer for kit method ``method`` on the
    CNN (Grad-CAM on ``act2``, the kit's Grad-CAM layer). ``rise_masks`` replaces RISE's fixed
    6000 masks (a private attribute in 1.8.1: there is no argument for it)."""
    from mindspore import nn

    if method not in XAI_NAMES:
        raise ValueError(f"method must be one of {', '.join(XAI_NAMES)}, got {method!r}")
    if not clf.is_image:
        raise ValueError(f"mindspore_xai explainers need an image model (N, C, H, W), got "
                         f"{clf.name} with input {clf.input_shape}")
    e = load()
    cls = getattr(e, XAI_NAMES[method])
    if method == "Grad-CAM":
        return cls(clf.net, layer="act2")
    if method in ("Occlusion", "RISE"):
        ex = cls(clf.net, nn.Softmax(), perturbation_per_eval=1000)
        if method == "RISE" and rise_masks is not None:
            if not isinstance(rise_masks, int) or rise_masks < 1:
                raise ValueError(f"rise_masks must be an int >= 1, got {rise_masks!r}")
            ex._num_masks = rise_masks  # noqa: SLF001 - no public setting in 1.8.1
        return ex
    return cls(clf.net)


@contextmanager
def pynative(seed: int) -> Iterator[None]:
    """PyNative mode and a seeded numpy global generator for a mindspore_xai call; the
    previous mode and generator state come back afterwards."""
    import mindspore as ms

    mode = ms.get_context("mode")
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        ms.set_context(mode=ms.PYNATIVE_MODE)
        yield
    finally:
        ms.set_context(mode=mode)
        np.random.set_state(state)


def xai_explain(method: str, clf: Classifier, x: np.ndarray, target, rise_masks: int | None = None,
                seed: int = 0, explainer=None) -> np.ndarray:
    """Section "MindSpore XAI": maps of shape ``x.shape`` from ``mindspore_xai`` for ``method``,
    one image per call (Occlusion and the benchmarks accept only N = 1), in PyNative mode,
    always with ``show=False`` (its default shows images in Jupyter)."""
    import mindspore as ms

    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    with pynative(seed):
        ex = make_explainer(method, clf, rise_masks) if explainer is None else explainer
        out = np.empty(x.shape, np.float32)
        for i in range(len(x)):
            xi = ms.Tensor(x[i:i + 1].reshape(1, 1, *x.shape[1:]))
            out[i] = ex(xi, int(t[i]), show=False).asnumpy().reshape(x.shape[1:])
    return out


def shap_kernel(clf: Classifier, background: np.ndarray, x: np.ndarray, target,
                neighbours: int = 500, seed: int = 0) -> tuple[np.ndarray, float]:
    """Section "A tabular model": mindspore_xai's ``SHAPKernel`` on a tabular model (the
    probability of ``target``, ``background`` rows as the reference), and seconds per row."""
    import mindspore as ms
    from mindspore import nn

    if clf.is_image:
        raise ValueError(f"shap_kernel needs a tabular model, got {clf.name}")
    x = clf.check_input(x)
    background = clf.check_input(background, "background")
    t = clf.check_target(target, len(x))
    e = load()
    with pynative(seed):
        net = nn.SequentialCell([clf.net, nn.Softmax()])
        ex = e.SHAPKernel(net, ms.Tensor(background), num_neighbours=neighbours,
                          max_features=x.shape[1])
        t0 = time.perf_counter()
        out = ex(ms.Tensor(x), ms.Tensor(t.astype(np.int32)), show=False)
        seconds = (time.perf_counter() - t0) / len(x)
    out = out.asnumpy() if hasattr(out, "asnumpy") else np.asarray(out)
    return out.reshape(x.shape).astype(np.float32), seconds


def hook_semantics() -> dict[str, list[float]]:
    """Section "MindSpore XAI": what ``Cell.register_backward_hook`` hands its hook on this
    MindSpore, for y = sum(relu(x) * [3, 4]) at x = [-1, 2]. mindspore-xai 1.8 reads
    ``grad_input`` as the gradient arriving at the cell's output ([3, 4]); MindSpore 2.10
    passes there the gradient leaving towards its input ([0, 4])."""
    import mindspore as ms
    from mindspore import nn

    seen: dict[str, list[float]] = {}

    def hook(cell, grad_input, grad_output):
        seen["grad_input"] = grad_input[0].asnumpy().tolist()
        seen["grad_output"] = grad_output[0].asnumpy().tolist()

    class _Net(nn.Cell):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.ReLU()
            self.relu.register_backward_hook(hook)
            self.w = ms.Tensor(np.array([3.0, 4.0], np.float32))

        def construct(self, x):
            return (self.relu(x) * self.w).sum()

    with pynative(0):
        ms.grad(_Net())(ms.Tensor(np.array([-1.0, 2.0], np.float32)))
    return seen


def gradcam_input_grad(clf: Classifier, x: np.ndarray, target) -> np.ndarray:
    """Grad-CAM with the channel weights taken from the gradient at the ReLU's *input*
    (mean of dy/dA * 1[A > 0]) instead of its output: what mindspore-xai 1.8.1's GradCAM on
    ``act2`` computes under MindSpore 2.10's hook semantics (see :func:`hook_semantics`)."""
    from kit.xai.models import onehot

    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    a, g = clf.feature_grad(x, onehot(t, clf.classes))
    cam = np.maximum(((g * (a > 0)).mean(axis=(2, 3), keepdims=True) * a).sum(1), 0)
    return cam.reshape(x.shape).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of two batches of maps, per input (0 where a map is all zero)."""
    fa = np.asarray(a, np.float64).reshape(len(a), -1)
    fb = np.asarray(b, np.float64).reshape(len(b), -1)
    norm = np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1)
    return np.where(norm > 0, (fa * fb).sum(1) / np.where(norm > 0, norm, 1), 0.0)


@dataclass(frozen=True)
class Comparison:
    """Section "MindSpore XAI": one row per method, the maps, and the failures."""

    table: pd.DataFrame
    kit_maps: dict[str, np.ndarray]
    xai_maps: dict[str, np.ndarray]
    failures: dict[str, str]


def matched_options(method: str, opts: dict) -> dict:
    """The kit's settings that match mindspore_xai's fixed ones: Occlusion with a 3x3 window
    (mindspore_xai uses 3x3, stride 1, on images under 32 pixels), else the chapter's."""
    o = dict(opts.get(method, {}))
    if method == "Occlusion":
        o["window"] = 3
    return o


def compare(clf: Classifier, x: np.ndarray, target, opts: dict, rise_masks: int,
            seed: int = 0, methods: tuple[str, ...] | None = None) -> Comparison:
    """Section "MindSpore XAI": for each method both libraries explain (x, target); both map
    sets are scored by the kit's deletion/insertion AUC and faithfulness correlation; agreement
    is the mean Spearman of |maps| and the mean cosine; seconds are per image, after one
    untimed warm-up call of each (graph compilation, explainer set-up). A method whose
    mindspore_xai run raises is recorded in ``failures`` with its error."""
    methods = tuple(XAI_NAMES) if methods is None else methods
    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    n = len(x)
    rows, kit_maps, xai_maps, failures = [], {}, {}, {}
    for method in methods:
        kit_fn: Callable = attr.METHODS.get(method, deconvolution)
        try:
            ex = make_explainer(method, clf, rise_masks)
            xai_explain(method, clf, x[:1], t[:1], rise_masks, seed, explainer=ex)  # warm-up
            t0 = time.perf_counter()
            b = xai_explain(method, clf, x, t, rise_masks, seed, explainer=ex)
            xai_s = (time.perf_counter() - t0) / n
        except Exception as err:  # noqa: BLE001 - a failing explainer is a finding to report
            failures[method] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            continue
        kit_fn(clf, x, t, **matched_options(method, opts))  # warm-up: compiles for this shape
        t0 = time.perf_counter()
        a = kit_fn(clf, x, t, **matched_options(method, opts))
        kit_s = (time.perf_counter() - t0) / n
        kit_maps[method], xai_maps[method] = a, b
        kd, ki = metrics.deletion_insertion(clf, x, t, a)
        xd, xi = metrics.deletion_insertion(clf, x, t, b)
        rows.append({"method": method,
                     "kit insertion AUC": ki.mean(), "XAI insertion AUC": xi.mean(),
                     "kit deletion AUC": kd.mean(), "XAI deletion AUC": xd.mean(),
                     "kit faithfulness": metrics.faithfulness_correlation(
                         clf, x, t, a, seed=seed).mean(),
                     "XAI faithfulness": metrics.faithfulness_correlation(
                         clf, x, t, b, seed=seed).mean(),
                     "Spearman |kit| vs |XAI|": metrics.rank_correlation(a, b).mean(),
                     "cosine |kit| vs |XAI|": cosine(np.abs(a), np.abs(b)).mean(),
                     "Spearman vs kit reproduction": metrics.rank_correlation(
                         REPRODUCTION[method](clf, x, t), b).mean()
                     if method in REPRODUCTION else np.nan,
                     "kit s/image": kit_s, "XAI s/image": xai_s})
    table = pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame()
    return Comparison(table, kit_maps, xai_maps, failures)


class DeconvReLU(nn.Cell):
    """A ReLU whose backward pass is ReLU(dout), ignoring the forward mask (Zeiler & Fergus
    2014's deconvnet rule), as an ``nn.Cell`` with a custom ``bprop``."""

    def construct(self, x):
        return ops.relu(x)

    def bprop(self, x, out, dout):
        return (dout * (dout > 0).astype(dout.dtype),)


def deconvolution(clf: Classifier, x: np.ndarray, target, **_) -> np.ndarray:
    """Zeiler & Fergus 2014: the input gradient with every ReLU's backward pass replaced by
    ReLU(dout) (the kit's counterpart of mindspore_xai's Deconvolution)."""
    import mindspore as ms

    from kit.xai.models import _ctor_args, onehot

    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    twin = type(clf.net)(**_ctor_args(clf.net))
    for new, p in zip(twin.get_parameters(), clf.net.get_parameters(), strict=True):
        new.set_data(ms.Tensor(p.data.asnumpy().copy()))
    for name in ("act1", "act2", "act3"):
        setattr(twin, name, DeconvReLU())
    twin.set_train(False)
    return Classifier(twin, clf.input_shape, clf.classes, f"{clf.name} (deconv)").grad(
        x, onehot(t, clf.classes))


def gradcam_reproduction(clf: Classifier, x: np.ndarray, target, seed: int = 0) -> float:
    """Section "MindSpore XAI": the largest difference between mindspore_xai's GradCAM with
    its final bilinear resize switched off (8x8 to 8x8 is not the identity there) and
    :func:`gradcam_input_grad`, both scaled by their largest value (0 = the same maps)."""
    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    with pynative(seed):
        ex = make_explainer("Grad-CAM", clf)
    ex._resize = False  # noqa: SLF001 - no public switch in 1.8.1
    b = xai_explain("Grad-CAM", clf, x, t, seed=seed, explainer=ex)
    k = gradcam_input_grad(clf, x, t)
    return float(np.abs(b / max(b.max(), 1e-12) - k / max(k.max(), 1e-12)).max())


# what each mindspore_xai explainer computes on MindSpore 2.10 (hook arguments swapped)
REPRODUCTION: dict[str, Callable] = {"Grad-CAM": gradcam_input_grad,
                                     "Guided Backprop": deconvolution,
                                     "Deconvolution": attr.guided_backprop}


def summary(c: Comparison, hooks: dict, gradcam_gap: float) -> str:
    """Section "MindSpore XAI": the reading of the side-by-side run, computed from it."""
    t = c.table
    sp = t["Spearman |kit| vs |XAI|"]
    rep = t["Spearman vs kit reproduction"]
    parts = [f"{len(t)} of {len(t) + len(c.failures)} mindspore_xai explainers ran on this CPU"
             + (f" (failed: {', '.join(c.failures)})" if c.failures else "")]
    if "Gradient" in sp:
        parts.append(f"Gradient agrees with the kit's (Spearman {sp['Gradient']:.3f})")
    if "Occlusion" in sp:
        parts.append(f"3x3 Occlusion {sp['Occlusion']:.3f} (it divides each pixel's summed "
                     f"drop by the number of windows + 1)")
    if "Guided Backprop" in rep and "Deconvolution" in rep:
        parts.append(f"its GuidedBackprop matches the kit's Guided Backprop at "
                     f"{sp['Guided Backprop']:.3f} but the kit's deconvolution at "
                     f"{rep['Guided Backprop']:.3f}, and its Deconvolution matches the kit's "
                     f"Guided Backprop at {rep['Deconvolution']:.3f}: the two are swapped on "
                     f"MindSpore 2.10, whose backward hook passes grad_input = "
                     f"{hooks['grad_input']} and grad_output = {hooks['grad_output']} for "
                     f"sum(relu(x) * [3, 4]) at x = [-1, 2], the reverse of what "
                     f"mindspore-xai 1.8 (written for MindSpore 1.x) reads")
    if "Grad-CAM" in sp:
        zero = float(np.mean([not m.any() for m in c.kit_maps["Grad-CAM"]]))
        parts.append(f"its GradCAM agrees with the kit's at only {sp['Grad-CAM']:.3f} (the "
                     f"kit's Grad-CAM map is all zero after its ReLU on {zero:.0%} of these "
                     f"images, which scores 0) and differs by definition: it "
                     f"weights channels by the gradient at the ReLU's input for the same reason "
                     f"(with its final resize switched off it equals that variant to "
                     f"{gradcam_gap:.1e})")
    if "RISE" in sp:
        parts.append(f"RISE {sp['RISE']:.3f} (its masks are 10x10 grids, the kit's 4x4; the "
                     f"same number of masks)")
    return "; ".join(parts) + "."


def draw(comparison: Comparison, x: np.ndarray, rows: int = 2):
    """Section "MindSpore XAI": per method, the kit's map above mindspore_xai's, for the
    first ``rows`` inputs."""
    import matplotlib.pyplot as plt

    names = list(comparison.kit_maps)
    fig, axes = plt.subplots(2 * rows, len(names) + 1,
                             figsize=(1.3 * (len(names) + 1), 1.3 * 2 * rows), squeeze=False)
    for r in range(rows):
        for k, (label, maps) in enumerate((("kit", comparison.kit_maps),
                                           ("XAI", comparison.xai_maps))):
            ax_row = axes[2 * r + k]
            ax_row[0].imshow(x[r], cmap="gray_r")
            ax_row[0].set_ylabel(label, fontsize=7)
            for c, name in enumerate(names):
                m = np.abs(maps[name][r])
                ax_row[c + 1].imshow(m, cmap="viridis", vmin=0, vmax=max(m.max(), 1e-12))
                if r == 0 and k == 0:
                    ax_row[c + 1].set_title(name, fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
