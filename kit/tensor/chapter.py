"""The tables and figures of chapter 07's notebook (each names its section)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kit.tensor import blocks, shapes


def mode_table(block: str, sizes: list[list[int]], repeats: int) -> pd.DataFrame:
    """Section "Modes": ms per call of one block in every mode at every shape, and speed-ups."""
    rows = []
    for rows_, width in sizes:
        times = {m: blocks.time_mode(block, (rows_, width), m, repeats) for m in blocks.MODES}
        rows.append({"block": block, "shape": f"({rows_}, {width})",
                     **{f"{m} ms": t * 1e3 for m, t in times.items()},
                     "jit vs PyNative": times["pynative"] / times["jit"],
                     "graph kernel vs jit": times["jit"] / times["jit_graph_kernel"],
                     "jit vs numpy": times["numpy"] / times["jit"]})
    return pd.DataFrame(rows)


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


def fused_kernel_table(shape: list[int], repeats: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Section "Operator level": LayerNorm+GELU at ``shape`` as MindSpore ops (PyNative, jit),
    numpy, and the kit's fused C++ kernel as an ``ops.Custom`` operator (PyNative and inside
    ``ms.jit``), with the kernel's schedule (vector width, rows per chunk, threads) tuned
    exhaustively first."""
    import mindspore as ms

    from kit.core.measure import time_call
    from kit.tensor import autotune, kernels

    rows, width = shape
    x, w, b = blocks.inputs("layernorm_gelu", (rows, width))
    schedules = [(v, c, t) for v in kernels.WIDTHS if width % v == 0 for c in (1, 4, 16, 64)
                 for t in (1, 2)]
    out = np.empty_like(x)
    tuned = min(schedules, key=lambda s: autotune.best_seconds(
        lambda: kernels.layernorm_gelu(x, w, b, *s, out=out), 3))
    op = kernels.ms_layernorm_gelu()
    fused_jit = ms.jit(_custom_call)
    tx, tw, tb = ms.Tensor(x), ms.Tensor(w), ms.Tensor(b)
    default_s, tuned_s = kernels.ln_schedule_tensor(width, 1, 1, 1), kernels.ln_schedule_tensor(
        width, *tuned)

    def clock(fn, *args) -> float:
        return time_call(lambda: fn(*args).asnumpy(), repeats=repeats, warmup=2).best

    times = {"numpy": blocks.time_mode("layernorm_gelu", shape, "numpy", repeats),
             "PyNative": blocks.time_mode("layernorm_gelu", shape, "pynative", repeats),
             "ms.jit": blocks.time_mode("layernorm_gelu", shape, "jit", repeats),
             "kit kernel, default schedule (jit)": clock(fused_jit, op, tx, tw, tb, default_s),
             "kit kernel, tuned (PyNative)": clock(op, tx, tw, tb, tuned_s),
             "kit kernel, tuned (jit)": clock(fused_jit, op, tx, tw, tb, tuned_s)}
    reference = blocks.np_block("layernorm_gelu")(x, w, b)
    error = float(np.abs(fused_jit(op, tx, tw, tb, tuned_s).asnumpy() - reference).max())
    table = pd.DataFrame({"ms per call": {k: v * 1e3 for k, v in times.items()},
                          "speed-up vs ms.jit": {k: times["ms.jit"] / v
                                                 for k, v in times.items()}})
    return table, {"fused_kernel_vs_jit_large": times["ms.jit"] / times["kit kernel, tuned (jit)"],
                   "fused_kernel_max_abs_error": error,
                   "fused_kernel_tuned_vs_default": times["kit kernel, default schedule (jit)"]
                   / times["kit kernel, tuned (jit)"],
                   "fused_kernel_schedule": {"vec": tuned[0], "chunk": tuned[1],
                                             "threads": tuned[2]}}


def _custom_call(op, x, w, b, schedule):
    """A jitted call of a custom operator (named: jit cannot parse lambdas)."""
    return op(x, w, b, schedule)


def autotune_experiment(size: int, trials: int, seconds: float, seed: int) -> dict:
    """Section "Auto-tuning": random, grid and cost-model search at the same trial budget on a
    (size, size, size) matmul, against the naive schedule; the cost model's held-out Spearman."""
    from kit.tensor import autotune, kernels

    problem = autotune.Problem(size, size, size, seed)
    candidates = autotune.space(size, size, size)
    default = kernels.naive_schedule(size, size, size, threads=2)
    t_default = problem.seconds(default)
    searches = {"random": autotune.random_search(problem, candidates, trials, seconds, seed),
                "grid": autotune.grid_search(problem, candidates, trials, seconds),
                "cost_model": autotune.model_search(problem, candidates, trials, seconds, seed)}
    spearman, held = autotune.held_out_spearman(problem, candidates, list(searches.values()),
                                                seed=seed + 1)
    table = pd.DataFrame([{"search": name, "trials": len(s.schedules), "seconds": s.wall,
                           "best ms": s.best[1] * 1e3, "speed-up vs naive": t_default / s.best[1],
                           "best schedule": s.best[0]} for name, s in searches.items()])
    return {"table": table, "searches": searches, "default_ms": t_default * 1e3,
            "space_size": len(candidates), "spearman": spearman, "held_out": held}


def ms_matmul_check(size: int, schedule) -> dict[str, float]:
    """Section "Operator level": the kit's tuned matmul as a MindSpore operator against
    ``ops.matmul`` (MindSpore's own CPU kernel): largest difference and time ratio."""
    import mindspore as ms
    from mindspore import ops

    from kit.core.measure import time_call
    from kit.tensor import kernels

    rng = np.random.default_rng(0)
    a = ms.Tensor(rng.standard_normal((size, size)).astype(np.float32))
    b = ms.Tensor(rng.standard_normal((size, size)).astype(np.float32))
    op, s = kernels.ms_matmul(), ms.Tensor(schedule.array())
    ours = time_call(lambda: op(a, b, s).asnumpy(), repeats=10).best
    theirs = time_call(lambda: ops.matmul(a, b).asnumpy(), repeats=10).best
    diff = float(np.abs(op(a, b, s).asnumpy() - ops.matmul(a, b).asnumpy()).max())
    return {"kit_matmul_max_abs_diff": diff, "kit_matmul_vs_ms_matmul_time": ours / theirs}


def coopt_table(shapes: list[list[int]], trials: int, seconds: float,
                seed: int) -> pd.DataFrame:
    """Section "Co-optimisation": each MLP layer gelu(x @ w + b) computed separately (tuned
    matmul, then a bias+GELU pass), fused with the separately tuned schedule, and co-optimised
    (the fused operator's schedule searched with the epilogue in the loop)."""
    from kit.tensor import autotune

    rows = []
    for m, n, k in shapes:
        problem = autotune.Problem(m, n, k, seed)
        alone = autotune.model_search(problem, autotune.space(m, n, k), trials, seconds, seed)
        rows.append(autotune.fusion_choice(m, n, k, alone.best[0], trials, seconds, seed))
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
