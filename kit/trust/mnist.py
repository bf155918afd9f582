"""Section "MNIST": chapter 05's certified training and verification on real MNIST.

Gowal et al. (2018)'s two MNIST settings, eps = 0.1 and 0.3, at the kit's scale: the 4,000 /
1,000 MNIST sample of :func:`kit.datasets.mnist5k`, an IBP-trained CNN (Gowal's 4x4 stride-2
convolutions, two of them, then the output layer), 2 CPU cores. Verified error is the fraction of
test images that are misclassified or not verified (Gowal's definition); PGD error the fraction
misclassified by the clean input or by l-inf PGD at eps. Errors are fractions, not percent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.datasets import mnist5k, stratified_head
from kit.trust import attacks, verify
from kit.trust import models as M

# Gowal et al. 2018, Table 3 (MNIST test set, 10,000 images), verified error (fraction).
GOWAL_VERIFIED_ERROR = {0.1: 0.0223, 0.3: 0.0805}
CROWN_IBP_VERIFIED_ERROR = {0.3: 0.0702}             # Zhang et al. 2020
ARCH = {"channels": (16, 32), "kernels": (4, 4), "strides": (2, 2), "pads": (1, 1)}
TRAIN_EPS_FACTOR = 1.1      # train at 1.1 x the test eps (Gowal et al. train at a larger eps)


@dataclass
class MnistData:
    """Flat 784-pixel rows in [0, 1]: the first ``n_train`` / ``n_eval`` images of the fixed
    split, taken class by class in turn so that every slice is stratified."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(*, n_train: int, n_eval: int) -> MnistData:
    """Section "MNIST": a stratified slice of the committed MNIST sample (``n_train`` <= 4000
    training, ``n_eval`` <= 1000 test images)."""
    if not 10 <= n_train <= 4000:
        raise ValueError(f"n_train must be in 10..4000, got {n_train!r}")
    if not 10 <= n_eval <= 1000:
        raise ValueError(f"n_eval must be in 10..1000, got {n_eval!r}")
    d = mnist5k()
    tr, te = stratified_head(d.train_target, n_train), stratified_head(d.test_target, n_eval)
    return MnistData(d.train_images[tr].reshape(len(tr), -1), d.train_target[tr],
                     d.test_images[te].reshape(len(te), -1), d.test_target[te])


def eps_tag(eps: float) -> str:
    """``0.1 -> 'eps01'``, ``0.3 -> 'eps03'``: the metric-name suffix."""
    return "eps" + f"{eps:.1f}".replace(".", "")


@dataclass
class MnistResult:
    """One IBP-trained MNIST CNN at one eps and seed: errors (fractions) and timings."""

    eps: float
    seed: int
    clean_error: float
    ibp_verified_error: float
    crown_verified_error: float
    pgd_error: float
    alpha_crown_gain_pts: float
    alpha_candidates: int
    violations: int
    attacked: int
    train_seconds: float
    verify_seconds: dict[str, float]
    masks: dict[str, np.ndarray]

    def metrics(self) -> dict[str, float | int]:
        """``mnist_<quantity>_<eps tag>`` metrics of this run (errors as fractions)."""
        t = eps_tag(self.eps)
        out: dict[str, float | int] = {
            f"mnist_clean_error_{t}": self.clean_error,
            f"mnist_ibp_verified_error_{t}": self.ibp_verified_error,
            f"mnist_pgd_error_{t}": self.pgd_error}
        if self.crown_verified_error == self.crown_verified_error:
            out[f"mnist_crown_verified_error_{t}"] = self.crown_verified_error
        return out


def train(*, data: MnistData, eps: float, epochs: int, seed: int, batch: int = 100,
          lr: float = 1e-3) -> M.CNN:
    """Section "MNIST": Gowal et al.'s recipe on the CNN of :data:`ARCH` -- nominal warm-up,
    then eps ramped to 1.1 x ``eps`` while kappa goes from 1 to 0.5 (``models.train``)."""
    cfg = M.TrainConfig(kind="ibp", arch="cnn", epochs=epochs, eps=TRAIN_EPS_FACTOR * eps,
                        batch=batch, lr=lr, seed=seed, **ARCH)
    return M.train(data.x_train, data.y_train, cfg)


def evaluate(*, net: M.CNN, data: MnistData, eps: float, seed: int, pgd_steps: int,
             pgd_restarts: int, crown: bool, alpha_points: int, soundness: bool,
             train_seconds: float = 0.0) -> MnistResult:
    """Section "MNIST": clean, IBP-, CROWN-verified (``crown``) and PGD error at ``eps``;
    alpha-CROWN on the first ``alpha_points`` correct points CROWN leaves unverified (its gain in
    points of the whole test slice); with ``soundness`` a margin-loss PGD (2x the steps)
    attacks every verified point."""
    x, y = data.x_test, data.y_test
    p = M.weights(net)
    secs: dict[str, float] = {}
    correct = M.predict_logits(net, x).argmax(1) == y
    t0 = time.perf_counter()
    m_ibp = verify.verified(verify.ibp_conv_margins(net.conv_layers(), p[-1], x, y, eps,
                                                    side=net.side), y) & correct
    secs["ibp"] = time.perf_counter() - t0
    masks = {"ibp": m_ibp}
    crown_err, gain, cands = np.nan, np.nan, 0
    if crown:
        t0 = time.perf_counter()
        masks["crown"] = verify.verified_accuracy(p, x, y, eps, "crown")[1] & correct
        secs["crown"] = time.perf_counter() - t0
        crown_err = 1.0 - float(masks["crown"].mean())
        rest = np.flatnonzero(correct & ~masks["crown"])[:alpha_points]
        cands = len(rest)
        gain = 0.0
        if cands:
            t0 = time.perf_counter()
            ok = verify.verified(verify.alpha_crown_margins(p, x[rest], y[rest], eps), y[rest])
            secs["alpha_crown"] = time.perf_counter() - t0
            masks["alpha_crown"] = masks["crown"].copy()
            masks["alpha_crown"][rest[ok]] = True
            gain = 100.0 * float(ok.sum()) / len(y)
    t0 = time.perf_counter()
    pgd_acc = attacks.robust_accuracy(net, x, y, eps, "linf", pgd_steps, pgd_restarts, seed)
    secs["pgd"] = time.perf_counter() - t0
    violations, attacked = 0, 0
    union = np.logical_or.reduce(list(masks.values()))
    if soundness and union.any():
        t0 = time.perf_counter()
        xa = attacks.pgd(net, x[union], y[union], eps, "linf", 2 * pgd_steps, pgd_restarts,
                         loss="margin", seed=seed + 1)
        assert np.abs(xa - x[union]).max() <= eps + 1e-6
        violations = int((M.predict_logits(net, xa).argmax(1) != y[union]).sum())
        attacked = int(union.sum())
        secs["soundness"] = time.perf_counter() - t0
    return MnistResult(eps, seed, 1.0 - float(correct.mean()), 1.0 - float(m_ibp.mean()),
                       crown_err, 1.0 - pgd_acc, gain, cands, violations, attacked,
                       train_seconds, secs, masks)


def run(*, data: MnistData, eps: float, epochs: int, seed: int, pgd_steps: int,
        pgd_restarts: int, crown: bool = True, alpha_points: int = 0,
        soundness: bool = True) -> MnistResult:
    """Train (:func:`train`) and evaluate (:func:`evaluate`) one MNIST CNN."""
    t0 = time.perf_counter()
    net = train(data=data, eps=eps, epochs=epochs, seed=seed)
    return evaluate(net=net, data=data, eps=eps, seed=seed, pgd_steps=pgd_steps,
                    pgd_restarts=pgd_restarts, crown=crown, alpha_points=alpha_points,
                    soundness=soundness, train_seconds=time.perf_counter() - t0)


@dataclass
class MnistExperiment:
    """Section "MNIST": the eps = 0.1 model over seeds (IBP, CROWN, PGD; alpha-CROWN and the
    soundness attack on the first seed) and one eps = 0.3 model (IBP, PGD, soundness)."""

    runs: dict[float, list[MnistResult]]
    seconds: float

    def samples(self) -> dict[str, list[float]]:
        """``{metric: [value per seed]}`` (eps = 0.3: one seed) for ``Recorder.spread``."""
        out: dict[str, list[float]] = {}
        for rs in self.runs.values():
            for r in rs:
                for k, v in r.metrics().items():
                    out.setdefault(k, []).append(float(v))
        first = self.runs[0.1][0]
        if first.alpha_candidates:
            out["mnist_alpha_crown_gain_pts_eps01"] = [first.alpha_crown_gain_pts]
        return out

    @property
    def violations(self) -> int:
        """Misclassified points found inside any certificate (must be 0)."""
        return sum(r.violations for rs in self.runs.values() for r in rs)

    @property
    def attacked(self) -> int:
        """Certified points attacked by the soundness PGD."""
        return sum(r.attacked for rs in self.runs.values() for r in rs)

    def table(self) -> pd.DataFrame:
        """Gowal et al.'s verified error beside the kit's (median [min, max] over seeds)."""
        def cell(vals: list[float]) -> str:
            v = np.asarray(vals) * 100
            return (f"{np.median(v):.2f}" if len(v) == 1 else
                    f"{np.median(v):.2f} [{v.min():.2f}, {v.max():.2f}]")

        rows = []
        for eps, rs in self.runs.items():
            crown = [r.crown_verified_error for r in rs if np.isfinite(r.crown_verified_error)]
            rows.append({"eps": eps, "seeds": len(rs),
                         "Gowal et al. verified error %": 100 * GOWAL_VERIFIED_ERROR[eps],
                         "kit IBP verified error %": cell([r.ibp_verified_error for r in rs]),
                         "kit CROWN verified error %": cell(crown) if crown else "-",
                         "kit PGD error %": cell([r.pgd_error for r in rs]),
                         "kit clean error %": cell([r.clean_error for r in rs])})
        return pd.DataFrame(rows).set_index("eps")


def experiment(*, data: MnistData, epochs: int, seeds: list[int], pgd_steps: int,
               alpha_points: int) -> MnistExperiment:
    """Section "MNIST": :func:`run` at eps = 0.1 for each seed and at eps = 0.3 for the first
    (PGD with one restart: the MNIST part keeps the book run inside its time budget)."""
    t0 = time.perf_counter()
    runs = {0.1: [run(data=data, eps=0.1, epochs=epochs, seed=s, pgd_steps=pgd_steps,
                      pgd_restarts=1, alpha_points=alpha_points if i == 0 else 0,
                      soundness=i == 0) for i, s in enumerate(seeds)],
            0.3: [run(data=data, eps=0.3, epochs=epochs, seed=seeds[0], pgd_steps=pgd_steps,
                      pgd_restarts=1, crown=False)]}
    return MnistExperiment(runs, time.perf_counter() - t0)


def conv_speedup(*, data: MnistData, batch: int = 32, rounds: int = 3) -> list[float]:
    """Section "MNIST": per-round speed-up of one IBP training step of the MNIST CNN with its
    convolutions as unfold + matmul over MindSpore's ``Conv2d`` kernel (``ops.conv2d``), the
    same weights and batch, timed in interleaved rounds (``kit.core.measure.interleave``)."""
    import mindspore as ms

    from kit.core.measure import interleave

    x, y = data.x_train[:batch], data.y_train[:batch]
    args = (ms.Tensor(x), ms.Tensor(y), ms.Tensor(np.float32(0.1)), ms.Tensor(np.float32(0.5)))
    steps = {}
    for name, native in (("conv2d", True), ("unfold", False)):
        ms.set_seed(0)
        net = M.CNN(**ARCH, side=28)
        net.native = native
        steps[name] = M.TrainStep(M.Objective(net, "ibp"), 1e-3)

    def call(name: str):
        return lambda: steps[name](*args).asnumpy()

    timed = interleave({k: call(k) for k in steps}, rounds=rounds, repeats=2, warmup=1)
    return timed.ratios("conv2d", "unfold")
