"""The experiments, trust card and Explore widget of chapter 05's notebook (each function
names its section). Scale: digits 8x8 in [0, 1], MLP 64-h-h-10, 2 shared CPU cores."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit.datasets import digits
from kit.trust import attacks, backdoor, fairness, privacy, smoothing, verify
from kit.trust import models as M

# Published anchors, quoted with their setting (see the notebook's "Background" section).
COHEN_IMAGENET = {0.5: 0.49, 1.0: 0.37, 2.0: 0.19, 3.0: 0.12}   # Table 1, best sigma per radius
GOWAL_IBP_MNIST_VERIFIED_ERROR = {0.1: 0.0223, 0.3: 0.0805}     # Gowal et al. 2018
CROWN_IBP_MNIST_VERIFIED_ERROR = {0.3: 0.0702}                  # Zhang et al. 2020
ABADI_MNIST = {0.5: 0.90, 2.0: 0.95, 8.0: 0.97}                 # Abadi et al. 2016, delta 1e-5
MADRY_MNIST_PGD = 0.89                                          # eps 0.3, Madry et al. 2018
N_TRAIN = 1297                                                  # the rest (500) is the test set


@dataclass
class Data:
    """The digits split used by every section (flat 64-pixel images)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(seed: int) -> Data:
    """Section "Setup": a seeded 1297 / 500 split of scikit-learn's digits."""
    d = digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    tr, te = order[:N_TRAIN], order[N_TRAIN:]
    return Data(d.flat[tr], d.target[tr], d.flat[te], d.target[te])


def check_params(p: dict[str, Any]) -> None:
    """Section "Validation": cross-parameter checks the Spec cannot express."""
    smoothing.check_samples(p["n_smooth"], p["alpha"], "certify", "n_smooth")
    smoothing.check_samples(p["n_smooth"], p["alpha"], "predict", "n_smooth")
    if p["n_certify"] > 500:
        raise ValueError(f"n_certify must be <= 500 (the test set), got {p['n_certify']}")
    if 0 < p["mnist_train"] < 10:
        raise ValueError(f"mnist_train must be 0 (skip the MNIST part) or >= 10, "
                         f"got {p['mnist_train']}")


# --- Experiment 1: attacks, adversarial training, verification -----------------------------

def train_suite(data: Data, hidden: int, epochs: int, ibp_epochs: int, eps: float,
                seed: int, cnn_epochs: int = 0) -> tuple[dict[str, Any], dict[str, float]]:
    """Section "Experiment 1": the standard MLP, three robust ones and (``cnn_epochs`` > 0) the
    IBP-trained CNN ``cnn_ibp``, with training times."""
    nets, secs = {}, {}
    plan = {"standard": ("mlp", "standard", epochs), "fgsm_rs": ("mlp", "fgsm_rs", epochs),
            "pgd": ("mlp", "pgd", epochs), "ibp": ("mlp", "ibp", ibp_epochs)}
    if cnn_epochs > 0:
        plan["cnn_ibp"] = ("cnn", "ibp", cnn_epochs)
    for name, (arch, kind, ep) in plan.items():
        t0 = time.perf_counter()
        nets[name] = M.train(data.x_train, data.y_train,
                             M.TrainConfig(kind=kind, arch=arch, hidden=hidden, epochs=ep,
                                           eps=eps, seed=seed))
        secs[name] = time.perf_counter() - t0
    return nets, secs


@dataclass
class Robustness:
    """Accuracy of each model: clean, under attacks, verified; and the verified masks."""

    table: pd.DataFrame
    masks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def robustness(nets: dict[str, Any], x: np.ndarray, y: np.ndarray, eps: float,
               steps: int, restarts: int, seed: int,
               alpha_models: tuple[str, ...] = ("ibp",), attacks_on: bool = True) -> Robustness:
    """Section "Experiment 1": clean, FGSM, PGD-linf, PGD-l2 (radius 8 * eps, the l2 ball's
    volume-matched size in 64 dimensions), IBP- and CROWN-verified accuracy at ``eps``, and
    alpha-CROWN for the models in ``alpha_models`` (run only on the correct points CROWN leaves
    unverified: alpha-CROWN's bound is never below CROWN's). ``attacks_on=False`` skips the
    attacks (NaN columns; the seed repeats need the verified accuracies only)."""
    rows, masks = [], {}
    for name, net in nets.items():
        p = M.weights(net)
        clean = M.accuracy(net, x, y)
        fg = pgd = pgd2 = np.nan
        if attacks_on:
            fg = M.accuracy(net, attacks.fgsm(net, x, y, eps), y)
            pgd = attacks.robust_accuracy(net, x, y, eps, "linf", steps, restarts, seed)
            pgd2 = attacks.robust_accuracy(net, x, y, 8 * eps, "l2", steps, restarts, seed)
        ibp, m_ibp = verify.verified_accuracy(p, x, y, eps, "ibp")
        crown, m_crown = verify.verified_accuracy(p, x, y, eps, "crown")
        correct = M.predict_logits(net, x).argmax(1) == y
        masks[name] = {"ibp": m_ibp & correct, "crown": m_crown & correct}
        alpha = np.nan
        if name in alpha_models:
            rest = correct & ~masks[name]["crown"]
            m_alpha = masks[name]["crown"].copy()
            if rest.any():
                m_alpha[rest] = verify.verified_accuracy(p, x[rest], y[rest], eps,
                                                         "alpha_crown")[1]
            masks[name]["alpha_crown"] = m_alpha
            alpha = float(m_alpha.mean())
        rows.append({"model": name, "clean": clean, "FGSM": fg, "PGD linf": pgd,
                     "PGD l2": pgd2, "IBP verified": float(masks[name]["ibp"].mean()),
                     "CROWN verified": float(masks[name]["crown"].mean()),
                     "alpha-CROWN verified": alpha})
        assert ibp >= rows[-1]["IBP verified"] and crown >= rows[-1]["CROWN verified"]
    return Robustness(pd.DataFrame(rows).set_index("model"), masks)


def verification_soundness(nets: dict[str, Any], masks: dict[str, dict[str, np.ndarray]],
                           x: np.ndarray, y: np.ndarray, eps: float, steps: int,
                           restarts: int, seed: int, factors: tuple[int, int] = (4, 2)
                           ) -> tuple[int, int]:
    """Section "Soundness": attack every IBP-, CROWN- or alpha-CROWN-verified point with a strong
    PGD (margin loss, ``factors`` = (4, 2): 4x the steps, 2x the restarts); any misclassified
    point is a violation. Returns (violations, points attacked)."""
    violations, attacked = 0, 0
    for name, net in nets.items():
        mask = np.logical_or.reduce(list(masks[name].values()))
        if not mask.any():
            continue
        xa = attacks.pgd(net, x[mask], y[mask], eps, "linf", factors[0] * steps,
                         factors[1] * restarts, loss="margin", seed=seed + 1)
        assert np.abs(xa - x[mask]).max() <= eps + 1e-6
        violations += int((M.predict_logits(net, xa).argmax(1) != y[mask]).sum())
        attacked += int(mask.sum())
    return violations, attacked


@dataclass
class SeedRepeats:
    """Section "Spreads": the headline verified accuracies (IBP-trained MLP and CNN) and
    alpha-CROWN's gain over CROWN, one value per training seed (the data split stays fixed)."""

    seeds: list[int]
    values: dict[str, list[float]]

    def samples(self) -> dict[str, list[float]]:
        """``{metric name: [value per seed]}`` for ``Recorder.spread(..., "seeds")``."""
        return self.values


def alpha_gain_pts(rob: Robustness, model: str = "ibp") -> float:
    """alpha-CROWN's verified points (percent of the evaluated images) over CROWN's."""
    m = rob.masks[model]
    return 100.0 * float(m["alpha_crown"].mean() - m["crown"].mean())


def seed_repeats(*, data: Data, rob: Robustness, hidden: int, ibp_epochs: int, cnn_epochs: int,
                 eps: float, seeds: list[int], x: np.ndarray, y: np.ndarray) -> SeedRepeats:
    """Section "Spreads": retrain the IBP MLP and CNN with each seed after the first (whose
    models are ``rob``'s) and verify them as in Experiment 1 (IBP, CROWN; alpha-CROWN on the
    MLP)."""
    names = ("ibp_verified_accuracy", "crown_verified_accuracy", "alpha_crown_gain_pts",
             "cnn_ibp_verified_accuracy", "cnn_crown_verified_accuracy")
    t = rob.table
    values = {n: [v] for n, v in zip(names, (
        t.loc["ibp", "IBP verified"], t.loc["ibp", "CROWN verified"], alpha_gain_pts(rob),
        t.loc["cnn_ibp", "IBP verified"], t.loc["cnn_ibp", "CROWN verified"]), strict=True)}
    for s in seeds[1:]:
        nets = {k: M.train(data.x_train, data.y_train,
                           M.TrainConfig(kind="ibp", arch=arch, hidden=hidden, epochs=ep,
                                         eps=eps, seed=s))
                for k, arch, ep in (("ibp", "mlp", ibp_epochs), ("cnn_ibp", "cnn", cnn_epochs))}
        r = robustness(nets, x, y, eps, 1, 1, s, ("ibp",), attacks_on=False)
        got = (r.table.loc["ibp", "IBP verified"], r.table.loc["ibp", "CROWN verified"],
               alpha_gain_pts(r), r.table.loc["cnn_ibp", "IBP verified"],
               r.table.loc["cnn_ibp", "CROWN verified"])
        for n, v in zip(names, got, strict=True):
            values[n].append(float(v))
    return SeedRepeats(list(seeds), {k: [float(v) for v in vs] for k, vs in values.items()})


# --- Experiment 2: randomized smoothing -----------------------------------------------------

@dataclass
class SmoothingRun:
    """One noise level: the noise-trained model, its certificate and its clean accuracy."""

    sigma: float
    net: M.MLP
    cert: smoothing.Certificate
    base_clean: float


def smoothing_runs(data: Data, sigmas: list[float], hidden: int, epochs: int, n0: int, n: int,
                   alpha: float, n_certify: int, seed: int) -> list[SmoothingRun]:
    """Section "Experiment 2": train with Gaussian noise at each sigma and CERTIFY."""
    runs = []
    x = data.x_test[:n_certify]
    for s in sigmas:
        net = M.train(data.x_train, data.y_train,
                      M.TrainConfig(kind="noise", hidden=hidden, epochs=epochs, sigma=s,
                                    seed=seed))
        cert = smoothing.certify(net, x, s, n0, n, alpha, seed)
        runs.append(SmoothingRun(s, net, cert, M.accuracy(net, data.x_test, data.y_test)))
    return runs


def smoothing_table(runs: list[SmoothingRun], y: np.ndarray, radii: list[float]) -> pd.DataFrame:
    """Certified accuracy at each radius for each sigma (rows) -- Cohen et al.'s Table 1."""
    rows = []
    for r in runs:
        row = {"sigma": r.sigma, "base clean": r.base_clean,
               "abstain": float((r.cert.label == smoothing.ABSTAIN).mean())}
        row.update({f"r={rad}": r.cert.certified_accuracy(y, rad) for rad in radii})
        rows.append(row)
    return pd.DataFrame(rows).set_index("sigma")


def smoothing_soundness(runs: list[SmoothingRun], x: np.ndarray, n: int, alpha: float,
                        steps: int, seed: int) -> tuple[int, int]:
    """Section "Soundness": l2 PGD against the smoothed classifier inside each certified radius,
    then PREDICT at the adversarial point; a different (non-abstaining) class is a violation."""
    violations, attacked = 0, 0
    for r in runs:
        ok = r.cert.label != smoothing.ABSTAIN
        if not ok.any():
            continue
        xa = attacks_inside(r, x[ok], steps, seed)
        pred = smoothing.predict(r.net, xa, r.sigma, n, alpha, seed + 7)
        bad = (pred != smoothing.ABSTAIN) & (pred != r.cert.label[ok])
        violations += int(bad.sum())
        attacked += int(ok.sum())
    return violations, attacked


def attacks_inside(run: SmoothingRun, x: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """The smoothed-classifier attack at each point's own certified radius."""
    ok = run.cert.label != smoothing.ABSTAIN
    return smoothing.smooth_pgd(run.net, x, run.cert.label[ok], run.cert.radius[ok], run.sigma,
                                steps=steps, seed=seed)


# --- Experiment 3: privacy ------------------------------------------------------------------

def dp_curve(data: Data, epsilons: list[float], delta: float, hidden: int, epochs: int,
             batch: int, seed: int) -> tuple[pd.DataFrame, dict[float, M.MLP]]:
    """Section "Experiment 3": DP-SGD at each target epsilon (noise calibrated by the kit's
    accountant; the spent epsilon is re-computed with ``dp_accounting``)."""
    rows, nets = [], {}
    for e in epsilons:
        cfg = privacy.DPConfig(epsilon=e, delta=delta, epochs=epochs, batch=batch,
                               hidden=hidden, seed=seed)
        t0 = time.perf_counter()
        net = privacy.train_dp(data.x_train, data.y_train, cfg)
        q = cfg.batch / len(data.x_train)
        rows.append({"target epsilon": e, "noise multiplier": cfg.noise_multiplier,
                     "steps": cfg.steps, "kit epsilon": cfg.spent_epsilon,
                     "dp_accounting epsilon": privacy.library_epsilon(
                         q, cfg.noise_multiplier, cfg.steps, delta),
                     "test accuracy": M.accuracy(net, data.x_test, data.y_test),
                     "seconds": time.perf_counter() - t0})
        nets[e] = net
    return pd.DataFrame(rows).set_index("target epsilon"), nets


def mia(data: Data, members: int, epochs: int, dp_epsilon: float, delta: float, hidden: int,
        seed: int) -> dict[str, float]:
    """Section "Experiment 3": loss-threshold membership inference on a small training set (where
    a non-private model overfits), non-private vs DP-SGD at ``dp_epsilon``; members and
    non-members are the same size."""
    xm, ym = data.x_train[:members], data.y_train[:members]
    xn, yn = data.x_test[:members], data.y_test[:members]
    plain = M.train(xm, ym, M.TrainConfig(hidden=hidden, epochs=epochs, batch=32, seed=seed))
    cfg = privacy.DPConfig(epsilon=dp_epsilon, delta=delta, epochs=max(1, epochs // 10),
                           batch=max(16, members // 8), hidden=hidden, seed=seed)
    dp = privacy.train_dp(xm, ym, cfg)
    return {"mia_auc_nondp": privacy.mia_auc(plain, (xm, ym), (xn, yn)),
            "mia_auc_dp": privacy.mia_auc(dp, (xm, ym), (xn, yn)),
            "nondp_train_accuracy": M.accuracy(plain, xm, ym),
            "nondp_test_accuracy": M.accuracy(plain, data.x_test, data.y_test),
            "dp_test_accuracy": M.accuracy(dp, data.x_test, data.y_test),
            "mia_dp_epsilon": cfg.spent_epsilon}


# --- Experiment 4: backdoor -------------------------------------------------------------------

def backdoor_run(data: Data, rate: float, hidden: int, epochs: int, seed: int) -> dict[str, Any]:
    """Section "Experiment 4": poison, train, find candidates with both detectors on the first
    hidden layer, confirm activation clustering's by trigger transfer (exclusionary
    reclassification reported beside it), remove, retrain, attack again."""
    xp, yp, poisoned = backdoor.poison(data.x_train, data.y_train, rate, seed=seed)

    def fit(x: np.ndarray, y: np.ndarray) -> M.MLP:
        return M.train(x, y, M.TrainConfig(hidden=hidden, epochs=epochs, seed=seed))

    net = fit(xp, yp)
    acts = backdoor.activations(net, xp)
    out: dict[str, Any] = {"rate": rate, "poisoned": int(poisoned.sum()),
                           "clean_accuracy": M.accuracy(net, data.x_test, data.y_test),
                           "attack_success": backdoor.attack_success(net, data.x_test,
                                                                     data.y_test)}
    for method in ("spectral", "activation_clustering"):
        cand = backdoor.candidates(acts, yp, method, seed=seed)
        out[f"{method} candidates"] = backdoor.score(cand, poisoned)
        if method == "activation_clustering":
            out["activation_clustering + reclassification"] = backdoor.score(
                backdoor.reclassify(xp, yp, cand, fit), poisoned)
            flags = backdoor.confirm_by_transfer(net, xp, yp, cand)
            out[method] = backdoor.score(flags, poisoned)
    clean_net = fit(xp[~flags], yp[~flags])
    out["attack_success_after_removal"] = backdoor.attack_success(clean_net, data.x_test,
                                                                  data.y_test)
    out["clean_accuracy_after_removal"] = M.accuracy(clean_net, data.x_test, data.y_test)
    return out


# --- Experiment 5: fairness -------------------------------------------------------------------

def fairness_run(n: int, reps: int, hidden: int, epochs: int, seed: int) -> pd.DataFrame:
    """Section "Experiment 5": a MindSpore classifier on the synthetic data set (50 % train,
    25 % threshold fitting, 25 % test), gaps with bootstrap 95 % CIs before and after
    group-specific thresholds that equalise positive rates."""
    x, y, a = fairness.synthetic(n, seed)
    tr, va, te = slice(0, n // 2), slice(n // 2, 3 * n // 4), slice(3 * n // 4, n)
    net = M.train(x[tr], y[tr], M.TrainConfig(hidden=hidden, epochs=epochs, seed=seed),
                  n_classes=2)
    z = M.predict_logits(net, x)
    s = z[:, 1] - z[:, 0]
    before = (s[te] > 0).astype(np.int32)
    th = fairness.parity_thresholds(s[va], a[va], float((s[va] > 0).mean()))
    after = fairness.apply_thresholds(s[te], a[te], th)
    rows = []
    for label, pred in (("before (one threshold)", before), ("after (group thresholds)", after)):
        dp_ci = fairness.bootstrap(pred, y[te], a[te], "dp", reps, seed=seed)
        eo_ci = fairness.bootstrap(pred, y[te], a[te], "eo", reps, seed=seed)
        rows.append({"model": label, "accuracy": float((pred == y[te]).mean()),
                     "DP gap": dp_ci.value, "DP 95% CI": (dp_ci.low, dp_ci.high),
                     "EO gap": eo_ci.value, "EO 95% CI": (eo_ci.low, eo_ci.high)})
    return pd.DataFrame(rows).set_index("model")


# --- The trust card ---------------------------------------------------------------------------

def trust_card(rob: pd.DataFrame, smooth: pd.DataFrame, dp: pd.DataFrame, mia_out: dict,
               bd: dict, fair: pd.DataFrame, eps: float, delta: float) -> pd.DataFrame:
    """Section "Trust card": one row per model, every trust dimension measured on it
    (n/a where a dimension does not apply to that model)."""
    rows = []
    for name, r in rob.iterrows():
        label = f"CNN {name[4:]}" if name.startswith("cnn_") else f"MLP {name}"
        rows.append({"model": label, "clean": r["clean"], f"PGD linf eps={eps}":
                     r["PGD linf"], "IBP verified": r["IBP verified"],
                     "CROWN verified": r["CROWN verified"],
                     "alpha-CROWN verified": r.get("alpha-CROWN verified", np.nan),
                     "smoothing cert. r=0.5": np.nan,
                     "DP epsilon": np.inf})
    for s, r in smooth.iterrows():
        rows.append({"model": f"MLP noise sigma={s}", "clean": r["base clean"],
                     "smoothing cert. r=0.5": r.get("r=0.5", np.nan), "DP epsilon": np.inf})
    for e, r in dp.iterrows():
        rows.append({"model": f"MLP DP-SGD eps={e}", "clean": r["test accuracy"],
                     "DP epsilon": r["dp_accounting epsilon"]})
    card = pd.DataFrame(rows).set_index("model")
    card.attrs["shared"] = {
        f"MIA AUC (non-DP / DP, delta={delta})": (mia_out["mia_auc_nondp"],
                                                 mia_out["mia_auc_dp"]),
        "backdoor detection TPR / FPR (activation clustering)":
            (bd["activation_clustering"].tpr, bd["activation_clustering"].fpr),
        "DP gap before / after": (fair["DP gap"].iloc[0], fair["DP gap"].iloc[1]),
    }
    return card


# --- Explore ----------------------------------------------------------------------------------

class Explorer:
    """Section "Explore": pick eps, sigma and a test image; see the attack and the certificates.
    A poisoning-rate slider retrains a backdoored model (cached per rate)."""

    def __init__(self, data: Data, nets: dict[str, M.MLP], runs: list[SmoothingRun],
                 hidden: int, epochs: int, n_smooth: int, alpha: float, seed: int,
                 backdoor_cache: dict[float, dict] | None = None) -> None:
        self.data, self.nets, self.runs = data, nets, {r.sigma: r for r in runs}
        self.hidden, self.epochs, self.n, self.alpha, self.seed = (hidden, epochs, n_smooth,
                                                                   alpha, seed)
        self.backdoor_cache = dict(backdoor_cache or {})

    def render(self, model: str, eps: float, sigma: float, image: int,
               poison_rate: float) -> Any:
        """A figure: the image, its PGD adversary at eps, and the certificates that hold."""
        import matplotlib.pyplot as plt

        from kit.core import plots

        net = self.nets[model]
        x, y = self.data.x_test[image:image + 1], self.data.y_test[image:image + 1]
        xa = attacks.pgd(net, x, y, eps, "linf", 20, 2, seed=self.seed)
        pred, adv = (int(M.predict_logits(net, v).argmax(1)[0]) for v in (x, xa))
        p = M.weights(net)
        ibp_ok = bool(verify.verified(verify.ibp_margins(p, x, y, eps), y)[0])
        crown_ok = bool(verify.verified(verify.crown_margins(p, x, y, eps), y)[0])
        run = self.runs[sigma]
        cert = smoothing.certify(run.net, x, sigma, 50, self.n, self.alpha, self.seed)
        rate = round(float(poison_rate), 3)
        if rate not in self.backdoor_cache:
            self.backdoor_cache[rate] = backdoor_run(self.data, rate, self.hidden, self.epochs,
                                                     self.seed)
        bd = self.backdoor_cache[rate]
        fig, axes = plots.figure(3)
        for ax, img, title in ((axes[0], x, f"label {y[0]}, predicted {pred}"),
                               (axes[1], xa, f"PGD eps={eps}: predicted {adv}"),
                               (axes[2], backdoor.add_trigger(x), "with the BadNets trigger")):
            ax.imshow(img.reshape(8, 8), cmap="gray", vmin=0, vmax=1)
            ax.set(title=title, xticks=[], yticks=[])
        radius = cert.radius[0]
        cert_text = ("abstains" if cert.label[0] < 0 else
                     f"class {cert.label[0]} within l2 radius {radius:.2f}")
        fig.suptitle(f"{model}: IBP {'verified' if ibp_ok else 'not verified'}, CROWN "
                     f"{'verified' if crown_ok else 'not verified'} at eps={eps}; "
                     f"smoothing sigma={sigma}: {cert_text}\n"
                     f"poison rate {rate}: attack success {bd['attack_success']:.2f}, "
                     f"AC detection TPR {bd['activation_clustering'].tpr:.2f} / FPR "
                     f"{bd['activation_clustering'].fpr:.3f}, after removal "
                     f"{bd['attack_success_after_removal']:.2f}", fontsize=8)
        plt.close(fig)
        return fig


def radius_cap(sigma: float, n: int, alpha: float) -> float:
    """The largest radius CERTIFY can give with ``n`` samples at level ``alpha`` (all ``n``
    draws agree: ``pA = alpha ** (1 / n)``), ``sigma * Phi^-1(alpha ** (1 / n))``."""
    from scipy import stats

    return float(sigma * stats.norm.ppf(alpha ** (1.0 / n)))


def smoothing_tradeoff(runs: list[SmoothingRun], y: np.ndarray, n: int, alpha: float,
                       grid: np.ndarray | None = None) -> dict[str, Any]:
    """Section "Experiment 2": Cohen et al.'s trade-off for every pair of consecutive sigmas:
    the larger sigma certifies less at radius 0 and strictly more at some radius *below the
    smaller sigma's radius cap* (:func:`radius_cap` at ``n`` samples): a win beyond the cap
    only shows that the smaller sigma cannot certify that far with ``n`` samples. ``holds``:
    every pair reproduces it."""
    grid = np.linspace(0, 3, 301) if grid is None else grid
    ordered = sorted(runs, key=lambda r: r.sigma)
    pairs = {}
    for small, large in zip(ordered[:-1], ordered[1:], strict=True):
        cs, cl = (smoothing.radius_curve(r.cert, y, grid) for r in (small, large))
        cap = radius_cap(small.sigma, n, alpha)
        wins = np.flatnonzero(cl > cs)
        below = wins[grid[wins] < cap]
        pairs[f"{small.sigma}->{large.sigma}"] = {
            "lower_at_zero": bool(cl[0] < cs[0]), "higher_far": bool(len(wins) > 0),
            "first_radius_large_sigma_wins": float(grid[wins[0]]) if len(wins) else None,
            "small_sigma_radius_cap": cap, "wins_below_cap": bool(len(below) > 0),
            "holds": bool(cl[0] < cs[0] and len(below) > 0)}
    holds = bool(pairs) and all(v["holds"] for v in pairs.values())
    return {"holds": holds, "pairs_holding": int(sum(v["holds"] for v in pairs.values())),
            "pairs": pairs}
