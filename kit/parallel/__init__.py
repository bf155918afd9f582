"""Chapter 08: distributed and parallel computing, planned by a cost model on a laptop.

Modules: ``model`` (layer chains, transformer generator), ``cluster`` (devices and topology),
``collectives`` (alpha-beta costs), ``cost`` (step time and memory of a strategy), ``search``
(the planner, exhaustive search, hand baselines), ``published`` (published measured runs the
cost model is scored against), ``flops_check`` (the FLOP model against MindSpore step times
on this CPU), ``elastic`` (re-planning and resharding moves), ``execute`` (a real MindSpore
data-parallel run under msrun), ``chapter`` (the notebook's experiments and figures).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    layers=kp.Int(2, 96),
    hidden=kp.Int(64, 16384),
    heads=kp.Int(1, 128),
    seq=kp.Int(16, 8192),
    batch=kp.Int(1, 4096),
    nodes=kp.Int(1, 64),
    devices_per_node=kp.Choice(2, 4, 8, 16),
    inter_gbps=kp.ListOf(kp.Float(0.0, 10_000.0, low_open=True), 1, 4),
    exhaustive_layers=kp.Int(2, 6),
    dp_steps=kp.Int(5, 500),
    dp_rounds=kp.Int(1, 20),
    dp_batch=kp.Int(8, 4096),
    flop_hidden=kp.ListOf(kp.Int(8, 4096), 3, 6),
    flop_rounds=kp.Int(1, 20),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
