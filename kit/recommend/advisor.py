"""Chapter 10, section "Bottleneck advisor": measure, diagnose, recommend, apply, re-measure.

A :class:`Scenario` is a small MindSpore training job with knobs (data source, map function,
workers, batch size, mode, side threads, host work per step, shape changes). :func:`measure`
runs it under the kit's timers: per step the wait for the next batch (data), the train-step
call including the loss sync (compute), the user's per-step host code (host), plus probes
(time spent inside the map function and its CPU share, whether the transform is deterministic,
the number of runnable threads sampled from /proc, compile spikes). :func:`diagnose` reads
ONLY that :class:`Profile` (never the scenario's label); :func:`apply_fix` turns the
recommended code path into new knobs; the speed-up is measured side by side in the same run.

The rules' thresholds are a :class:`Thresholds` (the hand-set values by default).
:func:`heldout_scenarios` draws new, randomised jobs; :func:`fit_thresholds` fits the
thresholds on the training scenarios' measured profiles, and :func:`score` rates any thresholds
on any measured profiles (chapter 10 "Experiment 4: the advisor on held-out scenarios").
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn

SETTLE_SECONDS = 0.6
WARMUP_STEPS = 4
CAUSES = ("compute_bound", "slow_python_map", "io_bound_map", "uncached_preprocessing",
          "per_sample_pipeline", "tiny_batch", "pynative", "host_sync", "oversubscription",
          "recompilation")

FIXES: dict[str, str] = {
    "compute_bound": "nothing to fix in the code: compute-bound (a smaller model, lower "
                     "precision on hardware that supports it, or more cores)",
    "slow_python_map": "vectorise the per-sample Python augmentation over whole batches "
                       "(GeneratorDataset yielding batches, numpy on the batch)",
    "io_bound_map": "overlap the waiting reads: a batch-level GeneratorDataset that reads the "
                    "batch's samples with a thread pool",
    "uncached_preprocessing": "the transform is deterministic: preprocess once, cache the "
                              "arrays, feed cached batches",
    "per_sample_pipeline": "per-sample pipeline overhead: let GeneratorDataset yield whole "
                           "batches (no per-sample .batch())",
    "tiny_batch": "overhead-bound steps: raise the batch size 16x (scale the learning rate)",
    "pynative": "run the train step in graph mode (GRAPH_MODE / ms.jit)",
    "host_sync": "move per-step host work (.asnumpy() of weights, logging) to every 50 steps",
    "oversubscription": "cap busy threads at the core count: pause side threads while training",
    "recompilation": "fix the batch shape (drop_remainder / pad) so the graph compiles once",
}


@dataclass(frozen=True)
class Scenario:
    """A training job with injected knobs; ``cause`` is the injected bottleneck (for scoring
    only: :func:`diagnose` never sees it)."""

    name: str
    cause: str
    source: str = "numpy"  # "numpy" (python batches) | "dataset" (mindspore.dataset)
    transform: str = "none"  # "none" | "augment" | "preprocess" | "read"
    workers: int = 1
    batch_level: bool = False
    cached: bool = False
    batch: int = 64
    width: int = 64
    mode: str = "graph"
    side_threads: int = 0
    host_every: int = 0  # 0: no per-step host work, n: every n steps
    varying_shapes: bool = False
    lr: float = 0.05


def scenarios(scale: float = 1.0) -> list[Scenario]:
    """The ten injected scenarios of the chapter (``scale`` only grows the model/batch)."""
    big = int(256 * scale) // 64 * 64 or 64
    return [
        Scenario("compute-bound baseline", "compute_bound", width=512, batch=big),
        Scenario("slow Python map (per-sample augmentation)", "slow_python_map",
                 source="dataset", transform="augment", batch=128),
        Scenario("I/O-bound map, 1 worker", "io_bound_map", source="dataset",
                 transform="read"),
        Scenario("deterministic preprocessing redone every epoch", "uncached_preprocessing",
                 source="dataset", transform="preprocess", batch=128),
        Scenario("per-sample pipeline with 2 Python workers", "per_sample_pipeline",
                 source="dataset", workers=2, batch=128),
        Scenario("tiny batch", "tiny_batch", batch=2, lr=0.005),
        Scenario("PyNative where graph mode applies", "pynative", mode="pynative", width=128),
        Scenario("host sync every step (.asnumpy() logging)", "host_sync", host_every=1),
        Scenario("thread oversubscription (busy side threads)", "oversubscription",
                 side_threads=4, width=256, batch=128),
        Scenario("changing batch shapes (recompiles)", "recompilation", varying_shapes=True),
    ]


# ------------------------------------------------------------------------ the job ----

class _MLP(nn.Cell):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.SequentialCell(nn.Dense(64, width), nn.ReLU(), nn.Dense(width, width),
                                      nn.ReLU(), nn.Dense(width, 10))

    def construct(self, x: Any) -> Any:
        return self.body(x)


def _data(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from kit.datasets import digits

    d = digits()
    idx = np.random.default_rng(seed).permutation(len(d.target))
    idx = np.resize(idx, n)
    return d.flat[idx].astype(np.float32), d.target[idx].astype(np.int32)


def _augment_one(x: np.ndarray) -> np.ndarray:
    """Per-sample random shift + noise in Python loops (the slow map)."""
    img = x.reshape(8, 8)
    dx, dy = np.random.randint(-1, 2, 2)
    out = np.zeros_like(img)
    for i in range(8):
        for j in range(8):
            si, sj = i + dy, j + dx
            if 0 <= si < 8 and 0 <= sj < 8:
                out[i, j] = img[si, sj]
    return (out.reshape(64) + np.random.normal(0, 0.05, 64)).astype(np.float32)


def _augment_batch(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same augmentation, vectorised over a batch (the fix)."""
    imgs = x.reshape(-1, 8, 8)
    dy, dx = rng.integers(-1, 2, 2)
    out = np.roll(imgs, (-dy, -dx), axis=(1, 2))
    if dy:
        out[:, -dy if dy > 0 else 0:(None if dy > 0 else -dy)] = 0
    if dx:
        out[:, :, -dx if dx > 0 else 0:(None if dx > 0 else -dx)] = 0
    return (out.reshape(-1, 64) + rng.normal(0, 0.05, (len(x), 64))).astype(np.float32)


def _preprocess_one(x: np.ndarray) -> np.ndarray:
    """Deterministic per-sample preprocessing (smoothing + whitening-like projection)."""
    img = x.reshape(8, 8).astype(np.float64)
    for _ in range(6):
        img = 0.5 * img + 0.125 * (np.roll(img, 1, 0) + np.roll(img, -1, 0) + np.roll(img, 1, 1)
                                   + np.roll(img, -1, 1))
    v = img.reshape(64)
    return ((v - v.mean()) / (v.std() + 1e-6)).astype(np.float32)


def _read_one(x: np.ndarray) -> np.ndarray:
    """A sample 'read from storage': waits 0.4 ms (I/O, releases the GIL) + random jitter."""
    time.sleep(0.0004)
    return (x + np.random.normal(0, 0.01, x.shape)).astype(np.float32)


_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "augment": _augment_one, "preprocess": _preprocess_one, "read": _read_one}


class _Timed:
    """Wraps a per-sample transform; records wall and CPU seconds per call (thread-safe)."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.fn = fn
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t0, c0 = time.perf_counter(), time.thread_time()
        out = self.fn(x)
        self.cpu.append(time.thread_time() - c0)
        self.wall.append(time.perf_counter() - t0)
        return out


def _dataset_batches(s: Scenario, x: np.ndarray, y: np.ndarray, timed: _Timed | None,
                     seed: int) -> Any:
    import mindspore.dataset as ds

    ds.config.set_seed(seed)
    ds.config.set_prefetch_size(2)  # steady state within a short measurement
    n_batches = len(y) // s.batch
    pool = None
    if s.batch_level:
        rng = np.random.default_rng(seed)
        pool = ThreadPoolExecutor(16) if s.transform == "read" else None
        fn = _TRANSFORMS.get(s.transform)

        class Batches:
            def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
                sl = slice(i * s.batch, (i + 1) * s.batch)
                xb = x[sl]
                if s.transform == "augment":
                    xb = _augment_batch(xb, rng)
                elif s.transform == "read" and pool is not None and fn is not None:
                    xb = np.stack(list(pool.map(fn, xb)))
                return xb, y[sl]

            def __len__(self) -> int:
                return n_batches

        data = ds.GeneratorDataset(Batches(), ["x", "y"], shuffle=False)
    else:
        class Samples:
            def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
                return x[i], y[i]

            def __len__(self) -> int:
                return len(y)

        data = ds.GeneratorDataset(Samples(), ["x", "y"], shuffle=False,
                                   num_parallel_workers=s.workers, python_multiprocessing=False)
        if timed is not None:
            data = data.map(timed, input_columns=["x"], num_parallel_workers=s.workers,
                            python_multiprocessing=False)
        data = data.batch(s.batch, drop_remainder=True)
    it = data.create_tuple_iterator(output_numpy=True, num_epochs=-1)
    try:
        while True:
            yield from it
    finally:  # stop the pipeline's threads when the measurement closes the generator
        it.stop()
        if s.batch_level and pool is not None:
            pool.shutdown(wait=False)


def _numpy_batches(s: Scenario, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    sizes = [s.batch] if not s.varying_shapes else [s.batch - 3 * k for k in range(8)]
    k = 0
    while True:
        order = rng.permutation(len(y))
        for start in range(0, len(y) - max(sizes) + 1, max(sizes)):
            b = sizes[k % len(sizes)]
            k += 1
            idx = order[start:start + b]
            yield x[idx], y[idx]


def _busy(stop: threading.Event) -> None:
    a = np.random.default_rng(0).random((192, 192))
    while not stop.is_set():
        a = np.tanh(a @ a.T / 192.0)


def _runnable_threads() -> int:
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] == "R":
            n += 1
    return n


class _Sampler(threading.Thread):
    """Samples the number of runnable threads of this process every few milliseconds."""

    def __init__(self, period: float = 0.004) -> None:
        super().__init__(daemon=True)
        self.period, self.samples, self.stop = period, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(_runnable_threads() - 1)  # minus the sampler itself
            time.sleep(self.period)


@dataclass
class Profile:
    """What the kit's timers measured for one run (the advisor's only input)."""

    steps: int
    samples: int
    wall: float
    data: float
    compute: float
    host: float
    first_step: float
    step_times: list[float]
    map_wall: float = 0.0
    map_cpu: float = 0.0
    deterministic: bool | None = None
    runnable: float = 0.0
    probe_ratio: float | None = None
    main_cpu: float = 0.0
    py_calls: int = 0
    shapes: int = 1
    data_alone: float = 0.0
    compute_alone: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def overhead(self) -> float:
        return max(self.wall - self.data - self.compute - self.host, 0.0)

    @property
    def throughput(self) -> float:
        return self.samples / self.wall

    def shares(self) -> dict[str, float]:
        return {"data": self.data / self.wall, "compute": self.compute / self.wall,
                "host": self.host / self.wall, "overhead": self.overhead / self.wall}


def _python_calls(step: Any, x: Any, y: Any) -> int:
    """``Cell.construct`` methods executed by Python during one train step (a deterministic
    profile: a compiled graph runs its constructs in C++, PyNative calls each from Python)."""
    import sys

    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call" and frame.f_code.co_name == "construct":
            count += 1

    sys.setprofile(tracer)
    try:
        step(x, y).asnumpy()
    finally:
        sys.setprofile(None)
    return count


def _host_metrics(step: Any, x: np.ndarray, y: np.ndarray, i: int) -> str:
    """Per-step host work: copy every weight to numpy (.asnumpy() syncs), evaluate accuracy on
    1,024 samples with numpy, format a log line (the anti-pattern of the host_sync scenario)."""
    w = [p.asnumpy() for p in step.weights]
    h = x
    for k in range(0, len(w) - 2, 2):
        h = np.maximum(h @ w[k].T + w[k + 1], 0.0)
    acc = float(np.mean((h @ w[-2].T + w[-1]).argmax(1) == y))
    norms = " ".join(f"{np.linalg.norm(v):.3f}" for v in w)
    return f"step {i}: acc {acc:.3f} |w| {norms}"


def _make_step(s: Scenario, seed: int) -> Callable[[np.ndarray, np.ndarray], Any]:
    ms.set_seed(seed)
    net = _MLP(s.width)
    loss = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    step = nn.TrainOneStepCell(loss, nn.Momentum(net.trainable_params(), s.lr, 0.9))
    step.set_train()
    return step


def measure(s: Scenario, steps: int = 40, seed: int = 0, probe_steps: int = 4) -> Profile:
    """Run ``steps`` train steps of a scenario (after one warm-up step) under the timers, then
    probe the input pipeline alone and the train step alone (``probe_steps`` each)."""
    if s.cause not in CAUSES:
        raise ValueError(f"cause must be one of {', '.join(CAUSES)}, got {s.cause!r}")
    if not isinstance(steps, int) or steps < 5:
        raise ValueError(f"steps must be an int >= 5, got {steps!r}")
    x, y = _data(max(1024, s.batch * 12), seed)
    timed = None
    if s.transform != "none" and s.cached:
        x = np.stack([_TRANSFORMS[s.transform](v) for v in x])
    elif s.transform != "none" and not s.batch_level:
        timed = _Timed(_TRANSFORMS[s.transform])
    batches = (_dataset_batches(s, x, y, timed, seed) if s.source == "dataset"
               else _numpy_batches(s, x, y, seed))
    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE if s.mode == "pynative" else ms.GRAPH_MODE)
    stop = threading.Event()
    side = [threading.Thread(target=_busy, args=(stop,), daemon=True)
            for _ in range(s.side_threads)]
    try:
        step = _make_step(s, seed)
        xb, yb = next(batches)
        t0 = time.perf_counter()
        step(ms.Tensor(xb), ms.Tensor(yb)).asnumpy()
        first = time.perf_counter() - t0
        for _ in range(WARMUP_STEPS):  # drain the buffers the pipeline filled during compile
            xb, yb = next(batches)
            step(ms.Tensor(xb), ms.Tensor(yb)).asnumpy()
        for t in side:
            t.start()
        if timed is not None:
            timed.wall.clear()
            timed.cpu.clear()
        sampler = _Sampler()
        sampler.start()
        data = compute = host = main_cpu = 0.0
        times, samples, shapes = [], 0, set()
        start = time.perf_counter()
        for i in range(steps):
            a = time.perf_counter()
            xb, yb = next(batches)
            b, cb = time.perf_counter(), time.thread_time()
            step(ms.Tensor(xb), ms.Tensor(yb)).asnumpy()
            c = time.perf_counter()
            main_cpu += time.thread_time() - cb
            if s.host_every and i % s.host_every == 0:
                _host_metrics(step, x[:1024], y[:1024], i)
            d = time.perf_counter()
            data, compute, host = data + b - a, compute + c - b, host + d - c
            times.append(c - b)
            shapes.add(xb.shape)
            samples += len(yb)
        wall = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        # probes: the input pipeline alone, then the train step alone on one batch
        # (process CPU seconds: on a CPU-only machine both compete for the same cores, and CPU
        # time is less disturbed than wall time by other processes)
        a = time.process_time()
        for _ in range(probe_steps):
            xb, yb = next(batches)
        data_alone = (time.process_time() - a) / probe_steps
        xt, yt = ms.Tensor(xb), ms.Tensor(yb)
        a = time.process_time()
        for _ in range(probe_steps):
            step(xt, yt).asnumpy()
        compute_alone = (time.process_time() - a) / probe_steps
        py_calls = _python_calls(step, xt, yt)
    finally:
        stop.set()
        for t in side:
            t.join()
        batches.close()
        ms.set_context(mode=previous)
        if s.source == "dataset":  # let the stopped pipeline's threads wind down before the
            gc.collect()  # next measurement (they slow it down for about a second otherwise)
            time.sleep(SETTLE_SECONDS)
    prof = Profile(steps, samples, wall, data, compute, host, first, times,
                   runnable=float(np.mean(sampler.samples)) if sampler.samples else 0.0,
                   main_cpu=main_cpu, py_calls=py_calls, shapes=len(shapes),
                   data_alone=data_alone, compute_alone=compute_alone)
    if timed is not None:
        prof.map_wall, prof.map_cpu = float(sum(timed.wall)), float(sum(timed.cpu))
        probe = x[0]
        prof.deterministic = bool(np.array_equal(timed.fn(probe), timed.fn(probe)))
    return prof


def scaling_probe(s: Scenario, factor: int = 16, steps: int = 6, seed: int = 0) -> float:
    """CPU seconds of a train step at ``factor`` x the batch over those at the batch (process
    CPU time of the step alone, robust to other processes): near ``factor`` when compute-bound,
    near 1 when a fixed per-step overhead dominates."""
    cost = []
    for b in (s.batch, s.batch * factor):
        p = measure(replace(s, batch=b, source="numpy", transform="none", side_threads=0,
                            host_every=0), steps, seed, probe_steps=8)
        cost.append(p.compute_alone)
    return cost[1] / max(cost[0], 1e-9)


# ------------------------------------------------------------------- the advisor ----

PY_CALLS_EAGER = 0  # Cell.construct calls run by Python per step above which it is eager


@dataclass(frozen=True)
class Thresholds:
    """The advisor's rule thresholds (chapter 10 "Bottleneck advisor"; the defaults are the
    hand-set values, tuned on :func:`scenarios`). :func:`fit_thresholds` fits them instead."""

    spike_factor: float = 20.0  # a step slower than this x the fastest is a compile spike ...
    spike_floor: float = 0.05  # ... and slower than this many seconds
    data_share: float = 0.35  # data wait share of wall time above which the job is data-bound
    pipeline_ratio: float = 0.5  # or: pipeline CPU per batch / step CPU per batch above this
    map_load: float = 0.3  # map wall time / wall time below this (and map_frac below) ...
    map_frac: float = 0.3  # ... map CPU / pipeline CPU: the pipeline itself is the overhead
    map_cpu_share: float = 0.15  # map CPU / map wall below this: the map waits (I/O)
    host_share: float = 0.1  # per-step host code share of wall time above this: host sync
    runnable_per_core: float = 2.0  # runnable threads above per_core x cores + extra ...
    runnable_extra: float = 1.5  # ... : oversubscribed
    py_calls_eager: float = PY_CALLS_EAGER  # Cell.construct calls by Python above this: eager
    probe_ratio: float = 4.0  # 16x batch costs less than this x the step: overhead-bound

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0:
                raise ValueError(f"thresholds {f.name} must be a finite number >= 0, got {v!r}")


HAND_THRESHOLDS = Thresholds()

# candidate values per threshold for fit_thresholds (each includes the hand value)
FIT_GRID: dict[str, tuple[float, ...]] = {
    "spike_factor": (5.0, 10.0, 20.0, 40.0),
    "data_share": (0.15, 0.25, 0.35, 0.5, 0.65),
    "pipeline_ratio": (0.25, 0.5, 1.0, 2.0),
    "map_load": (0.1, 0.2, 0.3, 0.5),
    "map_frac": (0.1, 0.2, 0.3, 0.5),
    "map_cpu_share": (0.05, 0.1, 0.15, 0.3, 0.5),
    "host_share": (0.03, 0.05, 0.1, 0.2, 0.3),
    "runnable_extra": (0.5, 1.5, 3.0, 5.0),
    "py_calls_eager": (0.0, 2.0, 5.0, 10.0),
    "probe_ratio": (2.0, 3.0, 4.0, 6.0, 8.0),
}


@dataclass(frozen=True)
class Diagnosis:
    """The advisor's verdict with the measured evidence that triggered it."""

    cause: str
    evidence: str
    fix: str


def diagnose(p: Profile, probe: Callable[[], float] | None = None,
             cores: int | None = None, thresholds: Thresholds = HAND_THRESHOLDS) -> Diagnosis:
    """Rules over the measured profile (MindInsight step-trace style: interval = data,
    forward/backward = compute, tail = host/overhead), most specific first; ``thresholds``
    are the rules' cut-offs (the hand-set :data:`HAND_THRESHOLDS` by default)."""
    if not isinstance(thresholds, Thresholds):
        raise ValueError(f"thresholds must be an advisor.Thresholds, got {thresholds!r}")
    th = thresholds
    cores = cores or os.cpu_count() or 1
    sh = p.shares()
    fast = min(p.step_times)
    spikes = sum(1 for t in p.step_times if t > max(th.spike_factor * fast, th.spike_floor))
    if p.shapes > 1 and spikes >= 1:
        return Diagnosis("recompilation", f"the step saw {p.shapes} input shapes and {spikes} "
                         f"steps took > {th.spike_factor:g}x the fastest ({fast * 1e3:.2f} ms): "
                         "graph recompiles", FIXES["recompilation"])
    pipeline_ratio = p.data_alone / max(p.compute_alone, 1e-9)
    if sh["data"] >= th.data_share or pipeline_ratio >= th.pipeline_ratio:
        map_load = p.map_wall / p.wall
        map_frac = p.map_cpu / p.steps / max(p.data_alone, 1e-9)  # map's share of pipeline CPU
        if p.map_wall == 0.0 or (map_load < th.map_load and map_frac < th.map_frac):
            cause = "per_sample_pipeline"
            ev = (f"the pipeline alone costs {pipeline_ratio:.1f}x the step's CPU per batch, "
                  f"the map function only {min(map_frac, 1.0):.0%} of it")
        elif p.map_cpu / max(p.map_wall, 1e-12) < th.map_cpu_share:
            cause = "io_bound_map"
            ev = (f"data wait {sh['data']:.0%}; the map runs {map_load:.0%} of the time but "
                  f"uses the CPU only {p.map_cpu / p.map_wall:.0%} of it (waiting)")
        elif p.deterministic:
            cause = "uncached_preprocessing"
            ev = (f"data-bound (pipeline CPU {pipeline_ratio:.1f}x the step's); a CPU-bound map "
                  f"({min(map_frac, 1.0):.0%} of the pipeline CPU) returns identical output for "
                  "identical input: cacheable")
        else:
            cause = "slow_python_map"
            ev = (f"data-bound (pipeline CPU {pipeline_ratio:.1f}x the step's); a CPU-bound, "
                  f"random per-sample map is {min(map_frac, 1.0):.0%} of the pipeline CPU")
        return Diagnosis(cause, ev, FIXES[cause])
    if sh["host"] >= th.host_share:
        return Diagnosis("host_sync", f"per-step host code takes {sh['host']:.0%} of the step",
                         FIXES["host_sync"])
    if p.runnable > th.runnable_per_core * cores + th.runnable_extra:
        return Diagnosis("oversubscription", f"{p.runnable:.1f} runnable threads on average "
                         f"for {cores} cores", FIXES["oversubscription"])
    if p.py_calls > th.py_calls_eager:
        return Diagnosis("pynative", f"Python ran {p.py_calls} Cell.construct calls per train "
                         "step (a compiled graph runs none): ops are dispatched one by one",
                         FIXES["pynative"])
    ratio = probe() if probe is not None else p.probe_ratio
    if ratio is not None:
        p.probe_ratio = ratio
        if ratio < th.probe_ratio:
            return Diagnosis("tiny_batch", f"16x the batch costs only {ratio:.1f}x the step "
                             "time: a fixed per-step overhead dominates", FIXES["tiny_batch"])
    return Diagnosis("compute_bound", f"compute {sh['compute']:.0%} of the step"
                     + (f", 16x the batch costs {ratio:.1f}x" if ratio is not None else ""),
                     FIXES["compute_bound"])


def apply_fix(s: Scenario, cause: str) -> Scenario | None:
    """The recommended code path as new knobs (None when there is nothing to fix)."""
    if cause not in CAUSES:
        raise ValueError(f"cause must be one of {', '.join(CAUSES)}, got {cause!r}")
    if cause == "compute_bound":
        return None
    if cause in ("slow_python_map", "io_bound_map", "per_sample_pipeline"):
        return replace(s, batch_level=True)
    if cause == "uncached_preprocessing":
        return replace(s, cached=True, batch_level=True)
    if cause == "tiny_batch":
        return replace(s, batch=s.batch * 16, lr=s.lr * 4)
    if cause == "pynative":
        return replace(s, mode="graph")
    if cause == "host_sync":
        return replace(s, host_every=50)
    if cause == "oversubscription":
        return replace(s, side_threads=0)
    return replace(s, varying_shapes=False)


@dataclass(frozen=True)
class Outcome:
    """One scenario: measured profiles before/after, diagnosis, speed-up."""

    scenario: Scenario
    before: Profile
    diagnosis: Diagnosis
    after: Profile | None

    @property
    def correct(self) -> bool:
        return self.diagnosis.cause == self.scenario.cause

    @property
    def speedup(self) -> float | None:
        return None if self.after is None else self.after.throughput / self.before.throughput


def advise(s: Scenario, steps: int = 40, seed: int = 0) -> Outcome:
    """Measure, diagnose (with a scaling probe only if needed), apply the fix, re-measure."""
    before = measure(s, steps, seed)
    diag = diagnose(before, probe=lambda: scaling_probe(s, seed=seed))
    fixed = apply_fix(s, diag.cause)
    after = measure(fixed, steps, seed) if fixed is not None else None
    return Outcome(s, before, diag, after)


def run_all(items: Sequence[Scenario], steps: int = 40, seed: int = 0) -> list[Outcome]:
    """Every scenario through :func:`advise`, in order."""
    return [advise(s, steps, seed) for s in items]


def summary(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Top-1 accuracy over scenarios and median speed-up over those with a fix applied."""
    acc = float(np.mean([o.correct for o in outcomes]))
    speed = [o.speedup for o in outcomes if o.speedup is not None]
    return {"accuracy": acc, "median_speedup": float(np.median(speed)) if speed else 1.0,
            "n": len(outcomes)}


# ------------------------------------------------- held-out scenarios, fitted thresholds ----

def heldout_scenarios(seed: int = 0, per_cause: int = 1) -> list[Scenario]:
    """New injected jobs for scoring the advisor out of sample (chapter 10 "Experiment 4"):
    ``per_cause`` per cause of :data:`CAUSES`, each with knobs drawn from ``seed`` (widths,
    batch sizes, workers, learning rates, side threads, host_every, shape schedules) from
    ranges that avoid the training scenarios' exact settings. Deterministic in ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(per_cause, bool) or not isinstance(per_cause, int) or not 1 <= per_cause <= 5:
        raise ValueError(f"per_cause must be an int in [1, 5], got {per_cause!r}")
    rng = np.random.default_rng([seed, 10])

    def pick(*values: Any) -> Any:
        return values[int(rng.integers(len(values)))]

    out: list[Scenario] = []
    for rep in range(per_cause):
        for cause in CAUSES:
            w = pick(32, 96, 192)
            if cause == "compute_bound":
                kw = dict(width=pick(384, 640, 768), batch=pick(128, 192, 320))
            elif cause == "slow_python_map":
                kw = dict(source="dataset", transform="augment", batch=pick(64, 96, 160),
                          workers=pick(1, 2), width=w)
            elif cause == "io_bound_map":
                kw = dict(source="dataset", transform="read", batch=pick(32, 48, 96),
                          workers=pick(1, 2), width=w)
            elif cause == "uncached_preprocessing":
                kw = dict(source="dataset", transform="preprocess", batch=pick(64, 96, 160),
                          workers=pick(1, 2), width=w)
            elif cause == "per_sample_pipeline":
                kw = dict(source="dataset", workers=pick(1, 3), batch=pick(96, 192, 256),
                          width=pick(32, 96))
            elif cause == "tiny_batch":
                kw = dict(batch=pick(1, 3, 4), width=w, lr=pick(0.002, 0.01))
            elif cause == "pynative":
                kw = dict(mode="pynative", width=pick(32, 96, 256), batch=pick(32, 128))
            elif cause == "host_sync":
                kw = dict(host_every=pick(1, 2, 3), width=w, batch=pick(32, 128))
            elif cause == "oversubscription":
                kw = dict(side_threads=pick(3, 5, 6), width=pick(128, 384),
                          batch=pick(64, 256))
            else:  # recompilation
                kw = dict(varying_shapes=True, batch=pick(48, 80, 112), width=w)
            knobs = ", ".join(f"{k} {v}" for k, v in kw.items() if k not in ("source",))
            out.append(Scenario(f"held-out {cause} #{rep + 1} ({knobs})", cause, **kw))
    return out


class Probes:
    """:func:`scaling_probe` measured once per distinct train-step setup (batch, width, mode,
    shape schedule, lr) and reused: fitting and scoring call it as often as they like."""

    def __init__(self, steps: int = 6, seed: int = 0) -> None:
        self.steps, self.seed = steps, seed
        self.cache: dict[tuple, float] = {}

    def __call__(self, s: Scenario) -> float:
        key = (s.batch, s.width, s.mode, s.varying_shapes, s.lr)
        if key not in self.cache:
            self.cache[key] = scaling_probe(s, steps=self.steps, seed=self.seed)
        return self.cache[key]

    def lazy(self, s: Scenario) -> Callable[[], float]:
        """A zero-argument probe for :func:`diagnose` (measured only if a rule needs it)."""
        return lambda: self(s)


def measure_all(items: Sequence[Scenario], steps: int = 12, seed: int = 0) -> list[Profile]:
    """The measured profile of each scenario (no fix applied): the held-out scenarios'
    input to :func:`score` (chapter 10 "Experiment 4")."""
    return [measure(s, steps, seed) for s in items]


def _verdicts(profiles: Sequence[Profile], probes: Sequence[Callable[[], float] | None],
              th: Thresholds, cores: int | None) -> list[str]:
    return [diagnose(p, probe=pr, cores=cores, thresholds=th).cause
            for p, pr in zip(profiles, probes, strict=True)]


def score(profiles: Sequence[Profile], causes: Sequence[str],
          thresholds: Thresholds = HAND_THRESHOLDS,
          probes: Sequence[Callable[[], float] | None] | None = None,
          cores: int | None = None) -> tuple[float, list[str]]:
    """Top-1 accuracy of :func:`diagnose` with ``thresholds`` on measured ``profiles`` against
    the injected ``causes``, and the verdicts (chapter 10 "Experiment 4")."""
    if len(profiles) != len(causes) or not profiles:
        raise ValueError(f"profiles and causes must be non-empty and of equal length, got "
                         f"{len(profiles)} and {len(causes)}")
    bad = [c for c in causes if c not in CAUSES]
    if bad:
        raise ValueError(f"causes must be in {', '.join(CAUSES)}, got {bad[0]!r}")
    probes = list(probes) if probes is not None else [None] * len(profiles)
    verdicts = _verdicts(profiles, probes, thresholds, cores)
    return float(np.mean([v == c for v, c in zip(verdicts, causes, strict=True)])), verdicts


def fit_thresholds(profiles: Sequence[Profile], causes: Sequence[str],
                   probes: Sequence[Callable[[], float] | None] | None = None,
                   grid: dict[str, Sequence[float]] | None = None,
                   start: Thresholds = HAND_THRESHOLDS, rounds: int = 3,
                   cores: int | None = None) -> tuple[Thresholds, float]:
    """Coordinate search over ``grid`` (default :data:`FIT_GRID`): each threshold in turn
    takes the candidate value with the highest top-1 accuracy on the training ``profiles``
    (the others fixed), ties broken toward ``start``'s value (nearest in the candidate list);
    repeated until nothing changes or ``rounds`` passes. Returns (thresholds, training
    accuracy) (chapter 10 "Experiment 4"). Profiles (and probes) are measured once, so fitting
    costs no further measurement beyond probes a rule newly reaches."""
    grid = dict(FIT_GRID if grid is None else grid)
    names = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = sorted(set(grid) - names)
    if unknown:
        raise ValueError(f"grid names must be Thresholds fields ({', '.join(sorted(names))}), "
                         f"got {unknown[0]!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
    current = start
    best, _ = score(profiles, causes, current, probes, cores)
    for _ in range(rounds):
        changed = False
        for name, values in grid.items():
            hand = getattr(start, name)
            cands = sorted(set(float(v) for v in values) | {float(hand)})
            if not cands or any(not math.isfinite(v) or v < 0 for v in cands):
                raise ValueError(f"grid {name!r} must hold finite numbers >= 0, got {values!r}")
            h = cands.index(float(hand))
            scored = []
            for i, v in enumerate(cands):
                acc, _ = score(profiles, causes, replace(current, **{name: v}), probes, cores)
                scored.append((-acc, abs(i - h), i, v))
            neg, _, _, v = min(scored)
            if v != getattr(current, name) and -neg > best - 1e-12:
                if -neg > best + 1e-12 or abs(cands.index(v) - h) < abs(
                        cands.index(float(getattr(current, name))) - h):
                    current, best, changed = replace(current, **{name: v}), -neg, True
        if not changed:
            break
    return current, best


@dataclass(frozen=True)
class HeldOut:
    """Experiment 4's record: thresholds fitted on the training scenarios, scored there and on
    held-out scenarios (verdicts of the hand and the fitted thresholds)."""

    fitted: Thresholds
    train_accuracy: float  # fitted thresholds on the training profiles
    train_accuracy_hand: float  # hand thresholds on the same profiles and probes
    scenarios: list[Scenario]
    profiles: list[Profile]
    verdicts_hand: list[str]
    verdicts_fitted: list[str]
    accuracy: float  # fitted thresholds on the held-out profiles
    accuracy_hand: float
    seconds: float


def heldout_experiment(outcomes: Sequence[Outcome], seed: int = 0, steps: int = 12,
                       per_cause: int = 1) -> HeldOut:
    """Chapter 10 "Experiment 4": fit :class:`Thresholds` on the measured "before" profiles of
    ``outcomes`` (the training scenarios, measured once by :func:`run_all`), then measure
    :func:`heldout_scenarios` (``seed``, ``per_cause``) once for ``steps`` steps and score the
    hand and the fitted thresholds there. Scaling probes are measured once per setup, on demand."""
    if not outcomes:
        raise ValueError("outcomes must hold at least one measured scenario, got none")
    start = time.perf_counter()
    probes = Probes(seed=seed)
    train = [o.before for o in outcomes]
    causes = [o.scenario.cause for o in outcomes]
    lazy = [probes.lazy(o.scenario) for o in outcomes]
    hand_train, _ = score(train, causes, HAND_THRESHOLDS, lazy)
    fitted, train_acc = fit_thresholds(train, causes, lazy)
    items = heldout_scenarios(seed, per_cause)
    profiles = measure_all(items, steps, seed)
    held_lazy = [probes.lazy(s) for s in items]
    held_causes = [s.cause for s in items]
    acc_hand, v_hand = score(profiles, held_causes, HAND_THRESHOLDS, held_lazy)
    acc, v_fit = score(profiles, held_causes, fitted, held_lazy)
    return HeldOut(fitted, train_acc, hand_train, items, profiles, v_hand, v_fit, acc, acc_hand,
                   time.perf_counter() - start)
