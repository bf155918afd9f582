"""Chapter 01 on real MNIST (section "MNIST: policies at equal modelled latency").

The question the digits experiments cannot answer: at the same modelled-latency ceiling and the
same quantization-aware training, does the kit's policy (Hessian sensitivity + MILP) reach a
higher test accuracy than the alternatives? Per seed the MNIST CNN is trained in fp32, its
sensitivity estimated, and on every hardware table five kinds of policy get the same QAT from
the same fp32 weights: the kit's (MILP, with the adaptive re-solve of ``chapter.qat``), the
HAWQ-style greedy descent, ``n_random`` distinct random policies whose modelled latency lies
within 10 % below the same budget, and uniform int8 and int4. All are scored on the 1,000
held-out test images of ``kit.datasets.mnist5k``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.lowbit import chapter
from kit.lowbit import hardware as hw
from kit.lowbit import policy as pol
from kit.lowbit.nets import MNIST_NET, Layer, Trainer, architecture, fp32_cfg, init_params
from kit.lowbit.quant import cfg_table

METHODS = ("kit (MILP)", "greedy", "random, best", "random, median", "uniform int8",
           "uniform int4")


def _slice(target: np.ndarray, n: int, name: str) -> np.ndarray:
    """Indices of a stratified, fixed (seed-independent) slice of ``n`` of ``target``."""
    from kit.datasets import stratified_head

    total = len(target)
    if isinstance(n, bool) or not isinstance(n, int) or not 100 <= n <= total:
        raise ValueError(f"{name} must be an int in [100, {total}], got {n!r}")
    return np.sort(stratified_head(target, n))


def mnist_data(*, train_images: int, test_images: int = 1000) -> tuple[np.ndarray, ...]:
    """Section "MNIST": ``(x_train, x_test, y_train, y_test)`` from the fixed 4,000/1,000 split
    of ``kit.datasets.mnist5k``, images as ``(n, 1, 28, 28)``. Fewer than 4,000 training or
    1,000 test images keep a stratified slice (the same for every seed: the smoke run's)."""
    from kit.datasets import mnist5k

    d = mnist5k()
    tr = _slice(d.train_target, train_images, "train_images")
    te = _slice(d.test_target, test_images, "test_images")
    return (d.train_images[tr, None], d.test_images[te, None], d.train_target[tr],
            d.test_target[te])


@dataclass(frozen=True)
class Arm:
    """One policy after QAT on one table for one seed."""

    seed: int
    table: str
    method: str
    policy: tuple[str, ...]
    latency_ratio: float  # uniform int8's modelled latency over this policy's
    accuracy: float


@dataclass
class MnistResult:
    """Section "MNIST": every arm of every seed, and what the comparison was run with."""

    arms: list[Arm]
    fp32_accuracy: dict[int, float]
    random_found: dict[tuple[int, str], int]
    moves: dict[tuple[int, str], list[dict]]
    tables: list[str]
    random_tables: list[str]
    train_images: int
    test_images: int
    budget: float
    seconds: float
    qat_runs: int
    infeasible: dict[str, str] = field(default_factory=dict)
    arch: list[Layer] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.fp32_accuracy)

    def _acc(self, seed: int, table: str, method: str) -> float:
        for a in self.arms:
            if (a.seed, a.table, a.method) == (seed, table, method):
                return a.accuracy
        return float("nan")

    def samples(self) -> dict[str, list[float]]:
        """Per seed (one value per seed, for ``rec.spread(name, values, "seeds")``): the worst
        table's drop of the kit policy below fp32 (points), the kit's accuracy gain over the
        best and the median random policy of equal cost and over greedy (points, mean over the
        tables compared), the fp32 accuracy, and the least modelled speed-up over uniform int8
        (a sanity check: it echoes the budget)."""
        out: dict[str, list[float]] = {k: [] for k in (
            "mnist_accuracy_drop_pts", "accuracy_gain_vs_random_equal_cost_pts",
            "accuracy_gain_vs_random_median_pts", "accuracy_gain_vs_greedy_pts",
            "mnist_fp32_accuracy", "mnist_latency_ratio_vs_int8")}
        for s in self.seeds:
            kit_acc = [self._acc(s, t, "kit (MILP)") for t in self.tables]
            out["mnist_accuracy_drop_pts"].append(100 * (self.fp32_accuracy[s] - min(kit_acc)))
            out["mnist_fp32_accuracy"].append(self.fp32_accuracy[s])
            for name, method, tables in (
                    ("accuracy_gain_vs_random_equal_cost_pts", "random, best",
                     self.random_tables),
                    ("accuracy_gain_vs_random_median_pts", "random, median", self.random_tables),
                    ("accuracy_gain_vs_greedy_pts", "greedy", self.tables)):
                gaps = [100 * (self._acc(s, t, "kit (MILP)") - self._acc(s, t, method))
                        for t in tables]
                gaps = [g for g in gaps if np.isfinite(g)]  # a table without random draws
                out[name].append(float(np.mean(gaps)) if gaps else float("nan"))
            out["mnist_latency_ratio_vs_int8"].append(min(
                a.latency_ratio for a in self.arms
                if a.seed == s and a.method == "kit (MILP)"))
        return out

    def frame(self) -> pd.DataFrame:
        """Test accuracy (%) of each method on each table: median over seeds [min, max]."""
        rows = []
        for t in self.tables:
            for m in METHODS:
                vals = [100 * self._acc(s, t, m) for s in self.seeds]
                vals = [v for v in vals if np.isfinite(v)]
                if not vals:
                    continue
                ratios = [a.latency_ratio for a in self.arms
                          if a.table == t and a.method == m and np.isfinite(a.latency_ratio)]
                rows.append({"table": t, "method": m,
                             "speed-up vs int8 (modelled)": float(np.median(ratios))
                             if ratios else np.nan,
                             "accuracy %": float(np.median(vals)),
                             "min": float(np.min(vals)), "max": float(np.max(vals)),
                             "seeds": len(vals)})
        fp = [100 * self.fp32_accuracy[s] for s in self.seeds]
        rows.append({"table": "-", "method": "fp32 (same extra epochs)",
                     "speed-up vs int8 (modelled)": np.nan, "accuracy %": float(np.median(fp)),
                     "min": float(np.min(fp)), "max": float(np.max(fp)), "seeds": len(fp)})
        return pd.DataFrame(rows).set_index(["table", "method"])

    def metrics(self) -> dict:
        """The per-table figures and settings (the per-seed headlines go through
        :meth:`samples` and ``rec.spread``)."""
        def per_table(method):
            return {t: float(np.median([self._acc(s, t, method) for s in self.seeds]))
                    for t in self.tables}

        kit_ratio = {t: float(min(a.latency_ratio for a in self.arms
                                  if a.table == t and a.method == "kit (MILP)"))
                     for t in self.tables}
        return {
            "mnist_network": MNIST_NET,
            "mnist_train_images": self.train_images,
            "mnist_test_images": self.test_images,
            "mnist_seeds": self.seeds,
            "mnist_budget_fraction_of_int8": self.budget,
            "mnist_latency_ratio_vs_int8_by_table": kit_ratio,
            "mnist_kit_accuracy": per_table("kit (MILP)"),
            "mnist_greedy_accuracy": per_table("greedy"),
            "mnist_random_best_accuracy": {t: v for t, v in per_table("random, best").items()
                                           if t in self.random_tables},
            "mnist_uniform_int8_qat_accuracy": float(np.median(
                [self._acc(s, self.tables[0], "uniform int8") for s in self.seeds])),
            "mnist_uniform_int4_qat_accuracy": per_table("uniform int4"),
            "mnist_random_policies_found": {f"{s}/{t}": n
                                            for (s, t), n in self.random_found.items()},
            "mnist_kit_equals_greedy_share": float(np.mean([
                self._policy(s, t, "kit (MILP)") == self._policy(s, t, "greedy")
                for s in self.seeds for t in self.tables])),
            "mnist_adaptive_moves": int(sum(len(m) for m in self.moves.values())),
            "mnist_qat_runs": self.qat_runs,
            "mnist_infeasible_tables": sorted(self.infeasible),
            "mnist_seconds": self.seconds,
        }

    def _policy(self, seed: int, table: str, method: str) -> tuple[str, ...]:
        for a in self.arms:
            if (a.seed, a.table, a.method) == (seed, table, method):
                return a.policy
        return ()


def _check_names(random_tables: list[str], tables: dict[str, hw.Table]) -> None:
    unknown = [t for t in random_tables if t not in tables]
    if unknown or not random_tables:
        raise ValueError(f"random_tables must name one or more of {', '.join(tables)}, got "
                         f"{random_tables!r}")


def compare(*, all_tables: dict[str, hw.Table], candidates: list[str], train_images: int,
            test_images: int, epochs: int, qat_epochs: int, batch: int, lr: float, samples: int,
            hutch_batch: int, budget: float, deploy_batch: int, adapt_every: int,
            n_random: int, random_tables: list[str], seeds: list[int]) -> MnistResult:
    """Section "MNIST": the equal-budget comparison. For every seed: fp32 training, Hutchinson
    sensitivity, and per table the kit's policy, greedy, uniform int8/int4 and (on
    ``random_tables``) ``n_random`` distinct random policies of equal cost, each trained with
    the same ``qat_epochs`` of LSQ QAT from the same fp32 weights and scored on the test set.
    A policy trained twice in one seed (greedy = kit, a random draw = kit) is trained once.
    The fp32 baseline trains for the same extra epochs at the QAT rate."""
    _check_names(random_tables, all_tables)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be one or more distinct ints, got {seeds!r}")
    start = time.perf_counter()
    xtr, xte, ytr, yte = mnist_data(train_images=train_images, test_images=test_images)
    xh, yh = xtr[:hutch_batch], ytr[:hutch_batch]
    arch = architecture(MNIST_NET)
    formats = chapter.needed_formats(candidates, all_tables)
    trainer = Trainer(arch, init_params(arch, seeds[0]), lr)  # one compilation for all seeds
    qlr = lr / 4
    arms, fp32, found, moves, runs, infeasible = [], {}, {}, {}, 0, {}
    for seed in seeds:
        trainer.reset(init_params(arch, seed), lr)
        trainer.fit(xtr, ytr, fp32_cfg(arch), epochs, batch, np.random.default_rng(seed))
        theta = trainer.theta.copy()
        s0 = chapter.sensitivity(trainer, xh, yh, formats, samples, seed)
        cache: dict[tuple, float] = {}

        def trained(weights, acts, theta=theta, s0=s0, seed=seed, cache=cache):
            key = (tuple(weights), tuple(acts))
            if key not in cache:
                trainer.reset(theta, qlr)
                trainer.set_steps(*chapter.layer_steps(arch, s0.noise, list(weights),
                                                       list(acts)))
                trainer.fit(xtr, ytr, cfg_table(list(weights), list(acts)), qat_epochs, batch,
                            np.random.default_rng(seed))
                cache[key] = trainer.accuracy(xte, yte, cfg_table(list(weights), list(acts)))
            return cache[key]

        for ti, (name, table) in enumerate(all_tables.items()):
            prob = chapter.problem(arch, table, candidates, s0.terms, s0.noise.formats, budget,
                                   deploy_batch)

            def arm(method, weights, acc, prob=prob, name=name, seed=seed):
                ratio = prob.int8_latency / chapter._latency(prob, list(weights)) \
                    if all(w in prob.candidates for w in weights) else float("nan")
                arms.append(Arm(seed, name, method, tuple(weights), float(ratio), float(acc)))

            try:
                kit_policy = pol.milp(prob.omega, prob.latency, prob.candidates, prob.budget)
            except ValueError as err:  # the budget is below this chip's cheapest policy
                infeasible[name] = str(err)
                continue
            acts = chapter._acts(prob, kit_policy.names)
            if adapt_every and qat_epochs > adapt_every:
                q = chapter.qat(trainer, theta, s0, prob, kit_policy.names, xtr, ytr, xh, yh,
                                xte, yte, qat_epochs, batch, qlr, adapt_every, samples,
                                formats, seed)
                runs += 1
                arm("kit (MILP)", q.policy, q.accuracy)
                moves[(seed, name)] = q.moves
            else:
                arm("kit (MILP)", kit_policy.names, trained(kit_policy.names, acts))
                moves[(seed, name)] = []
            g = pol.greedy(prob.omega, prob.latency, prob.candidates, prob.budget)
            arm("greedy", g.names, trained(g.names, chapter._acts(prob, g.names)))
            for u in ("int8", "int4"):
                if u in prob.candidates:
                    w = [u] * len(arch)
                    arm(f"uniform {u}", w, trained(w, chapter._acts(prob, w)))
            if name in random_tables:
                randoms = pol.random_policies(prob.omega, prob.latency, prob.candidates,
                                              prob.budget, n_random, 1000 * seed + ti,
                                              unique=True)
                found[(seed, name)] = len(randoms)
                accs = [trained(p.names, chapter._acts(prob, p.names)) for p in randoms]
                if accs:
                    best = int(np.argmax(accs))
                    arm("random, best", randoms[best].names, accs[best])
                    arms.append(Arm(seed, name, "random, median", (), float(np.median(
                        [prob.int8_latency / p.cost for p in randoms])),
                        float(np.median(accs))))
        runs += len(cache)
        trainer.reset(theta, qlr)
        trainer.fit(xtr, ytr, fp32_cfg(arch), qat_epochs, batch, np.random.default_rng(seed))
        fp32[seed] = trainer.accuracy(xte, yte, fp32_cfg(arch))
    feasible = [t for t in all_tables if t not in infeasible]
    return MnistResult(arms, fp32, found, moves, feasible,
                       [t for t in random_tables if t in feasible], len(ytr), len(yte), budget,
                       time.perf_counter() - start, runs, infeasible, arch)


def figure(result: MnistResult):
    """Section "MNIST": test accuracy per table and method, median over seeds with min-max
    bars, against fp32 (dotted)."""
    from kit.core import plots

    frame = result.frame().reset_index()
    fp = frame[frame.table == "-"]["accuracy %"].iloc[0]
    frame = frame[frame.table != "-"]
    fig, ax = plots.figure(figsize=(8.5, 3.4))
    width = 0.8 / len(METHODS)
    for k, m in enumerate(METHODS):
        f = frame[frame.method == m]
        pos = [result.tables.index(t) + (k - len(METHODS) / 2 + 0.5) * width for t in f.table]
        ax.errorbar(pos, f["accuracy %"], yerr=[f["accuracy %"] - f["min"],
                                                f["max"] - f["accuracy %"]],
                    fmt="o", ms=4, capsize=2, label=m)
    ax.axhline(fp, color="grey", ls=":", lw=0.8, label="fp32")
    ax.set_xticks(range(len(result.tables)), result.tables, fontsize=8)
    ax.set(ylabel="MNIST test accuracy %",
           title=f"Equal budget ({result.budget:.2f}x int8 latency), {len(result.seeds)} "
                 f"seed(s), {result.train_images} training images")
    ax.legend(fontsize=7, ncol=3)
    return fig


def _spread_text(spreads: dict, name: str, unit: str = "") -> str:
    s = spreads.get(name, {})
    if "median" not in s:
        return "-"
    if s["n"] == 1:
        return f"{s['median']:+.2f}{unit} (1 seed)"
    return f"{s['median']:+.2f}{unit} [{s['min']:+.2f}, {s['max']:+.2f}] over {s['n']} seeds"


def reading(metrics: dict, spreads: dict) -> str:
    """Section "MNIST": the reading of the equal-budget comparison, written from the numbers
    (the signs are the finding, whichever way they fall)."""
    rnd = spreads["accuracy_gain_vs_random_equal_cost_pts"]
    med = spreads["accuracy_gain_vs_random_median_pts"]
    grd = spreads["accuracy_gain_vs_greedy_pts"]
    drop = spreads["mnist_accuracy_drop_pts"]

    def verdict(s, what):
        if s["min"] > 0:
            return f"the kit is ahead of {what} on every seed"
        if s["max"] < 0:
            return f"the kit is behind {what} on every seed"
        if s["min"] == s["max"] == 0:
            return f"the kit ties {what} exactly"
        return f"the seeds disagree on the sign against {what}: no measurable difference"

    return " ".join([
        f"On MNIST ({metrics['mnist_train_images']} training and "
        f"{metrics['mnist_test_images']} test images, {len(metrics['mnist_seeds'])} seed(s)), "
        f"at {metrics['mnist_budget_fraction_of_int8']:.2f}x uniform int8's modelled latency "
        "and the same QAT:",
        f"kit minus the best random policy of equal cost "
        f"{_spread_text(spreads, 'accuracy_gain_vs_random_equal_cost_pts', ' pts')} "
        f"({verdict(rnd, 'the oracle-picked random policy')});",
        f"kit minus the median random policy "
        f"{_spread_text(spreads, 'accuracy_gain_vs_random_median_pts', ' pts')} "
        f"({verdict(med, 'a typical random policy')});",
        f"kit minus greedy {_spread_text(spreads, 'accuracy_gain_vs_greedy_pts', ' pts')} "
        f"({verdict(grd, 'greedy')}; the two chose the same policy in "
        f"{metrics['mnist_kit_equals_greedy_share']:.0%} of table-seed pairs).",
        f"The kit's worst table is {_spread_text(spreads, 'mnist_accuracy_drop_pts', ' pts')} "
        "below fp32 trained for the same extra epochs"
        + (" (within the 0.5-point target)." if drop["median"] <= 0.5 else
           " (outside the 0.5-point target)."),
        f"Adaptive QAT moved {metrics['mnist_adaptive_moves']} layer(s).",
        *([f"No policy meets the budget on {', '.join(metrics['mnist_infeasible_tables'])} "
           "(the cheapest policy there is slower than the budget): left out."]
          if metrics["mnist_infeasible_tables"] else []),
    ])


# Published low-bit results on MNIST (full 60k/10k MNIST; quoted with setting). [m] = from
# memory of the paper, not checked against a copy here.
MNIST_ANCHORS = (
    ("BinaryConnect (Courbariaux et al., NeurIPS 2015), permutation-invariant MLP, binary "
     "weights: test error 1.29 % (deterministic) / 1.18 % (stochastic) vs 1.30 % float "
     "without regularizer [m]", 100 - 1.29, 100 - 1.30),
    ("BNN (Hubara et al., NeurIPS 2016), MLP, binary weights and activations: test error "
     "0.96 % (Torch7) / 1.40 % (Theano) [m]", 100 - 0.96, None),
    ("TWN (Li et al., 2016), LeNet-5, ternary (2-bit) weights: 99.35 % vs 99.41 % full "
     "precision [m]", 99.35, 99.41),
)


def anchor_frame(metrics: dict, spreads: dict) -> pd.DataFrame:
    """Section "Results against the anchors": the kit's MNIST rows beside published MNIST
    low-bit numbers (same data set, the kit on the 4,000-image sample)."""
    scale = (f"kit: MNIST {metrics['mnist_train_images']}-image sample, "
             f"{metrics['mnist_test_images']} test, 2 CPU cores")
    fp = spreads["mnist_fp32_accuracy"]
    kit_worst = 100 * fp["median"] - spreads["mnist_accuracy_drop_pts"]["median"]
    int4 = min(metrics["mnist_uniform_int4_qat_accuracy"].values())
    rows = [
        {"quantity": "fp32 test accuracy %", "kit": 100 * fp["median"],
         "kit spread": f"[{100 * fp['min']:.1f}, {100 * fp['max']:.1f}]", "setting": scale},
        {"quantity": "kit policy after QAT, worst table, accuracy %", "kit": kit_worst,
         "kit spread": _spread_text(spreads, "mnist_accuracy_drop_pts", " pts drop"),
         "setting": f"{metrics['mnist_budget_fraction_of_int8']:.2f}x int8 latency"},
        {"quantity": "uniform int8 QAT accuracy %",
         "kit": 100 * metrics["mnist_uniform_int8_qat_accuracy"], "kit spread": "-",
         "setting": scale},
        {"quantity": "uniform int4 QAT accuracy % (worst table)", "kit": 100 * int4,
         "kit spread": "-", "setting": scale},
    ]
    for text, low_bit, full in MNIST_ANCHORS:
        rows.append({"quantity": "published", "kit": np.nan, "kit spread": "-",
                     "setting": text, "published low-bit %": low_bit,
                     "published full precision %": full})
    return pd.DataFrame(rows).set_index("quantity")
