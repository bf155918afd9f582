"""The experiments and figures of chapter 03's notebook (each function names its section)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kit.core import plots
from kit.innovation import diagnostics as dg
from kit.innovation import graphstore as gs
from kit.innovation import probability as pr

FANOUTS = (10, 5)
# DistDGL (Zheng et al., IA3 2020): 100M nodes / 3B edges, METIS, 16 machines, 13 s per epoch.
DISTDGL = {"nodes": 100e6, "edges": 3e9, "machines": 16, "epoch_s": 13.0}


def build_graph(nodes: int, edges: int, communities: int, seed: int,
                folder: str | Path | None = None) -> tuple[gs.CSRGraph, float]:
    """Section C.1: generate the power-law community graph and store it as CSR out of core."""
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="kit03-csr-"))
    start = time.perf_counter()
    g = gs.build_csr(gs.community_powerlaw_chunks(nodes, edges, communities, seed=seed,
                                                  chunk=max(edges // 10, 1000)),
                     nodes, folder, chunk=max(edges // 5, 1000))
    return g, time.perf_counter() - start


def partition_table(g: gs.CSRGraph, k: int, batch: int, batches: int,
                    seed: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Section C.2-C.3: every partitioner's edge cut, balance, time and mini-batch halo."""
    rows, parts = [], {}
    for method in gs.PARTITIONERS:
        start = time.perf_counter()
        part = gs.partition(g, k, method, seed)
        seconds = time.perf_counter() - start
        gs.check_partition(part, g.nodes, k)
        stats = gs.minibatch_halo(g, part, batch, FANOUTS, batches, seed)
        parts[method] = part
        rows.append({"partitioner": method, "edge cut": gs.edge_cut(g, part),
                     "imbalance": gs.imbalance(part, k), "partition s": seconds,
                     "remote neighbour fraction": stats.remote_fraction,
                     "sampled nodes/s": stats.nodes_per_s})
    return pd.DataFrame(rows), parts


def degree_figure(g: gs.CSRGraph):
    """Section C.1: the degree distribution on log-log axes."""
    deg = g.degrees()
    values, counts = np.unique(deg[deg > 0], return_counts=True)
    fig, ax = plots.figure()
    ax.loglog(values, counts / counts.sum(), ".", ms=3)
    ax.set(xlabel="degree", ylabel="fraction of nodes",
           title=f"{g.nodes:,} nodes, {g.arcs // 2:,} edges")
    return fig


def scale_out_table(g: gs.CSRGraph, table: pd.DataFrame, method: str = gs.BUFFERED,
                    machines: tuple[int, ...] = (16, 64, 256, 1024)) -> pd.DataFrame:
    """Section C.4: 10^12 edges on k machines from the costs measured on the kit's graph."""
    row = table.set_index("partitioner").loc[method]
    return pd.DataFrame(gs.scale_out(1e12, list(machines), g.bytes_on_disk() / g.arcs,
                                     g.arcs / g.nodes, float(row["edge cut"]),
                                     float(row["remote neighbour fraction"]),
                                     float(row["sampled nodes/s"])))


def explore_partition(g: gs.CSRGraph, parts: int, partitioner: str):
    """Explore (Part C): edge cut and halo fraction of one partitioner at k parts."""
    part = gs.partition(g, parts, partitioner)
    stats = gs.minibatch_halo(g, part, 128, FANOUTS, 8)
    sizes = np.bincount(part, minlength=parts)
    fig, ax = plots.figure()
    ax.bar(range(parts), sizes)
    ax.set(xlabel="part", ylabel="nodes",
           title=f"{partitioner}, k={parts}: edge cut {gs.edge_cut(g, part):.3f}, "
                 f"remote neighbours {stats.remote_fraction:.3f}")
    return fig


# ---------------------------------------------------------------- Part A

def posterior_table(run: pr.Run, target: pr.Target) -> pd.DataFrame:
    """Section A.4: the diagnostics of one run, one row per parameter."""
    df = pd.DataFrame(dg.summary(run.draws, target.names))
    if target.exact_mean is not None:
        df["exact mean"] = target.exact_mean
        df["|error| / MCSE"] = (df["mean"] - df["exact mean"]).abs() / df["mcse"]
    return df


def ess_per_s(run: pr.Run, names: list[str]) -> float:
    """Section A.5: the smallest bulk ESS over parameters per second of sampling."""
    return min(dg.ess_bulk(run.draws[:, :, i]) for i in range(len(names))) / run.seconds


def trace_figure(runs: dict[str, pr.Run], index: int = 1, label: str = "log tau"):
    """Section A.3: trace of one parameter per run, divergences marked."""
    fig, axes = plots.figure(ncols=len(runs))
    axes = np.atleast_1d(axes)
    for ax, (name, run) in zip(axes, runs.items(), strict=True):
        for c in range(run.draws.shape[0]):
            ax.plot(run.draws[c, :, index], lw=0.6)
        d = np.nonzero(run.divergent)
        ax.plot(d[1], run.draws[d[0], d[1], index], "rx", label="divergent")
        ax.set(title=name, xlabel="draw", ylabel=label)
    return fig


def explore_sampler(targets: dict[str, pr.Target], model: str, step_size: float,
                    max_depth: int):
    """Explore (Part A): a short fixed-step NUTS run on one of ``targets`` (already compiled
    in the notebook); trace, R-hat and ESS."""
    target = targets[model]
    run = pr.nuts(target, chains=4, warmup=0, draws=60, max_depth=max_depth, step_size=step_size)
    rh = max(dg.rhat(run.draws[:, :, i]) for i in range(target.dim))
    es = min(dg.ess_bulk(run.draws[:, :, i]) for i in range(target.dim))
    fig = trace_figure({f"{model}: R-hat {rh:.3f}, min ESS {es:.0f}, "
                        f"{int(run.divergent.sum())} divergent": run})
    return fig
