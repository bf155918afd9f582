"""Record a run's parameters, metrics, timings and versions to ``results.json`` (contract part 10).

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so an interrupted
run never leaves a ``results.json`` that looks complete. ``load_runs`` gathers many runs into one
pandas table for sweeps and the book's results page.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCHEMA = 2  # 2: a "spread" entry per headline metric (n, median, min, max, std, source)
RESULTS_NAME = "results.json"
# where a metric's spread comes from: training randomness, or repeated interleaved timing rounds
SPREAD_SOURCES = ("seeds", "timing rounds")


def spread_of(samples: Any, source: str) -> dict[str, Any]:
    """``{n, median, min, max, std (n >= 5), source, samples}`` of repeated draws of a metric.

    ``source`` says what was repeated: ``"seeds"`` or ``"timing rounds"`` (SPREAD_SOURCES).
    The median is the headline value; the spread is the draws' own range, not an estimate.
    """
    if source not in SPREAD_SOURCES:
        raise ValueError(f"source must be one of {', '.join(SPREAD_SOURCES)}, got {source!r}")
    values = np.asarray(to_jsonable(samples, "samples"), dtype=float).ravel()
    if values.size < 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"samples must be one or more finite numbers, got {samples!r}")
    out: dict[str, Any] = {"n": int(values.size), "median": float(np.median(values)),
                           "min": float(values.min()), "max": float(values.max()),
                           "source": source}
    if values.size >= 5:
        out["std"] = float(values.std(ddof=1))
    out["samples"] = [float(v) for v in values]
    return out


def median_draw(draws: list, value: Any) -> Any:
    """The draw whose ``value(draw)`` is the median of all draws (the lower middle one for an
    even count): the run a chapter shows in its figures beside the median over seeds."""
    if not draws:
        raise ValueError("draws must hold at least one run, got none")
    ranked = sorted(draws, key=value)
    return ranked[(len(ranked) - 1) // 2]


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_jsonable(value: Any, where: str = "value", nonfinite: list[str] | None = None) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples and paths; NaN/inf become None.

    Paths to non-finite numbers are appended to ``nonfinite`` so the record says which they were.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        if nonfinite is not None:
            nonfinite.append(where)
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, f"{where}.{k}", nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]", nonfinite) for i, v in enumerate(value)]
    raise TypeError(f"{where} must be a number, string, bool, None, list, dict or numpy value, "
                    f"got {type(value).__name__}")


class Recorder:
    """Collects one run's record; ``save()`` writes it when the notebook has a ``results_path``.

    ``headline`` marks the metrics that the book's results page shows beside their anchors.
    """

    def __init__(self, chapter: str, params: Mapping[str, Any],
                 results_path: str | Path | None = None) -> None:
        self.chapter = chapter
        # the runner's results_path is where the record goes, not a parameter of the science
        self.params = {k: v for k, v in params.items() if k != "results_path"}
        self.path = Path(results_path) if results_path is not None else None
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.headlines: list[dict[str, Any]] = []
        self.spreads: dict[str, dict[str, Any]] = {}
        self.figures: list[str] = []
        self.extra: dict[str, Any] = {}

    @property
    def folder(self) -> Path | None:
        """The run folder (where figures go), or None for an interactive run."""
        return self.path.parent if self.path is not None else None

    def metric(self, name: str, value: Any) -> Any:
        """Record one metric under ``name`` (use the exact names the chapter's issue gives)."""
        to_jsonable(value, f"metric {name!r}")  # refuse what cannot be stored, now
        self.metrics[name] = value
        return value

    def log(self, **metrics: Any) -> None:
        """Record several metrics at once."""
        for name, value in metrics.items():
            self.metric(name, value)

    def spread(self, name: str, samples: Any, source: str) -> float:
        """Record metric ``name`` as the median of repeated ``samples`` and keep their spread
        (``spread_of``); ``source`` is ``"seeds"`` or ``"timing rounds"``. Returns the median."""
        entry = spread_of(samples, source)
        self.spreads[name] = entry
        self.metrics[name] = entry["median"]
        return entry["median"]

    def deterministic(self, *names: str) -> None:
        """Mark recorded metrics as exact by construction (a count, an analytic formula): they
        need no repeats, and the results page says so instead of showing a spread."""
        for name in names:
            if name not in self.metrics:
                raise KeyError(f"deterministic {name!r} is not a recorded metric")
            self.spreads[name] = {"deterministic": True}

    def timing(self, name: str, seconds: float) -> float:
        """Record a wall time in seconds."""
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"timing {name!r} must be a number of seconds >= 0, got {seconds!r}")
        self.timings[name] = float(seconds)
        return seconds

    def headline(self, metric: str, anchor: str, anchor_value: Any = None,
                 label: str | None = None, better: str | None = None,
                 same_data: bool = False) -> None:
        """Show ``metric`` on the results page beside the anchor's published number.

        ``anchor`` names the source and setting ("HAQ, CVPR 2019, ImageNet MobileNet");
        ``better`` ("higher" or "lower") says which way the results figure should read it
        (without it the book guesses from the name and label); ``same_data=True`` says the
        kit measured on the anchor's data set (e.g. MNIST, at a smaller sample), so the page
        marks its anchor "(same data)": like for like in data, not context.
        """
        if metric not in self.metrics:
            raise KeyError(f"headline {metric!r} is not a recorded metric "
                           f"(recorded: {', '.join(self.metrics) or 'none'})")
        if better not in (None, "higher", "lower"):
            raise ValueError(f"better must be 'higher', 'lower' or None, got {better!r}")
        entry = {"metric": metric, "label": label or metric, "anchor": anchor,
                 "anchor_value": anchor_value}
        if not isinstance(same_data, bool):
            raise ValueError(f"same_data must be True or False, got {same_data!r}")
        if better is not None:
            entry["better"] = better
        if same_data:
            entry["same_data"] = True
        self.headlines.append(entry)

    def figure(self, fig: Any, name: str) -> None:
        """Save a matplotlib figure as ``<run folder>/<name>.png``; nothing when interactive.

        Returns None so that a notebook cell ending in this call shows only the figure.
        """
        if self.folder is None:
            return
        from kit.core.plots import savefig

        self.figures.append(savefig(fig, self.folder / f"{name}.png").name)

    def record(self, versions: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The full record as plain JSON types."""
        from kit.core.repro import versions as current_versions

        nonfinite: list[str] = []
        record = {
            "schema": SCHEMA,
            "chapter": self.chapter,
            "status": "complete",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "params": to_jsonable(self.params, "params", nonfinite),
            "metrics": to_jsonable(self.metrics, "metrics", nonfinite),
            "timings": to_jsonable(self.timings, "timings", nonfinite),
            "headline": to_jsonable(self.headlines, "headline", nonfinite),
            "spread": to_jsonable(self.spreads, "spread", nonfinite),
            "figures": list(self.figures),
            "versions": dict(versions) if versions is not None else current_versions(),
        }
        record.update(to_jsonable(self.extra, "extra", nonfinite))
        record["nonfinite"] = nonfinite
        return record

    def save(self) -> Path | None:
        """Write ``results.json`` atomically; return its path (None when no results_path)."""
        if self.path is None:
            return None
        text = json.dumps(self.record(), indent=2, allow_nan=False)
        return atomic_write_text(self.path, text + "\n")


def read_results(path: str | Path) -> dict[str, Any]:
    """Read one ``results.json``, saying which file is broken if it cannot be parsed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run") from err
    if not isinstance(data, dict) or data.get("status") != "complete":
        raise ValueError(f"{path} is not a complete kit record (status must be 'complete')")
    return data


def is_complete(run_dir: str | Path) -> bool:
    """True when ``run_dir`` holds a readable, complete ``results.json``."""
    try:
        read_results(Path(run_dir) / RESULTS_NAME)
    except (OSError, ValueError):
        return False
    return True


def is_scalar(value: Any) -> bool:
    """A value that fits one table cell (sweep summaries, load_runs)."""
    return value is None or isinstance(value, (bool, int, float, str))


def load_runs(folder: str | Path) -> pd.DataFrame:
    """One row per complete ``results.json`` under ``folder``.

    Columns: ``chapter``, ``run`` (folder relative to ``folder``), ``param.<name>`` and
    ``metric.<name>`` for scalar values (lists and dicts stay in the record).
    """
    folder = Path(folder)
    rows = []
    for path in sorted(folder.rglob(RESULTS_NAME)):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # staging folders of unfinished runs
        data = read_results(path)
        row: dict[str, Any] = {"chapter": data["chapter"],
                               "run": str(path.parent.relative_to(folder))}
        row.update({f"param.{k}": v for k, v in data["params"].items() if is_scalar(v)})
        row.update({f"metric.{k}": v for k, v in data["metrics"].items() if is_scalar(v)})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["chapter", "run"])
