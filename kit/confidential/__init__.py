"""Chapter 06: confidential AI computing with secret sharing, CKKS and a secure compiler pass.

Modules: ``fixedpoint`` (Z_2^64 encoding, SecureML truncation), ``shares`` (additive and XOR
sharing, the Beaver-triple dealer), ``protocol`` (two parties as processes over loopback
sockets: matmul, square, ReLU by comparison, argmax), ``ir`` (the secure IR), ``model``
(MindSpore MLPs with x^2 / ReLU / trained polynomial activations), ``compiler`` (polynomial
folding, multiplicative depth, automatic CKKS parameters and packing, MPC/HE choice), ``ckks``
(TenSEAL per-sample and SIMD-packed inference), ``tee`` (a simulated enclave with its trust
model), ``chapter`` (the notebook's experiments).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    hidden=kp.Int(4, 256),
    epochs=kp.Int(1, 500),
    test_size=kp.Int(20, 1000),
    frac_bits=kp.Int(8, 20),
    mpc_samples=kp.Int(1, 1000),
    ckks_per_sample_n=kp.Int(1, 50),
    timing_rounds=kp.Int(1, 50),
    tee_queries=kp.Int(1, 1000),
    suite_width=kp.Int(2, 64),
    suite_features=kp.Choice(16, 64),
    suite_epochs=kp.Int(1, 500),
    min_scale_bits=kp.Int(20, 50),
    independence_trials=kp.Int(5, 1000),
    timeout_s=kp.Float(1.0, 600.0),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
