"""Chapter 09's Explore panel ("Explore"): pick a test digit or draw one on an 8x8 grid, then
see the CNN's prediction, attribution maps side by side, the most similar training images and
the class prototypes (MMD-critic), concept scores, a counterfactual and "why not class X".

:class:`DrawGrid` is a grid of 64 toggle buttons with one ``value`` (a 64-character string of
0/1, row by row), so ``kit.core.widgets.panel`` treats it like any other control.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import traitlets

from kit.xai import attribution as attr
from kit.xai import concepts, counterfactual, examples
from kit.xai.figures import image_strip
from kit.xai.models import Classifier, onehot

SIZE = 8


def image_to_code(img: np.ndarray, threshold: float = 0.5) -> str:
    """An 8x8 image as the grid's value: '1' where a pixel is at least ``threshold``."""
    img = np.asarray(img, np.float32)
    if img.shape != (SIZE, SIZE):
        raise ValueError(f"img must have shape ({SIZE}, {SIZE}), got {img.shape}")
    return "".join("1" if v >= threshold else "0" for v in img.ravel())


def code_to_image(code: str) -> np.ndarray:
    """The grid's value as an 8x8 float image (ink 1.0, background 0.0)."""
    if not isinstance(code, str) or len(code) != SIZE * SIZE or set(code) - {"0", "1"}:
        raise ValueError(f"code must be a string of {SIZE * SIZE} characters '0' or '1', "
                         f"got {code!r}")
    return np.array([float(c) for c in code], np.float32).reshape(SIZE, SIZE)


class DrawGrid(widgets.GridBox):
    """Section "Explore": 64 toggle buttons to draw a digit; ``value`` is the 64-character
    code (see :func:`code_to_image`) and changes whenever a button is toggled."""

    value = traitlets.Unicode("0" * SIZE * SIZE)

    def __init__(self, image: np.ndarray | None = None) -> None:
        code = "0" * SIZE * SIZE if image is None else image_to_code(image)
        self.buttons = [widgets.ToggleButton(value=c == "1", layout=widgets.Layout(
            width="22px", height="22px", padding="0")) for c in code]
        super().__init__(self.buttons, layout=widgets.Layout(
            grid_template_columns=f"repeat({SIZE}, 24px)", grid_gap="1px"))
        self.value = code
        for b in self.buttons:
            b.observe(self._toggled, names="value")

    def _toggled(self, change: dict) -> None:
        self.value = "".join("1" if b.value else "0" for b in self.buttons)

    def draw(self, image: np.ndarray) -> None:
        """Set the buttons from an 8x8 image (thresholded at 0.5); one ``value`` change."""
        code = image_to_code(image)
        for b in self.buttons:
            b.unobserve(self._toggled, names="value")
        for b, c in zip(self.buttons, code, strict=True):
            b.value = c == "1"
        for b in self.buttons:
            b.observe(self._toggled, names="value")
        self.value = code


@dataclass
class Context:
    """What the panel needs, computed once: the representation of the training images, two
    MMD-critic prototypes per class, one CAV per concept, and the TCAV table."""

    clf: Classifier
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    train_repr: np.ndarray
    prototypes: dict[int, np.ndarray]
    cavs: dict[str, np.ndarray]
    opts: dict
    tcav_df: object = None


def context(clf: Classifier, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
            concept_idx: dict[str, np.ndarray], opts: dict, tcav_df=None, seed: int = 0,
            per_class: int = 2) -> Context:
    """Section "Explore": precompute prototypes (MMD-critic on the CNN's representation of
    each class's training images, at most 150 each) and CAVs (each concept set against a
    random set of the same size)."""
    rng = np.random.default_rng(seed)
    z = clf.hidden(x_train)
    protos = {}
    for c in range(clf.classes):
        idx = np.flatnonzero(y_train == c)[:150]
        p, _ = examples.mmd_critic(z[idx], per_class, 0)
        protos[c] = idx[p]
    acts = clf.features(x_train)
    cavs = {}
    for name, idx in concept_idx.items():
        rand = rng.choice(len(x_train), len(idx), replace=False)
        cavs[name] = concepts.cav(acts[idx], acts[rand], seed)
    return Context(clf, x_train, y_train, x_test, z, protos, cavs, opts, tcav_df)


def concept_scores(ctx: Context, x: np.ndarray, cls: int) -> dict[str, tuple[bool, float]]:
    """For one image: does it satisfy each concept's rule, and the directional derivative of
    the class-``cls`` logit along the concept's CAV (positive: the concept pushes towards
    ``cls``)."""
    _, g = ctx.clf.feature_grad(x[None], onehot(np.array([cls]), ctx.clf.classes))
    g = g.reshape(-1)
    return {name: (bool(concepts.CONCEPTS[name](x)), float(g @ v))
            for name, v in ctx.cavs.items()}


def explain_image(ctx: Context, x: np.ndarray, why_not: int):
    """Section "Explore": one image end to end. Returns a figure and a caption."""
    clf = ctx.clf
    x = np.asarray(x, np.float32)
    if x.shape != (SIZE, SIZE):
        raise ValueError(f"x must have shape ({SIZE}, {SIZE}), got {x.shape}")
    why_not = int(clf.check_target(why_not, 1, "why_not")[0])
    xb = x[None]
    p = clf.probs(xb)[0]
    pred = int(p.argmax())
    other = why_not if why_not != pred else int(np.argsort(-p)[1])
    ig = attr.integrated_gradients(clf, xb, pred, **ctx.opts.get("Integrated Gradients", {}))
    maps = [(f"IG {pred}", ig[0]), (f"Grad-CAM {pred}", attr.gradcam(clf, xb, pred)[0]),
            (f"Guided BP {pred}", attr.guided_backprop(clf, xb, pred)[0]),
            (f"why {pred} not {other}", attr.integrated_gradients(
                clf, xb, pred, contrast=other,
                **ctx.opts.get("Integrated Gradients", {}))[0])]
    cf = counterfactual.greedy_counterfactual(clf, x, other, ctx.x_train, ctx.y_train)
    near = examples.nearest(ctx.train_repr, clf.hidden(xb), 3)[0]
    panels = [("input", x, "gray_r")] + [(t, m, "RdBu_r") for t, m in maps]
    panels.append((f"counterfactual -> {other}", cf.x, "gray_r"))
    panels += [(f"nearest ({ctx.y_train[j]})", ctx.x_train[j], "gray_r") for j in near]
    panels += [(f"prototype {pred}", ctx.x_train[j], "gray_r") for j in ctx.prototypes[pred]]
    fig = image_strip(panels)
    cs = concept_scores(ctx, x, pred)
    ctxt = "; ".join(f"{n}: {'present' if has else 'absent'} by rule, CAV derivative {d:+.3f}"
                     for n, (has, d) in cs.items())
    if ctx.tcav_df is not None:
        rows = ctx.tcav_df[ctx.tcav_df["cls"] == pred]
        ctxt += ". TCAV for class " + str(pred) + ": " + ", ".join(
            f"{r.concept} {r.score:.2f}{'*' if r.significant else ''}" for r in rows.itertuples())
    reached = "reached" if cf.reached else "did not reach"
    text = (f"prediction {pred} (p = {p[pred]:.2f}); class {other} has p = {p[other]:.2f}. "
            f"Nearest training images are labelled {[int(ctx.y_train[j]) for j in near]}. "
            f"Counterfactual: {cf.edits} pixels changed, {reached} class {other} "
            f"(plausibility {cf.plausibility:.2f}). Concepts for class {pred}: {ctxt}.")
    return fig, text


class Shown:
    """A figure and a caption shown together in a widget panel."""

    def __init__(self, fig, text: str) -> None:
        self.fig, self.text = fig, text

    def _repr_html_(self) -> str:
        from kit.core.widgets import to_html

        return to_html(self.fig) + f"<p>{self.text}</p>"


def controls(ctx: Context, start: int, why_not: int) -> dict[str, widgets.Widget]:
    """Section "Explore": source (test image or drawing), test image slider, why-not class,
    and the drawing grid (starting as the chosen test image, thresholded)."""
    from kit.core import widgets as kw

    grid = DrawGrid(ctx.x_test[start])
    return {"source": kw.dropdown("input", ["test image", "drawing"], "test image"),
            "image": kw.int_slider("test image", 0, len(ctx.x_test) - 1, start),
            "why_not": kw.dropdown("why not class", list(range(ctx.clf.classes)), why_not),
            "drawing": grid}


def render(ctx: Context):
    """Section "Explore": the panel's render function."""

    def _render(source: str, image: int, why_not: int, drawing: str):
        x = ctx.x_test[int(image)] if source == "test image" else code_to_image(drawing)
        fig, text = explain_image(ctx, x, int(why_not))
        head = (f"test image {int(image)}: " if source == "test image" else "your drawing: ")
        return Shown(fig, head + text)

    return _render
