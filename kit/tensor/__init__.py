"""Chapter 07: the tensor differentiable computing framework, measured from the inside.

Modules: ``blocks`` (benchmark blocks and execution modes), ``ir`` (the kit's traced IR and
its passes), ``msir`` (MindSpore's own IR dump as an op table), ``kernels`` (the kit's C++
operators as ``ops.Custom``), ``autotune`` (schedule search with a learned cost model and
co-optimisation), ``shapes`` (recompilation and bucketing), ``hod`` (higher-order derivatives),
``chapter`` (the notebook's tables and figures).
"""

from kit.core import params as kp

_SHAPE = kp.ListOf(kp.Int(1, 16384), 2, 2)

PARAMS = kp.Spec(
    shapes=kp.ListOf(_SHAPE, 2, 6),
    repeats=kp.Int(3, 200),
    rounds=kp.Int(1, 50),
    min_len=kp.Int(1, 8192),
    max_len=kp.Int(2, 16384),
    distinct_lengths=kp.Int(2, 256),
    max_waste=kp.Float(0.0, 1.0, high_open=True),
    compile_lengths=kp.Int(2, 64),
    kernel_shape=_SHAPE,
    tune_size=kp.Int(16, 2048),
    tune_trials=kp.Int(8, 1000),
    tune_seconds=kp.Float(0.0, 3600.0, low_open=True),
    coopt_shapes=kp.ListOf(kp.ListOf(kp.Int(4, 8192), 3, 3), 1, 6),
    hvp_n=kp.Int(2, 4096),
    loop_steps=kp.Int(1, 20),
    loop_order=kp.Int(1, 4),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
