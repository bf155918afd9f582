"""The tables and figures of chapter 07's notebook (each names its section)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.tensor import blocks, shapes


def _spread(ratios: list[float]) -> str:
    return f"{np.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"


@dataclass
class Modes:
    """Section "Modes": every block's modes timed in interleaved rounds, by shape."""

    table: pd.DataFrame
    small: list[float]  # per-round jit-vs-PyNative ratios, LayerNorm+GELU, smallest shape
    large: list[float]  # the same at the largest shape
    fusion: list[float]  # per-round jit / (jit with graph-kernel fusion), largest shape
    numpy_large: list[float]  # per-round numpy / jit, largest shape

    def spreads(self) -> dict[str, list[float]]:
        """The headline ratios with their per-round samples (``rec.spread``)."""
        return {"graph_vs_pynative_speedup_small": self.small,
                "graph_vs_pynative_speedup_large": self.large,
                "fusion_speedup": self.fusion, "jit_vs_numpy_large": self.numpy_large}


def modes_experiment(*, shapes: list[list[int]], rounds: int, repeats: int) -> Modes:
    """Section "Modes": LayerNorm+GELU at every shape, the MLP and attention at the smallest
    and largest, each shape's PyNative, jit and numpy interleaved in ``rounds`` rounds; the
    graph-kernel fusion pair (two child processes taking turns) at the largest shape."""
    rows, ratios = [], {}
    plan = [("layernorm_gelu", s) for s in shapes] + [
        (b, s) for b in ("mlp", "attention") for s in (shapes[0], shapes[-1])]
    for block, shape in plan:
        t = blocks.time_modes(block, tuple(shape), rounds, repeats)
        jit_pyn, jit_np = t.speedups("pynative", "jit"), t.speedups("numpy", "jit")
        ratios[block, tuple(shape)] = jit_pyn, jit_np
        rows.append({"block": block, "shape": f"({shape[0]}, {shape[1]})",
                     **{f"{m} ms": t.ms(m) for m in blocks.TIMED_MODES},
                     "jit vs PyNative": float(np.median(jit_pyn)),
                     "jit vs PyNative [min, max]": _spread(jit_pyn),
                     "jit vs numpy": float(np.median(jit_np))})
    largest = tuple(shapes[-1])
    fused = blocks.graph_kernel_times("layernorm_gelu", largest, rounds,
                                      max(1, min(repeats, 5)))
    fusion = fused.ratios("jit", "jit_graph_kernel", stat="min")
    return Modes(pd.DataFrame(rows), ratios["layernorm_gelu", tuple(shapes[0])][0],
                 ratios["layernorm_gelu", largest][0], fusion,
                 ratios["layernorm_gelu", largest][1])


def length_histogram(min_len: int, max_len: int, distinct: int,
                     seed: int) -> tuple[list[int], list[int]]:
    """Section "Dynamic shapes": ``distinct`` sequence lengths evenly spread over
    [min_len, max_len], with counts skewed towards short sequences (log-normal weights)."""
    if not min_len < max_len:
        raise ValueError(f"min_len must be < max_len, got {min_len} and {max_len}")
    if distinct > max_len - min_len + 1:
        raise ValueError(f"distinct_lengths must be <= {max_len - min_len + 1} for lengths in "
                         f"[{min_len}, {max_len}], got {distinct}")
    lengths = sorted({int(round(v)) for v in np.linspace(min_len, max_len, distinct)})
    rng = np.random.default_rng(seed)
    weights = np.exp(-((np.log(lengths) - np.log(min_len * 1.3)) ** 2) / 0.5)
    counts = rng.poisson(1000 * weights / weights.max()) + 1
    return lengths, [int(c) for c in counts]


def bucket_curve(lengths: list[int], counts: list[int], most: int = 12) -> pd.DataFrame:
    """Section "Dynamic shapes": optimal padding waste for 1..most buckets."""
    rows = []
    for k in range(1, min(most, len(lengths)) + 1):
        bounds = shapes.best_buckets(lengths, counts, k)
        rows.append({"buckets (= compilations)": k,
                     "padding waste": shapes.padding_waste(lengths, counts, bounds),
                     "boundaries": bounds})
    return pd.DataFrame(rows)


class Combined:
    """Several outputs shown one under another in a widget panel (figures, tables, text)."""

    def __init__(self, *parts) -> None:
        self.parts = parts

    def _repr_html_(self) -> str:
        from kit.core.widgets import to_html

        return "".join(to_html(part) for part in self.parts)


def explore_modes(block: str, rows: int, width: int) -> Combined:
    """Section "Explore": time the chosen block and shape in every mode (a bar chart), and
    MindSpore's IR op table of the block under ``ms.jit`` at that shape."""
    from kit.core import plots
    from kit.tensor import msir

    times = {m: blocks.time_mode(block, (rows, width), m, 5) * 1e3 for m in blocks.MODES}
    fig, ax = plots.figure()
    ax.bar(list(times), list(times.values()))
    ax.set(ylabel="ms per call", yscale="log", title=f"{block} at ({rows}, {width})")
    ops = msir.mindspore_ir_ops(block, (rows, width))
    table = pd.DataFrame({"MindSpore IR op": list(ops), "count": list(ops.values())})
    return Combined(fig, table)


def explore_buckets(lengths: list[int], counts: list[int], buckets: int) -> str:
    """Section "Explore": the optimal boundaries and waste for a bucket count."""
    bounds = shapes.best_buckets(lengths, counts, buckets)
    waste = shapes.padding_waste(lengths, counts, bounds)
    return (f"{buckets} buckets -> {buckets} compilations instead of {len(lengths)}; "
            f"boundaries {bounds}; padding waste {waste:.1%}")


THREADS = 1  # every timed side runs on one thread (blocks.timing_conditions)


@dataclass
class FusedKernel:
    """Section "Operator level": LayerNorm+GELU six ways, timed in interleaved rounds."""

    table: pd.DataFrame
    vs_jit: list[float]  # per round: ms.jit of the block / the tuned kit kernel called directly
    # per round: default schedule / tuned schedule, both called directly (PyNative): inside
    # ms.jit each call also pays the graph's hand-off to MindSpore's runtime threads, which at
    # this size hides the schedule
    tuned_vs_default: list[float]
    max_abs_error: float
    schedule: dict[str, int]

    def metrics(self) -> dict[str, object]:
        return {"fused_kernel_max_abs_error": self.max_abs_error,
                "fused_kernel_schedule": self.schedule}

    def spreads(self) -> dict[str, list[float]]:
        return {"fused_kernel_vs_jit_large": self.vs_jit,
                "fused_kernel_tuned_vs_default": self.tuned_vs_default}


def fused_kernel_experiment(*, shape: list[int], rounds: int, repeats: int) -> FusedKernel:
    """Section "Operator level": LayerNorm+GELU at ``shape`` as MindSpore ops (PyNative, jit),
    numpy, and the kit's fused C++ kernel as an ``ops.Custom`` operator (PyNative and inside
    ``ms.jit``), all on one thread, interleaved in ``rounds`` rounds; the kernel's schedule
    (vector width, rows per chunk) is tuned exhaustively first. The headline compares the block
    under ``ms.jit`` with the tuned kernel called directly as one operator (a jitted call of the
    kernel also pays the graph's hand-off to MindSpore's runtime threads, about a millisecond on
    a busy machine, which at this size would measure the hand-off); tuned against default
    compares two direct calls."""
    import mindspore as ms

    from kit.tensor import autotune, kernels

    rows, width = shape
    x, w, b = blocks.inputs("layernorm_gelu", (rows, width))
    schedules = [(v, c, THREADS) for v in kernels.WIDTHS if width % v == 0
                 for c in (1, 4, 16, 64)]
    out = np.empty_like(x)
    tuned = min(schedules, key=lambda s: autotune.best_seconds(
        lambda: kernels.layernorm_gelu(x, w, b, *s, out=out), 3))
    op = kernels.ms_layernorm_gelu()
    fused_jit = ms.jit(_custom_call)
    tx, tw, tb = ms.Tensor(x), ms.Tensor(w), ms.Tensor(b)
    default_s = kernels.ln_schedule_tensor(width, 1, 1, THREADS)
    tuned_s = kernels.ln_schedule_tensor(width, *tuned)
    modes = blocks.mode_calls("layernorm_gelu", (rows, width))
    calls = {"numpy": modes["numpy"], "PyNative": modes["pynative"], "ms.jit": modes["jit"],
             "kit kernel, default schedule (jit)": lambda: fused_jit(op, tx, tw, tb,
                                                                     default_s).asnumpy(),
             "kit kernel, default schedule (PyNative)": lambda: op(tx, tw, tb,
                                                                   default_s).asnumpy(),
             "kit kernel, tuned (PyNative)": lambda: op(tx, tw, tb, tuned_s).asnumpy(),
             "kit kernel, tuned (jit)": lambda: fused_jit(op, tx, tw, tb, tuned_s).asnumpy()}
    timed = blocks.interleaved(calls, rounds, repeats)
    reference = blocks.np_block("layernorm_gelu")(x, w, b)
    error = float(np.abs(fused_jit(op, tx, tw, tb, tuned_s).asnumpy() - reference).max())
    table = pd.DataFrame({
        "ms per call": {k: float(np.median(timed.round_minima(k))) * 1e3 for k in calls},
        "speed-up vs ms.jit": {k: timed.ratio("ms.jit", k, "min") for k in calls},
        "[min, max] over rounds": {k: _spread(timed.ratios("ms.jit", k, "min"))
                                   for k in calls}})
    return FusedKernel(table, timed.ratios("ms.jit", "kit kernel, tuned (PyNative)", "min"),
                       timed.ratios("kit kernel, default schedule (PyNative)",
                                    "kit kernel, tuned (PyNative)", "min"), error,
                       {"vec": tuned[0], "chunk": tuned[1], "threads": tuned[2]})


def _custom_call(op, x, w, b, schedule):
    """A jitted call of a custom operator (named: jit cannot parse lambdas)."""
    return op(x, w, b, schedule)


def autotune_experiment(size: int, trials: int, seconds: float, seed: int) -> dict:
    """Section "Auto-tuning": random, grid and cost-model search at the same trial budget on a
    (size, size, size) matmul (one thread), against the naive schedule; the cost model's
    held-out Spearman. The search's own trial times rank schedules; the reported speed-ups are
    measured afterwards in interleaved rounds (:func:`matmul_experiment`)."""
    from kit.tensor import autotune, kernels

    problem = autotune.Problem(size, size, size, seed)
    candidates = autotune.space(size, size, size, max_threads=THREADS)
    default = kernels.naive_schedule(size, size, size, threads=THREADS)
    t_default = problem.seconds(default)
    searches = {"random": autotune.random_search(problem, candidates, trials, seconds, seed),
                "grid": autotune.grid_search(problem, candidates, trials, seconds),
                "cost_model": autotune.model_search(problem, candidates, trials, seconds, seed)}
    spearman, held = autotune.held_out_spearman(problem, candidates, list(searches.values()),
                                                seed=seed + 1)
    table = pd.DataFrame([{"search": name, "trials": len(s.schedules), "seconds": s.wall,
                           "best ms (in search)": s.best[1] * 1e3, "best schedule": s.best[0]}
                          for name, s in searches.items()])
    return {"table": table, "searches": searches, "default_ms": t_default * 1e3,
            "space_size": len(candidates), "spearman": spearman, "held_out": held}


@dataclass
class MatmulRatios:
    """Section "Auto-tuning": the searches' best schedules, the naive loop nest and
    ``ops.matmul`` at one (size, size, size) shape, all as MindSpore operators on one thread,
    timed in interleaved rounds."""

    table: pd.DataFrame
    ratios: dict[str, list[float]]  # metric name -> per-round ratios
    max_abs_diff: float

    def metrics(self) -> dict[str, float]:
        return {"kit_matmul_max_abs_diff": self.max_abs_diff}

    def spreads(self) -> dict[str, list[float]]:
        return self.ratios


def matmul_experiment(*, size: int, searches: dict, rounds: int,
                      repeats: int) -> MatmulRatios:
    """Section "Auto-tuning": ``ops.matmul`` (MindSpore's own CPU kernel, the headline
    baseline), the naive loop nest (the secondary one) and each search's best schedule, run as
    ``ops.Custom`` operators at the same shape and interleaved; ratios per round."""
    import mindspore as ms
    from mindspore import ops

    from kit.tensor import kernels

    rng = np.random.default_rng(0)
    a = ms.Tensor(rng.standard_normal((size, size)).astype(np.float32))
    b = ms.Tensor(rng.standard_normal((size, size)).astype(np.float32))
    op = kernels.ms_matmul()
    schedules = {"naive loop nest": kernels.naive_schedule(size, size, size, THREADS),
                 **{f"{name} search best": s.best[0] for name, s in searches.items()}}
    tensors = {k: ms.Tensor(s.array()) for k, s in schedules.items()}
    calls = {"ops.matmul": lambda: ops.matmul(a, b).asnumpy(),
             **{k: functools.partial(_kit_matmul, op, a, b, t) for k, t in tensors.items()}}
    timed = blocks.interleaved(calls, rounds, repeats)
    tuned = "cost_model search best"
    diff = float(np.abs(op(a, b, tensors[tuned]).asnumpy() - ops.matmul(a, b).asnumpy()).max())
    table = pd.DataFrame({
        "ms per call": {k: float(np.median(timed.round_minima(k))) * 1e3 for k in calls},
        "speed-up vs ops.matmul": {k: timed.ratio("ops.matmul", k, "min") for k in calls},
        "speed-up vs naive": {k: timed.ratio("naive loop nest", k, "min") for k in calls},
        "schedule": {k: str(schedules.get(k, "oneDNN (MindSpore)")) for k in calls}})
    ratios = {"tuned_vs_ops_matmul": timed.ratios("ops.matmul", tuned, "min"),
              "autotune_speedup_vs_default": timed.ratios("naive loop nest", tuned, "min"),
              "autotune_random_speedup_vs_default": timed.ratios(
                  "naive loop nest", "random search best", "min"),
              "autotune_grid_speedup_vs_default": timed.ratios(
                  "naive loop nest", "grid search best", "min"),
              "ops_matmul_vs_naive": timed.ratios("naive loop nest", "ops.matmul", "min")}
    return MatmulRatios(table, ratios, diff)


def _kit_matmul(op, a, b, schedule) -> np.ndarray:
    return op(a, b, schedule).asnumpy()


def coopt_table(shapes: list[list[int]], trials: int, seconds: float,
                seed: int, rounds: int = 3) -> pd.DataFrame:
    """Section "Co-optimisation": each MLP layer gelu(x @ w + b) computed separately (tuned
    matmul, then a bias+GELU pass), fused with the separately tuned schedule, and co-optimised
    (the fused operator's schedule searched with the epilogue in the loop), one thread; the
    variants timed in ``rounds`` interleaved rounds (``autotune.fusion_choice``)."""
    from kit.tensor import autotune

    rows = []
    for m, n, k in shapes:
        problem = autotune.Problem(m, n, k, seed)
        alone = autotune.model_search(problem, autotune.space(m, n, k, max_threads=THREADS),
                                      trials, seconds, seed)
        rows.append(autotune.fusion_choice(m, n, k, alone.best[0], trials, seconds, seed,
                                           rounds))
    return pd.DataFrame(rows)


def tuning_curves(searches: dict, default_ms: float):
    """Section "Auto-tuning": best schedule found so far against trials, per search."""
    from kit.core import plots

    fig, ax = plots.figure()
    for name, search in searches.items():
        ax.plot(np.arange(1, len(search.seconds) + 1), search.best_so_far() * 1e3, label=name)
    ax.axhline(default_ms, color="grey", ls="--", label="naive schedule")
    ax.set(xlabel="trials", ylabel="best ms so far", yscale="log",
           title="Schedule search at equal budgets")
    ax.legend()
    return fig
