"""The experiments and figures of chapter 03's Part B (each function names its section)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.core import plots
from kit.innovation import hetero as ht

# DGL's HGT example on ACM (examples/pytorch/hgt, README): test accuracy, the ordering to match.
DGL_ACM = {"HGT": 0.465, "R-GCN": 0.392, "MLP": 0.132}
MODELS = {"MLP": "mlp", "R-GCN": "rgcn", "HGT": "hgt"}


def split(stream: ht.Stream, seed: int, train: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Section B.3: a random split of the target nodes into ``train`` and test (the rest);
    same sizes for every seed, so one compiled model serves all seeds."""
    n = stream.real(stream.target)
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(train * n)
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def accuracy(pred: np.ndarray, stream: ht.Stream, idx: np.ndarray) -> float:
    """Section B.3: accuracy on the target nodes ``idx``."""
    return float((pred[idx] == stream.labels[idx]).mean()) if idx.size else float("nan")


def compare_models(stream: ht.Stream, steps: int, seeds: list[int], hidden: int = 32,
                   lr: float = 0.01, layers: int = 2) -> tuple[pd.DataFrame, dict[str, ht.Trainer]]:
    """Section B.5: MLP, R-GCN and HGT trained on the whole final graph, one row per seed.

    Each model compiles once; seeds re-initialise weights and optimiser in place. Accuracy is
    read from the last training step's forward pass (the weights before its update), which
    spares compiling a separate forward graph. The trainers come back holding the first seed's
    model (seeds run in reverse order).
    """
    schema = stream.graph.schema()
    rows, trainers = [], {}
    for label, kind in MODELS.items():
        tr = ht.Trainer.build(schema, stream.target, stream.classes, kind, hidden, lr,
                              seed=seeds[0], layers=layers)
        for seed in reversed(seeds):
            train_idx, test_idx = split(stream, seed)
            tr.restart(seed)
            tr.fit(stream.graph, train_idx, stream.labels[train_idx], steps)
            rows.append({"model": label, "seed": seed,
                         "accuracy": accuracy(tr.last_logits.argmax(1), stream, test_idx),
                         "train s": tr.seconds, "steps": tr.steps,
                         "edges processed": tr.edges_processed})
        trainers[label] = tr
    return pd.DataFrame(rows), trainers


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Section B.5: mean and sd of accuracy per model, beside DGL's ACM numbers."""
    g = table.groupby("model", sort=False)
    out = pd.DataFrame({"accuracy mean": g["accuracy"].mean(), "accuracy sd": g["accuracy"].std(),
                        "seeds": g["accuracy"].size(), "train s (mean)": g["train s"].mean()})
    out["DGL HGT example, ACM (published)"] = [DGL_ACM[m] for m in out.index]
    return out


@dataclass
class StreamRun:
    """Section B.6: the event-stream experiment's numbers, per checkpoint and in total."""

    checkpoints: list[float]
    incremental: list[float]
    frozen: list[float]
    retrain: dict[float, float] = field(default_factory=dict)
    incremental_steps: int = 0
    incremental_edges: int = 0
    incremental_s: float = 0.0
    phase1_edges: int = 0
    phase1_s: float = 0.0
    retrain_steps: int = 0
    retrain_edges: int = 0
    retrain_s: float = 0.0
    subgraph_edges: list[int] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"time": self.checkpoints, "incremental": self.incremental,
                             "phase-1 model, no adaptation": self.frozen,
                             "full retrain": [self.retrain.get(t, np.nan)
                                              for t in self.checkpoints]})


def arrived(stream: ht.Stream, idx: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Section B.6: the target nodes of ``idx`` that arrive in ``(t0, t1]``."""
    tp = stream.graph.node_time[stream.target][idx]
    return idx[(tp > t0) & (tp <= t1)]


def stream_experiment(stream: ht.Stream, retrained: ht.Trainer, steps: int, finetune_steps: int,
                      chunks: int, seed: int, kind: str = "hgt",
                      lr: float = 0.01) -> tuple[StreamRun, ht.Trainer]:
    """Section B.6: incremental adaptation along the stream vs a full retrain at the end.

    Phase 1 trains ``steps`` steps on the graph at ``t_new`` (old schema). Then the stream
    arrives in ``chunks`` chunks; after each, the model is extended once (the new type's
    projection and the new relation's matrices added, everything else warm-started) and
    fine-tuned ``finetune_steps`` steps on the chunk's labelled nodes plus as many earlier
    labelled nodes drawn at random (replay, against forgetting), over only the edges the model
    reads for them; copied parameters learn at a tenth of the rate (:func:`hetero.extend`).
    ``retrained`` is the model trained from scratch on the whole final graph
    (:func:`compare_models`, same seed and split); its counted steps x edges are the reference
    for the compute fraction.
    """
    train_idx, test_idx = split(stream, seed)
    y = stream.labels
    t_new, g = stream.t_new, stream.graph
    cps = [t_new + (1 - t_new) * (c + 1) / chunks for c in range(chunks)]
    old = ht.Trainer.build(ht.snapshot(stream, t_new, drop_new=True).schema(), stream.target,
                           stream.classes, kind, retrained.net.hidden, lr, seed=seed,
                           layers=retrained.net.layers)
    first = arrived(stream, train_idx, -1.0, t_new)
    old.fit(ht.snapshot(stream, t_new, drop_new=True), first, y[first], steps)
    run = StreamRun(cps, [], [], phase1_edges=old.edges_processed, phase1_s=old.seconds)
    # every chunk's fine-tuning graph: the receptive field of its new labelled nodes
    subs, news, bounds = [], [], [t_new] + cps
    rng = np.random.default_rng(seed)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        new = arrived(stream, train_idx, a, b)
        earlier = arrived(stream, train_idx, -1.0, a)  # replay as many earlier labels
        new = np.union1d(new, rng.choice(earlier, min(new.size, earlier.size), replace=False))
        news.append(new)
        subs.append(ht.receptive_subgraph(ht.snapshot(stream, b), stream.target, new,
                                          hops=retrained.net.layers))
    sizes = {r.key: max(max(s.relations[i].src.size for s in subs), 1)
             for i, r in enumerate(g.relations)}
    subs = [ht.pad_edges(s, sizes) for s in subs]
    run.subgraph_edges = [s.edges() for s in subs]
    inc = ht.extend(old, g.schema(), lr, seed=seed)
    for t, sub, new in zip(cps, subs, news, strict=True):
        weight = np.isin(train_idx, new).astype(np.float32)
        if weight.sum() > 0:
            inc.fit(sub, train_idx, y[train_idx], finetune_steps, weight)
        snap = ht.snapshot(stream, t)
        seen = arrived(stream, test_idx, -1.0, t)
        run.incremental.append(accuracy(inc.predict(snap), stream, seen))
        run.frozen.append(accuracy(old.predict(ht.snapshot(stream, t, drop_new=True)), stream,
                                   seen))
    run.incremental_steps, run.incremental_edges = inc.steps, inc.edges_processed
    run.incremental_s = inc.seconds
    run.retrain_steps, run.retrain_edges = retrained.steps, retrained.edges_processed
    run.retrain_s = retrained.seconds
    run.retrain[cps[-1]] = accuracy(retrained.last_logits.argmax(1), stream, test_idx)
    return run, inc


def retrain_at(stream: ht.Stream, trainer: ht.Trainer, t: float, steps: int,
               seed: int) -> float:
    """Explore (Part B): retrain ``trainer`` from scratch on the graph at time ``t`` (labels
    arrived by then; the compiled step is reused) and return its test accuracy there."""
    train_idx, test_idx = split(stream, seed)
    weight = (stream.graph.node_time[stream.target][train_idx] <= t).astype(np.float32)
    trainer.restart(seed)
    snap = ht.snapshot(stream, t)
    trainer.fit(snap, train_idx, stream.labels[train_idx], steps, weight)
    return accuracy(trainer.last_logits.argmax(1), stream, arrived(stream, test_idx, -1.0, t))


def stream_figure(run: StreamRun, t: float | None = None):
    """Section B.6: accuracy along the stream, incremental vs no adaptation vs full retrain."""
    fig, ax = plots.figure()
    ax.plot(run.checkpoints, run.incremental, "o-", label="incremental (extend + fine-tune)")
    ax.plot(run.checkpoints, run.frozen, "s--", label="phase-1 model, no adaptation")
    rt = sorted(run.retrain.items())
    ax.plot([a for a, _ in rt], [b for _, b in rt], "k*", ms=12, label="full retrain")
    if t is not None:
        ax.axvline(t, color="grey", lw=0.8)
    ax.set(xlabel="time in the event stream (new type and relation appear at 0.5)",
           ylabel="test accuracy (papers arrived so far)")
    ax.legend()
    return fig


def accuracy_figure(table: pd.DataFrame):
    """Section B.5: test accuracy per model and seed, kit vs the published ordering."""
    fig, ax = plots.figure()
    labels = list(MODELS)
    for i, label in enumerate(labels):
        acc = table.loc[table["model"] == label, "accuracy"]
        ax.plot(np.full(acc.size, i), acc, "o", alpha=0.6)
        ax.bar(i, acc.mean(), alpha=0.4)
    ax.plot(range(3), [DGL_ACM[m] for m in labels], "k*", ms=12,
            label="DGL HGT example on ACM (published)")
    ax.set_xticks(range(3), labels)
    ax.set(ylabel="test accuracy", title="planted ACM-like graph (kit) vs ACM (DGL)")
    ax.legend()
    return fig


def explore_stream(stream: ht.Stream, run: StreamRun, retrainer: ht.Trainer, steps: int,
                   seed: int, time_index: int):
    """Explore (Part B): at a checkpoint of the stream, the incremental model as it was then vs
    a full retrain on the graph at that time (run live, then cached)."""
    t = run.checkpoints[time_index]
    if t not in run.retrain:
        run.retrain[t] = retrain_at(stream, retrainer, t, steps, seed)
    fig = stream_figure(run, t)
    fig.axes[0].set_title(f"t = {t:.3f}: incremental {run.incremental[time_index]:.3f}, "
                          f"retrain {run.retrain[t]:.3f}")
    return fig
