"""Chapter 09: explainable AI in line with human cognition — attributions, analogies, concepts
and counterfactuals for MindSpore models, and how to measure them.

Modules: ``models`` (CNN and MLP on digits, Guided-Backprop twins, batched jitted gradients,
randomisation), ``attribution`` (eight attribution methods), ``metrics`` (faithfulness,
robustness, complexity, completeness, sanity checks, simulatability), ``examples`` (nearest
examples, prototypes and criticisms, influence functions, representer points), ``concepts``
(TCAV), ``counterfactual`` (minimal edits), ``anchor`` (MindSpore XAI 1.8 side by side),
``tabular`` (an MLP on breast-cancer data), ``mnist`` (the sanity checks on
28x28 MNIST over seeds), ``explore`` (the Explore panel with a drawing
grid), ``chapter`` (the notebook's experiments).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    epochs=kp.Int(1, 200),
    eval_images=kp.Int(5, 500),
    ig_steps=kp.Int(1, 1024),
    smoothgrad_samples=kp.Int(1, 200),
    rise_masks=kp.Int(10, 5000),
    sens_samples=kp.Int(1, 50),
    sanity_seeds=kp.Int(1, 50),
    mnist_train_images=kp.Int(100, 4000),
    mnist_epochs=kp.Int(1, 100),
    mnist_explained=kp.Int(2, 1000),
    mnist_seeds=kp.Int(2, 50),
    loo_points=kp.Int(3, 200),
    flips=kp.Int(1, 100),
    tcav_runs=kp.Int(2, 50),
    concept_size=kp.Int(10, 200),
    sim_repeats=kp.Int(2, 200),
    sim_train=kp.Int(10, 500),
    anchor_images=kp.Int(1, 200),
    tabular_epochs=kp.Int(1, 500),
    shap_rows=kp.Int(1, 171),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
