"""Section "MindArmour side by side": MindSpore's own trust toolbox against the kit's code.

MindArmour 2.0 (the optional extra ``anchors``) is run on the *same* MindSpore model and images as
the kit: its FGSM and PGD (``mindarmour.adv_robustness.attacks``) against :mod:`kit.trust.attacks`
(accuracy under attack at the same eps, agreement of the adversarial points, time), and its DP
training (``DPModel`` with a Gaussian noise mechanism, micro-batch clipping) and RDP monitor
against the kit's DP-SGD and accountant (``dp_accounting`` as the referee).
MindArmour prints a compatibility warning and a 3-second countdown when imported; it is imported
once, by :func:`load`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn

from kit.trust import attacks, privacy
from kit.trust import models as M

_MODULES: dict[str, Any] = {}


def load() -> dict[str, Any]:
    """Import MindArmour's attack and DP modules once; ImportError (with the install hint) when
    the optional extra is missing."""
    if not _MODULES:
        try:
            from mindarmour.adv_robustness import attacks as ma_attacks
            from mindarmour.privacy import diff_privacy as ma_dp
        except ImportError as err:
            raise ImportError("MindArmour is not installed: install the optional extra "
                              "'anchors' (pip install -e '.[anchors]', done by make test)"
                              ) from err
        import mindarmour
        _MODULES.update(attacks=ma_attacks, dp=ma_dp,
                        version=getattr(mindarmour, "__version__", "unknown"))
    return _MODULES


def _robust(net: Any, x_adv: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points left correct by the clean input and by the adversarial one."""
    clean = M.predict_logits(net, x).argmax(1) == y
    return clean & (M.predict_logits(net, x_adv).argmax(1) == y)


def attack_comparison(net: Any, x: np.ndarray, y: np.ndarray, eps: float, steps: int,
                      seed: int = 0) -> dict[str, float]:
    """Section "MindArmour side by side": FGSM and l-inf PGD (``steps`` steps of 2.5 eps/steps,
    no random start, as MindArmour's PGD) from both libraries on the same model and images.
    Returns accuracies under attack, the share of points where the two attacks agree on
    success, the largest pixel difference of the FGSM points and the share of pixels that
    differ, and seconds."""
    eps = attacks.check_eps(eps)
    if eps == 0 or steps < 1:
        raise ValueError(f"eps must be > 0 and steps >= 1, got {eps!r} and {steps!r}")
    ma = load()["attacks"]
    x = np.ascontiguousarray(x, np.float32)
    y = np.asarray(y, np.int32)
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    kit_fgsm = attacks.fgsm(net, x, y, eps)
    t1 = time.perf_counter()
    ma_fgsm = ma.FastGradientSignMethod(net, eps=eps, bounds=(0.0, 1.0),
                                        loss_fn=loss).generate(x, y).astype(np.float32)
    t2 = time.perf_counter()
    kit_pgd = attacks.pgd(net, x, y, eps, "linf", steps, 1, seed=seed)
    t3 = time.perf_counter()
    ma_pgd = ma.ProjectedGradientDescent(net, eps=eps, eps_iter=2.5 * eps / steps,
                                         bounds=(0.0, 1.0), nb_iter=steps, norm_level="inf",
                                         loss_fn=loss).generate(x, y).astype(np.float32)
    t4 = time.perf_counter()
    for name, adv in (("kit_fgsm", kit_fgsm), ("mindarmour_fgsm", ma_fgsm), ("kit_pgd", kit_pgd),
                      ("mindarmour_pgd", ma_pgd)):
        if np.abs(adv - x).max() > eps + 1e-5 or adv.min() < 0 or adv.max() > 1:
            raise RuntimeError(f"{name} left the eps ball or the image domain")
        out[f"{name}_accuracy"] = float(_robust(net, adv, x, y).mean())
    for kind, a, b in (("fgsm", kit_fgsm, ma_fgsm), ("pgd", kit_pgd, ma_pgd)):
        out[f"{kind}_agreement"] = float((_robust(net, a, x, y) == _robust(net, b, x, y)).mean())
    diff = np.abs(kit_fgsm - ma_fgsm)
    out["fgsm_max_pixel_difference"] = float(diff.max())
    # a pixel whose input gradient is zero up to rounding can get opposite signs in the two
    # libraries (the kit sums the loss over the batch, MindArmour averages it)
    out["fgsm_pixels_differing"] = float((diff > 1e-6).mean())
    out.update(kit_fgsm_seconds=t1 - t0, mindarmour_fgsm_seconds=t2 - t1,
               kit_pgd_seconds=t3 - t2, mindarmour_pgd_seconds=t4 - t3)
    return out


@dataclass
class DPAnchor:
    """MindArmour's DP pieces beside the kit's DP-SGD at the same noise, clip, batch and steps."""

    noise_multiplier: float
    steps: int
    kit_accuracy: float
    mindarmour_mechanism_accuracy: float
    mechanism_noise_std: float
    mindarmour_rdp_epsilon: float
    dp_accounting_epsilon: float
    kit_epsilon: float
    dpmodel_error: str
    seconds: float


def mindarmour_epsilon(n: int, batch: int, noise_multiplier: float, steps: int,
                       delta: float) -> float:
    """Epsilon by MindArmour's ``RDPMonitor`` for ``steps`` steps at sampling rate batch / n
    (its default orders 1.005..80 and its conversion eps = rdp - log(delta) / (alpha - 1))."""
    dp = load()["dp"]
    mon = dp.RDPMonitor(n, batch, initial_noise_multiplier=noise_multiplier, max_eps=None,
                        target_delta=delta, noise_decay_mode=None)
    return float(mon._compute_privacy_steps(list(range(1, steps + 1)))[0])


def dpmodel_error(x: np.ndarray, y: np.ndarray, cfg: privacy.DPConfig,
                  micro_batches: int = 16) -> str:
    """Build and train MindArmour's ``DPModel`` for one epoch; '' when it runs, else the error
    (MindArmour 2.0 refuses DP training with device_target CPU)."""
    if micro_batches < 1 or cfg.batch % micro_batches:
        raise ValueError(f"micro_batches must divide batch={cfg.batch}, got {micro_batches!r}")
    dp = load()["dp"]
    try:
        net = M.MLP((x.shape[1], cfg.hidden, cfg.hidden, 10))
        mech = dp.NoiseMechanismsFactory().create(
            "Gaussian", norm_bound=float(cfg.clip),
            initial_noise_multiplier=float(cfg.noise_multiplier))
        opt = nn.Momentum(net.trainable_params(), learning_rate=cfg.lr, momentum=cfg.momentum)
        model = dp.DPModel(micro_batches=micro_batches, norm_bound=float(cfg.clip),
                           noise_mech=mech, network=net,
                           loss_fn=nn.SoftmaxCrossEntropyWithLogits(sparse=True,
                                                                    reduction="mean"),
                           optimizer=opt)
        ds = ms.dataset.NumpySlicesDataset({"x": x.astype(np.float32),
                                            "y": y.astype(np.int32)}, shuffle=False)
        model.train(1, ds.batch(cfg.batch, drop_remainder=True), dataset_sink_mode=False)
    except Exception as e:  # noqa: BLE001 -- reported as a finding, not hidden
        return f"{type(e).__name__}: {e}"[:300]
    return ""


def dp_comparison(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                  cfg: privacy.DPConfig, kit_net: Any = None) -> DPAnchor:
    """Section "MindArmour side by side": the kit's DP-SGD as configured by ``cfg`` (or
    ``kit_net``, already trained with that configuration) and the same loop with MindArmour's
    Gaussian mechanism (``NoiseMechanismsFactory``) drawing the noise; MindArmour's RDP epsilon
    against ``dp_accounting``'s for the same run; and whether MindArmour's own ``DPModel``
    trains on this CPU."""
    dp = load()["dp"]
    t0 = time.perf_counter()
    if kit_net is None:
        kit_net = privacy.train_dp(x, y, cfg)
    else:
        cfg.steps = int(round(cfg.epochs / (cfg.batch / len(x))))
        cfg.noise_multiplier = privacy.noise_for_epsilon(cfg.epsilon, cfg.batch / len(x),
                                                         cfg.steps, cfg.delta)
        cfg.spent_epsilon = privacy.dp_sgd_epsilon(cfg.batch / len(x), cfg.noise_multiplier,
                                                   cfg.steps, cfg.delta)
    mech = dp.NoiseMechanismsFactory().create(
        "Gaussian", norm_bound=float(cfg.clip),
        initial_noise_multiplier=float(cfg.noise_multiplier))
    draws: list[float] = []

    def noise(shape: tuple[int, ...]) -> np.ndarray:
        out = mech(ms.Tensor(np.zeros(shape, np.float32))).asnumpy().astype(np.float64)
        draws.append(float(out.std()) if out.size > 100 else np.nan)
        return out

    ma_net = privacy.train_dp(x, y, privacy.DPConfig(**{**cfg.__dict__, "losses": []}), noise)
    q = cfg.batch / len(x)
    return DPAnchor(
        cfg.noise_multiplier, cfg.steps, M.accuracy(kit_net, x_test, y_test),
        M.accuracy(ma_net, x_test, y_test), float(np.nanmean(draws)),
        mindarmour_epsilon(len(x), cfg.batch, cfg.noise_multiplier, cfg.steps, cfg.delta),
        privacy.library_epsilon(q, cfg.noise_multiplier, cfg.steps, cfg.delta),
        cfg.spent_epsilon, dpmodel_error(x, y, cfg), time.perf_counter() - t0)
