"""Chapter 03: model innovation.

Modules: ``probability`` (distributions, NUTS with adaptation, ADVI, emcee baseline, on
MindSpore autodiff), ``diagnostics`` (rank-normalised R-hat, bulk/tail ESS, MCSE),
``graphstore`` (out-of-core CSR in memory-mapped files, hash / one-pass streaming (LDG, Fennel,
buffered) / METIS partitioners, neighbour sampling with halo counts, the 10^12-edge scale-out),
``hetero`` (Part B: a heterogeneous graph type on MindSpore segment ops, R-GCN / HGT-style / MLP
models, a planted event stream with a new node type and relation, incremental adaptation),
``chapter`` and ``hetero_chapter`` (the notebook's experiments).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    graph_nodes=kp.Int(100, 10_000_000),
    graph_edges=kp.Int(1_000, 100_000_000),
    communities=kp.Int(2, 100_000),
    parts=kp.Int(2, 256),
    batch_size=kp.Int(1, 100_000),
    sample_batches=kp.Int(1, 10_000),
    nuts_chains=kp.Int(2, 64),
    nuts_warmup=kp.Int(50, 100_000),
    nuts_draws=kp.Int(50, 100_000),
    max_depth=kp.Int(2, 12),
    centred_draws=kp.Int(20, 100_000),
    emcee_steps=kp.Int(100, 1_000_000),
    advi_steps=kp.Int(10, 1_000_000),
    hetero_papers=kp.Int(200, 1_000_000),
    hetero_authors=kp.Int(100, 1_000_000),
    hetero_steps=kp.Int(10, 100_000),
    hetero_seeds=kp.Int(2, 20),
    gnn_layers=kp.Int(1, 3),
    finetune_steps=kp.Int(1, 100_000),
    stream_chunks=kp.Int(1, 16),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
