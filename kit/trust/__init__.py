"""Chapter 05: verifiable and certifiable trustworthy AI -- one model, one trust card.

Modules: ``models`` (MindSpore MLPs and a small CNN; training objectives: standard, Gaussian
noise, FGSM-RS, PGD, IBP through dense and conv layers), ``attacks`` (FGSM, PGD l-inf/l2 with
restarts), ``verify`` (IBP, CROWN and alpha-CROWN bounds in exact float64 arithmetic on the
trained weights, convolutions included), ``smoothing`` (Cohen et al.'s PREDICT and CERTIFY with
Clopper-Pearson), ``privacy`` (DP-SGD with per-example gradients by ``ms.vmap``, an RDP
accountant checked against ``dp_accounting``, membership inference), ``backdoor`` (BadNets,
spectral signatures, activation clustering), ``fairness`` (group gaps with bootstrap CIs,
threshold mitigation on a documented synthetic data set), ``anchor`` (MindArmour's attacks and
DP pieces side by side with the kit's), ``mnist`` (the IBP-trained CNN on real MNIST at Gowal et
al.'s two settings), ``chapter`` (the notebook's experiments, the trust card
and the Explore widget).
"""

from kit.core import params as kp

_POS = kp.Float(0.0, None, low_open=True)

PARAMS = kp.Spec(
    hidden=kp.Int(8, 512),
    epochs=kp.Int(1, 500),
    ibp_epochs=kp.Int(1, 1000),
    cnn_epochs=kp.Int(1, 1000),
    eps=kp.Float(0.0, 1.0),
    pgd_steps=kp.Int(1, 500),
    pgd_restarts=kp.Int(1, 50),
    n_eval=kp.Int(10, 500),
    sigmas=kp.ListOf(_POS, 1, 6),
    radii=kp.ListOf(kp.Float(0.0, None), 1, 8),
    n0=kp.Int(1, 100_000),
    n_smooth=kp.Int(1, 1_000_000),
    n_certify=kp.Int(5, 500),
    alpha=kp.Float(0.0, 1.0, low_open=True, high_open=True),
    dp_epsilons=kp.ListOf(_POS, 1, 8),
    delta=kp.Float(0.0, 1.0, low_open=True, high_open=True),
    dp_epochs=kp.Int(1, 200),
    dp_batch=kp.Int(16, 1024),
    mia_members=kp.Int(50, 1000),
    mia_epochs=kp.Int(1, 2000),
    poison_rate=kp.Float(0.0, 0.5),
    fair_n=kp.Int(1000, 100_000),
    bootstrap_reps=kp.Int(10, 10_000),
    seeds=kp.Int(1, 10),
    mnist_train=kp.Int(0, 4000),
    mnist_eval=kp.Int(10, 1000),
    mnist_epochs=kp.Int(1, 200),
    mnist_alpha_points=kp.Int(0, 1000),
    seed=kp.Int(0),
    results_path=kp.Optional(kp.Str()),
)
