"""Chapter 08's real execution: MindSpore data parallelism over 2 local processes via msrun.

MindSpore's semi-auto/auto parallel modes and its dry-run simulation are refused on CPU
(finding:auto-parallel-cpu), but ``DATA_PARALLEL`` with ``init()`` under ``msrun`` works, so the
cost model's prediction for data parallelism can be checked against a measured run here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.parallel.cluster import Link
from kit.parallel.collectives import ring_all_reduce

WORKER = Path(__file__).with_name("dp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    """msrun starts the ``python`` on PATH: put this environment's first."""
    env = dict(os.environ, GLOG_v=os.environ.get("GLOG_v", "3"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _worker_args(out: Path, widths: str, batch: int, steps: int, rounds: int = 3) -> list[str]:
    return [str(WORKER), "--out", str(out), "--widths", widths, "--batch", str(batch),
            "--steps", str(steps), "--rounds", str(rounds)]


def run_single(out: Path, widths: str, batch: int, steps: int, rounds: int = 3,
               timeout: float = 300) -> dict:
    """The one-process baseline (same per-process batch, one thread); its rank-0 record."""
    subprocess.run([sys.executable, *_worker_args(out, widths, batch, steps, rounds)], check=True,
                   env=_env(), timeout=timeout, capture_output=True, text=True)
    return json.loads((out / "rank0.json").read_text())


def run_concurrent(out: Path, widths: str, batch: int, steps: int, rounds: int = 3,
                   workers: int = 2, timeout: float = 300) -> list[dict]:
    """``workers`` independent baselines at once: compute under the same CPU contention as the
    data-parallel run, without its communication."""
    procs = [subprocess.Popen([sys.executable,
                               *_worker_args(out / f"p{i}", widths, batch, steps, rounds)],
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(workers)]
    for proc in procs:
        proc.wait(timeout=timeout)
    failed = [p for p in procs if p.returncode]
    if failed:
        raise RuntimeError(f"a concurrent baseline failed: {failed[0].stderr.read()[-1500:]}")
    return [json.loads((out / f"p{i}" / "rank0.json").read_text()) for i in range(workers)]


def run_msrun(out: Path, widths: str, batch: int, steps: int, rounds: int = 3, workers: int = 2,
              timeout: float = 300) -> list[dict]:
    """``msrun --worker_num=N --local_worker_num=N ...`` data-parallel run; one record per rank."""
    out.mkdir(parents=True, exist_ok=True)
    msrun = Path(sys.executable).with_name("msrun")
    cmd = [str(msrun), f"--worker_num={workers}", f"--local_worker_num={workers}",
           f"--master_port={_free_port()}", f"--log_dir={out / 'msrun_log'}", "--join=True",
           *_worker_args(out, widths, batch, steps, rounds), "--distributed"]
    proc = subprocess.run(cmd, env=_env(), timeout=timeout, capture_output=True, text=True,
                          cwd=out)
    records = [out / f"rank{r}.json" for r in range(workers)]
    if proc.returncode != 0 or not all(p.exists() for p in records):
        logs = "".join(p.read_text()[-1500:] for p in sorted((out / "msrun_log").glob("*.log")))
        raise RuntimeError(f"msrun failed ({proc.returncode}):\n{proc.stderr[-1500:]}\n{logs}")
    return [json.loads(p.read_text()) for p in records]


def fit_link(allreduce_seconds: dict[str, float], workers: int = 2) -> Link:
    """Least-squares alpha and beta from ring all-reduce timings: t = 2(p-1)a + 2(p-1)/p n/B."""
    sizes = np.array([float(n) for n in allreduce_seconds])
    times = np.array(list(allreduce_seconds.values()))
    design = np.column_stack([np.full_like(sizes, 2 * (workers - 1)),
                              2 * (workers - 1) / workers * sizes])
    (alpha, inv_bw), *_ = np.linalg.lstsq(design, times, rcond=None)
    return Link(bandwidth=1.0 / max(inv_bw, 1e-15), latency=max(float(alpha), 0.0))


@dataclass(frozen=True)
class DataParallelCheck:
    """The target model's measured 1-process, 2-independent-process and 2-process
    data-parallel step times; the cost model's predictions from constants calibrated on the
    other (smaller) models, and from raw AllReduce timings; per-model rows."""

    single_seconds: float
    concurrent_seconds: float
    parallel_seconds: float
    predicted_seconds: float
    raw_predicted_seconds: float
    link: Link
    raw_link: Link
    grad_bytes: int
    weights_identical: bool
    rows: tuple[dict, ...]
    loo_errors: tuple[float, ...] = ()

    @property
    def measured_ratio(self) -> float:
        return self.parallel_seconds / self.single_seconds

    @property
    def prediction_error(self) -> float:
        return abs(self.predicted_seconds - self.parallel_seconds) / self.parallel_seconds

    @property
    def loo_median_error(self) -> float:
        """The median of the leave-one-model-out errors (NaN if they were not computed)."""
        return float(np.median(self.loo_errors)) if self.loo_errors else float("nan")

    @property
    def raw_prediction_error(self) -> float:
        return abs(self.raw_predicted_seconds - self.parallel_seconds) / self.parallel_seconds


def check_data_parallel(hidden: tuple[int, ...] = (384, 512, 768, 1024), batch: int = 128,
                        steps: int = 40, rounds: int = 3,
                        folder: Path | None = None) -> DataParallelCheck:
    """Train MLPs 256-h-h-10 for each ``h``: alone, as two independent processes at once (the
    same CPU contention, no communication), and as a 2-process data-parallel msrun job.

    The gradient all-reduce inside a training step is calibrated as alpha-beta on every model
    but the last (step time minus contended compute), and the last model's data-parallel step
    is predicted as its contended compute plus one ring all-reduce of its gradients. The same
    prediction with alpha-beta from a bare AllReduce micro-benchmark is reported beside it.
    """
    if len(hidden) < 3:
        raise ValueError(f"hidden needs >= 3 sizes (2+ to calibrate, 1 to predict), got {hidden}")
    for name, value in (("batch", batch), ("steps", steps), ("rounds", rounds)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    folder = Path(folder or tempfile.mkdtemp(prefix="kit-dp-"))
    widths = ";".join(f"256,{h},{h},10" for h in hidden)
    single = run_single(folder / "single", widths, batch, steps, rounds)["models"]
    pair = [r["models"]
            for r in run_concurrent(folder / "concurrent", widths, batch, steps, rounds)]
    ranks = [r["models"] for r in run_msrun(folder / "dp2", widths, batch, steps, rounds)]
    raw_link = fit_link(run_records(folder / "dp2")[0]["allreduce_seconds"], workers=len(ranks))
    rows = []
    for i, h in enumerate(hidden):
        rows.append({"hidden": h, "grad_bytes": single[i]["grad_bytes"],
                     "single_s": single[i]["step_seconds"],
                     "concurrent_s": max(p[i]["step_seconds"] for p in pair),
                     "parallel_s": max(r[i]["step_seconds"] for r in ranks),
                     "checksums": [r[i]["weight_checksum"] for r in ranks]})
    calibration = {str(r["grad_bytes"]): r["parallel_s"] - r["concurrent_s"] for r in rows[:-1]}
    link = fit_link(calibration, workers=len(ranks))
    target = rows[-1]
    identical = all(max(r["checksums"]) - min(r["checksums"])
                    <= 1e-6 * max(1.0, abs(r["checksums"][0])) for r in rows)
    return DataParallelCheck(
        single_seconds=target["single_s"], concurrent_seconds=target["concurrent_s"],
        parallel_seconds=target["parallel_s"],
        predicted_seconds=target["concurrent_s"] + ring_all_reduce(target["grad_bytes"],
                                                                   len(ranks), link),
        raw_predicted_seconds=target["concurrent_s"] + ring_all_reduce(target["grad_bytes"],
                                                                       len(ranks), raw_link),
        link=link, raw_link=raw_link, grad_bytes=target["grad_bytes"],
        weights_identical=identical, rows=tuple(rows),
        loo_errors=leave_one_out_errors(rows, len(ranks)))


def leave_one_out_errors(rows: list[dict], workers: int) -> tuple[float, ...]:
    """Each model's data-parallel step predicted from alpha-beta calibrated on all the other
    models: the relative errors, one per model (a spread for the single held-out number)."""
    errors = []
    for j, target in enumerate(rows):
        others = {str(r["grad_bytes"]): r["parallel_s"] - r["concurrent_s"]
                  for i, r in enumerate(rows) if i != j}
        predicted = target["concurrent_s"] + ring_all_reduce(
            target["grad_bytes"], workers, fit_link(others, workers=workers))
        errors.append(abs(predicted - target["parallel_s"]) / target["parallel_s"])
    return tuple(errors)


def run_records(out: Path) -> list[dict]:
    """The per-rank records a run left in ``out``."""
    return [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]
