"""One worker of chapter 08's real data-parallel run (launched by msrun, or alone as baseline).

``python dp_worker.py --out DIR [--distributed]`` trains MLPs on synthetic data for a few
steps in GRAPH_MODE with one CPU thread, times each step (the models interleaved over rounds),
and (when distributed) times MindSpore AllReduce at several sizes to calibrate the alpha-beta
link. Writes ``DIR/rank<k>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def build(ms, nn, widths: list[int], batch: int, seed: int, rank: int) -> tuple:
    """One MLP's compiled training step and its rank's data shard (3 untimed warm-up steps)."""
    ms.set_seed(seed)  # identical initial weights on every rank
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Dense(a, b), nn.ReLU()]
    net = nn.SequentialCell(layers[:-1])
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss), nn.SGD(net.trainable_params(), 0.05))
    rng = np.random.default_rng(seed + 1000 * rank)  # each rank its own data shard
    x = ms.Tensor(rng.standard_normal((batch, widths[0])).astype(np.float32))
    y = ms.Tensor(rng.integers(0, widths[-1], batch).astype(np.int32))
    for _ in range(3):
        step(x, y).asnumpy()
    return net, step, x, y


def timed_steps(step, x, y, steps: int) -> tuple[list[float], list[float]]:
    """``steps`` timed training steps: their wall times and losses."""
    times, losses = [], []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(float(step(x, y).asnumpy()))
        times.append(time.perf_counter() - start)
    return times, losses


def train_all(ms, nn, specs: list[list[int]], batch: int, steps: int, rounds: int, seed: int,
              rank: int) -> list[dict]:
    """Train every MLP in ``specs`` for ``rounds`` x ``steps`` timed steps, the models
    interleaved round by round, and describe each run.

    A model's step time is the smallest of its per-round medians: a burst of load from other
    processes then spoils one round of one model, not the model's whole measurement (the
    minimum is the usual robust estimate of a cost under interference, as in ``timeit``).
    """
    built = [build(ms, nn, w, batch, seed, rank) for w in specs]
    medians = [[] for _ in specs]
    losses = [[] for _ in specs]
    for _ in range(rounds):
        for i, (_, step, x, y) in enumerate(built):
            times, loss = timed_steps(step, x, y, steps)
            medians[i].append(statistics.median(times))
            losses[i] += loss
    out = []
    for widths, (net, *_), med, loss in zip(specs, built, medians, losses, strict=True):
        params = net.trainable_params()
        out.append({"widths": widths, "step_seconds": min(med), "round_medians": med,
                    "losses": loss,
                    "grad_bytes": 4 * sum(int(np.prod(p.shape)) for p in params),
                    "weight_checksum": float(sum(float(p.asnumpy().astype(np.float64).sum())
                                                 for p in params))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--distributed", action="store_true")
    ap.add_argument("--widths", default="256,1024,1024,10",
                    help="MLP widths; several models separated by ';'")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per model and round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    ap.add_argument("--sizes", default="4096,65536,262144,1048576,4194304")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import kit

    kit.setup(args.seed, mode="graph", threads=1)
    import mindspore as ms
    from mindspore import nn, ops

    rank, size = 0, 1
    if args.distributed:
        from mindspore.communication import get_group_size, get_rank, init

        init()
        rank, size = get_rank(), get_group_size()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL,
                                     gradients_mean=True)
    record = {"rank": rank, "size": size, "models": []}
    specs = [[int(w) for w in spec.split(",")] for spec in args.widths.split(";")]
    record["models"] = train_all(ms, nn, specs, args.batch, args.steps, args.rounds, args.seed,
                                 rank)
    if args.distributed:
        reduce = ops.AllReduce()
        timings = {}
        for n in [int(s) for s in args.sizes.split(",")]:
            buf = ms.Tensor(np.ones(n // 4, np.float32))
            reduce(buf).asnumpy()
            samples = []
            for _ in range(7):
                start = time.perf_counter()
                reduce(buf).asnumpy()
                samples.append(time.perf_counter() - start)
            timings[str(n)] = statistics.median(samples)
        record["allreduce_seconds"] = timings
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"rank{rank}.json"), "w") as handle:
        json.dump(record, handle)


if __name__ == "__main__":
    main()
