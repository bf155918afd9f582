"""Chapter 01: low-bit training that adapts its precision policy to the hardware.

Modules: ``precision`` (formats, numpy quantizers, MSE steps), ``quant`` (fake quantization in
MindSpore: STE, LSQ, simulated fp16/bf16), ``nets`` (MLP, CNN and depthwise-separable CNN over a
flat parameter vector, training and evaluation), ``sensitivity`` (Hutchinson traces by
second-order autodiff, the loss-perturbation estimate, predicted loss), ``hardware`` (cost
tables, roofline latency, the table measured on this machine), ``policy`` (MILP search and its
baselines), ``mnist`` (the equal-budget comparison of policies on real MNIST),
``lossscale`` (real float16 training with and without MindSpore's dynamic loss
scaling), ``chapter`` (the notebook's experiments, figures and Explore panel).
"""

from kit.core import params as kp
from kit.lowbit.nets import NETWORKS

_PRECISION = kp.Choice("fp32", "fp16", "bf16", "int8", "int4", "int2")

PARAMS = kp.Spec(
    networks=kp.ListOf(kp.Choice(*NETWORKS), 1, 3),
    epochs=kp.Int(1, 200),
    qat_epochs=kp.Int(1, 50),
    batch=kp.Int(8, 512),
    lr=kp.Float(0.0, 0.1, low_open=True),
    hutchinson_samples=kp.Int(2, 200),
    hutchinson_batch=kp.Int(16, 1024),
    perturbation_samples=kp.Int(1, 50),
    precisions=kp.ListOf(_PRECISION, 2, 6),
    latency_budget=kp.Float(0.05, 1.0, low_open=False),
    deploy_batch=kp.Int(1, 256),
    adapt_every=kp.Int(0, 50),
    random_policies=kp.Int(1, 200),
    pareto_points=kp.Int(2, 20),
    measure_repeats=kp.Int(1, 50),
    loss_scale_epochs=kp.Int(1, 200),
    mnist_train_images=kp.Int(100, 4000),
    mnist_test_images=kp.Int(100, 1000),
    mnist_epochs=kp.Int(1, 100),
    mnist_qat_epochs=kp.Int(1, 20),
    mnist_random_policies=kp.Int(1, 200),
    mnist_random_table=kp.Str(),
    mnist_seeds=kp.Int(1, 10),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
