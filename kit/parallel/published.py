"""Published measured runs that chapter 08's cost model is scored against ("Validation 2").

Each run is a model, a cluster, the exact published layout (tensor, pipeline and data degrees,
global batch, micro-batch size, interleaved chunks, activation recomputation) and the number
the paper measured. Sources, one per run in ``source``:

- Shoeybi et al. 2019, *Megatron-LM* (arXiv:1909.08053 v4), Table 1 (model shapes), section
  5.1 (batch 8 for model parallelism, global batch 512 for model + data parallelism, the
  single-GPU baseline of 39 TFLOP/s, 77 % at 8 GPUs, 74 % at 512 GPUs) and Figure 5 (weak
  scaling bars: 82 % at 4 GPUs, 83 % at 128, 79 % at 256). DGX-2H nodes of 16 V100 32 GB;
  NVSwitch 300 GB/s per GPU (both directions), 8 x 100 Gb/s InfiniBand = 100 GB/s per node.
- Narayanan et al. 2021, *Efficient Large-Scale Language Model Training on GPU Clusters Using
  Megatron-LM* (SC'21, arXiv:2104.04473), Table 1 (achieved TFLOP/s per GPU, weak scaling,
  vocabulary 51,200, sequence 2,048); the micro-batch sizes and interleaving are those of the
  paper's own scripts (NVIDIA/Megatron-LM ``examples/sc21/run_table_1.sh``). Section 5.1:
  GPT-3 175B on 1,024 A100 at batch 1,536 achieves 140 TFLOP/s per GPU; its layout TP8 x PP16
  x DP8, micro-batch 1, is ``examples/pretrain_gpt3_175B.sh`` (128 nodes). Selene DGX A100
  80 GB nodes: 8 GPUs, NVLink 600 GB/s per GPU (both directions), 8 x 200 Gb/s HDR InfiniBand
  = 200 GB/s per node; A100 peak 312 TFLOP/s (fp16/bf16).

The papers count FLOPs with Narayanan et al.'s eq. (3), ``paper_flops``: 96 B s l h^2 (1 + s/6h
+ V/16lh) per iteration, which includes the recomputed forward pass. Shoeybi et al. do not
print their formula; their 39 TFLOP/s baseline is taken to count the same way (an assumption:
it only sets how much of a Megatron step the model calls compute). Figure 5's three values
are its bar labels; the 2- and 64-GPU bars are left out because secondary sources disagree on
them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from kit.parallel import cluster as clusters
from kit.parallel import model as models
from kit.parallel.cluster import Cluster
from kit.parallel.cost import Estimate, Strategy, estimate, uniform_stages
from kit.parallel.model import Model

UNITS = ("tflops", "efficiency")
SYSTEMS = ("DGX-2H V100", "DGX A100")
SHOEYBI = "Shoeybi et al. 2019 (Megatron-LM)"
NARAYANAN = "Narayanan et al. 2021 (SC'21)"


@dataclass(frozen=True)
class PublishedRun:
    """One measured run: ``measured`` is TFLOP/s per GPU (``unit="tflops"``) or the per-GPU
    throughput as a fraction of the paper's single-GPU baseline (``unit="efficiency"``)."""

    label: str
    source: str
    system: str
    layers: int
    hidden: int
    heads: int
    seq: int
    vocab: int
    gpus: int
    tp: int
    pp: int
    batch: int
    micro_batch: int
    chunks: int
    measured: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.system not in SYSTEMS:
            raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, got {self.system!r}")
        if self.gpus % (self.tp * self.pp):
            raise ValueError(f"{self.label}: gpus={self.gpus} must divide by tp x pp = "
                             f"{self.tp * self.pp}")
        if self.batch % (self.dp * self.micro_batch):
            raise ValueError(f"{self.label}: batch={self.batch} must divide by dp x micro_batch"
                             f" = {self.dp * self.micro_batch}")
        if not self.measured > 0:
            raise ValueError(f"{self.label}: measured must be > 0, got {self.measured}")

    @property
    def dp(self) -> int:
        return self.gpus // (self.tp * self.pp)

    @property
    def micro_batches(self) -> int:
        return self.batch // (self.dp * self.micro_batch)


def _shoeybi(label: str, layers: int, hidden: int, heads: int, gpus: int, tp: int,
             measured: float, where: str, unit: str = "efficiency") -> PublishedRun:
    """A Shoeybi et al. 2019 run: sequence 1024, vocabulary 51,200, no pipeline."""
    batch = 8 if gpus == tp else 512  # section 5.1: batch 8 (model parallel), 512 (+ data)
    return PublishedRun(label, f"{SHOEYBI}, {where}", "DGX-2H V100", layers, hidden, heads,
                        1024, 51200, gpus, tp, 1, batch, batch * tp // gpus, 1, measured, unit)


def _narayanan(label: str, layers: int, hidden: int, heads: int, gpus: int, tp: int, pp: int,
               batch: int, micro: int, chunks: int, tflops: float,
               where: str = "Table 1") -> PublishedRun:
    """A Narayanan et al. 2021 run: sequence 2048, vocabulary 51,200, TFLOP/s per GPU."""
    return PublishedRun(label, f"{NARAYANAN}, {where}", "DGX A100", layers, hidden, heads, 2048,
                        51200, gpus, tp, pp, batch, micro, chunks, tflops, "tflops")


# Calibration points: each fixes its system's one free constant (achieved fraction of peak).
MEGATRON_BASELINE = _shoeybi("Megatron 1.2B, 1 V100", 40, 1536, 16, 1, 1, 39.0,
                             "section 5.1 (single-GPU baseline, 39 TFLOP/s)", unit="tflops")
NARAYANAN_BASELINE = _narayanan("GPT 1.7B, 32 A100 (TP1 PP1 DP32)", 24, 2304, 24, 32, 1, 1, 512,
                                16, 1, 137.0)

# Scored points: never used to fit anything.
SCORED = (
    _shoeybi("Megatron 4.2B, 4 V100 (TP4)", 64, 2304, 24, 4, 4, 0.82, "Figure 5"),
    _shoeybi("Megatron 8.3B, 8 V100 (TP8)", 72, 3072, 32, 8, 8, 0.77, "section 5.1"),
    _shoeybi("Megatron 2.5B, 128 V100 (TP2 DP64)", 54, 1920, 20, 128, 2, 0.83, "Figure 5"),
    _shoeybi("Megatron 4.2B, 256 V100 (TP4 DP64)", 64, 2304, 24, 256, 4, 0.79, "Figure 5"),
    _shoeybi("Megatron 8.3B, 512 V100 (TP8 DP64)", 72, 3072, 32, 512, 8, 0.74, "section 5.1"),
    _narayanan("GPT 3.6B, 64 A100 (TP2 DP32)", 30, 3072, 32, 64, 2, 1, 512, 16, 1, 138.0),
    _narayanan("GPT 7.5B, 128 A100 (TP4 DP32)", 36, 4096, 32, 128, 4, 1, 512, 16, 1, 142.0),
    _narayanan("GPT 18.4B, 256 A100 (TP8 DP32)", 40, 6144, 48, 256, 8, 1, 1024, 8, 1, 135.0),
    _narayanan("GPT 39.1B, 512 A100 (TP8 PP2 DP32)", 48, 8192, 64, 512, 8, 2, 1536, 4, 1, 138.0),
    _narayanan("GPT 76.1B, 1024 A100 (TP8 PP4 DP32)", 60, 10240, 80, 1024, 8, 4, 1792, 2, 3,
               140.0),
    _narayanan("GPT 145.6B, 1536 A100 (TP8 PP8 DP24)", 80, 12288, 96, 1536, 8, 8, 2304, 2, 2,
               148.0),
    _narayanan("GPT 310.1B, 1920 A100 (TP8 PP16 DP15)", 96, 16384, 128, 1920, 8, 16, 2160, 1, 2,
               155.0),
    _narayanan("GPT 529.6B, 2520 A100 (TP8 PP35 DP9)", 105, 20480, 128, 2520, 8, 35, 2520, 1, 3,
               163.0),
    _narayanan("GPT 1008B, 3072 A100 (TP8 PP64 DP6)", 128, 25600, 160, 3072, 8, 64, 3072, 1, 1,
               163.0),
    _narayanan("GPT-3 175B, 1024 A100 (TP8 PP16 DP8)", 96, 12288, 96, 1024, 8, 16, 1536, 1, 1,
               140.0, where="section 5.1 (layout: examples/pretrain_gpt3_175B.sh)"),
)


def paper_flops(run: PublishedRun) -> float:
    """FLOPs of one iteration as both papers count them (Narayanan et al. 2021, eq. 3)."""
    b, s, lay, h, v = run.batch, run.seq, run.layers, run.hidden, run.vocab
    return 96.0 * b * s * lay * h * h * (1 + s / (6 * h) + v / (16 * lay * h))


def run_model(run: PublishedRun) -> Model:
    """The run's GPT as the cost model sees it (blocks plus the tied logits layer)."""
    return models.transformer(run.layers, run.hidden, run.heads, run.seq, vocab=run.vocab,
                              name=run.label)


def run_cluster(run: PublishedRun, efficiency: float) -> Cluster:
    """The run's cluster (whole nodes; a single partial node for runs under one node)."""
    build = clusters.dgx2_v100 if run.system == "DGX-2H V100" else clusters.dgx_a100
    node = build(1, efficiency=efficiency)
    nodes, rest = divmod(run.gpus, node.devices_per_node)
    if rest and nodes:
        raise ValueError(f"{run.label}: {run.gpus} GPUs do not fill whole nodes of "
                         f"{node.devices_per_node}")
    return build(nodes, efficiency=efficiency) if nodes else node.with_devices(run.gpus)


def run_strategy(run: PublishedRun, model: Model) -> Strategy:
    """The published layout exactly: the transformer blocks split evenly over the stages (the
    logits layer rides on the last one, as in Megatron-LM), every layer sharded, recomputation
    on (both papers checkpoint activations every layer), no ZeRO (neither used it)."""
    layers = len(model.layers)
    stages = list(uniform_stages(run.layers, run.pp))
    stages[-1] += layers - run.layers
    return Strategy(run.dp, run.tp, run.pp, run.micro_batches, 0, True, tuple(stages),
                    (True,) * layers, run.chunks)


def run_estimate(run: PublishedRun, efficiency: float) -> Estimate:
    """The cost model's estimate of the published layout."""
    model = run_model(run)
    return estimate(model, run_cluster(run, efficiency), run_strategy(run, model), run.batch)


def predicted_tflops(run: PublishedRun, efficiency: float) -> float:
    """Predicted TFLOP/s per GPU, counted as the papers count (``paper_flops``)."""
    return paper_flops(run) / (run_estimate(run, efficiency).step_seconds * run.gpus) / 1e12


def fit_efficiency(run: PublishedRun) -> float:
    """The fraction of peak at which the cost model reproduces ``run``'s measured TFLOP/s
    exactly (bisection; predicted throughput grows with efficiency)."""
    if run.unit != "tflops":
        raise ValueError(f"fit_efficiency needs a TFLOP/s run, got unit {run.unit!r}")
    low, high = 1e-4, 1.0
    if predicted_tflops(run, high) < run.measured:
        raise ValueError(f"{run.label}: {run.measured} TFLOP/s is out of reach even at peak")
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if predicted_tflops(run, mid) < run.measured else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True)
class PublishedValidation:
    """The cost model against published measured runs: one row per scored run, with the
    efficiency fitted per system on its calibration run only."""

    efficiency: dict[str, float]
    rows: tuple[dict, ...]

    @property
    def errors(self) -> dict[str, float]:
        return {r["run"]: r["rel. error"] for r in self.rows}

    def median_error(self, source: str = "") -> float:
        """The median relative error over the rows whose source starts with ``source``."""
        errors = [r["rel. error"] for r in self.rows if r["source"].startswith(source)]
        if not errors:
            raise ValueError(f"no scored run has a source starting with {source!r}")
        return float(statistics.median(errors))

    def metrics(self) -> dict[str, object]:
        by_label = {r["run"]: r for r in self.rows}
        return {"cost_model_error_vs_published": self.median_error(),
                "cost_model_error_megatron2019": self.median_error(SHOEYBI),
                "cost_model_error_narayanan2021": self.median_error(NARAYANAN),
                "cost_model_max_error_vs_published": max(self.errors.values()),
                "cost_model_published_points": len(self.rows),
                "cost_model_errors_by_run": self.errors,
                "v100_fitted_efficiency": self.efficiency["DGX-2H V100"],
                "a100_fitted_efficiency": self.efficiency["DGX A100"],
                "megatron_efficiency_predicted":
                    by_label["Megatron 8.3B, 512 V100 (TP8 DP64)"]["predicted"],
                "megatron_8gpu_efficiency_predicted":
                    by_label["Megatron 8.3B, 8 V100 (TP8)"]["predicted"]}


def validate_published(*, runs: tuple[PublishedRun, ...] = SCORED,
                       baselines: tuple[PublishedRun, ...] = (MEGATRON_BASELINE,
                                                              NARAYANAN_BASELINE)
                       ) -> PublishedValidation:
    """Section "Validation 2": fit each system's efficiency on its baseline run, then predict
    every scored run from its published layout; relative error |predicted - measured| /
    measured. Efficiency runs are predicted as the run's per-GPU TFLOP/s over the baseline's."""
    fitted = {b.system: (b, fit_efficiency(b)) for b in baselines}
    rows = []
    for run in runs:
        if run.system not in fitted:
            raise ValueError(f"{run.label}: no baseline run calibrates {run.system}")
        base, eff = fitted[run.system]
        est = run_estimate(run, eff)
        tflops = paper_flops(run) / (est.step_seconds * run.gpus) / 1e12
        predicted = tflops / predicted_tflops(base, eff) if run.unit == "efficiency" else tflops
        rows.append({"run": run.label, "source": run.source, "unit": run.unit,
                     "measured": run.measured, "predicted": predicted,
                     "rel. error": abs(predicted - run.measured) / run.measured,
                     "bubble": est.bubble_fraction, "compute share": est.compute_fraction,
                     "memory GB": est.memory_bytes / 1e9, "fits": est.fits})
    return PublishedValidation({k: v[1] for k, v in fitted.items()}, tuple(rows))
