"""Schedules and their simulation: peak memory and step time under a hardware profile
(chapter 02, section "Method: the simulator").

A :class:`Plan` is a set of cuts (segment boundaries) and the stored tensors it sends to host
memory. The forward pass keeps the tensors of every cut (on device, or swapped out to the host
while the forward continues) and, in the last segment, everything. The backward pass walks the
segments from last to first: it prefetches the swapped tensors the next segment needs, recomputes
the segment's dropped activations from its cut, and backpropagates through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kit.memory.graph import Graph


@dataclass(frozen=True)
class Hardware:
    """Compute speed (FLOP/s), host-device bandwidth (bytes/s), whether transfers overlap
    compute, the backward/forward cost ratio and the device memory bandwidth (bytes/s; an
    operation takes the longer of its FLOPs and its memory traffic, as on a roofline; 0 counts
    FLOPs only)."""

    name: str
    flops_per_s: float
    host_bandwidth: float
    overlap: bool = True
    backward_factor: float = 2.0
    memory_bandwidth: float = 0.0

    def node_seconds(self, graph: Graph) -> np.ndarray:
        """Forward seconds of every node (index m - 1) on this hardware."""
        flops = np.array([node.flops for node in graph.nodes]) / self.flops_per_s
        if self.memory_bandwidth <= 0:
            return flops
        traffic = np.array([graph.io_bytes(m) for m in range(1, graph.n + 1)])
        return np.maximum(flops, traffic / self.memory_bandwidth)

    def __post_init__(self) -> None:
        if not self.flops_per_s > 0:
            raise ValueError(f"flops_per_s must be > 0, got {self.flops_per_s}")
        if not self.host_bandwidth >= 0:
            raise ValueError(f"host_bandwidth must be >= 0 bytes/s (0 disables swapping), "
                             f"got {self.host_bandwidth}")
        if not self.backward_factor > 0:
            raise ValueError(f"backward_factor must be > 0, got {self.backward_factor}")

    def with_bandwidth(self, gb_per_s: float) -> Hardware:
        """The same device with another host link (GB/s); negative values are refused."""
        if not gb_per_s >= 0:
            raise ValueError(f"bandwidth must be >= 0 GB/s, got {gb_per_s}")
        return Hardware(f"{self.name}, {gb_per_s:g} GB/s", self.flops_per_s, gb_per_s * 1e9,
                        self.overlap, self.backward_factor, self.memory_bandwidth)


# Section "Experiment 3": per-hardware table. Compute: an A100-class device at a sustained
# 50 TFLOP/s with 1.5 TB/s of HBM bandwidth; host links from NVLink-C2C to a slow PCIe path.
def _gpu(name: str, link_gb_s: float, overlap: bool = True) -> Hardware:
    return Hardware(name, 50e12, link_gb_s * 1e9, overlap, 2.0, 1.5e12)


HARDWARE = {
    "NVLink-C2C host link, 450 GB/s": _gpu("GPU + NVLink-C2C", 450.0),
    "PCIe 5 x16, 50 GB/s": _gpu("GPU + PCIe 5", 50.0),
    "PCIe 4 x16, 25 GB/s": _gpu("GPU + PCIe 4", 25.0),
    "PCIe 3 x16, 12 GB/s": _gpu("GPU + PCIe 3", 12.0),
    "shared PCIe 3 x4, 2 GB/s, no overlap": _gpu("GPU + slow link", 2.0, False),
}


@dataclass(frozen=True)
class Plan:
    """Cuts after nodes (1..n-1) and the stored tensors swapped to host."""

    cuts: tuple[int, ...] = ()
    swapped: frozenset[int] = field(default_factory=frozenset)
    planner: str = ""

    def segments(self, n: int) -> list[tuple[int, int]]:
        bounds = [0, *self.cuts, n]
        return list(zip(bounds[:-1], bounds[1:], strict=True))


def check_plan(graph: Graph, plan: Plan) -> None:
    """Refuse a plan that does not fit the graph (clear ValueError)."""
    cuts = list(plan.cuts)
    if cuts != sorted(set(cuts)) or any(not 1 <= c < graph.n for c in cuts):
        raise ValueError(f"plan cuts must be increasing node indices in [1, {graph.n - 1}], "
                         f"got {plan.cuts}")
    stored = stored_tensors(graph, plan)
    bad = sorted(t for t in plan.swapped if t not in stored or t == 0)
    if bad:
        raise ValueError(f"only stored tensors other than the input can be swapped, got {bad}")


def stored_tensors(graph: Graph, plan: Plan) -> set[int]:
    """Tensors stored at the plan's cuts (the input always)."""
    out = {0}
    for c in plan.cuts:
        out.update(graph.frontier(c))
    return out


def decisions(graph: Graph, plan: Plan) -> list[str]:
    """Per node output: 'keep' (stored from the forward), 'recompute' or 'swap'."""
    out = []
    last_cut = plan.cuts[-1] if plan.cuts else 0
    stored = stored_tensors(graph, plan)
    for m in range(1, graph.n + 1):
        if m in plan.swapped:
            out.append("swap")
        elif m in stored or m > last_cut:
            out.append("keep")
        else:
            out.append("recompute")
    return out


@dataclass(frozen=True)
class Simulation:
    """Peak bytes, step time and its parts, and the memory timeline of one training step."""

    peak_bytes: int
    step_seconds: float
    compute_seconds: float
    recompute_seconds: float
    stall_seconds: float
    transfer_bytes: int
    timeline: tuple[tuple[float, int], ...]
    phases: tuple[tuple[str, float, float], ...]

    def overhead(self) -> float:
        """Extra step time relative to store-all on the same hardware (no recompute, no swap)."""
        return self.step_seconds / self.compute_seconds - 1.0


def simulate(graph: Graph, plan: Plan, hw: Hardware, redo_cut_node: bool = False) -> Simulation:
    """Section "Method: the simulator": run the plan's schedule on a compute stream and one
    host link and return the peak of resident bytes and the step time.

    ``redo_cut_node`` models the real executor of section "Experiment 4": MindSpore autodiff
    re-runs a segment's last node too (its output is recomputed though stored)."""
    check_plan(graph, plan)
    if plan.swapped and hw.host_bandwidth <= 0:
        raise ValueError(f"plan swaps tensors {sorted(plan.swapped)} but {hw.name} has no host "
                         f"link (bandwidth 0)")
    n = graph.n
    secs = hw.node_seconds(graph)
    prefix = np.concatenate([[0.0], np.cumsum(secs)])
    rec_table = graph.recompute_table(secs)
    segs = plan.segments(n)
    cuts = [0, *plan.cuts]
    stored = stored_tensors(graph, plan)
    # the earliest cut holding a stored tensor: freed after that segment's backward
    first_cut = {t: min(c for c in cuts if t in graph.frontier(c)) for t in stored}
    last_cut = {t: max(c for c in cuts if t in graph.frontier(c)) for t in stored}
    seg_of_cut = {i: k for k, (i, _) in enumerate(segs)}
    intervals: list[tuple[float, float, int]] = []
    phases: list[tuple[str, float, float]] = []
    clock, link_free, stall, moved = 0.0, 0.0, 0.0, 0

    def transfer(nbytes: int, ready: float) -> tuple[float, float]:
        nonlocal link_free, clock, stall, moved
        moved += nbytes
        seconds = nbytes / hw.host_bandwidth
        if hw.overlap:
            start = max(link_free, ready)
            link_free = start + seconds
            return start, link_free
        start = max(clock, ready)  # serialised with compute
        stall += start + seconds - clock
        clock = start + seconds
        return start, clock

    # forward
    f_end: dict[int, float] = {}
    f_start: dict[int, float] = {}
    out_done: dict[int, float] = {}
    for m in range(1, n + 1):
        node = graph.nodes[m - 1]
        f_start[m] = clock
        clock += float(secs[m - 1])
        f_end[m] = clock
        if node.work_bytes:
            intervals.append((f_start[m], clock, node.work_bytes))
        if m in plan.swapped:
            out_done[m] = transfer(node.out_bytes, clock)[1]
    phases.append(("forward", 0.0, clock))
    fwd_end = clock
    # backward, last segment first; prefetch one segment ahead
    frees: dict[int, float] = {}
    back_in: dict[int, float] = {}
    seg_end: dict[int, float] = {}
    prefetch_done: dict[int, float] = {}

    def prefetch_for(k: int, ready: float) -> None:
        for t in sorted(plan.swapped):
            if seg_of_cut[last_cut[t]] == k and t not in prefetch_done:
                start, done = transfer(graph.bytes_of(t), max(ready, out_done[t]))
                back_in[t] = start
                prefetch_done[t] = done

    prefetch_for(len(segs) - 1, fwd_end)
    for k in range(len(segs) - 1, -1, -1):
        i, j = segs[k]
        if k > 0:
            prefetch_for(k - 1, clock)
        need = [prefetch_done[t] for t in plan.swapped if seg_of_cut[last_cut[t]] == k]
        ready = max([clock, *need])
        stall += ready - clock
        start = ready
        rec = float(rec_table[i, j]) + (float(secs[j - 1]) if redo_cut_node and j < n else 0.0)
        bwd = hw.backward_factor * float(prefix[j] - prefix[i])
        end = start + rec + bwd
        if j < n:
            redo = graph.segment_bytes(i, j) + (graph.bytes_of(j) if redo_cut_node else 0)
            intervals.append((start, end, redo))
        intervals.append((start + rec, end, graph.segment_workspace(i, j)))
        phases.append((f"segment ({i}, {j}]", start, end))
        seg_end[k] = end
        clock = end
    for t in stored:
        frees[t] = seg_end[seg_of_cut[first_cut[t]]]
    # forward activations
    last_seg_start = segs[-1][0]
    for t in range(0, n + 1):
        produced = 0.0 if t == 0 else f_start[t]
        nbytes = graph.bytes_of(t)
        if t in plan.swapped:
            consumers_done = f_end[graph.last_use[t]] if graph.last_use[t] > t else f_end[t]
            intervals.append((produced, max(out_done[t], consumers_done), nbytes))
            intervals.append((back_in[t], frees[t], nbytes))
        elif t in stored:
            intervals.append((produced, frees[t], nbytes))
        elif t > last_seg_start:
            intervals.append((produced, seg_end[len(segs) - 1], nbytes))
        else:
            intervals.append((produced, f_end[max(graph.last_use[t], t)], nbytes))
    timeline = _sweep(intervals)
    compute = float(prefix[-1]) * (1 + hw.backward_factor)
    recompute = float(sum(rec_table[i, j] for i, j in segs))
    if redo_cut_node:
        recompute += float(sum(secs[j - 1] for _, j in segs if j < n))
    return Simulation(peak_bytes=max(b for _, b in timeline), step_seconds=clock,
                      compute_seconds=compute, recompute_seconds=recompute, stall_seconds=stall,
                      transfer_bytes=moved, timeline=tuple(timeline), phases=tuple(phases))


def _sweep(intervals: list[tuple[float, float, int]]) -> list[tuple[float, int]]:
    """Resident bytes after each event: frees at a time point happen before allocations."""
    events = []
    for start, end, nbytes in intervals:
        if nbytes and end > start:
            events.append((start, 1, nbytes))
            events.append((end, 0, -nbytes))
    events.sort()
    out, level = [], 0
    for time, _, delta in events:
        level += delta
        out.append((time, level))
    return out
