"""The experiments and figures of chapter 04's notebook (each function names its section)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.core.measure import Interleaved, interleave, time_call
from kit.science import fno, fused, nets, pinn, taylor

RAISSI_BURGERS_REL_L2 = 6.7e-4  # Raissi, Perdikaris, Karniadakis 2019, J. Comp. Phys., Burgers
FNO_DARCY_REL_L2 = 0.0108  # Li et al. ICLR 2021, Darcy 85x85, 1,000 training pairs


# ------------------------------------------------------------------------- Taylor vs nested
@dataclass
class OrderScaling:
    """Section "Experiment 1": accuracy and cost of Taylor mode against nested grad."""

    accuracy: dict[int, float]  # order -> max relative error vs nested grad
    orders: list[int]
    taylor_ms: list[float]
    nested_ms: list[float]
    taylor_compile_s: list[float]
    nested_compile_s: list[float]
    dtype: str = "float64"
    fits: dict[str, float] = field(default_factory=dict)
    fused_ms: list[float] = field(default_factory=list)  # tanh recurrence as one C++ kernel
    fused_compile_s: list[float] = field(default_factory=list)
    fused_accuracy: dict[int, float] = field(default_factory=dict)  # every order, vs nested
    timed: dict[int, Interleaved] = field(default_factory=dict)  # order -> interleaved rounds

    @property
    def max_rel_error(self) -> float:
        return max(self.accuracy.values())

    def speedup_rounds(self, order: int, method: str = "fused") -> list[float]:
        """nested / ``method`` ("fused" or "taylor", the stock kernels) in every timing round,
        from each side's fastest call in that round (the spread of the chapter's ratios)."""
        return self.timed[order].ratios("nested", method, stat="min")

    def speedup(self, order: int) -> float:
        """nested / Taylor with stock kernels: the median over timing rounds."""
        return float(np.median(self.speedup_rounds(order, "taylor")))

    def fused_speedup(self, order: int) -> float:
        """nested / fused Taylor: the median over timing rounds."""
        return float(np.median(self.speedup_rounds(order, "fused")))


def _mlp(width: int, depth: int, seed: int) -> tuple[tuple, np.ndarray]:
    sizes = (1,) + (width,) * depth + (1,)
    return nets.layout(sizes), nets.init_params(sizes, seed)


def nested_pynative(theta: np.ndarray, x: np.ndarray, lay: tuple, order: int) -> np.ndarray:
    """The order-th derivative by nested ``ms.grad`` in PyNative mode (no compile; used for
    the accuracy check up to order 8, where a jitted nested graph takes minutes to compile)."""
    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        xt = ms.Tensor(x)
        d = pinn.nested_directional(lay, "tanh", order)
        out = d(ms.Tensor(theta), xt, ops.ones_like(xt))
        return out.asnumpy()
    finally:
        ms.set_context(mode=previous)


def order_scaling(width: int, depth: int, points: int, accuracy_order: int,
                  timing_orders: list[int], seed: int, rounds: int = 7,
                  repeats: int = 5) -> OrderScaling:
    """Section "Experiment 1": d^k u/dx^k of a depth x width tanh MLP in float64 at ``points``
    inputs. Accuracy: Taylor mode (one jet of order ``accuracy_order``) against nested grad for
    every order (jitted nested grad at the timed orders, PyNative nested grad at the others).
    Cost: both compiled with ``ms.jit`` (same execution mode), compile time apart; a third
    column times Taylor mode with the tanh recurrence fused into one C++ kernel per layer
    (:mod:`kit.science.fused`), checked like the stock jet at every order. Times come from
    ``rounds`` interleaved rounds of ``repeats`` calls each (:func:`interleaved_ms`)."""
    taylor.check_order(accuracy_order, "accuracy_order")
    for k in timing_orders:
        taylor.check_order(k, "timing_orders item")
    pinn.check_count("points", points)
    lay, theta = _mlp(width, depth, seed)
    x = np.linspace(-1.0, 1.0, points).reshape(-1, 1)
    th, xt = ms.Tensor(theta), ms.Tensor(x)
    v = ops.ones_like(xt)
    jet = pinn.taylor_derivative_fn(lay, "tanh", accuracy_order)(th, xt, v).asnumpy()
    fused_jet = fused.derivative_fn(lay, "tanh", accuracy_order)(th, xt, v).asnumpy()
    out = OrderScaling({}, list(timing_orders), [], [], [], [])
    nested_values = {}
    for k in timing_orders:
        fns = {"taylor": pinn.taylor_derivative_fn(lay, "tanh", k),
               "nested": pinn.nested_derivative_fn(lay, "tanh", k),
               "fused": fused.derivative_fn(lay, "tanh", k)}
        values = {}
        for name, fn in fns.items():
            start = time.perf_counter()
            values[name] = fn(th, xt, v)
            _sync(values[name])
            getattr(out, f"{name}_compile_s").append(time.perf_counter() - start)
        nested_values[k] = values["nested"].asnumpy()
        times, out.timed[k] = interleaved_ms(
            {name: (lambda f=fn: _sync(f(th, xt, v))) for name, fn in fns.items()},
            rounds, repeats)
        for name in fns:
            getattr(out, f"{name}_ms").append(times[name])
    for k in range(1, accuracy_order + 1):
        ref = nested_values[k] if k in nested_values else nested_pynative(theta, x, lay, k)
        out.accuracy[k] = float(np.abs(jet[k] - ref).max() / np.abs(ref).max())
        out.fused_accuracy[k] = float(np.abs(fused_jet[k] - ref).max() / np.abs(ref).max())
    out.fits = growth_fits(out.orders, {"taylor": out.taylor_ms, "nested": out.nested_ms,
                                        "fused": out.fused_ms})
    return out


def interleaved_ms(calls: dict, rounds: int = 7,
                   repeats: int = 3) -> tuple[dict[str, float], Interleaved]:
    """ms of each (already compiled) call, timed in interleaved rounds (A B A B ... within each
    round, :func:`kit.core.measure.interleave`), as the median over rounds of each round's
    fastest call; and the rounds themselves, for per-round ratios (sections "Experiment 1",
    "2" and "4"). A round's fastest call is the one least touched by whatever else runs on
    the 2 shared cores: with ``yes`` busy on the other core the order-6 nested / fused ratio
    from per-round medians fell from ~18 to ~10, from per-round minima it stayed at 15-24."""
    timed = interleave(calls, rounds=rounds, repeats=repeats, warmup=0)
    return {name: 1e3 * float(np.median(timed.round_minima(name))) for name in calls}, timed


def _sync(result) -> None:
    """Wait for MindSpore's asynchronous execution (CPU has no synchronize): read a value."""
    first = result[-1] if isinstance(result, (list, tuple)) else result
    first.asnumpy()


def growth_fits(orders: list[int], times_ms: dict[str, list[float]]) -> dict:
    """Power law t ~ k^p and exponential t ~ b^k fitted by least squares in log space, for each
    method's times (section "Experiment 1"; the fused Taylor exponent p is the chapter's
    ``taylor_time_growth``): ``{name}_power_exponent``, ``_growth_per_order`` and the two
    residual sums of squares."""
    k = np.asarray(orders, float)
    out = {}
    for name, t in times_ms.items():
        logt = np.log(np.asarray(t, float))
        p, _ = np.polyfit(np.log(k), logt, 1)
        r, _ = np.polyfit(k, logt, 1)
        out[f"{name}_power_exponent"] = float(p)
        out[f"{name}_growth_per_order"] = float(math.exp(r))
        out[f"{name}_power_rss"] = _rss(np.log(k), logt)
        out[f"{name}_exp_rss"] = _rss(k, logt)
    return out


def _rss(x: np.ndarray, y: np.ndarray) -> float:
    coef = np.polyfit(x, y, 1)
    return float(((np.polyval(coef, x) - y) ** 2).sum())


def plot_scaling(scaling: OrderScaling):
    """Figure: time against order on a log scale: nested, Taylor and fused Taylor."""
    from kit.core import plots

    fig, (ax1, ax2) = plots.figure(ncols=2)
    ax1.semilogy(scaling.orders, scaling.nested_ms, "o-", label="nested ms.grad (jit)")
    ax1.semilogy(scaling.orders, scaling.taylor_ms, "s-", label="Taylor, stock kernels (jit)")
    if scaling.fused_ms:
        ax1.semilogy(scaling.orders, scaling.fused_ms, "^-", label="Taylor, fused tanh kernel")
    ax1.set(xlabel="derivative order k", ylabel="ms per evaluation",
            title="Run time (log scale)")
    ax1.legend()
    ax2.semilogy(scaling.orders, scaling.nested_compile_s, "o-", label="nested")
    ax2.semilogy(scaling.orders, scaling.taylor_compile_s, "s-", label="Taylor, stock")
    if scaling.fused_compile_s:
        ax2.semilogy(scaling.orders, scaling.fused_compile_s, "^-", label="Taylor, fused")
    ax2.set(xlabel="derivative order k", ylabel="compile seconds", title="Compile time")
    ax2.legend()
    return fig


# ------------------------------------------------------------------------- ops.derivative
def _anchor_fn(x):
    """An elementwise composite that ``ops.derivative`` supports (Exp, Sin, Log, Cos, Div)."""
    return ops.exp(ops.sin(x)) * ops.log(2.0 + ops.cos(x)) / (1.0 + x * x)


def _anchor_jet(x, v, order: int):
    a = taylor.seed_jet(x, v, order)
    num = taylor.mul(taylor.exp(taylor.sin(a)), taylor.log(taylor.shift(taylor.cos(a), 2.0)))
    return taylor.div(num, taylor.shift(taylor.square(a), 1.0))


def versus_ms_derivative(order: int, points: int = 1024, rounds: int = 5,
                         repeats: int = 3) -> dict[str, float]:
    """Section "Experiment 2": the kit's Taylor mode against MindSpore's ``ops.derivative``
    (itself forward Taylor mode) on a function both support; compile timed apart, runs in
    interleaved rounds (:func:`interleaved_ms`)."""
    taylor.check_order(order, "ms_derivative_order")
    x = ms.Tensor(np.linspace(-1.0, 1.0, points))
    fact = float(math.factorial(order))

    def ms_fn(x):
        return ops.derivative(_anchor_fn, x, order)[1]

    def kit_fn(x):
        return _anchor_jet(x, ops.ones_like(x), order)[order] * fact

    out = {}
    values = {}
    fns = {"ms": ms.jit(ms_fn), "kit": ms.jit(kit_fn)}
    for name, fn in fns.items():
        start = time.perf_counter()
        values[name] = fn(x).asnumpy()
        out[f"{name}_compile_s"] = time.perf_counter() - start
    run_ms, timed = interleaved_ms({name: (lambda f=fn: f(x).asnumpy())
                                    for name, fn in fns.items()}, rounds, repeats)
    for name in fns:
        out[f"{name}_run_ms"] = run_ms[name]
    out["max_rel_difference"] = float(np.abs(values["ms"] - values["kit"]).max()
                                      / np.abs(values["ms"]).max())
    out["run_speedup"] = timed.ratio("ms", "kit", stat="min")
    out["compile_speedup"] = out["ms_compile_s"] / out["kit_compile_s"]
    return out


def ms_derivative_mlp_error() -> str:
    """Why the anchor cannot take an MLP: the first line of its error on a 1-layer tanh net
    (finding:ms-derivative-no-matmul)."""
    w = ms.Tensor(np.ones((1, 4)))

    def net(x):
        return ops.tanh(ops.matmul(x, w))

    try:
        ms.jit(lambda_free_derivative(net))(ms.Tensor(np.ones((2, 1))))
    except (RuntimeError, TypeError, ValueError) as err:
        return str(err).strip().splitlines()[0][:160]
    return "no error"


def lambda_free_derivative(fn):
    """Wrap ``ops.derivative(fn, x, 2)`` in a named function (graph mode refuses lambdas)."""
    def wrapped(x):
        return ops.derivative(fn, x, 2)[1]
    return wrapped


# ------------------------------------------------------------------------- Burgers PINN
@dataclass
class BurgersRun:
    """Section "Experiment 3": the trained PINN and its error against Cole–Hopf."""

    fit: pinn.Fit
    lay: tuple
    pred: np.ndarray  # (t, x) grid like the reference
    rel_l2: float
    seconds: float
    eval_ms: dict[str, float]
    hard: bool = True
    rounds: list[dict] = field(default_factory=list)  # per L-BFGS round: n_f, error, seconds
    added: np.ndarray | None = None  # the collocation points added by refinement
    cpu_seconds: float = 0.0  # process CPU time of training (all threads, so it can exceed wall)
    sampling: str = "rar"  # how later rounds chose their collocation points


SAMPLINGS = ("rar", "rad")


def burgers(reference: dict, n_u: int, n_f: int, width: int, depth: int, adam_steps: int,
            lbfgs_steps: int, method: str, seed: int, dtype: str = "float32", hard: bool = True,
            rar_rounds: int = 0, rar_points: int = 0, candidates: int = 20_000,
            validation: int = 4_000, restarts: bool = True, maxcor: int = 50,
            sampling: str = "rar") -> BurgersRun:
    """Raissi's Burgers PINN: train, then evaluate on the Cole–Hopf grid (256 x 100). With
    ``hard`` the initial and boundary conditions are built into the output (no data loss).
    With ``rar_rounds`` > 0 the L-BFGS budget is split into rar_rounds + 1 rounds and before
    each later round the ``rar_points`` candidates (of ``candidates`` uniform ones) with the
    largest residual join the collocation set (residual-based adaptive refinement, Lu et al.,
    DeepXDE, SIAM Review 2021). With ``sampling`` "rad" the whole collocation set is instead
    drawn afresh before each later round (same size as RAR's), each candidate with probability
    proportional to |r| / mean |r| + 1 (residual-based adaptive distribution, Wu et al., CMAME
    2023), so no fixed set of points is overfitted. The model reported is the round's with
    the smallest mean squared residual on ``validation`` Latin-hypercube points drawn once and
    never trained on (the reference solution picks nothing); every round's error is kept."""
    pinn.check_method(method)
    pinn.check_count("rar_rounds", rar_rounds, 0)
    pinn.check_count("rar_points", rar_points, 0)
    pinn.check_count("validation", validation)
    if rar_rounds and candidates < n_f + rar_rounds * rar_points:
        raise ValueError(f"candidates must be >= n_f + rar_rounds * rar_points = "
                         f"{n_f + rar_rounds * rar_points} (RAD draws a whole collocation set "
                         f"from them without replacement), got {candidates}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    data = pinn.burgers_data(n_u, n_f, seed, float(reference["nu"]))
    sizes = (2,) + (width,) * depth + (1,)
    lay = nets.layout(sizes)
    theta = nets.init_params(sizes, seed)
    xx, tt = np.meshgrid(reference["x"], reference["t"])
    grid = np.stack([xx.ravel(), tt.ravel()], 1)
    val = ms.Tensor(pinn.latin_hypercube(validation, np.array([-1.0, 0.0]), np.array([1.0, 1.0]),
                                         seed + 1_000).astype(dtype))
    start, cpu = time.perf_counter(), time.process_time()
    loss_grad = pinn.burgers_loss_fn(lay, "tanh", method, data.nu, hard)
    residual = pinn.burgers_residual_fn(lay, "tanh", method, data.nu, hard)
    rng = np.random.default_rng(seed + 1)
    xf, added, rounds, total = data.xf, [], [], pinn.Fit(theta)
    budget = [lbfgs_steps // (rar_rounds + 1)] * (rar_rounds + 1)
    budget[-1] += lbfgs_steps - sum(budget)
    best = (math.inf, theta, 0)
    for i, steps in enumerate(budget):
        if i > 0 and rar_points > 0:
            pool = np.stack([rng.uniform(-1, 1, candidates), rng.uniform(0, 1, candidates)], 1)
            r = residual(ms.Tensor(theta.astype(dtype)), ms.Tensor(pool.astype(dtype)))
            size = np.abs(r.asnumpy().ravel())
            if sampling == "rar":
                worst = pool[np.argsort(-size)[:rar_points]]
                added.append(worst)
                xf = np.concatenate([xf, worst])
            else:
                density = size / size.mean() + 1.0
                pick = rng.choice(candidates, len(xf) - n_u + rar_points, replace=False,
                                  p=density / density.sum())
                xf = np.concatenate([pool[pick], data.xu])
                added = [pool[pick]]
        fit = pinn.train(loss_grad, theta, (data.xu, data.u, xf), adam_steps if i == 0 else 0,
                         steps, lr=1e-3, dtype=dtype, maxcor=maxcor, restarts=restarts)
        theta = fit.theta
        total.then(fit)
        val_res = float((residual(ms.Tensor(theta.astype(dtype)), val).asnumpy() ** 2).mean())
        if val_res < best[0]:
            best = (val_res, theta, i)
        err = pinn.rel_l2(pinn.predict(theta, grid, lay, hard=hard).reshape(xx.shape),
                          reference["u"])
        rounds.append({"n_f": len(xf), "iterations": fit.lbfgs_iterations,
                       "validation_residual": val_res, "rel_l2": err,
                       "seconds": time.perf_counter() - start})
    seconds = time.perf_counter() - start
    for i, row in enumerate(rounds):
        row["reported"] = i == best[2]
    total.theta = best[1]
    pred = pinn.predict(best[1], grid, lay, hard=hard).reshape(xx.shape)
    return BurgersRun(total, lay, pred, pinn.rel_l2(pred, reference["u"]), seconds,
                      {"eval": 1e3 * seconds / max(total.evaluations, 1)}, hard, rounds,
                      np.concatenate(added) if added else None, time.process_time() - cpu,
                      sampling)


def burgers_eval_ms(n_f: int, width: int, depth: int, seed: int, hard: bool = True,
                    rounds: int = 5, repeats: int = 3) -> dict:
    """ms per loss-and-gradient evaluation with each residual method (float32), compiled
    first, then timed in interleaved rounds (:func:`interleaved_ms`)."""
    data = pinn.burgers_data(100, n_f, seed)
    sizes = (2,) + (width,) * depth + (1,)
    lay = nets.layout(sizes)
    theta = ms.Tensor(nets.init_params(sizes, seed).astype(np.float32))
    args = [ms.Tensor(a.astype(np.float32)) for a in (data.xu, data.u, data.xf)]
    fns = {m: pinn.burgers_loss_fn(lay, "tanh", m, data.nu, hard) for m in pinn.METHODS}
    for fn in fns.values():
        fn(theta, *args)[1].asnumpy()
    return interleaved_ms({m: (lambda f=fn: f(theta, *args)[1].asnumpy())
                           for m, fn in fns.items()}, rounds, repeats)[0]


def plot_burgers(reference: dict, run: BurgersRun, times: tuple = (0.25, 0.5, 0.75)):
    """Figures: reference, PINN and error maps over (t, x); slices at three times."""
    from kit.core import plots

    fig, axes = plots.figure(ncols=3, nrows=2, figsize=(13, 7))
    extent = [reference["t"][0], reference["t"][-1], reference["x"][0], reference["x"][-1]]
    err = np.abs(run.pred - reference["u"])
    for ax, field_, title in ((axes[0, 0], reference["u"], "Cole-Hopf reference u(t, x)"),
                              (axes[0, 1], run.pred, "PINN u(t, x)"),
                              (axes[0, 2], err, "|PINN - reference|")):
        im = ax.imshow(field_.T, extent=extent, origin="lower", aspect="auto",
                       cmap="magma" if field_ is err else "RdBu_r")
        ax.set(xlabel="t", ylabel="x", title=title)
        fig.colorbar(im, ax=ax)
    if run.added is not None:
        axes[0, 2].plot(run.added[:, 1], run.added[:, 0], ".", color="c", ms=2,
                        label="points added by RAR" if run.sampling == "rar" else
                        "last round's points (RAD)")
        axes[0, 2].legend(fontsize=7, loc="lower left")
    for ax, t in zip(axes[1], times, strict=True):
        i = int(np.argmin(np.abs(reference["t"] - t)))
        ax.plot(reference["x"], reference["u"][i], "k-", label="Cole-Hopf")
        ax.plot(reference["x"], run.pred[i], "r--", label="PINN")
        ax.set(xlabel="x", ylabel="u", title=f"t = {reference['t'][i]:.2f}")
        ax.legend()
    return fig


# ------------------------------------------------------------------------- beam
@dataclass
class BeamRun:
    """Section "Experiment 4": the beam PINN trained with each residual."""

    step_ms: dict[str, float]
    compile_s: dict[str, float]
    errors: dict[str, float]
    speedup: float  # nested / Taylor (stock kernels), median over timing rounds
    fused_speedup: float = float("nan")  # nested / Taylor through the fused tanh kernels
    fused_speedup_rounds: list[float] = field(default_factory=list)  # one per timing round


def beam_points(n_f: int) -> np.ndarray:
    """n_f equispaced interior collocation points of (0, 1), then the two ends: (n_f + 2, 1)."""
    pinn.check_count("n_f", n_f)
    xf = (np.arange(n_f) + 0.5) / n_f
    return np.concatenate([xf, [0.0, 1.0]]).reshape(-1, 1)


def beam(n_f: int, width: int, depth: int, adam_steps: int, lbfgs_steps: int, seed: int,
         rounds: int = 7, repeats: int = 3) -> BeamRun:
    """u'''' = pi^4 sin(pi x) on (0, 1), simply supported: training step time and final L2
    error with the Taylor residual (one order-4 jet, from stock kernels and through the fused
    tanh kernels) and with four nested grads."""
    sizes = (1,) + (width,) * depth + (1,)
    lay = nets.layout(sizes)
    theta0 = nets.init_params(sizes, seed)
    points = beam_points(n_f)
    x_test = np.linspace(0, 1, 201).reshape(-1, 1)
    exact = pinn.beam_exact(x_test)
    out = BeamRun({}, {}, {}, 0.0)
    args = (ms.Tensor(points.astype(np.float32)),)
    th = ms.Tensor(theta0.astype(np.float32))
    fns = {method: pinn.beam_loss_fn(lay, "tanh", method) for method in pinn.BEAM_METHODS}
    for method, lg in fns.items():
        start = time.perf_counter()
        lg(th, *args)[1].asnumpy()
        out.compile_s[method] = time.perf_counter() - start
    out.step_ms, timed = interleaved_ms({m: (lambda f=lg: f(th, *args)[1].asnumpy())
                                         for m, lg in fns.items()}, rounds, repeats)
    for method, lg in fns.items():
        fit = pinn.train(lg, theta0, (points,), adam_steps, lbfgs_steps, lr=1e-3)
        pred = pinn.predict(fit.theta, x_test, lay)
        out.errors[method] = pinn.rel_l2(pred, exact)
    out.speedup = timed.ratio("nested", "taylor", stat="min")
    out.fused_speedup_rounds = timed.ratios("nested", "fused", stat="min")
    out.fused_speedup = float(np.median(out.fused_speedup_rounds))
    return out


# ------------------------------------------------------------------------- convergence
def convergence(n_fs: list[int], widths: list[int], base_width: int, base_n_f: int, depth: int,
                adam_steps: int, lbfgs_steps: int, seed: int) -> dict:
    """Section "Experiment 5": beam PINN error against the number of collocation points (at
    ``base_width``) and against the width (at ``base_n_f``); slopes of log error vs log N_f and
    log width by least squares."""
    for n in n_fs:
        pinn.check_count("conv_n_f item", n)
    x_test = np.linspace(0, 1, 201).reshape(-1, 1)
    exact = pinn.beam_exact(x_test)

    def error(n_f: int, width: int) -> float:
        sizes = (1,) + (width,) * depth + (1,)
        lay = nets.layout(sizes)
        lg = pinn.beam_loss_fn(lay, "tanh", "taylor")
        fit = pinn.train(lg, nets.init_params(sizes, seed), (beam_points(n_f),), adam_steps,
                         lbfgs_steps, dtype="float64")
        return pinn.rel_l2(pinn.predict(fit.theta, x_test, lay), exact)

    by_n = [error(n, base_width) for n in n_fs]
    by_w = [error(base_n_f, w) for w in widths]
    rate = float(np.polyfit(np.log(n_fs), np.log(by_n), 1)[0]) if len(n_fs) > 1 else float("nan")
    rate_w = (float(np.polyfit(np.log(widths), np.log(by_w), 1)[0]) if len(widths) > 1
              else float("nan"))
    return {"n_f": list(n_fs), "error_by_n_f": by_n, "widths": list(widths),
            "error_by_width": by_w, "rate_n_f": rate, "rate_width": rate_w}


def plot_convergence(conv: dict):
    """Figure: error against N_f and width on log-log axes with the fitted slopes."""
    from kit.core import plots

    fig, (ax1, ax2) = plots.figure(ncols=2)
    ax1.loglog(conv["n_f"], conv["error_by_n_f"], "o-")
    ax1.set(xlabel="collocation points N_f", ylabel="relative L2 error",
            title=f"slope {conv['rate_n_f']:.2f}")
    ax2.loglog(conv["widths"], conv["error_by_width"], "s-")
    ax2.set(xlabel="width", ylabel="relative L2 error", title=f"slope {conv['rate_width']:.2f}")
    return fig


# ------------------------------------------------------------------------- FNO
def fno_experiment(data: dict, n_train: int, n_test: int, epochs: int, modes: int, width: int,
                   batch: int, seed: int) -> tuple[fno.FNOFit, dict]:
    """Section "Experiment 6": train the FNO on the first n_train pairs, test on the last
    n_test; and time one training step with the ops.rfft and the DFT-matmul transforms."""
    a, u = data["a"], data["u"]
    if not isinstance(n_train, int) or not 1 <= n_train <= len(a) - n_test:
        raise ValueError(f"n_train must be an int in [1, {len(a) - n_test}], got {n_train!r}")
    pinn.check_count("n_test", n_test)
    size = a.shape[1]
    timings = {t: fno.step_time(t, size, modes, width, batch, repeats=3, seed=seed)
               for t in fno.TRANSFORMS}
    timings["agreement"] = fno.spectral_agreement(size, modes, seed)
    best = min(fno.TRANSFORMS, key=lambda t: timings[t])
    fit = fno.train_fno(a[:n_train], u[:n_train], a[-n_test:], u[-n_test:], epochs, modes,
                        width, 4, batch, 1e-3, best, seed)
    timings["used"] = best
    return fit, timings


def fno_seeds(data: dict, n_train: int, n_test: int, epochs: int, modes: int, width: int,
              batch: int, seeds: list[int], transform: str) -> list[fno.FNOFit]:
    """Section "Experiment 6" repeated: the same FNO trained with each of ``seeds`` (weights
    and shuffling), on the same split, with the transform the timing picked."""
    a, u = data["a"], data["u"]
    return [fno.train_fno(a[:n_train], u[:n_train], a[-n_test:], u[-n_test:], epochs, modes,
                          width, 4, batch, 1e-3, transform, s) for s in seeds]


def plot_fno(data: dict, fit: fno.FNOFit, n_test: int, count: int = 3):
    """Figure: test inputs, targets and FNO predictions."""
    from kit.core import plots

    fig, axes = plots.figure(ncols=count, figsize=(13, 3.5))
    a, u = data["a"][-n_test:], data["u"][-n_test:]
    pred = fit.net(ms.Tensor(a[:count])).asnumpy()
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(data["x"], a[i], color="0.6", label="u(0, x) input")
        ax.plot(data["x"], u[i], "k-", label="u(1, x) spectral")
        ax.plot(data["x"], pred[i], "r--", label="FNO")
        ax.set(xlabel="x", title=f"test sample {i}")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return fig


# ------------------------------------------------------------------------- Explore
EXPLORE_FUNCTIONS = ("exp(sin x) log(2 + cos x) / (1 + x^2)", "tanh MLP 3 x 32")


def explore_derivatives(order: int, function: str):
    """Section "Explore": the order-th derivative of the chosen function by Taylor mode and by
    nested grad (all jitted), plotted, with the timings; for the tanh MLP also the fused
    Taylor variant (:mod:`kit.science.fused`)."""
    from kit.core import plots

    taylor.check_order(order)
    x = np.linspace(-1.0, 1.0, 256).reshape(-1, 1)
    xt = ms.Tensor(x)
    v = ops.ones_like(xt)
    if function == EXPLORE_FUNCTIONS[0]:
        fact = float(math.factorial(order))

        def tay(x, v):
            return _anchor_jet(x, v, order)[order] * fact

        def total(x, v):
            return _anchor_fn(x).sum()

        fn = total
        for _ in range(order - 1):
            fn = _lift_x(fn)
        last = ms.grad(fn)

        def nest(x, v):
            return last(x, v) * v
        t_fn, n_fn, args = ms.jit(tay), ms.jit(nest), (xt, v)
    else:
        lay, theta = _mlp(32, 3, 0)
        t_fn = pinn.taylor_derivative_fn(lay, "tanh", order)
        n_fn = pinn.nested_derivative_fn(lay, "tanh", order)
        args = (ms.Tensor(theta), xt, v)
    fns = {"nested grad": n_fn, "Taylor mode": t_fn}
    if function != EXPLORE_FUNCTIONS[0]:
        fns["Taylor mode, fused tanh kernel"] = fused.derivative_fn(lay, "tanh", order)
    fig, ax = plots.figure()
    ms_by_name = {}
    for (name, fn), style in zip(fns.items(), ("k-", "r--", "b:"), strict=False):
        val = fn(*args)  # the MLP's Taylor functions return every coefficient, stacked
        val = (val[order] if name != "nested grad" and function != EXPLORE_FUNCTIONS[0]
               else val).asnumpy()
        ms_by_name[name] = 1e3 * time_call(lambda f=fn: _sync(f(*args)), repeats=3,
                                           warmup=0).median
        ax.plot(x, val, style, label=f"{name}: {ms_by_name[name]:.2f} ms")
    ratios = ", ".join(f"{ms_by_name['nested grad'] / t:.1f}x" for name, t in ms_by_name.items()
                       if name != "nested grad")
    ax.set(xlabel="x", ylabel=f"d^{order} f / dx^{order}",
           title=f"{function}, order {order}: nested / Taylor = {ratios}")
    ax.legend()
    return fig


def _lift_x(g):
    gg = ms.grad(g)

    def h(x, v):
        return (gg(x, v) * v).sum()
    return h


def explore_burgers(t: float, nu_scale: float, reference: dict, run: BurgersRun):
    """Section "Explore": the PINN slice at time t against Cole–Hopf (trained viscosity), and
    the Cole–Hopf slice at nu = nu_scale * 0.01/pi to show what the viscosity does."""
    from kit.core import plots
    from kit.science.references import cole_hopf

    i = int(np.argmin(np.abs(reference["t"] - t)))
    fig, ax = plots.figure()
    ax.plot(reference["x"], reference["u"][i], "k-", label="Cole-Hopf, nu = 0.01/pi")
    ax.plot(reference["x"], run.pred[i], "r--", label="PINN (trained at 0.01/pi)")
    if nu_scale != 1.0:
        other = cole_hopf(reference["x"], np.array([reference["t"][i]]),
                          nu_scale * 0.01 / math.pi)[0]
        ax.plot(reference["x"], other, "b:", label=f"Cole-Hopf, nu = {nu_scale:g} x 0.01/pi")
    err = float(np.abs(run.pred[i] - reference["u"][i]).max())
    ax.set(xlabel="x", ylabel="u", title=f"t = {reference['t'][i]:.2f}, max |error| {err:.1e}")
    ax.legend()
    return fig


# ------------------------------------------------------------------------- checks and prose
def check_timing_orders(orders: list[int]) -> list[int]:
    """Section "Validation": the timed orders must include 6 (the issue's headline ratio),
    be distinct and increasing."""
    if 6 not in orders or list(orders) != sorted(set(orders)):
        raise ValueError(f"timing_orders must be distinct increasing orders that include 6, "
                         f"got {orders!r}")
    return list(orders)


def primitive_checks(order: int = 5, x0: float = 0.7):
    """Section "Method": each primitive's k-th derivative at x0 by Taylor mode against its
    closed form, for k = 1..order (float64)."""
    import pandas as pd

    taylor.check_order(order)
    x = ms.Tensor(np.array([x0]))
    jet = taylor.seed_jet(x, ops.ones_like(x), order)
    ks = np.arange(1, order + 1)
    fall = np.array([np.prod([2.5 - i for i in range(k)]) for k in ks])  # (5/2)_k falling
    cases = {
        "exp(2x)": (taylor.exp(taylor.scale(jet, 2.0)), 2.0 ** ks * math.exp(2 * x0)),
        "sin(x)": (taylor.sin(jet), np.sin(x0 + ks * np.pi / 2)),
        "log(x)": (taylor.log(jet), np.array([(-1) ** (k - 1) * math.factorial(k - 1) / x0 ** k
                                              for k in ks])),
        "x^2.5": (taylor.pow(jet, 2.5), fall * x0 ** (2.5 - ks)),
        "1/(1+x)": (taylor.div(taylor.constant_jet(ops.ones_like(x), order),
                               taylor.shift(jet, 1.0)),
                    np.array([(-1) ** k * math.factorial(k) / (1 + x0) ** (k + 1) for k in ks])),
        "tanh(x)": (taylor.tanh(jet), _tanh_derivatives(x0, order)),
    }
    rows = []
    for name, (out, exact) in cases.items():
        got = np.array([float(out[k].asnumpy()[0]) * math.factorial(k) for k in ks])
        rows.append({"function": name, f"d^{order}/dx^{order} (Taylor)": got[-1],
                     "closed form": exact[-1],
                     "max rel. error, orders 1..k": float(np.max(np.abs(got - exact)
                                                                 / np.abs(exact)))})
    return pd.DataFrame(rows)


def _tanh_derivatives(x0: float, order: int) -> np.ndarray:
    """Derivatives of tanh by the polynomial recurrence P_(k+1)(y) = P_k'(y) (1 - y^2)."""
    y = math.tanh(x0)
    poly = np.polynomial.Polynomial([0.0, 1.0])  # tanh itself as a polynomial in y
    out = []
    for _ in range(order):
        poly = poly.deriv() * np.polynomial.Polynomial([1.0, 0.0, -1.0])
        out.append(poly(y))
    return np.array(out)


def _seed_note(spreads: dict | None, name: str, target: float) -> str:
    """How many seeds of a seed-spread metric meet an upper-bound ``target`` (empty for one
    seed or no spread): the bar is the median, the note says where it holds."""
    entry = (spreads or {}).get(name, {})
    samples = entry.get("samples", [])
    if len(samples) < 2:
        return ""
    met = sum(v <= target for v in samples)
    return (f", median of {len(samples)} seeds [{min(samples):.1e}, {max(samples):.1e}]; "
            f"{met} of {len(samples)} seeds meet {target:g}")


def reading(metrics: dict, spreads: dict | None = None) -> str:
    """Section "Results": the honest reading, written from the numbers. The issue's speed
    metrics are read from the fused Taylor variant (tanh's recurrence in C++ kernels), the
    stock-kernel numbers beside them; with ``spreads`` the seed-dependent errors say how many
    seeds meet their target."""
    err = metrics["taylor_max_rel_error"]
    sp6, st6 = metrics["taylor_speedup_order6"], metrics["taylor_stock_speedup_order6"]
    p, p_stock = metrics["taylor_time_growth"], metrics["taylor_stock_time_growth"]
    grow = metrics["nested_time_growth_per_order"]
    parts = [
        f"Taylor mode agrees with nested grad to {err:.0e} (float64) at every order checked "
        f"(the fused kernels to {metrics['taylor_fused_max_rel_error']:.0e}).",
        f"At order 6, with tanh's recurrence in one C++ kernel per layer, it is {sp6:.1f}x "
        f"faster than nested ms.grad under ms.jit "
        + ("(the issue's target is 10x; this is below it)" if sp6 < 10 else
           "(the issue's target is 10x)")
        + f"; built from MindSpore's stock kernels only, {st6:.1f}x.",
        f"Its time grows like k^{p:.2f} (stock kernels k^{p_stock:.2f}), while nested grad "
        f"multiplies by {grow:.2f} per order.",
    ]
    if "taylor_vs_ms_derivative" in metrics:
        parts.append(f"Against MindSpore's ops.derivative on an elementwise function the kit runs "
                     f"{metrics['taylor_vs_ms_derivative']:.1f}x faster and compiles "
                     f"{metrics['taylor_vs_ms_derivative_compile']:.1f}x faster.")
    b = metrics["burgers_rel_l2"]
    parts.append(f"The Burgers PINN reaches a relative L2 error of {b:.1e} "
                 f"({b / RAISSI_BURGERS_REL_L2:.0f}x Raissi et al.'s 6.7e-4, with a far smaller "
                 f"budget; the issue's target at book settings is 5e-3, "
                 + ("met here" if b <= 5e-3 else "not met by this run")
                 + _seed_note(spreads, "burgers_rel_l2", 5e-3) + ").")
    s, s_stock = metrics["beam_step_speedup"], metrics["beam_stock_step_speedup"]
    parts.append(f"For the fourth-order beam the Taylor residual's training step, forward and "
                 f"backward through the fused kernels, is {s:.2f}x the speed of the nested one"
                 + (" (target 3x: not reached here)" if s < 3 else " (target 3x)")
                 + f"; with stock kernels {s_stock:.2f}x.")
    parts.append(f"The beam error falls with slope {metrics['convergence_rate']:.2f} in log N_f; "
                 f"the FNO reaches {metrics['fno_rel_l2']:.3f} relative L2 on held-out data "
                 f"(target 0.02 at book settings{_seed_note(spreads, 'fno_rel_l2', 0.02)}).")
    return " ".join(parts)
