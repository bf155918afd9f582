"""Chapter 09 example-based explanations ("Analogies"): nearest training examples, prototypes
and criticisms (MMD-critic), influence functions (exact Hessian of an L2 logistic model,
checked against leave-one-out retraining; conjugate gradients and LiSSA for the CNN) and
representer points.
"""

from __future__ import annotations

from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.xai.models import LAYERS, Classifier, onehot, run, softmax

# ---------------------------------------------------------------- nearest examples, prototypes


def nearest(train_repr: np.ndarray, query_repr: np.ndarray, k: int = 5) -> np.ndarray:
    """Section "Analogies": indices (m, k) of the ``k`` training examples closest (cosine) to
    each query in the model's representation space."""
    if not isinstance(k, int) or not 1 <= k <= len(train_repr):
        raise ValueError(f"k must be an int in [1, {len(train_repr)}], got {k!r}")
    a = train_repr / np.maximum(np.linalg.norm(train_repr, axis=1, keepdims=True), 1e-12)
    b = query_repr / np.maximum(np.linalg.norm(query_repr, axis=1, keepdims=True), 1e-12)
    return np.argsort(-(b @ a.T), axis=1, kind="stable")[:, :k]


def rbf_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
    return np.exp(-gamma * np.maximum(d2, 0))


def mmd_critic(z: np.ndarray, prototypes: int, criticisms: int,
               gamma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kim et al. 2016 (MMD-critic): greedily pick ``prototypes`` points minimising the MMD to
    the data, then ``criticisms`` points where the witness function |mean_data k - mean_proto
    k| is largest (with a log-determinant diversity term). Returns index arrays."""
    n = len(z)
    if not isinstance(prototypes, int) or not 1 <= prototypes < n:
        raise ValueError(f"prototypes must be an int in [1, {n - 1}], got {prototypes!r}")
    if not isinstance(criticisms, int) or not 0 <= criticisms <= n - prototypes:
        raise ValueError(f"criticisms must be an int in [0, {n - prototypes}], "
                         f"got {criticisms!r}")
    if gamma is None:
        gamma = 1.0 / max(np.median(((z[:, None] - z[None]) ** 2).sum(-1)), 1e-12)
    k = rbf_kernel(z, z, gamma)
    col = k.mean(0)
    chosen: list[int] = []
    for _ in range(prototypes):
        best, best_val = -1, -np.inf
        for c in range(n):
            if c in chosen:
                continue
            s = chosen + [c]
            val = 2 * col[s].mean() - k[np.ix_(s, s)].mean()
            if val > best_val:
                best, best_val = c, val
        chosen.append(best)
    witness = np.abs(col - k[:, chosen].mean(1))
    crit: list[int] = []
    for _ in range(criticisms):
        scores = witness.copy()
        scores[chosen + crit] = -np.inf
        if crit:  # diversity: penalise closeness to criticisms already chosen
            scores -= k[:, crit].max(1) * witness.max()
        crit.append(int(np.argmax(scores)))
    return np.array(chosen), np.array(crit, dtype=int)


# ---------------------------------------------------------------- logistic model + influence

def _logistic_loss(w, x, y, lam):
    """Mean cross-entropy of a softmax-linear model plus (lam / 2) ||w||^2 (log-softmax by
    hand: ``ops.log_softmax`` has no second derivative;
    finding:logsoftmax-second-order)."""
    logits = ops.matmul(x, w.reshape(x.shape[1], y.shape[1]))
    m = ops.stop_gradient(logits.max(-1, keepdims=True))
    lse = m + ops.log(ops.exp(logits - m).sum(-1, keepdims=True))
    return -((logits - lse) * y).sum(-1).mean() + 0.5 * lam * (w * w).sum()


_logistic_grad = ms.grad(_logistic_loss)


def _gdot(w, v, x, y, lam):
    return (_logistic_grad(w, x, y, lam) * v).sum()


_gdot_grad = ms.grad(_gdot)


@ms.jit
def _GRAD(w, x, y, lam):  # noqa: N802 - one jitted graph per named function
    return _logistic_grad(w, x, y, lam)


@ms.jit
def _HVP(w, v, x, y, lam):  # noqa: N802
    return _gdot_grad(w, v, x, y, lam)


def _per_example(w, x, y):
    logits = ops.matmul(x.reshape(1, -1), w.reshape(x.shape[0], y.shape[0]))
    m = ops.stop_gradient(logits.max(-1, keepdims=True))
    lse = m + ops.log(ops.exp(logits - m).sum(-1, keepdims=True))
    return -((logits - lse) * y).sum()


_per_example_grads = ms.vmap(ms.grad(_per_example), in_axes=(None, 0, 0))


@ms.jit
def _PER_EXAMPLE(w, x, y):  # noqa: N802
    return _per_example_grads(w, x, y)


def with_bias(x: np.ndarray) -> np.ndarray:
    """Flatten inputs and append a constant 1 (the bias feature)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.hstack([x, np.ones((len(x), 1))])


@dataclass
class Logistic:
    """Section "Influence": an L2-regularised softmax regression whose weights, gradients and
    exact Hessian come from MindSpore (float64)."""

    w: np.ndarray  # (d * classes,)
    lam: float
    classes: int
    h: np.ndarray | None = None  # the training Hessian once fitted (reused by influence)

    def logits(self, xb: np.ndarray) -> np.ndarray:
        return xb @ self.w.reshape(xb.shape[1], self.classes)

    def losses(self, xb: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = self.logits(xb)
        z = z - z.max(1, keepdims=True)
        return np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]

    def grads(self, xb: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-example loss gradients (n, d * classes) via ``ms.vmap(ms.grad(...))``."""
        return run(_PER_EXAMPLE, self.w, xb, onehot(y, self.classes).astype(np.float64))

    def hessian(self, xb: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The exact Hessian of the training objective, one MindSpore Hessian-vector product
        (grad of grad . v) per column."""
        yb = onehot(y, self.classes).astype(np.float64)
        lam = np.array(self.lam, np.float64)
        eye = np.eye(len(self.w))
        h = np.stack([run(_HVP, self.w, eye[i], xb, yb, lam) for i in range(len(self.w))], 1)
        return (h + h.T) / 2


def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float = 1e-2, classes: int = 10,
                 tol: float = 1e-10) -> Logistic:
    """Fit the logistic model to a stationary point: scipy's L-BFGS driving MindSpore's jitted
    gradient, then Newton steps with the MindSpore Hessian until ||grad|| < ``tol``."""
    from scipy.optimize import minimize

    if not lam > 0:
        raise ValueError(f"lam must be > 0 (the Hessian must be invertible), got {lam!r}")
    xb = with_bias(x)
    yt = onehot(y, classes).astype(np.float64)
    lt = np.array(lam, np.float64)
    model = Logistic(np.zeros(xb.shape[1] * classes), lam, classes)

    def fun(w):
        model.w = w
        loss = float(model.losses(xb, y).mean() + 0.5 * lam * w @ w)
        return loss, run(_GRAD, w, xb, yt, lt)

    res = minimize(fun, model.w, jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "gtol": 1e-11, "ftol": 1e-16})
    model.w = res.x
    model.h = model.hessian(xb, y)  # one exact Hessian, reused for the Newton polish
    for _ in range(10):
        g = run(_GRAD, model.w, xb, yt, lt)
        if np.linalg.norm(g) < tol:
            break
        model.w = model.w - np.linalg.solve(model.h, g)
    return model


def newton_refit(w0: np.ndarray, xb: np.ndarray, y: np.ndarray, lam_n: float, classes: int,
                 tol: float = 1e-11, max_iter: int = 20,
                 outer: np.ndarray | None = None) -> np.ndarray:
    """Section "Influence", the ground truth: exact retraining of sum_i loss_i + (lam_n / 2)
    ||w||^2 by Newton's method in numpy (float64), warm-started at ``w0``."""
    n, d = xb.shape
    if outer is None:
        outer = (xb[:, :, None] * xb[:, None, :]).reshape(n, d * d)
    w = w0.copy()
    for _ in range(max_iter):
        z = xb @ w.reshape(d, classes)
        p = softmax(z)
        g = (xb.T @ (p - np.eye(classes)[y])).reshape(-1) + lam_n * w
        if np.linalg.norm(g) < tol * n:
            break
        s = (p[:, :, None] * np.eye(classes)[None]) - p[:, :, None] * p[:, None, :]
        h = (outer.T @ s.reshape(n, -1)).reshape(d, d, classes, classes)
        h = h.transpose(0, 2, 1, 3).reshape(d * classes, d * classes)
        w = w - np.linalg.solve(h + lam_n * np.eye(d * classes), g)
    return w


@dataclass(frozen=True)
class LooCheck:
    """Predicted vs retrained change of one test loss when each of the top points is left
    out (Koh & Liang 2017, Fig. 2)."""

    indices: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    pearson: float
    spearman: float


def influence_on_test(model: Logistic, h_inv: np.ndarray, xb: np.ndarray, y: np.ndarray,
                      xb_test: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Predicted change of the test loss when each training point is removed:
    (1/n) g_test^T H^-1 g_i (H: Hessian of the mean objective)."""
    g_test = model.grads(xb_test, y_test).sum(0)
    return model.grads(xb, y) @ (h_inv @ g_test) / len(xb)


def loo_check(model: Logistic, x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
              y_test: np.ndarray, top: int = 50) -> LooCheck:
    """Section "Influence": influence of every training point on the test loss, then true
    leave-one-out retraining for the ``top`` points with the largest predicted effect."""
    from scipy import stats

    xb, xbt = with_bias(x), with_bias(x_test)
    if not isinstance(top, int) or not 3 <= top <= len(xb):
        raise ValueError(f"top must be an int in [3, {len(xb)}], got {top!r}")
    h = model.h if model.h is not None else model.hessian(xb, y)
    pred = influence_on_test(model, np.linalg.inv(h), xb, y, xbt, y_test)
    idx = np.argsort(-np.abs(pred), kind="stable")[:top]
    n = len(xb)
    outer = (xb[:, :, None] * xb[:, None, :]).reshape(n, -1)
    w_full = newton_refit(model.w, xb, y, model.lam * n, model.classes, outer=outer)
    base = model_loss(w_full, xbt, y_test, model.classes)
    actual = []
    for i in idx:
        keep = np.arange(n) != i
        w_i = newton_refit(w_full, xb[keep], y[keep], model.lam * n, model.classes,
                           outer=outer[keep])
        actual.append(model_loss(w_i, xbt, y_test, model.classes) - base)
    actual = np.array(actual)
    return LooCheck(idx, pred[idx], actual, float(np.corrcoef(pred[idx], actual)[0, 1]),
                    float(stats.spearmanr(pred[idx], actual).statistic))


def model_loss(w: np.ndarray, xb: np.ndarray, y: np.ndarray, classes: int) -> float:
    """Summed cross-entropy of the softmax-linear weights ``w`` on (xb, y)."""
    return float(Logistic(w, 0.0, classes).losses(xb, y).sum())


def self_influence(model: Logistic, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Section "Mislabelled points": g_i^T H^-1 g_i, how much each point's own loss depends
    on having it in the training set (Koh & Liang 2017, section 5.4)."""
    xb = with_bias(x)
    g = model.grads(xb, y)
    h_inv = np.linalg.inv(model.h if model.h is not None else model.hessian(xb, y))
    return np.einsum("ij,jk,ik->i", g, h_inv, g)


def flip_labels(y: np.ndarray, count: int, classes: int = 10, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Plant ``count`` wrong labels (each moved to a random other class); returns the noisy
    labels and the flipped indices."""
    if not isinstance(count, int) or not 1 <= count <= len(y):
        raise ValueError(f"count must be an int in [1, {len(y)}], got {count!r}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), count, replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, classes, count)) % classes
    return noisy, idx


def hits_in_top(scores: np.ndarray, planted: np.ndarray, fraction: float = 0.05) -> int:
    """How many ``planted`` indices rank in the top ``fraction`` of ``scores``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    top = np.argsort(-scores, kind="stable")[:max(1, int(round(fraction * len(scores))))]
    return int(np.isin(planted, top).sum())


# ---------------------------------------------------------------- CNN influence (CG, LiSSA)

def last_layer(clf: Classifier, x: np.ndarray, damping: float = 1e-2) -> tuple[Logistic,
                                                                                np.ndarray]:
    """Section "Influence on the CNN": the CNN's last layer as a softmax regression on its
    penultimate representation (Koh & Liang's setting for Inception), with ``damping`` as the
    L2 term; returns the model and the features with a bias column."""
    if not damping > 0:
        raise ValueError(f"damping must be > 0, got {damping!r}")
    dense = getattr(clf.net, LAYERS[clf.name][0])
    w = np.vstack([dense.weight.data.asnumpy().T,
                   dense.bias.data.asnumpy()[None]]).astype(np.float64)
    return Logistic(w.reshape(-1), damping, clf.classes), with_bias(clf.hidden(x))


def _hvp(model: Logistic, v: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    return run(_HVP, model.w, v, xb, yb, np.array(model.lam, np.float64))


def conjugate_gradient(model: Logistic, xb: np.ndarray, y: np.ndarray, b: np.ndarray,
                       iters: int = 50, tol: float = 1e-8) -> tuple[np.ndarray, float]:
    """Solve H s = b with MindSpore Hessian-vector products only (no Hessian is formed);
    returns s and the relative residual."""
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    yb = onehot(y, model.classes).astype(np.float64)
    s, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), r @ r
    for _ in range(iters):
        hp = _hvp(model, p, xb, yb)
        alpha = rr / (p @ hp)
        s += alpha * p
        r -= alpha * hp
        rr_new = r @ r
        if np.sqrt(rr_new) < tol * np.linalg.norm(b):
            break
        p, rr = r + (rr_new / rr) * p, rr_new
    return s, float(np.linalg.norm(_hvp(model, s, xb, yb) - b) / np.linalg.norm(b))


def lissa(model: Logistic, xb: np.ndarray, y: np.ndarray, b: np.ndarray, iters: int = 200,
          scale: float | None = None) -> np.ndarray:
    """Agarwal et al. 2017, as in Koh & Liang: s_j = b + (I - H / scale) s_{j-1},
    H^-1 b ~ s_J / scale (``scale`` above the largest eigenvalue, estimated by power
    iteration when None)."""
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    yb = onehot(y, model.classes).astype(np.float64)
    if scale is None:
        v = np.random.default_rng(0).standard_normal(len(b))
        for _ in range(20):
            v = _hvp(model, v, xb, yb)
            v /= np.linalg.norm(v)
        scale = 1.1 * float(v @ _hvp(model, v, xb, yb))
    s = b.copy()
    for _ in range(iters):
        s = b + s - _hvp(model, s, xb, yb) / scale
    return s / scale


def representer_values(clf: Classifier, x_train: np.ndarray, y_train: np.ndarray,
                       x_query: np.ndarray, target, lam: float = 1e-3) -> np.ndarray:
    """Yeh et al. 2018: the logit of ``target`` decomposed over training points,
    alpha_i[target] * <f_i, f_query>, with alpha_i = -(p_i - y_i) / (2 lam n) from the last
    layer (f: the penultimate representation). Returns (m, n_train)."""
    t = clf.check_target(target, len(x_query))
    f_train, f_query = clf.hidden(x_train), clf.hidden(x_query)
    alpha = -(clf.probs(x_train) - onehot(y_train, clf.classes)) / (2 * lam * len(x_train))
    return (f_query @ f_train.T) * alpha[:, t].T
