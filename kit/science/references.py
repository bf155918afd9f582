"""Reference solutions made by code (chapter 04, "Reference solutions"): Burgers by the
Cole–Hopf formula with quadrature, a finite-difference Burgers solver to check it, and a
pseudo-spectral periodic Burgers solver that makes the FNO data set.

Nothing here uses MindSpore: these are the numbers the networks are judged against.
"""

from __future__ import annotations

import math

import numpy as np


def cole_hopf(x: np.ndarray, t: np.ndarray, nu: float = 0.01 / math.pi,
              nodes: int = 4001) -> np.ndarray:
    """u(t, x) of u_t + u u_x = nu u_xx, u(0, x) = -sin(pi x), on a (len(t), len(x)) grid.

    Cole–Hopf: u = -2 nu phi_x / phi turns Burgers into the heat equation, so
    u(t, x) = -int sin(pi (x - y)) w(y) dy / int w(y) dy with
    w(y) = exp(-cos(pi (x - y)) / (2 pi nu) - y^2 / (4 nu t)). The integrals are taken with the
    trapezoid rule on ``nodes`` points over |y| <= 12 sqrt(4 nu t) (the Gaussian is below e^-144
    beyond), with the largest exponent factored out (log-sum-exp) so nothing overflows.
    The boundary values u(t, +-1) = 0 hold by symmetry.
    """
    if not (isinstance(nu, float) and nu > 0):
        raise ValueError(f"nu must be a float > 0, got {nu!r}")
    if not isinstance(nodes, int) or nodes < 101:
        raise ValueError(f"nodes must be an int >= 101, got {nodes!r}")
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    out = np.empty((t.size, x.size))
    z = np.linspace(-12.0, 12.0, nodes)
    for i, ti in enumerate(t):
        if ti <= 0:
            out[i] = -np.sin(np.pi * x)
            continue
        y = z * math.sqrt(4 * nu * ti)  # (nodes,)
        arg = x[:, None] - y[None, :]
        expo = -np.cos(np.pi * arg) / (2 * np.pi * nu) - y[None, :] ** 2 / (4 * nu * ti)
        w = np.exp(expo - expo.max(axis=1, keepdims=True))
        out[i] = -np.trapz(np.sin(np.pi * arg) * w, axis=1) / np.trapz(w, axis=1)
    return out


def burgers_fd(nx: int, t_end: float, nu: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A second-order finite-difference check of :func:`cole_hopf` on [-1, 1], u(+-1) = 0:
    central differences in space (conservative flux (u^2/2)_x), classical RK4 in time.
    Returns (x, u(t_end, x)). Used by the unit tests at moderate viscosity."""
    if not isinstance(nx, int) or nx < 11:
        raise ValueError(f"nx must be an int >= 11, got {nx!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    x = np.linspace(-1.0, 1.0, nx)
    dx = x[1] - x[0]
    dt = t_end / steps

    def rhs(u: np.ndarray) -> np.ndarray:
        du = np.zeros_like(u)
        f = 0.5 * u ** 2
        du[1:-1] = (-(f[2:] - f[:-2]) / (2 * dx)
                    + nu * (u[2:] - 2 * u[1:-1] + u[:-2]) / dx ** 2)
        return du

    u = -np.sin(np.pi * x)
    for _ in range(steps):
        k1 = rhs(u)
        k2 = rhs(u + 0.5 * dt * k1)
        k3 = rhs(u + 0.5 * dt * k2)
        k4 = rhs(u + dt * k3)
        u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x, u


# ---------------------------------------------------------------------------------- FNO data
def grf_1d(n: int, s: int, seed: int, alpha: float = 2.0, tau: float = 5.0,
           sigma: float = 25.0) -> np.ndarray:
    """n periodic Gaussian random fields on s points of [0, 1):
    N(0, sigma^2 (-Delta + tau^2)^-alpha) as in the FNO paper's Burgers data (alpha 2, tau 5,
    sigma 25 = 625^(1/2))."""
    rng = np.random.default_rng(seed)
    k = np.fft.rfftfreq(s, d=1.0 / s)  # 0..s/2
    amp = sigma * (4 * np.pi ** 2 * k ** 2 + tau ** 2) ** (-alpha / 2)
    coef = (rng.standard_normal((n, k.size)) + 1j * rng.standard_normal((n, k.size))) * amp
    coef[:, 0] = 0.0  # zero mean
    coef[:, -1] = coef[:, -1].real
    return np.fft.irfft(coef, n=s, axis=1) * s / math.sqrt(2)


def burgers_spectral(u0: np.ndarray, nu: float, t_end: float, dt: float) -> np.ndarray:
    """Periodic Burgers u_t + (u^2/2)_x = nu u_xx on [0, 1) by the pseudo-spectral method:
    exact integrating factor for diffusion, RK4 for the nonlinear term, 2/3-rule dealiasing.
    u0 has shape (n, s); returns u(t_end) with the same shape."""
    if dt <= 0 or t_end <= 0:
        raise ValueError(f"dt and t_end must be > 0, got dt={dt!r}, t_end={t_end!r}")
    n, s = u0.shape
    k = 2 * np.pi * np.fft.rfftfreq(s, d=1.0 / s)
    dealias = (np.arange(k.size) < s // 3).astype(np.float64)
    steps = int(round(t_end / dt))
    dt = t_end / steps
    e_half = np.exp(-nu * k ** 2 * dt / 2)
    e_full = e_half ** 2

    def nonlinear(v: np.ndarray) -> np.ndarray:
        u = np.fft.irfft(v * dealias, n=s, axis=1)
        return -0.5j * k * np.fft.rfft(u * u, axis=1)

    v = np.fft.rfft(u0, axis=1)
    for _ in range(steps):
        a = nonlinear(v)
        b = nonlinear(e_half * (v + 0.5 * dt * a))
        c = nonlinear(e_half * v + 0.5 * dt * b)
        d = nonlinear(e_full * v + dt * e_half * c)
        v = e_full * v + dt / 6 * (e_full * a + 2 * e_half * (b + c) + d)
    return np.fft.irfft(v, n=s, axis=1)
