"""Cluster descriptions for chapter 08: devices, compute, memory and a two-level topology."""

from __future__ import annotations

import math
from dataclasses import dataclass

GB = 1e9


@dataclass(frozen=True)
class Link:
    """An alpha-beta link: ``latency`` seconds per message, ``bandwidth`` bytes per second."""

    bandwidth: float
    latency: float

    def __post_init__(self) -> None:
        if not (self.bandwidth > 0 and math.isfinite(self.bandwidth)):
            raise ValueError(f"bandwidth must be a positive number of bytes/s, "
                             f"got {self.bandwidth}")
        if not (self.latency >= 0 and math.isfinite(self.latency)):
            raise ValueError(f"latency must be a number of seconds >= 0, got {self.latency}")


@dataclass(frozen=True)
class Cluster:
    """``nodes`` x ``devices_per_node`` devices; ``intra`` links devices within a node (per
    device), ``inter`` is each node's network bandwidth, shared by its devices when they all
    talk across nodes at once (as in data and pipeline parallelism).

    ``efficiency`` is the fraction of ``peak_flops`` that dense model compute achieves
    (calibrated on a published or measured single-device throughput).
    """

    name: str
    nodes: int
    devices_per_node: int
    peak_flops: float
    efficiency: float
    memory_bytes: float
    intra: Link
    inter: Link

    def __post_init__(self) -> None:
        for label in ("nodes", "devices_per_node"):
            value = getattr(self, label)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be an int >= 1, got {value!r}")
        if not self.peak_flops > 0:
            raise ValueError(f"peak_flops must be > 0, got {self.peak_flops}")
        if not 0 < self.efficiency <= 1:
            raise ValueError(f"efficiency must be in (0, 1], got {self.efficiency}")
        if not self.memory_bytes > 0:
            raise ValueError(f"memory_bytes must be > 0, got {self.memory_bytes}")

    @property
    def devices(self) -> int:
        return self.nodes * self.devices_per_node

    @property
    def flops(self) -> float:
        """Achieved FLOP/s of one device on dense model compute."""
        return self.peak_flops * self.efficiency

    def with_devices(self, devices: int) -> Cluster:
        """The same hardware with ``devices`` devices (whole nodes first, then a partial one)."""
        if not isinstance(devices, int) or devices < 1:
            raise ValueError(f"devices must be an int >= 1, got {devices!r}")
        per_node = min(self.devices_per_node, devices)
        if devices % per_node:
            raise ValueError(f"devices={devices} must fill whole nodes of {per_node}")
        return Cluster(self.name, devices // per_node, per_node, self.peak_flops,
                       self.efficiency, self.memory_bytes, self.intra, self.inter)


def dgx2_v100(nodes: int, efficiency: float = 39 / 125) -> Cluster:
    """Megatron-LM's 2019 cluster: DGX-2H nodes of 16 V100 32 GB (125 TFLOP/s fp16 peak),
    NVSwitch (150 GB/s per GPU per direction), 8 x 100 Gb/s InfiniBand per node (100 GB/s).
    Default efficiency 39/125 = 0.312: the published single-GPU baseline of 39 TFLOP/s
    (``published.fit_efficiency`` refits it on that run as the cost model counts it)."""
    return Cluster("DGX-2H V100", nodes, 16, 125e12, efficiency, 32 * GB,
                   intra=Link(150 * GB, 5e-6), inter=Link(100 * GB, 10e-6))


def dgx_a100(nodes: int, efficiency: float = 0.5) -> Cluster:
    """DGX A100 80 GB nodes (8 GPUs, 312 TFLOP/s bf16 peak, NVLink 300 GB/s per GPU per
    direction, 8 x 200 Gb/s InfiniBand = 200 GB/s per node); default efficiency 0.5 assumed,
    chapter 08 fits it on a published run (``published.fit_efficiency``)."""
    return Cluster("DGX A100 80GB", nodes, 8, 312e12, efficiency, 80 * GB,
                   intra=Link(300 * GB, 5e-6), inter=Link(200 * GB, 10e-6))


def commodity(nodes: int, devices_per_node: int = 4, inter_gbps: float = 10.0) -> Cluster:
    """A modest cluster: 4 x 24 GB GPUs per node over PCIe (25 GB/s), ``inter_gbps`` GB/s
    Ethernet per node: where tensor parallelism across nodes hurts most."""
    return Cluster("commodity 24GB", nodes, devices_per_node, 80e12, 0.4, 24 * GB,
                   intra=Link(25 * GB, 10e-6), inter=Link(inter_gbps * GB, 30e-6))
