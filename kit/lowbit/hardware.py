"""Hardware cost tables for chapter 01 ("Hardware"): load and check them, model a layer's
latency and a policy's size, and measure a table on the machine running the notebook.

A table (``datasets/hardware/<name>.json``) gives, per precision it supports, the cost of one
multiply-accumulate in picoseconds (``mac_ps``), optionally a ``fallback`` precision whose
units execute it (int4 on a chip without int4 units: weights stored in 4 bits, activations and
arithmetic in fp16) and ``weight_bits`` moved per weight when they differ from the storage
width (a CPU that widens fp16 weights to fp32 when it loads them); plus the memory bandwidth in
GB/s. A layer's modelled latency is a roofline, ``max(MACs * mac_ps, bytes / bandwidth)``, with
bytes = weights moved plus the layer's input and output activations at the width of the units
that compute it (batch-1 inference streams every weight from memory: caches are not modelled).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.core.chapters import ROOT
from kit.lowbit import precision as fmt
from kit.lowbit.nets import Layer

HARDWARE = ROOT / "datasets" / "hardware"
_TOP_KEYS = {"name", "description", "modelled_on", "source", "bandwidth_gb_s", "precisions"}
_PREC_KEYS = {"mac_ps", "fallback", "weight_bits", "note"}


@dataclass(frozen=True)
class Table:
    """One hardware profile: MAC cost per precision (ps), fallbacks, bandwidth (GB/s)."""

    name: str
    description: str
    modelled_on: str
    bandwidth_gb_s: float
    mac_ps: dict[str, float]
    fallback: dict[str, str]
    notes: dict[str, str]
    weight_bits: dict[str, int]

    @property
    def precisions(self) -> list[str]:
        return list(self.mac_ps)

    def compute_format(self, precision: str) -> str:
        """The precision of the units that execute ``precision`` (itself unless it falls back)."""
        self.check_precision(precision)
        return self.fallback.get(precision, precision)

    def check_precision(self, precision: str) -> None:
        fmt.parse(precision)
        if precision not in self.mac_ps:
            raise ValueError(f"precision {precision!r} is not in hardware table {self.name!r} "
                             f"(it has {', '.join(self.mac_ps)})")

    def activation_format(self, precision: str) -> str:
        """Activations take the format of the units that compute the layer."""
        return self.compute_format(precision)


def check_table(data: object, where: str = "table") -> Table:
    """Section "Hardware": a Table from parsed JSON, or a ValueError naming the bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {sorted(unknown)}; allowed: "
                         f"{sorted(_TOP_KEYS)}")
    for key in ("name", "description", "modelled_on"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise ValueError(f"{where}: {key} must be a non-empty string, got {data.get(key)!r}")
    bw = data.get("bandwidth_gb_s")
    if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not math.isfinite(bw) \
            or bw <= 0:
        raise ValueError(f"{where}: bandwidth_gb_s must be a number > 0, got {bw!r}")
    precs = data.get("precisions")
    if not isinstance(precs, dict) or not precs:
        raise ValueError(f"{where}: precisions must be a non-empty object of precision -> "
                         f"{{mac_ps, fallback?}}, got {precs!r}")
    mac, fallback, notes, wbits = {}, {}, {}, {}
    for name, entry in precs.items():
        try:
            fmt.parse(name)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if not isinstance(entry, dict) or set(entry) - _PREC_KEYS:
            raise ValueError(f"{where}: precisions.{name} must be an object with mac_ps and "
                             f"optionally fallback and note, got {entry!r}")
        cost = entry.get("mac_ps")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) \
                or not math.isfinite(cost) or cost <= 0:
            raise ValueError(f"{where}: precisions.{name}.mac_ps must be a number > 0, "
                             f"got {cost!r}")
        mac[name] = float(cost)
        if "fallback" in entry:
            fallback[name] = entry["fallback"]
        if "note" in entry:
            notes[name] = str(entry["note"])
        if "weight_bits" in entry:
            bits = entry["weight_bits"]
            if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 32:
                raise ValueError(f"{where}: precisions.{name}.weight_bits must be an int in "
                                 f"[2, 32], got {bits!r}")
            wbits[name] = bits
    for name, target in fallback.items():
        if target not in mac or target in fallback or target == name:
            raise ValueError(f"{where}: precisions.{name}.fallback must name another precision "
                             f"of the table that does not fall back itself, got {target!r}")
    return Table(data["name"], data["description"], data["modelled_on"], float(bw), mac,
                 fallback, notes, wbits)


def load(path: str | Path) -> Table:
    """Section "Hardware": read and check one table file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"hardware table {path} is not valid JSON: {err}") from None
    return check_table(data, f"hardware table {path.name}")


def shipped(folder: Path = HARDWARE) -> dict[str, Table]:
    """Every table in ``datasets/hardware`` by name (sorted by file name)."""
    tables = {}
    for path in sorted(folder.glob("*.json")):
        table = load(path)
        tables[table.name] = table
    if not tables:
        raise ValueError(f"no hardware tables (*.json) in {folder}")
    return tables


def layer_latency(layer: Layer, precision: str, table: Table, batch: int) -> float:
    """Section "Hardware": roofline latency in seconds of one layer at ``batch``."""
    compute = table.compute_format(precision)
    w_bits = table.weight_bits.get(precision, fmt.parse(precision).bits)
    a_bits = fmt.parse(compute).bits
    t_compute = layer.macs * batch * table.mac_ps[precision] * 1e-12
    moved = layer.n_weights * w_bits / 8 + batch * (layer.n_in + layer.n_out) * a_bits / 8
    return max(t_compute, moved / (table.bandwidth_gb_s * 1e9))


def latency_matrix(arch: list[Layer], table: Table, precisions: list[str],
                   batch: int) -> np.ndarray:
    """``(layers, precisions)`` modelled latencies; ``inf`` where the table lacks a precision."""
    out = np.full((len(arch), len(precisions)), np.inf)
    for j, p in enumerate(precisions):
        if p in table.mac_ps:
            out[:, j] = [layer_latency(layer, p, table, batch) for layer in arch]
    return out


def size_matrix(arch: list[Layer], precisions: list[str]) -> np.ndarray:
    """``(layers, precisions)`` bytes of weights (biases in fp32)."""
    return np.array([[layer.n_weights * fmt.parse(p).bits / 8 + 4 * layer.cout
                      for p in precisions] for layer in arch])


INT8_PATHS = {
    "int8 MatMul (int8 out)": "MindSpore int8 MatMul, int8 output (wraps on overflow)",
    "int8 BatchMatMul": "MindSpore int8 BatchMatMul, int8 output",
    "int8 widened to int32": "int8 data cast to int32, int32 MatMul (exact)",
    "int8 widened to fp32": "int8 data cast to float32, float32 MatMul (exact below 2^24)",
}


@dataclass
class MeasuredTable:
    """Section "Hardware": the table measured here, with the interleaved timing rounds behind
    it. ``speed_rounds`` are per-round speed ratios over fp32 matmul (``rec.spread``); the
    table's int8 entry is MindSpore's fastest int8 path (``int8_path``)."""

    table: dict
    timed: object  # kit.core.measure.Interleaved
    int8_path: str
    add_seconds: float

    def speed_rounds(self) -> dict[str, list[float]]:
        """Per-round speed over fp32 of fp16, of the best int8 path and of the native int8
        MatMul, under the metric names the chapter records."""
        return {"measured_fp16_speedup_vs_fp32": self.timed.ratios("fp32", "fp16"),
                "measured_int8_speedup_vs_fp32": self.timed.ratios("fp32", self.int8_path),
                "measured_int8_native_speedup_vs_fp32":
                    self.timed.ratios("fp32", "int8 MatMul (int8 out)")}

    def metrics(self) -> dict:
        """Every int8 path's median speed over fp32, the path the table uses, bandwidth."""
        return {"measured_int8_paths_speedup_vs_fp32": {
                    p: self.timed.ratio("fp32", p) for p in INT8_PATHS},
                "measured_int8_best_path": self.int8_path,
                "measured_bandwidth_gb_s": self.table["bandwidth_gb_s"]}


def measure_table(repeats: int = 5, n: int = 256, copy_mb: int = 32,
                  rounds: int = 5) -> MeasuredTable:
    """Section "Hardware": a table measured on this machine with MindSpore: ps per MAC of an
    ``n x n x n`` matmul in float32, float16 and through each of MindSpore's int8 paths
    (``INT8_PATHS``; the int8 MatMul's output wraps on overflow, finding:int8-matmul-wraps),
    timed in ``rounds`` interleaved rounds of ``repeats`` calls (``kit.core.measure.interleave``)
    so that a change of load hits every dtype alike; the table's int8 cost is the fastest int8
    path's. Bandwidth comes from an elementwise add of ``copy_mb`` MB arrays. int4 has no
    MindSpore kernel: it is modelled as int4 storage computed by the fp32 units (fallback);
    bf16 matmul has no CPU kernel (finding:bfloat16-no-cpu-kernels) and is left out."""
    from kit.core.measure import interleave, time_call

    _compile_timers()
    rng = np.random.default_rng(0)

    def pair(dtype, np_dtype):
        return [ms.Tensor(rng.integers(-3, 4, (n, n)).astype(np_dtype), dtype)
                for _ in range(2)]

    f32, f16, i8 = pair(ms.float32, np.float32), pair(ms.float16, np.float16), \
        pair(ms.int8, np.int8)
    fns = {"fp32": (_matmul, f32), "fp16": (_matmul, f16),
           "int8 MatMul (int8 out)": (_matmul, i8), "int8 BatchMatMul": (_bmm, i8),
           "int8 widened to int32": (_mm_int32, i8), "int8 widened to fp32": (_mm_fp32, i8)}
    calls = {name: _bound(fn, args) for name, (fn, args) in fns.items()}
    timed = interleave(calls, rounds=rounds, repeats=repeats, warmup=2)
    int8_path = max(INT8_PATHS, key=lambda p: timed.ratio("fp32", p))
    elems = copy_mb * 2 ** 20 // 4
    x = ms.Tensor(np.ones(elems, np.float32))
    y = ms.Tensor(np.ones(elems, np.float32))
    t_add = time_call(_add, x, y, repeats=repeats, warmup=1).best
    bandwidth = 3 * elems * 4 / t_add / 1e9
    fp32_ps = float(np.median(timed.round_medians("fp32"))) / n ** 3 * 1e12
    precs = {"fp32": {"mac_ps": fp32_ps},
             "fp16": {"mac_ps": fp32_ps / timed.ratio("fp32", "fp16")},
             "int8": {"mac_ps": fp32_ps / timed.ratio("fp32", int8_path),
                      "note": f"fastest MindSpore int8 path here: {INT8_PATHS[int8_path]}"},
             "int4": {"mac_ps": fp32_ps, "fallback": "fp32",
                      "note": "no int4 kernel: 4-bit storage, widened and computed in fp32"}}
    best = max(("fp16", int8_path), key=lambda p: timed.ratio("fp32", p))
    best = best if timed.ratio("fp32", best) > 1 else "fp32"
    table = {"name": "this-machine",
             "description": f"Measured on the machine running this notebook: MindSpore "
                            f"{n}x{n} matmul per dtype ({rounds} interleaved rounds of "
                            f"{repeats}), add bandwidth; fastest dtype here: {best}",
             "modelled_on": "measured", "bandwidth_gb_s": bandwidth, "precisions": precs}
    check_table(table, "measured table")
    return MeasuredTable(table, timed, int8_path, t_add)


def _bound(fn, args):
    def call():
        return fn(*args)

    return call


def _matmul(a, b):
    return _matmul_jit(a, b).asnumpy()


def _bmm(a, b):
    return _bmm_jit(a, b).asnumpy()


def _mm_int32(a, b):
    return _mm_int32_jit(a, b).asnumpy()


def _mm_fp32(a, b):
    return _mm_fp32_jit(a, b).asnumpy()


def _add(x, y):
    return _add_jit(x, y)[:1].asnumpy()


def _matmul_jit(a, b):
    return ops.matmul(a, b)


def _bmm_jit(a, b):
    return ops.BatchMatMul()(a[None], b[None])


def _mm_int32_jit(a, b):
    return ops.matmul(a.astype(ms.int32), b.astype(ms.int32))


def _mm_fp32_jit(a, b):
    return ops.matmul(a.astype(ms.float32), b.astype(ms.float32))


def _add_jit(x, y):
    return x + y


def _compile_timers() -> None:
    """Compile the timed ops once per process (graph mode runs them as whole graphs)."""
    global _matmul_jit, _bmm_jit, _mm_int32_jit, _mm_fp32_jit, _add_jit
    if not hasattr(_matmul_jit, "__wrapped__"):
        _matmul_jit = ms.jit(_matmul_jit)
        _bmm_jit = ms.jit(_bmm_jit)
        _mm_int32_jit = ms.jit(_mm_int32_jit)
        _mm_fp32_jit = ms.jit(_mm_fp32_jit)
        _add_jit = ms.jit(_add_jit)
