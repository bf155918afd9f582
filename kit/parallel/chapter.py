"""The experiments and figures of chapter 08's notebook (each function names its section)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.parallel import cluster as clusters
from kit.parallel import model as models
from kit.parallel import published as pub
from kit.parallel.cluster import Cluster
from kit.parallel.cost import Strategy, zero_state_bytes
from kit.parallel.model import Model
from kit.parallel.search import Plan, best_hand, exhaustive, hand_strategies, plan

# ZeRO (Rajbhandari et al., SC 2020), Figure 1: 7.5B parameters, 64-way data parallel, K = 12.
ZERO_PUBLISHED_GB = {"baseline": 120.0, "ZeRO-1 (Pos)": 31.4, "ZeRO-2 (Pos+g)": 16.6,
                     "ZeRO-3 (Pos+g+p)": 1.9}
MEGATRON_PUBLISHED_EFFICIENCY = 0.74  # Shoeybi et al. 2019, section 5.1: 8.3B on 512 V100


def zero_table(params: float = 7.5e9, dp: int = 64) -> pd.DataFrame:
    """Section "Validation": the ZeRO memory figure, computed vs published (GB per device)."""
    rows = []
    for stage, (label, published) in enumerate(ZERO_PUBLISHED_GB.items()):
        computed = zero_state_bytes(params, stage, dp) / 1e9
        decimals = len(str(published).split(".")[1]) if "." in str(published) else 0
        rounded = round(computed + 1e-12, decimals)
        rows.append({"stage": label, "published GB": published, "kit GB": computed,
                     "kit at published precision": rounded,
                     "rel. error (rounded)": abs(rounded - published) / published,
                     "rel. error (unrounded)": abs(computed - published) / published})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Scenario:
    """A model on a cluster at a global batch: one row of the comparison table."""

    name: str
    model: Model
    cluster: Cluster
    batch: int


def scenarios(layers: int, hidden: int, heads: int, seq: int, batch: int, nodes: int,
              devices_per_node: int, inter_gbps: list[float]) -> list[Scenario]:
    """Section "Experiment 1": the notebook's GPT on a commodity cluster at each inter-node
    bandwidth (no published run exists for these: the baselines are the hand recipes)."""
    gpt = models.transformer(layers, hidden, heads, seq)
    return [Scenario(f"{gpt.name.split(' (')[0]} {layers}L, {nodes}x{devices_per_node} devices, "
                     f"{bw:g} GB/s between nodes", gpt,
                     clusters.commodity(nodes, devices_per_node, bw), batch)
            for bw in inter_gbps]


def compare(scenario: Scenario) -> dict[str, object]:
    """Plan one scenario and put it beside the best hand recipe (same cost model; both recipes
    lie inside the planner's search space, so the ratio is a sanity check of the search)."""
    found = plan(scenario.model, scenario.cluster, scenario.batch)
    hands = hand_strategies(scenario.model, scenario.cluster, scenario.batch)
    hand_name, hand = best_hand(hands)
    return {"scenario": scenario.name, "kit plan": found.strategy.describe(),
            "kit step s": found.estimate.step_seconds,
            "kit memory GB": found.estimate.memory_bytes / 1e9,
            "kit utilisation": found.estimate.utilisation,
            "best hand": hand_name, "hand plan": hands[hand_name][0].describe(),
            "hand step s": hand.step_seconds,
            "speedup vs best hand": hand.step_seconds / found.estimate.step_seconds,
            "search s": found.seconds, "candidates": found.evaluated}


PUBLISHED_RECIPES = ("Megatron 8.3B, 512 V100 (TP8 DP64)", "GPT-3 175B, 1024 A100 (TP8 PP16 DP8)")


def compare_published(run: pub.PublishedRun, efficiency: float) -> dict[str, object]:
    """Section "Experiment 1b": the kit's plan against a published recipe exactly (its layout,
    micro-batches, interleaving and recomputation), both scored by the cost model at the
    efficiency fitted on the system's calibration run. A ratio <= 1 means the recipe is as
    good as anything the cost model can find."""
    model, cluster = pub.run_model(run), pub.run_cluster(run, efficiency)
    recipe = pub.run_strategy(run, model)
    recipe_est = pub.run_estimate(run, efficiency)
    found = plan(model, cluster, run.batch)
    return {"scenario": run.label, "published recipe": recipe.describe(),
            "recipe step s": recipe_est.step_seconds, "recipe fits": recipe_est.fits,
            "kit plan": found.strategy.describe(), "kit step s": found.estimate.step_seconds,
            "kit memory GB": found.estimate.memory_bytes / 1e9,
            "kit utilisation": found.estimate.utilisation,
            "speedup vs published recipe": recipe_est.step_seconds
            / found.estimate.step_seconds,
            "search s": found.seconds, "candidates": found.evaluated}


def published_runs(labels: tuple[str, ...] = PUBLISHED_RECIPES) -> list[pub.PublishedRun]:
    """The published runs named by ``labels`` (section "Experiment 1b")."""
    by_label = {run.label: run for run in pub.SCORED}
    missing = [label for label in labels if label not in by_label]
    if missing:
        raise ValueError(f"unknown published runs {missing}; known: {', '.join(by_label)}")
    return [by_label[label] for label in labels]


def optimality_gaps(hidden: int, heads: int, seq: int, batch: int, nodes: int,
                    devices_per_node: int, inter_gbps: list[float],
                    layers: int) -> pd.DataFrame:
    """Section "Is the planner optimal?": planner vs exhaustive search on a small model."""
    small = models.transformer(layers, hidden, heads, seq)
    rows = []
    for bw in inter_gbps:
        cluster = clusters.commodity(nodes, devices_per_node, bw)
        fast: Plan = plan(small, cluster, batch)
        best: Plan = exhaustive(small, cluster, batch)
        rows.append({"inter GB/s": bw, "planner step s": fast.estimate.step_seconds,
                     "exhaustive step s": best.estimate.step_seconds,
                     "gap": fast.estimate.step_seconds / best.estimate.step_seconds - 1,
                     "planner candidates": fast.evaluated, "exhaustive candidates": best.evaluated,
                     "planner s": fast.seconds, "exhaustive s": best.seconds})
    return pd.DataFrame(rows)


def search_seconds(model: Model, cluster: Cluster, batch: int, repeats: int = 3) -> float:
    """Median wall time of the planner (section "Experiments": the < 1 s claim)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        plan(model, cluster, batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def draw_strategy(ax, strategy: Strategy, cluster: Cluster, title: str = "") -> None:
    """Section "Explore": devices as a grid (rows = nodes), coloured by pipeline stage, with
    tensor-parallel groups outlined and data-parallel replicas labelled."""
    import matplotlib.patches as patches

    cmap = __import__("matplotlib").colormaps["tab10"]
    per_node = cluster.devices_per_node
    for rank in range(strategy.devices):
        stage = rank // (strategy.dp * strategy.tp)
        replica = (rank // strategy.tp) % strategy.dp
        node, slot = divmod(rank, per_node)
        ax.add_patch(patches.Rectangle((slot, -node), 0.9, 0.9, color=cmap(stage % 10),
                                       alpha=0.85))
        ax.text(slot + 0.45, -node + 0.45, f"s{stage}\nr{replica}\nt{rank % strategy.tp}",
                ha="center", va="center", fontsize=7)
    ax.set_xlim(-0.2, per_node + 0.1)
    ax.set_ylim(-cluster.nodes + 0.8, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{strategy.describe()}\nstages {strategy.stages}", fontsize=9)


EXPLORE_MODELS = {
    "GPT 1.2B (24 x 2048)": (24, 2048, 16, 1024),
    "GPT 6.7B (32 x 4096)": (32, 4096, 32, 2048),
    "GPT 13B (40 x 5120)": (40, 5120, 40, 2048),
}


def explore(model_name: str, nodes: int, devices_per_node: int, intra_gbps: float,
            inter_gbps: float, batch: int = 64):
    """Section "Explore": plan the chosen model on the chosen cluster and draw the plan beside
    the hand baselines; returns a matplotlib figure, or the planner's refusal as text."""
    from kit.core import plots
    from kit.parallel.cluster import Link

    layers, hidden, heads, seq = EXPLORE_MODELS[model_name]
    model = models.transformer(layers, hidden, heads, seq)
    base = clusters.commodity(nodes, devices_per_node, inter_gbps)
    cluster = Cluster(base.name, nodes, devices_per_node, base.peak_flops, base.efficiency,
                      base.memory_bytes, Link(intra_gbps * 1e9, base.intra.latency),
                      base.inter)
    try:
        found = plan(model, cluster, batch)
    except ValueError as err:
        return f"{model_name} on {nodes}x{devices_per_node} devices: {err}"
    hands = hand_strategies(model, cluster, batch)
    fig, (ax_grid, ax_text) = plots.figure(ncols=2)
    draw_strategy(ax_grid, found.strategy, cluster)
    lines = [f"kit plan: {found.estimate.step_seconds:.3f} s/step, "
             f"{found.estimate.memory_bytes / 1e9:.1f} GB/device, "
             f"utilisation {found.estimate.utilisation:.0%}"]
    for name, result in hands.items():
        lines.append(f"{name}: " + ("does not fit" if result is None else
                                   f"{result[1].step_seconds:.3f} s/step ({result[0].describe()})"))
    ax_text.axis("off")
    ax_text.text(0, 0.5, "\n\n".join(lines), fontsize=8, va="center", wrap=True)
    return fig


def reading(metrics: dict, gaps_max: float) -> str:
    """Section "Results": the honest reading of the numbers, written from the numbers."""
    zero = metrics["zero_memory_max_rel_error"]
    err = metrics["cost_model_error_vs_published"]
    worst = metrics["cost_model_max_error_vs_published"]
    err_m = metrics["cost_model_error_megatron2019"]
    err_n = metrics["cost_model_error_narayanan2021"]
    recipe = metrics["speedup_vs_published_recipe"]
    plans = metrics["kit_plan_for_published_recipe"]
    dropped = sum("recompute" not in plan for plan in plans.values())
    parts = [
        ("The cost model reproduces the ZeRO figure exactly at the published precision."
         if zero == 0 else f"The ZeRO figure is off by up to {zero:.1%}."),
        f"Against {metrics['cost_model_published_points']} published measured runs, with one "
        f"efficiency per system fitted on a single other run, its median relative error is "
        f"{err:.1%} (Megatron-LM 2019: {err_m:.1%}; Narayanan et al. 2021: {err_n:.1%}; worst "
        f"{worst:.1%}) " + ("- within the 25 % target." if err <= 0.25 else
                            "- it misses the 25 % target."),
        "Its errors are not noise: it over-predicts tensor-parallel efficiency on V100s "
        "(intra-node all-reduces cost more than link bandwidth says) and under-predicts the "
        "large A100 runs more the larger the model, because one fraction of peak fitted on a "
        "1.7B model misses that larger matrix multiplications run closer to peak.",
        "Against the published recipes, the planner's best plan is "
        + "; ".join(f"{v:.2f}x faster for {k} ({plans[k]})" for k, v in recipe.items())
        + " - modelled, not measured. "
        + (f"{dropped} of {len(plans)} of these plans drop the activation recomputation the "
           "recipes use (ZeRO and pipelining make room for the activations instead), which "
           "alone saves a quarter of the compute in the model. " if dropped else "")
        + "A ratio above 1 is a prediction only a run on such a cluster could confirm, and "
          "it rests on the same uniform-efficiency assumption that under-predicts the large "
          "published runs.",
        ("On the enumerable cases it finds the exhaustive optimum." if gaps_max <= 1e-9 else
         f"On the enumerable cases it is within {gaps_max:.1%} of the exhaustive optimum."),
    ]
    return " ".join(parts)


def draw_published(ax, validation: pub.PublishedValidation) -> None:
    """Section "Validation 2": each scored run's predicted / measured (1 = exact), with the
    +-25 % band of the target, Megatron-LM 2019 and Narayanan et al. 2021 coloured apart."""
    rows = validation.rows
    ratios = [r["predicted"] / r["measured"] for r in rows]
    colours = ["C0" if r["source"].startswith(pub.SHOEYBI) else "C1" for r in rows]
    ax.axhspan(0.75, 1.25, color="0.9", label="target: within 25 %")
    ax.axhline(1.0, color="0.4", lw=0.8)
    ax.scatter(range(len(rows)), ratios, c=colours, zorder=3)
    ax.set_xticks(range(len(rows)), [r["run"].split(" (")[0] for r in rows], rotation=70,
                  ha="right", fontsize=7)
    ax.set(ylabel="predicted / measured",
           title="Cost model vs published measured runs (blue: Megatron-LM 2019, orange: "
                 "Narayanan et al. 2021)")
    ax.legend(loc="lower left", fontsize=8)
