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


def explore_modes(block: str, rows: int, width: int):
    """Section "Explore": time the chosen block and shape in every mode (a bar chart)."""
    from kit.core import plots

    times = {m: blocks.time_mode(block, (rows, width), m, 5) * 1e3 for m in blocks.MODES}
    fig, ax = plots.figure()
    ax.bar(list(times), list(times.values()))
    ax.set(ylabel="ms per call", yscale="log", title=f"{block} at ({rows}, {width})")
    return fig


def explore_buckets(lengths: list[int], counts: list[int], buckets: int) -> str:
    """Section "Explore": the optimal boundaries and waste for a bucket count."""
    bounds = shapes.best_buckets(lengths, counts, buckets)
    waste = shapes.padding_waste(lengths, counts, bounds)
    return (f"{buckets} buckets -> {buckets} compilations instead of {len(lengths)}; "
            f"boundaries {bounds}; padding waste {waste:.1%}")
