"""Chapter 02: memory optimization, an adaptive planner for recomputation and host-device swap.

Modules: ``graph`` (operation graphs with bytes and FLOPs), ``simulate`` (schedules, hardware
profiles, peak memory and step time), ``plan`` (store-all, Chen's sqrt(n), the exact DP and MILP,
the kit's adaptive planner), ``cells`` and ``execute`` (a real MindSpore network, its profile and
a segment-wise executor measured in a child process), ``chapter`` (the notebook's experiments).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    layers=kp.Int(8, 256),
    tokens=kp.Int(16, 65536),
    budget_fraction=kp.Float(0.05, 1.0, low_open=True),
    milp_seconds=kp.Float(1.0, 3600.0),
    net_widths=kp.ListOf(kp.Int(8, 4096), 2, 64),
    net_batch=kp.Int(64, 65536),
    net_budget_fraction=kp.Float(0.05, 1.0, low_open=True),
    net_steps=kp.Int(1, 20),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
