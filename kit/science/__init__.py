"""Chapter 04: AI for scientific computing — Taylor-mode AD, PINNs, neural operators.

Modules: ``taylor`` (Taylor-mode primitives on MindSpore tensors), ``nets`` (functional MLPs on
a flat parameter vector, plain and on jets), ``pinn`` (residuals by nested grad or Taylor mode,
Adam then L-BFGS-B), ``references`` (Cole–Hopf, finite differences, a pseudo-spectral solver),
``fused`` (Taylor mode with tanh's recurrence and its adjoint as C++ kernels), ``fno`` (a 1-D
Fourier neural operator), ``data`` (the verified data files) and ``chapter``
(the notebook's experiments and figures).
"""

from kit.core import params as kp

PARAMS = kp.Spec(
    width=kp.Int(4, 256),
    depth=kp.Int(1, 8),
    points=kp.Int(1, 100_000),
    accuracy_order=kp.Int(1, 12),
    timing_orders=kp.ListOf(kp.Int(1, 12), 2, 12),
    ms_derivative_order=kp.Int(0, 12),
    n_u=kp.Int(2, 10_000),
    n_f=kp.Int(1, 100_000),
    pinn_width=kp.Int(4, 256),
    pinn_depth=kp.Int(1, 12),
    adam_steps=kp.Int(0, 100_000),
    lbfgs_steps=kp.Int(0, 100_000),
    residual=kp.Choice("nested", "taylor"),
    hard_bc=kp.Bool(),
    rar_rounds=kp.Int(0, 20),
    rar_points=kp.Int(0, 100_000),
    sampling=kp.Choice("rar", "rad"),
    beam_n_f=kp.Int(1, 10_000),
    beam_steps=kp.Int(0, 10_000),
    conv_n_f=kp.ListOf(kp.Int(1, 10_000), 1, 8),
    conv_widths=kp.ListOf(kp.Int(2, 256), 1, 8),
    conv_steps=kp.Int(0, 10_000),
    fno_train=kp.Int(1, 900),
    fno_epochs=kp.Int(1, 1000),
    fno_modes=kp.Int(1, 63),
    fno_width=kp.Int(4, 128),
    user_pde_steps=kp.Int(0, 100_000),
    seeds=kp.Int(1, 10),
    threads=kp.Int(1, 64),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
