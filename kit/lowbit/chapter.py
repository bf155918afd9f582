"""The experiments, tables and figures of chapter 01's notebook (each names its section)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.lowbit import hardware as hw
from kit.lowbit import policy as pol
from kit.lowbit import precision as fmt
from kit.lowbit import sensitivity as sens
from kit.lowbit.nets import Layer, Trainer, architecture, fp32_cfg, init_params
from kit.lowbit.quant import cfg_table


def data(network: str, seed: int) -> tuple[np.ndarray, ...]:
    """Section "Networks": digits 8x8 split 70/30 (stratified, seeded); images as (n, 1, 8, 8)
    for the CNNs, flat (n, 64) for the MLP."""
    from sklearn.model_selection import train_test_split

    from kit.datasets import digits

    d = digits()
    x = d.flat if network == "mlp" else d.images[:, None]
    return tuple(train_test_split(x, d.target, test_size=0.3, random_state=seed,
                                  stratify=d.target))


def tables(measured: dict | None = None) -> dict[str, hw.Table]:
    """Section "Hardware": the shipped tables plus, when given, the one measured here."""
    out = hw.shipped()
    if measured is not None:
        out[measured["name"]] = hw.check_table(measured, "measured table")
    return out


def table_frame(all_tables: dict[str, hw.Table]) -> pd.DataFrame:
    """Section "Hardware": ps per MAC of every precision on every table, and bandwidth."""
    rows = []
    for t in all_tables.values():
        row = {"table": t.name, "GB/s": t.bandwidth_gb_s}
        for p, c in t.mac_ps.items():
            row[p] = f"{c:.3g}" + (f" -> {t.fallback[p]}" if p in t.fallback else "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("table").fillna("-")


@dataclass
class Problem:
    """One network on one table: candidates, predicted losses, latencies, the budget."""

    table: hw.Table
    candidates: list[str]
    activations: list[str]
    omega: np.ndarray
    latency: np.ndarray
    int8_latency: float
    budget: float


def problem(arch: list[Layer], table: hw.Table, candidates: list[str], terms, formats,
            budget_fraction: float, batch: int) -> Problem:
    """Section "Policy search": the MILP data for one table (activations take the format of
    the units that compute the layer)."""
    cands = [p for p in candidates if p in table.mac_ps]
    if "int8" not in table.mac_ps:
        raise ValueError(f"hardware table {table.name!r} must list int8 (the reference)")
    acts = [table.activation_format(p) for p in cands]
    lat = hw.latency_matrix(arch, table, cands, batch)
    int8 = float(hw.latency_matrix(arch, table, ["int8"], batch).sum())
    return Problem(table, cands, acts, sens.omega(terms, formats, cands, acts), lat, int8,
                   budget_fraction * int8)


def needed_formats(candidates: list[str], all_tables: dict[str, hw.Table]) -> list[str]:
    """Every format a layer's weights or activations can take on any table."""
    out = list(candidates)
    for t in all_tables.values():
        for p in candidates:
            if p in t.mac_ps and t.activation_format(p) not in out:
                out.append(t.activation_format(p))
    return out


def layer_steps(arch: list[Layer], noise: sens.Noise, weights: list[str],
                acts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The MSE-optimal steps of a policy (per-channel weight steps, per-layer activation)."""
    wparts, off = [], 0
    for layer, w in zip(arch, weights, strict=True):
        wparts.append(noise.wsteps[w][off:off + layer.cout])
        off += layer.cout
    astep = np.array([noise.asteps[a][i] for i, a in enumerate(acts)], np.float32)
    return np.concatenate(wparts), astep


def ptq_accuracy(trainer: Trainer, noise: sens.Noise, weights: list[str], acts: list[str],
                 x: np.ndarray, y: np.ndarray) -> float:
    """Section "Experiments": accuracy of a policy without retraining (MSE steps)."""
    saved = trainer.steps()
    try:
        trainer.set_steps(*layer_steps(trainer.arch, noise, weights, acts))
        return trainer.accuracy(x, y, cfg_table(weights, acts))
    finally:
        trainer.set_steps(*saved)


@dataclass
class Sensitivity:
    """Traces, quantization errors and loss terms of one network at one point of training."""

    traces: sens.Traces
    noise: sens.Noise
    terms: tuple[np.ndarray, np.ndarray]
    seconds: float


def sensitivity(trainer: Trainer, xh: np.ndarray, yh: np.ndarray, formats: list[str],
                samples: int, seed: int) -> Sensitivity:
    """Section "Sensitivity": Hutchinson traces and quantization errors at the current
    weights."""
    start = time.perf_counter()
    traces = sens.hutchinson(trainer, xh, yh, samples, seed)
    noise = sens.quant_noise(trainer, xh, formats)
    terms = sens.loss_terms(trainer.arch, traces, noise)
    return Sensitivity(traces, noise, terms, time.perf_counter() - start)


@dataclass
class QatRun:
    """One quantization-aware training run with its (possibly moving) policy."""

    table: str
    start_policy: list[str]
    policy: list[str]
    moves: list[dict]
    accuracy: float
    losses: list[float]


def qat(trainer: Trainer, theta0: np.ndarray, s0: Sensitivity, prob: Problem | None,
        weights: list[str], x: np.ndarray, y: np.ndarray, xh: np.ndarray, yh: np.ndarray,
        xte: np.ndarray, yte: np.ndarray, epochs: int, batch: int, lr: float,
        adapt_every: int, samples: int, formats: list[str], seed: int) -> QatRun:
    """Section "Self-adaptive training": LSQ quantization-aware training from the fp32
    weights. Every ``adapt_every`` epochs (0 = never) the Hessian traces and quantization
    errors are re-estimated at the current weights and the policy re-solved; a layer whose
    precision changes gets fresh MSE steps, the others keep their learned steps."""
    arch = trainer.arch
    rng = np.random.default_rng(seed)
    trainer.reset(theta0, lr)
    acts = _acts(prob, weights)
    trainer.set_steps(*layer_steps(arch, s0.noise, weights, acts))
    start, moves, losses = list(weights), [], []
    for epoch in range(epochs):
        if prob is not None and adapt_every and epoch and epoch % adapt_every == 0:
            s = sensitivity(trainer, xh, yh, formats, samples, seed + epoch)
            om = sens.omega(s.terms, s.noise.formats, prob.candidates, prob.activations)
            new = pol.milp(om, prob.latency, prob.candidates, prob.budget).names
            if new != weights:
                new_acts = _acts(prob, new)
                wstep, astep = trainer.steps()
                fresh_w, fresh_a = layer_steps(arch, s.noise, new, new_acts)
                off = 0
                for i, layer in enumerate(arch):
                    if new[i] != weights[i]:
                        moves.append({"epoch": epoch, "layer": layer.name, "from": weights[i],
                                      "to": new[i]})
                        wstep[off:off + layer.cout] = fresh_w[off:off + layer.cout]
                        astep[i] = fresh_a[i]
                    off += layer.cout
                trainer.set_steps(wstep, astep)
                weights, acts = new, new_acts
        losses += trainer.fit(x, y, cfg_table(weights, acts), 1, batch, rng)
    return QatRun(prob.table.name if prob else "none", start, weights, moves,
                  trainer.accuracy(xte, yte, cfg_table(weights, acts)), losses)


def _acts(prob: Problem | None, weights: list[str]) -> list[str]:
    if prob is None:
        return list(weights)
    return [prob.activations[prob.candidates.index(w)] for w in weights]


@dataclass
class NetworkRun:
    """Everything the chapter measures on one network."""

    name: str
    arch: list[Layer]
    trainer: Trainer
    split: tuple
    theta_fp32: np.ndarray
    fp32_accuracy: float
    sens: Sensitivity
    problems: dict[str, Problem]
    policies: dict[str, pol.Policy]
    search_seconds: float
    qat: dict[str, QatRun] = field(default_factory=dict)
    baselines_qat: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    infeasible: dict[str, str] = field(default_factory=dict)


def run_network(name: str, all_tables: dict[str, hw.Table], candidates: list[str],
                epochs: int, qat_epochs: int, batch: int, lr: float, samples: int,
                hutch_batch: int, budget: float, deploy_batch: int, adapt_every: int,
                seed: int, qat_baselines: bool = True) -> NetworkRun:
    """Sections "Networks" to "Self-adaptive training" for one network: train fp32, estimate
    sensitivity, search a policy per table, train each policy with adaptive QAT, and the
    fair fp32 baseline (trained for the same extra epochs)."""
    from kit.core.measure import Timer

    arch = architecture(name)
    xtr, xte, ytr, yte = data(name, seed)
    xh, yh = xtr[:hutch_batch], ytr[:hutch_batch]
    formats = needed_formats(candidates, all_tables)
    with Timer() as t_train:
        trainer = Trainer(arch, init_params(arch, seed), lr)
        trainer.fit(xtr, ytr, fp32_cfg(arch), epochs, batch, np.random.default_rng(seed))
    theta = trainer.theta.copy()
    with Timer() as t_search:
        s0 = sensitivity(trainer, xh, yh, formats, samples, seed)
        problems = {n: problem(arch, t, candidates, s0.terms, s0.noise.formats, budget,
                               deploy_batch) for n, t in all_tables.items()}
        policies, infeasible = {}, {}
        for n, p in problems.items():
            try:
                policies[n] = pol.milp(p.omega, p.latency, p.candidates, p.budget)
            except ValueError as err:  # the budget is below this chip's cheapest policy
                infeasible[n] = str(err)
        problems = {n: p for n, p in problems.items() if n in policies}
    run = NetworkRun(name, arch, trainer, (xtr, xte, ytr, yte), theta, 0.0, s0, problems,
                     policies, t_search.seconds, train_seconds=t_train.seconds,
                     infeasible=infeasible)
    qlr = lr / 4
    for n, p in problems.items():
        run.qat[n] = qat(trainer, theta, s0, p, policies[n].names, xtr, ytr, xh, yh, xte, yte,
                         qat_epochs, batch, qlr, adapt_every, samples, formats, seed)
    if qat_baselines:
        for u in ("int8", "int4"):
            run.baselines_qat[u] = qat(trainer, theta, s0, None, [u] * len(arch), xtr, ytr,
                                       xh, yh, xte, yte, qat_epochs, batch, qlr, 0, samples,
                                       formats, seed).accuracy
    # the fair fp32 baseline: the same extra epochs at the same rate
    trainer.reset(theta, qlr)
    trainer.fit(xtr, ytr, fp32_cfg(arch), qat_epochs, batch, np.random.default_rng(seed))
    run.fp32_accuracy = trainer.accuracy(xte, yte, fp32_cfg(arch))
    trainer.set_theta(theta)
    trainer.set_steps(*layer_steps(arch, s0.noise, ["fp32"] * len(arch),
                                   ["fp32"] * len(arch)))
    return run


def policy_frame(run: NetworkRun) -> pd.DataFrame:
    """Section "Policy search": each table's policy, layer by layer, with its figures."""
    rows = []
    for n, p in run.policies.items():
        prob = run.problems[n]
        row = {"table": n}
        row.update(dict(zip([layer.name for layer in run.arch], p.names, strict=True)))
        row["latency vs int8"] = prob.int8_latency / p.cost
        row["size vs fp32"] = size_reduction(run.arch, p.names)
        row["search ms"] = p.seconds * 1e3
        q = run.qat[n]
        row["QAT accuracy"] = q.accuracy
        row["moves in QAT"] = len(q.moves)
        row["policy after QAT"] = "same" if q.policy == p.names else " ".join(q.policy)
        rows.append(row)
    return pd.DataFrame(rows).set_index("table")


def _latency(prob: Problem, names: list[str]) -> float:
    return float(sum(prob.latency[i, prob.candidates.index(p)] for i, p in enumerate(names)))


def size_reduction(arch: list[Layer], names: list[str]) -> float:
    """Bytes of the fp32 model over bytes of the policy's model."""
    cols = sorted(set(names) | {"fp32"})
    size = hw.size_matrix(arch, cols)
    fp32 = size[:, cols.index("fp32")].sum()
    return float(fp32 / sum(size[i, cols.index(p)] for i, p in enumerate(names)))


def sensitivity_frame(run: NetworkRun, perturb: np.ndarray, measured: np.ndarray,
                      predicted: np.ndarray) -> pd.DataFrame:
    """Section "Sensitivity": the two trace estimates and the int4 loss increase, per layer."""
    t = run.sens.traces
    return pd.DataFrame({"layer": [layer.name for layer in run.arch],
                         "weights": [layer.n_weights for layer in run.arch],
                         "Hutchinson tr(H_w)": t.weight, "+- s.e.": t.weight_se,
                         "perturbation tr(H_w)": perturb,
                         "Hutchinson tr(H_a)": t.activation,
                         "int4 dL predicted": predicted, "int4 dL measured": measured})


def single_layer_loss(run: NetworkRun, precision: str, x: np.ndarray,
                      y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Section "Sensitivity": measured and predicted loss increase when one layer at a time is
    quantized to ``precision`` (weights and activations), the rest in fp32."""
    arch, trainer, noise = run.arch, run.trainer, run.sens.noise
    base = trainer.loss(x, y, fp32_cfg(arch))
    measured, saved = [], trainer.steps()
    for i in range(len(arch)):
        names = ["fp32"] * len(arch)
        names[i] = precision
        trainer.set_steps(*layer_steps(arch, noise, names, names))
        measured.append(trainer.loss(x, y, cfg_table(names, names)) - base)
    trainer.set_steps(*saved)
    om = sens.omega(run.sens.terms, noise.formats, [precision], [precision])[:, 0]
    return np.array(measured), om


@dataclass
class Baselines:
    """Section "Baselines": each table's searched policy against the alternatives."""

    frame: pd.DataFrame
    random_accuracy: dict[str, tuple[float, float]]


def baselines(run: NetworkRun, n_random: int, seed: int) -> Baselines:
    """Uniform policies, greedy, random policies of equal cost and the MILP, per table:
    predicted loss, modelled latency vs uniform int8, accuracy without retraining."""
    xte, yte = run.split[1], run.split[3]
    rows, rand = [], {}
    for n, prob in run.problems.items():
        def add(method, p, prob=prob, n=n):
            acts = [prob.activations[j] for j in p.choice]
            rows.append({"table": n, "method": method, "policy": " ".join(p.names),
                         "latency vs int8": prob.int8_latency / p.cost,
                         "predicted dL": p.loss,
                         "accuracy (no retraining)": ptq_accuracy(run.trainer, run.sens.noise,
                                                                   p.names, acts, xte, yte)})
        for u in ("fp32", "fp16", "int8", "int4"):
            if u in prob.candidates:
                add(f"uniform {u}", pol.uniform(u, prob.omega, prob.latency, prob.candidates))
        add("greedy (HAWQ-style)", pol.greedy(prob.omega, prob.latency, prob.candidates,
                                              prob.budget))
        add("MILP (kit)", run.policies[n])
        randoms = pol.random_policies(prob.omega, prob.latency, prob.candidates, prob.budget,
                                      n_random, seed)
        accs = []
        for p in randoms:
            acts = [prob.activations[j] for j in p.choice]
            accs.append(ptq_accuracy(run.trainer, run.sens.noise, p.names, acts, xte, yte))
        rand[n] = (float(np.mean(accs)), float(np.std(accs))) if accs else (np.nan, np.nan)
        if randoms:
            rows.append({"table": n, "method": f"random, equal cost (n={len(randoms)})",
                         "policy": "-",
                         "latency vs int8": float(np.mean([prob.int8_latency / p.cost
                                                           for p in randoms])),
                         "predicted dL": float(np.mean([p.loss for p in randoms])),
                         "accuracy (no retraining)": rand[n][0]})
    return Baselines(pd.DataFrame(rows), rand)


def cross_matrix(run: NetworkRun) -> tuple[dict, bool]:
    """Section "Cross-hardware": every table's searched policy on every table: latency vs
    uniform int8, predicted loss, and whether it meets that table's budget. A policy is best
    on a table when it meets the budget with the least predicted loss there."""
    matrix, diagonal = {}, True
    for src, found in run.policies.items():
        matrix[src] = {}
        for dst, prob in run.problems.items():
            if all(p in prob.candidates for p in found.names):
                choice = [prob.candidates.index(p) for p in found.names]
                p = pol.evaluate(choice, prob.omega, prob.latency, prob.candidates)
                matrix[src][dst] = {"latency_ratio": prob.int8_latency / p.cost,
                                    "predicted_loss": p.loss,
                                    "within_budget": p.cost <= prob.budget * (1 + 1e-9)}
            else:
                matrix[src][dst] = {"latency_ratio": None, "predicted_loss": None,
                                    "within_budget": False}
    for dst in run.problems:
        feasible = {src: matrix[src][dst]["predicted_loss"] for src in matrix
                    if matrix[src][dst]["within_budget"]}
        own = matrix[dst][dst]
        if not own["within_budget"] or own["predicted_loss"] > min(feasible.values()) * (
                1 + 1e-9) + 1e-15:
            diagonal = False
    return matrix, diagonal


def cross_frame(matrix: dict) -> pd.DataFrame:
    """The cross-hardware matrix as a table of latency ratios (x = over budget or missing)."""
    def cell(v):
        if v["latency_ratio"] is None:
            return "unsupported"
        return f"{v['latency_ratio']:.2f}x" + ("" if v["within_budget"] else " (over)")

    return pd.DataFrame({src: {dst: cell(v) for dst, v in row.items()}
                         for src, row in matrix.items()}).T.rename_axis("policy of \\ on")


def pareto(run: NetworkRun, points: int) -> dict[str, pd.DataFrame]:
    """Section "Pareto": MILP policies over a sweep of budgets per table (cheapest policy up
    to uniform int8's latency), with their accuracy without retraining."""
    xte, yte = run.split[1], run.split[3]
    out = {}
    for n, prob in run.problems.items():
        low = pol.cheapest(prob.latency)
        rows = []
        for b in np.linspace(low, max(prob.int8_latency, low), points):
            for method, fn in (("MILP", pol.milp), ("greedy", pol.greedy)):
                p = fn(prob.omega, prob.latency, prob.candidates, b)
                acts = [prob.activations[j] for j in p.choice]
                rows.append({"method": method, "budget": b / prob.int8_latency,
                             "latency vs int8": prob.int8_latency / p.cost,
                             "predicted dL": p.loss, "policy": " ".join(p.names),
                             "accuracy": ptq_accuracy(run.trainer, run.sens.noise, p.names,
                                                      acts, xte, yte)})
        out[n] = pd.DataFrame(rows)
    return out


def pareto_figure(run: NetworkRun, fronts: dict[str, pd.DataFrame], base: Baselines):
    """Section "Pareto": accuracy against modelled speed-up over uniform int8, per table, with
    the baselines and the QAT end point."""
    from kit.core import plots

    n = len(fronts)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plots.figure(ncols=cols, nrows=rows, figsize=(4.2 * cols, 3.4 * rows),
                             squeeze=False)
    for ax, (name, front) in zip(axes.ravel(), fronts.items(), strict=False):
        for method, style in (("MILP", "o-"), ("greedy", "s--")):
            f = front[front.method == method].sort_values("latency vs int8")
            ax.plot(f["latency vs int8"], 100 * f["accuracy"], style, ms=4,
                    label=f"{method} (no retraining)")
        b = base.frame[base.frame.table == name]
        for _, r in b[b.method.str.startswith("uniform")].iterrows():
            ax.plot(r["latency vs int8"], 100 * r["accuracy (no retraining)"], "k^", ms=5)
            ax.annotate(r["method"].split()[1], (r["latency vs int8"],
                                                 100 * r["accuracy (no retraining)"]),
                        fontsize=7, xytext=(3, -8), textcoords="offset points")
        rnd = b[b.method.str.startswith("random")]
        if len(rnd):
            m, s = base.random_accuracy[name]
            ax.errorbar(rnd["latency vs int8"], [100 * m], yerr=[100 * s], fmt="x",
                        color="#D55E00", label="random, equal cost")
        q = run.qat[name]
        prob = run.problems[name]
        ax.plot(prob.int8_latency / _latency(prob, q.policy), 100 * q.accuracy, "*",
                ms=12, color="#009E73", label="kit policy after QAT")
        ax.axhline(100 * run.fp32_accuracy, color="grey", lw=0.8, ls=":")
        ax.set(title=name, xlabel="speed-up over uniform int8 (modelled)",
               ylabel="test accuracy %", ylim=(max(0, 100 * run.fp32_accuracy - 30), 100.5))
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def sensitivity_figure(frame: pd.DataFrame):
    """Section "Sensitivity": the two trace estimates per layer, and predicted against
    measured loss increase at int4."""
    from kit.core import plots

    fig, (a, b) = plots.figure(ncols=2)
    x = np.arange(len(frame))
    a.bar(x - 0.2, frame["Hutchinson tr(H_w)"], 0.4, yerr=frame["+- s.e."],
          label="Hutchinson (HVP)")
    a.bar(x + 0.2, frame["perturbation tr(H_w)"], 0.4, label="loss perturbation")
    a.set_xticks(x, frame["layer"])
    a.set(yscale="symlog", ylabel="weight Hessian trace", title="Two estimates of sensitivity")
    a.legend()
    b.loglog(np.maximum(frame["int4 dL predicted"], 1e-6),
             np.maximum(frame["int4 dL measured"], 1e-6), "o")
    for _, r in frame.iterrows():
        b.annotate(r["layer"], (max(r["int4 dL predicted"], 1e-6),
                                max(r["int4 dL measured"], 1e-6)), fontsize=7)
    lo = 1e-6
    hi = max(frame["int4 dL predicted"].max(), frame["int4 dL measured"].max(), 1e-5) * 2
    b.plot([lo, hi], [lo, hi], "k:", lw=0.8)
    b.set(xlabel="predicted dL (trace x noise)", ylabel="measured dL",
          title="One layer at int4, the rest fp32")
    return fig


def max_difference(policies: dict[str, list[str]]) -> tuple[float, tuple[str, str]]:
    """Section "Cross-hardware": the largest share of layers on which two tables' policies
    differ, and which two tables."""
    best, pair = 0.0, ("", "")
    names = list(policies)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = pol.difference_fraction(policies[a], policies[b])
            if d > best:
                best, pair = d, (a, b)
    return best, pair


class Explorer:
    """Section "Explore": choose a table, a latency budget and per-layer overrides; the MILP
    re-solves with the overridden layers fixed and the policy is evaluated without
    retraining."""

    def __init__(self, run: NetworkRun) -> None:
        self.run = run

    def render(self, table: str, budget: float, **overrides: str) -> str:
        run = self.run
        prob = run.problems[table]
        omega, lat = prob.omega.copy(), prob.latency.copy()
        for i, layer in enumerate(run.arch):
            want = overrides.get(layer.name, "auto")
            if want == "auto":
                continue
            if want not in prob.candidates:
                return f"{layer.name}: {want} is not available on {table}"
            keep = prob.candidates.index(want)
            for j in range(len(prob.candidates)):
                if j != keep:
                    lat[i, j] = np.inf
        try:
            p = pol.milp(omega, lat, prob.candidates, budget * prob.int8_latency,
                         unit="s")
        except ValueError as err:
            return str(err)
        acts = [prob.activations[j] for j in p.choice]
        acc = ptq_accuracy(run.trainer, run.sens.noise, p.names, acts, run.split[1],
                           run.split[3])
        lines = [f"{layer.name:>6}: weights {w:>5}, activations {a}"
                 for layer, w, a in zip(run.arch, p.names, acts, strict=True)]
        lines += ["", f"modelled latency: {p.cost * 1e6:.3g} us = "
                      f"{prob.int8_latency / p.cost:.2f}x faster than uniform int8",
                  f"model size: {size_reduction(run.arch, p.names):.2f}x smaller than fp32",
                  f"predicted loss increase: {p.loss:.4f}",
                  f"test accuracy without retraining: {acc:.1%} (fp32 {run.fp32_accuracy:.1%})"]
        return "\n".join(lines)


def fake_quant_demo(seed: int) -> pd.DataFrame:
    """Section "Method": MSE of per-tensor and per-channel fake quantization of a random
    weight matrix with uneven channel scales, at 2..8 bits (MindSpore ops vs numpy)."""
    from kit.lowbit.quant import fake_quant_np

    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((16, 64)) * rng.uniform(0.05, 1.0, (16, 1))).astype(np.float32)
    rows = []
    for bits in range(2, 9):
        row = {"bits": bits}
        for per_channel in (False, True):
            q, _ = fake_quant_np(w, bits, per_channel)
            row["per-channel MSE" if per_channel else "per-tensor MSE"] = float(
                ((q - w) ** 2).mean())
        f = fmt.parse(f"int{bits}")
        row["levels"] = 2 * f.qmax_signed + 1
        rows.append(row)
    return pd.DataFrame(rows)


def reading(metrics: dict, network: str) -> str:
    """Section "Results": the honest reading of the numbers, written from the numbers."""
    ratio = metrics["latency_ratio_vs_int8_min"]
    drop = metrics["accuracy_drop_pts"]
    diff = metrics["policy_difference_fraction"]
    parts = [
        f"On the {network} (digits 8x8), every table's searched policy is modelled at least "
        f"{ratio:.2f}x faster than uniform int8 on that table; this is a sanity check, not a "
        "result: the budget caps every policy's latency at a fixed fraction of uniform "
        "int8's, so any feasible policy clears its inverse.",
        f"After quantization-aware training the worst table's policy is {drop:.2f} points "
        f"{'below' if drop >= 0 else 'above'} the fp32 baseline trained for the same epochs"
        + (" (within the 0.5-point target)." if drop <= 0.5 else
           " (outside the 0.5-point target)."),
        f"The two most different tables' policies differ on {diff:.0%} of the layers, and "
        + ("each table's own policy is the best one on it: a policy searched for one chip "
           "is slower or less accurate on another." if metrics["cross_hardware_diagonal_best"]
           else "at least one table is served as well by another table's policy."),
        f"Measured here, MindSpore's fp16 matmul runs at "
        f"{metrics['measured_fp16_speedup_vs_fp32']:.2f}x and its fastest int8 path "
        f"({metrics['measured_int8_best_path']}) at "
        f"{metrics['measured_int8_speedup_vs_fp32']:.2f}x the fp32 speed, so on this machine "
        "the searched policy keeps float formats where the chips modelled on int8 units "
        "choose integers.",
        "The speed-ups of the four shipped tables are modelled, not measured.",
    ]
    return " ".join(parts)


def hardware_note(metrics: dict, spreads: dict) -> None:
    """Section "Hardware": print the measured speed ratios with their range over rounds."""
    def show(name):
        s = spreads[name]
        return f"{s['median']:.2f}x [{s['min']:.2f}, {s['max']:.2f}] over {s['n']} rounds"

    paths = ", ".join(f"{p} {v:.2f}x" for p, v in
                      metrics["measured_int8_paths_speedup_vs_fp32"].items())
    print(f"this machine, speed over fp32 matmul: fp16 {show('measured_fp16_speedup_vs_fp32')}; "
          f"fastest int8 path ({metrics['measured_int8_best_path']}) "
          f"{show('measured_int8_speedup_vs_fp32')}; native int8 MatMul "
          f"{show('measured_int8_native_speedup_vs_fp32')}\nint8 paths: {paths}; "
          f"bandwidth {metrics['measured_bandwidth_gb_s']:.1f} GB/s")


def networks_frame(runs: dict[str, NetworkRun]) -> pd.DataFrame:
    """Section "Various networks": each network's policy per table after adaptive QAT."""
    return pd.DataFrame([
        {"network": r.name, "table": n, "policy": " ".join(q.policy),
         "speed-up vs int8": r.problems[n].int8_latency / _latency(r.problems[n], q.policy),
         "fp32 accuracy": r.fp32_accuracy, "QAT accuracy": q.accuracy,
         "drop pts": 100 * (r.fp32_accuracy - q.accuracy)}
        for r in runs.values() for n, q in r.qat.items()]
        + [{"network": r.name, "table": n, "policy": f"none: {msg}"}
           for r in runs.values() for n, msg in r.infeasible.items()])
