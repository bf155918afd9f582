"""The ten chapters: ids, titles, notebooks and book settings (used by the CLI and the book)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BOOK_PARAMS = NOTEBOOKS / "params"
RUNS = ROOT / "runs"
BOOK = ROOT / "book"


@dataclass(frozen=True)
class Chapter:
    """One research topic of the kit."""

    id: str
    slug: str
    title: str
    summary: str

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS / f"{self.id}_{self.slug}.ipynb"

    @property
    def book_params(self) -> Path:
        return BOOK_PARAMS / f"{self.id}-book.yaml"

    @property
    def exists(self) -> bool:
        return self.notebook.is_file()


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01", "low_bit_training", "Low-bit training",
            "per-layer precision policies searched for each hardware profile"),
    Chapter("02", "memory_optimization", "Memory optimization",
            "an adaptive planner for recomputation and host-device swapping under a budget"),
    Chapter("03", "model_innovation", "Model innovation",
            "probabilistic inference, dynamic heterogeneous GNNs, graph storage and sampling"),
    Chapter("04", "ai_for_science", "AI for scientific computing",
            "PINNs, neural operators and Taylor-mode derivatives linear in the order"),
    Chapter("05", "trustworthy_ai", "Verifiable trustworthy AI",
            "certified robustness, privacy, fairness and backdoors on one trust card"),
    Chapter("06", "confidential_ai", "Confidential AI computing",
            "secret sharing, homomorphic encryption and a secure compiler pass"),
    Chapter("07", "tensor_framework", "Tensor differentiable computing framework",
            "IR, fusion, operator tuning, dynamic shapes and higher-order differentiation"),
    Chapter("08", "distributed_parallel", "Distributed and parallel computing",
            "automatic hybrid parallelism found with a cost model, on a laptop"),
    Chapter("09", "xai_human_cognition", "XAI in line with human cognition",
            "attributions, analogies and concepts, and how to measure them"),
    Chapter("10", "optimization_recommendation", "Automatic model optimization recommendation",
            "hyper-parameters from run history, bottlenecks from profiles"),
)
BY_ID = {chapter.id: chapter for chapter in CHAPTERS}


def chapter(chapter_id: str) -> Chapter:
    """The chapter with id ``"04"`` (``"4"`` works too); a clear error otherwise."""
    key = chapter_id.zfill(2) if re.fullmatch(r"\d{1,2}", chapter_id) else chapter_id
    if key not in BY_ID:
        raise ValueError(f"chapter must be one of {', '.join(BY_ID)}, got {chapter_id!r}")
    return BY_ID[key]


def written() -> list[Chapter]:
    """The chapters whose notebooks exist, in order."""
    return [c for c in CHAPTERS if c.exists]
