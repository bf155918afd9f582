"""Chapter 10: automatic model-optimisation recommendation.

Modules: ``history`` (tasks, meta-features, the grid, MindSpore training runs, the resumable
SQLite/Optuna store and the shipped export), ``hpo`` (kNN, portfolio and warm-started TPE
recommenders; leave-one-family-out evaluation on the history as a tabular benchmark, with
leave-one-task-out for comparison; cold TPE against random search; early stopping from
learning-curve history), ``advisor`` (injected training bottlenecks, measured step-time
breakdown, diagnosis, fix, speed-up; thresholds fitted on the training scenarios and scored on
held-out ones), ``chapter`` (the notebook's tables, figures and widget).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    budget=kp.Int(20, 60),
    seeds=kp.Int(1, 20),
    n_warm=kp.Int(0, 20),
    knn_k=kp.Int(1, 10),
    es_candidates=kp.Int(3, 100),
    advisor_steps=kp.Int(5, 1000),
    cold_budget=kp.Int(10, 144),
    heldout_per_cause=kp.Int(1, 5),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
