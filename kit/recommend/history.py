"""Chapter 10, section "A history of training runs": tasks, meta-features, grid, MindSpore runs.

Every run trains a small MLP with a functional ``ms.jit`` train step (graph mode) on one task
for one grid configuration and records the per-epoch validation error (learning curve). Runs
are stored in SQLite through Optuna's RDB storage (one study per task), so a sweep that is
killed loses nothing completed and a re-run continues where it stopped. The shipped, checksummed
file is a byte-stable gzip JSON export of that store (``export_history``).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn, ops

SCHEMA_VERSION = 1
IN_DIM = 64  # every task's features are zero-padded to this width (one jit shape per config)
OUT_DIM = 10  # and its classes masked to this many logits
MAX_TRAIN = 192
MAX_VAL = 200

# The discrete search space (chapter 10 "Search space"): a full factorial grid.
SPACE: dict[str, tuple[Any, ...]] = {
    "lr": (0.003, 0.03, 0.3),
    "optimizer": ("sgd", "momentum", "adam"),
    "width": (16, 64),
    "depth": (1, 2),
    "batch": (16, 64),
    "weight_decay": (0.0, 0.001),
}
OPTIMIZERS = SPACE["optimizer"]


# ---------------------------------------------------------------- search space and grid ----

def check_space(space: Mapping[str, Sequence[Any]]) -> dict[str, tuple[Any, ...]]:
    """Validate a discrete search space: known names, non-empty, ascending numbers, known
    optimizers (bad input section)."""
    if set(space) != set(SPACE):
        raise ValueError(f"search space names must be {sorted(SPACE)}, got {sorted(space)}")
    out = {}
    for name, values in space.items():
        values = tuple(values)
        if not values:
            raise ValueError(f"search space {name!r} must list at least one value, got []")
        if name == "optimizer":
            bad = [v for v in values if v not in OPTIMIZERS]
            if bad:
                raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                                 f"got {bad[0]!r}")
        else:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ValueError(f"search space {name!r} must hold numbers, got {values!r}")
            if any(b <= a for a, b in zip(values, values[1:], strict=False)):
                raise ValueError(f"search space {name!r} must be strictly ascending "
                                 f"(low to high), got {values!r}")
            if values[0] < 0 or (name != "weight_decay" and values[0] <= 0):
                raise ValueError(f"search space {name!r} must be positive (weight_decay: "
                                 f">= 0), got {values!r}")
        out[name] = values
    return out


def check_range(name: str, low: float, high: float) -> tuple[float, float]:
    """A continuous range ``low < high`` (an inverted range is an error, never swapped)."""
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"range {name!r} must have low < high, got low={low!r}, high={high!r}")
    return low, high


def grid(space: Mapping[str, Sequence[Any]] = SPACE) -> list[dict[str, Any]]:
    """Every configuration of the factorial grid, in a fixed order (config id = index)."""
    space = check_space(space)
    names = list(SPACE)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(space[n] for n in names))]


def config_key(config: Mapping[str, Any]) -> str:
    """A stable text key of one configuration."""
    return json.dumps({k: config[k] for k in SPACE}, sort_keys=True)


# ------------------------------------------------------------------------------ tasks ----

@dataclass(frozen=True)
class Task:
    """One classification task: standardised features, integer labels, and how it was made."""

    name: str
    x: np.ndarray  # (n, d) float32, d <= IN_DIM
    y: np.ndarray  # (n,) int32 in 0..k-1, k <= OUT_DIM
    recipe: str

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1


def _standardise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    sd = x.std(0)
    return ((x - x.mean(0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def _relabel(y: np.ndarray) -> np.ndarray:
    return np.unique(y, return_inverse=True)[1].astype(np.int32)


def _digits_images() -> tuple[np.ndarray, np.ndarray]:
    from kit.datasets import digits

    d = digits()
    return d.images, d.target


TASK_RECIPES: dict[str, str] = {
    "digits": "sklearn digits 8x8, 10 classes",
    "digits_0to4": "digits, classes 0-4 only",
    "digits_parity": "digits, label = digit parity (2 classes)",
    "digits_3v8": "digits, 3 vs 8 (2 classes)",
    "digits_noise08": "digits + N(0, 0.8^2) pixel noise",
    "digits_down4": "digits average-pooled 2x2 to 4x4 = 16 features",
    "digits_small": "digits, 120 training samples",
    "digits_labelnoise": "digits, 25% of labels replaced uniformly at random",
    "breast_cancer": "sklearn breast_cancer, 30 features, 2 classes",
    "wine": "sklearn wine, 13 features, 3 classes",
    "iris": "sklearn iris, 4 features, 3 classes",
    "wine_noise": "wine + 20 standard-normal noise features",
    "moons_01": "make_moons(n=720, noise=0.1)",
    "circles_005": "make_circles(n=720, factor=0.5, noise=0.05)",
    "clf_easy": "make_classification(n=720, f=20, informative=10, class_sep=2.0)",
    "clf_hard": "make_classification(n=720, f=20, informative=5, class_sep=0.5, flip_y=0.1)",
    "clf_multi5": "make_classification(n=720, f=30, informative=12, classes=5)",
    "clf_imbalanced": "make_classification(n=720, f=10, informative=6, weights=[0.85])",
    "blobs_8": "make_blobs(n=720, centers=8, f=10, cluster_std=3.0)",
    "quantiles_3": "make_gaussian_quantiles(n=720, f=6, classes=3)",
}
TASK_NAMES = tuple(TASK_RECIPES)


def family(task_name: str) -> str:
    """The task family of a task name: the part before the first ``_`` (chapter 10,
    "Leave-one-family-out evaluation").

    Every variant of one source shares its prefix (``digits``, ``digits_0to4`` ... -> ``digits``;
    ``wine``, ``wine_noise`` -> ``wine``; the four ``make_classification`` tasks ``clf_*`` ->
    ``clf``), so holding out a family keeps related tasks out of the training history.
    """
    if not isinstance(task_name, str) or not task_name.strip("_"):
        raise ValueError(f"task_name must be a non-empty task name such as 'digits_0to4', "
                         f"got {task_name!r}")
    return task_name.strip("_").split("_", 1)[0]


def families(task_names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``{family: task names in it}`` in first-seen order (chapter 10 "The history")."""
    out: dict[str, list[str]] = {}
    for name in task_names:
        out.setdefault(family(name), []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def make_task(name: str) -> Task:
    """Build one task of :data:`TASK_RECIPES` deterministically (seed fixed per task)."""
    from sklearn import datasets as skd

    if name not in TASK_RECIPES:
        raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}, got {name!r}")
    rng = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
    n, seed = 720, int(rng.integers(0, 2**31 - 1))
    if name.startswith("digits"):
        images, y = _digits_images()
        x = images.reshape(len(images), -1)
        if name == "digits_0to4":
            keep = y < 5
            x, y = x[keep], y[keep]
        elif name == "digits_parity":
            y = y % 2
        elif name == "digits_3v8":
            keep = (y == 3) | (y == 8)
            x, y = x[keep], y[keep]
        elif name == "digits_noise08":
            x = x + rng.normal(0, 0.8, x.shape)
        elif name == "digits_down4":
            x = images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(images), -1)
        elif name == "digits_small":
            idx = rng.permutation(len(y))[:200]
            x, y = x[idx], y[idx]
        elif name == "digits_labelnoise":
            flip = rng.random(len(y)) < 0.25
            y = np.where(flip, rng.integers(0, 10, len(y)), y)
    elif name == "breast_cancer":
        x, y = skd.load_breast_cancer(return_X_y=True)
    elif name in ("wine", "wine_noise"):
        x, y = skd.load_wine(return_X_y=True)
        if name == "wine_noise":
            x = np.hstack([_standardise(x), rng.normal(size=(len(y), 20))])
    elif name == "iris":
        x, y = skd.load_iris(return_X_y=True)
    elif name.startswith("moons"):
        x, y = skd.make_moons(n, noise=0.1 if name == "moons_01" else 0.3, random_state=seed)
    elif name.startswith("circles"):
        x, y = skd.make_circles(n, factor=0.5, noise=0.05 if name == "circles_005" else 0.15,
                                random_state=seed)
    elif name == "clf_easy":
        x, y = skd.make_classification(n, n_features=20, n_informative=10, class_sep=2.0,
                                       random_state=seed)
    elif name == "clf_hard":
        x, y = skd.make_classification(n, n_features=20, n_informative=5, class_sep=0.5,
                                       flip_y=0.1, random_state=seed)
    elif name == "clf_multi5":
        x, y = skd.make_classification(n, n_features=30, n_informative=12, n_classes=5,
                                       random_state=seed)
    elif name == "clf_imbalanced":
        x, y = skd.make_classification(n, n_features=10, n_informative=6, weights=[0.85],
                                       random_state=seed)
    elif name == "blobs_8":
        x, y = skd.make_blobs(n, centers=8, n_features=10, cluster_std=3.0, random_state=seed)
    else:  # quantiles_3
        x, y = skd.make_gaussian_quantiles(n_samples=n, n_features=6, n_classes=3,
                                           random_state=seed)
    order = rng.permutation(len(y))
    return Task(name, _standardise(np.asarray(x)[order]), _relabel(np.asarray(y)[order]),
                TASK_RECIPES[name])


def split(task: Task) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/validation split (2/3, 1/3 of the task, capped at MAX_TRAIN / MAX_VAL)."""
    n = len(task.y)
    n_train = min(MAX_TRAIN, (2 * n) // 3)
    n_val = min(MAX_VAL, n - n_train)
    return (task.x[:n_train], task.y[:n_train], task.x[n_train:n_train + n_val],
            task.y[n_train:n_train + n_val])


# -------------------------------------------------------------------- meta-features ----

META_FEATURES = ("log_n", "log_d", "n_classes", "class_entropy", "minority_share",
                 "pca95_share", "mean_abs_corr", "nn1_error", "linear_error", "stump_error")


def meta_features(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Simple, statistical and landmarking meta-features of a task (auto-sklearn style).

    Landmarkers (1-NN, logistic regression, decision stump) are 3-fold cross-validated errors.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or len(x) != len(y) or len(y) < 6:
        raise ValueError(f"x must be (n, d) with n >= 6 rows matching y, got x {x.shape}, "
                         f"y {y.shape}")
    counts = np.bincount(_relabel(y))
    p = counts / counts.sum()
    ev = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    share = np.cumsum(ev) / ev.sum() if ev.sum() > 0 else np.ones(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(x, rowvar=False) if x.shape[1] > 1 else np.ones((1, 1))
    off = np.abs(corr[~np.eye(len(corr), dtype=bool)]) if x.shape[1] > 1 else np.zeros(1)

    def cv_error(model: Any) -> float:
        return float(1.0 - cross_val_score(model, x, y, cv=3).mean())

    return {
        "log_n": float(np.log(len(y))),
        "log_d": float(np.log(x.shape[1])),
        "n_classes": float(len(counts)),
        "class_entropy": float(-(p * np.log(p)).sum() / np.log(max(len(p), 2))),
        "minority_share": float(p.min()),
        "pca95_share": float((np.searchsorted(share, 0.95) + 1) / x.shape[1]),
        "mean_abs_corr": float(np.nan_to_num(off).mean()),
        "nn1_error": cv_error(KNeighborsClassifier(1)),
        "linear_error": cv_error(LogisticRegression(max_iter=300)),
        "stump_error": cv_error(DecisionTreeClassifier(max_depth=1, random_state=0)),
    }


# ---------------------------------------------------- MindSpore training (graph mode) ----

class _MLPLoss(nn.Cell):
    """Padded MLP + masked softmax cross-entropy + L2 weight decay (a Parameter, so one graph
    serves every learning rate and weight decay)."""

    def __init__(self, depth: int, width: int) -> None:
        super().__init__()
        sizes = [IN_DIM] + [width] * depth + [OUT_DIM]
        params = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            params.append(ms.Parameter(ms.Tensor(np.zeros((a, b), np.float32)), name=f"w{i}"))
            params.append(ms.Parameter(ms.Tensor(np.zeros(b, np.float32)), name=f"b{i}"))
        self.weights = ms.ParameterTuple(params)
        self.depth = depth
        self.wd = ms.Parameter(ms.Tensor(np.float32(0.0)), name="wd", requires_grad=False)

    def construct(self, x: Any, y1h: Any, mask: Any) -> Any:
        h = x
        for i in range(self.depth):
            h = ops.relu(ops.matmul(h, self.weights[2 * i]) + self.weights[2 * i + 1])
        logits = ops.matmul(h, self.weights[2 * self.depth]) + self.weights[2 * self.depth + 1]
        logits = logits + mask
        logp = logits - ops.logsumexp(logits, 1, True)
        l2 = 0.0
        for i in range(self.depth + 1):
            l2 = l2 + (self.weights[2 * i] ** 2).sum()
        return -(logp * y1h).sum(axis=1).mean() + 0.5 * self.wd * l2


class Trainer(nn.Cell):
    """One graph-mode train step (forward, backward, SGD / momentum / Adam update by
    ``ops.assign``); weights, optimizer state, lr and step count are Parameters that
    :func:`train_run` resets, so a (optimizer, depth, width) graph is compiled once per
    batch shape and reused for every run (chapter 10 "A history of training runs")."""

    def __init__(self, optimizer: str, depth: int, width: int) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                             f"got {optimizer!r}")
        self.net = _MLPLoss(depth, width)
        self.weights = self.net.weights
        self.m = self.weights.clone(prefix="m", init="zeros")
        self.v = self.weights.clone(prefix="v", init="zeros")
        self.lr = ms.Parameter(ms.Tensor(np.float32(0.1)), name="lr", requires_grad=False)
        self.t = ms.Parameter(ms.Tensor(np.float32(0.0)), name="t", requires_grad=False)
        self.grad = ops.GradOperation(get_by_list=True)
        self.optimizer = optimizer
        self.n = len(self.weights)

    def construct(self, x: Any, y1h: Any, mask: Any) -> Any:
        loss = self.net(x, y1h, mask)
        grads = self.grad(self.net, self.weights)(x, y1h, mask)
        t = self.t + 1.0
        ops.assign(self.t, t)
        c1 = 1.0 - ops.pow(0.9, t)
        c2 = 1.0 - ops.pow(0.999, t)
        for i in range(self.n):
            w, g = self.weights[i], grads[i]
            if self.optimizer == "sgd":
                ops.assign(w, w - self.lr * g)
            elif self.optimizer == "momentum":
                vel = 0.9 * self.m[i] + g
                ops.assign(self.m[i], vel)
                ops.assign(w, w - self.lr * vel)
            else:
                m = 0.9 * self.m[i] + 0.1 * g
                v = 0.999 * self.v[i] + 0.001 * g * g
                ops.assign(self.m[i], m)
                ops.assign(self.v[i], v)
                ops.assign(w, w - self.lr * (m / c1) / (ops.sqrt(v / c2) + 1e-8))
        return loss

    def reset(self, weights: Sequence[np.ndarray], lr: float, wd: float) -> None:
        """Load initial weights, zero the optimizer state, set lr and weight decay."""
        for p, w in zip(self.weights, weights, strict=True):
            p.set_data(ms.Tensor(w))
        for p in list(self.m) + list(self.v):
            p.set_data(ms.Tensor(np.zeros(p.shape, np.float32)))
        self.lr.set_data(ms.Tensor(np.float32(lr)))
        self.net.wd.set_data(ms.Tensor(np.float32(wd)))
        self.t.set_data(ms.Tensor(np.float32(0.0)))


_TRAINERS: dict[tuple[str, int, int], Trainer] = {}


def trainer(optimizer: str, depth: int, width: int) -> Trainer:
    """The cached train-step graph of one (optimizer, depth, width)."""
    key = (optimizer, depth, width)
    if key not in _TRAINERS:
        _TRAINERS[key] = Trainer(optimizer, depth, width)
    return _TRAINERS[key]


def init_params(d_in: int, width: int, depth: int, rng: np.random.Generator) -> list[np.ndarray]:
    """He-uniform weights for the real fan-in; padded input rows are zero (no effect)."""
    sizes = [IN_DIM] + [width] * depth + [OUT_DIM]
    fans = [d_in] + [width] * depth
    out = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        bound = math.sqrt(6.0 / fans[i]) if i < depth else math.sqrt(3.0 / fans[i])
        w = rng.uniform(-bound, bound, (a, b)).astype(np.float32)
        if i == 0:
            w[d_in:] = 0.0
        out += [w, np.zeros(b, np.float32)]
    return out


def _np_forward(params: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    h = x
    for i in range(len(params) // 2 - 1):
        h = np.maximum(h @ params[2 * i] + params[2 * i + 1], 0.0)
    return h @ params[-2] + params[-1]


def _pad(x: np.ndarray) -> np.ndarray:
    out = np.zeros((len(x), IN_DIM), np.float32)
    out[:, :x.shape[1]] = x
    return out


def run_seed(task: str, config: Mapping[str, Any]) -> int:
    """The fixed seed of one (task, configuration) run."""
    digest = hashlib.sha256(f"{task}|{config_key(config)}".encode()).hexdigest()
    return int(digest[:8], 16)


def train_run(task: Task, config: Mapping[str, Any], epochs: int) -> dict[str, Any]:
    """Train one configuration on one task; per-epoch validation error and final metrics."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    cfg = {k: config[k] for k in SPACE}
    check_space({k: (v,) for k, v in cfg.items()})
    xtr, ytr, xva, yva = split(task)
    rng = np.random.default_rng(run_seed(task.name, cfg))
    net = trainer(cfg["optimizer"], cfg["depth"], cfg["width"])
    net.reset(init_params(xtr.shape[1], cfg["width"], cfg["depth"], rng), cfg["lr"],
              cfg["weight_decay"])
    mask = np.full(OUT_DIM, -1e4, np.float32)
    mask[:task.n_classes] = 0.0
    mask_t = ms.Tensor(mask)
    xtr_p, xva_p = _pad(xtr), _pad(xva)
    onehot = np.eye(OUT_DIM, dtype=np.float32)[ytr]
    batch = cfg["batch"] if cfg["batch"] <= len(ytr) else len(ytr)
    curve, losses, t = [], [], 0
    for _ in range(epochs):
        order = rng.permutation(len(ytr))
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start:start + batch]
            t += 1
            loss = net(ms.Tensor(xtr_p[idx]), ms.Tensor(onehot[idx]), mask_t)
        host = [p.asnumpy() for p in net.weights]
        losses.append(float(loss.asnumpy()))
        logits = _np_forward(host, xva_p) + mask
        err = float(np.mean(logits.argmax(1) != yva))
        curve.append(err if np.all(np.isfinite(logits)) else 1.0)
    return {"val_error": curve[-1], "curve": curve, "best_val_error": min(curve),
            "train_loss": losses[-1] if math.isfinite(losses[-1]) else None, "steps": t}


# ------------------------------------------------------------- the SQLite history store ----

def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def distributions(space: Mapping[str, Sequence[Any]] = SPACE) -> dict[str, Any]:
    """Optuna categorical distributions of the grid (a history study is an Optuna study)."""
    optuna = _optuna()
    return {k: optuna.distributions.CategoricalDistribution(list(v)) for k, v in space.items()}


def open_store(path: str | Path, create: bool = True) -> Any:
    """Optuna RDB storage on a SQLite file; a corrupt or foreign file raises a clear ValueError."""
    optuna = _optuna()
    path = Path(path)
    if not create and not path.is_file():
        raise ValueError(f"history store {path} does not exist")
    if path.exists():
        try:
            with open(path, "rb") as handle:
                head = handle.read(16)
            if head and head != b"SQLite format 3\x00":
                raise sqlite3.DatabaseError("not a SQLite file")
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                con.execute("PRAGMA integrity_check").fetchall()
            finally:
                con.close()
        except sqlite3.DatabaseError as err:
            raise ValueError(f"history store {path} is not a readable SQLite file ({err}); "
                             "delete it and re-run the generator, or rebuild it from the "
                             "export with store_from_export") from err
    try:
        return optuna.storages.RDBStorage(f"sqlite:///{path}")
    except Exception as err:  # optuna wraps schema problems in several exception types
        raise ValueError(f"history store {path} is not an Optuna history store: {err}") from err


def _study(storage: Any, task: Task, meta: Mapping[str, float] | None = None) -> Any:
    optuna = _optuna()
    study = optuna.create_study(study_name=f"history/{task.name}", storage=storage,
                                direction="minimize", load_if_exists=True)
    attrs = study.user_attrs
    if "schema_version" in attrs and attrs["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"history study {task.name!r} has schema_version "
                         f"{attrs['schema_version']}, this kit reads {SCHEMA_VERSION}; "
                         "use a new store file (nothing was changed)")
    if "schema_version" not in attrs:
        study.set_user_attr("schema_version", SCHEMA_VERSION)
        study.set_user_attr("recipe", task.recipe)
        study.set_user_attr("meta_features", dict(meta or meta_features(task.x, task.y)))
    return study


def done_keys(study: Any) -> set[str]:
    """Configuration keys already completed in a study."""
    return {t.user_attrs["config_key"] for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE" and "config_key" in t.user_attrs}


def record_run(study: Any, config: Mapping[str, Any], result: Mapping[str, Any],
               seconds: float) -> None:
    """Add one finished run as a COMPLETE trial (one transaction: all or nothing)."""
    optuna = _optuna()
    trial = optuna.trial.create_trial(
        params={k: config[k] for k in SPACE}, distributions=distributions(),
        value=float(result["val_error"]),
        user_attrs={"config_key": config_key(config), "curve": list(result["curve"]),
                    "best_val_error": result["best_val_error"],
                    "train_loss": result["train_loss"], "steps": result["steps"],
                    "seconds": round(float(seconds), 4)})
    study.add_trial(trial)


def generate(store: str | Path, tasks: Iterable[str], configs: Sequence[Mapping[str, Any]],
             epochs: int, progress: Callable[[str], None] | None = None) -> int:
    """Run every missing (task, config) pair into the store; return how many were run.

    Resumable: completed runs are skipped, so a killed sweep continues where it stopped.
    """
    import time

    storage = open_store(store)
    ran = 0
    for name in tasks:
        task = make_task(name)
        study = _study(storage, task)
        have = done_keys(study)
        for config in configs:
            if config_key(config) in have:
                continue
            start = time.perf_counter()
            result = train_run(task, config, epochs)
            record_run(study, config, result, time.perf_counter() - start)
            ran += 1
        if progress is not None:
            progress(f"{name}: {len(done_keys(study))} runs")
    return ran


def export_history(store: str | Path, out: str | Path, epochs: int) -> dict[str, Any]:
    """Write the store as sorted, gzip-compressed JSON with mtime=0 (byte-stable)."""
    optuna = _optuna()
    storage = open_store(store, create=False)
    configs = grid()
    index = {config_key(c): i for i, c in enumerate(configs)}
    tasks = {}
    for summary in sorted(optuna.get_all_study_summaries(storage), key=lambda s: s.study_name):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        name = summary.study_name.split("/", 1)[1]
        runs = {}
        for t in study.get_trials(deepcopy=False):
            if t.state.name != "COMPLETE":
                continue
            runs[str(index[t.user_attrs["config_key"]])] = {
                "val_error": round(t.value, 6),
                "curve": [round(v, 6) for v in t.user_attrs["curve"]]}
        tasks[name] = {"recipe": study.user_attrs["recipe"],
                       "meta_features": {k: round(v, 6) for k, v in
                                         study.user_attrs["meta_features"].items()},
                       "runs": runs}
    doc = {"schema_version": SCHEMA_VERSION, "space": {k: list(v) for k, v in SPACE.items()},
           "epochs": epochs, "in_dim": IN_DIM, "configs": configs, "tasks": tasks}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with open(out, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0,
                                                  filename="") as gz:
        gz.write(raw)
    return doc


def store_from_export(doc: Mapping[str, Any], store: str | Path) -> int:
    """Rebuild a SQLite history store from an export (the working store is disposable)."""
    storage = open_store(store)
    configs = doc["configs"]
    n = 0
    for name, entry in doc["tasks"].items():
        task = Task(name, np.zeros((6, 1), np.float32), np.zeros(6, np.int32), entry["recipe"])
        study = _study(storage, task, entry["meta_features"])
        have = done_keys(study)
        for cid, run in entry["runs"].items():
            config = configs[int(cid)]
            if config_key(config) in have:
                continue
            record_run(study, config, {"val_error": run["val_error"], "curve": run["curve"],
                                       "best_val_error": min(run["curve"]), "train_loss": None,
                                       "steps": 0}, 0.0)
            n += 1
    return n


# ------------------------------------------------------------------ the shipped file ----

HISTORY_FILE = "history.json.gz"


def history_folder() -> Path:
    """``datasets/recommend`` (its own manifest.json and README.md)."""
    from kit.datasets import DATASETS

    return DATASETS / "recommend"


def read_export(path: str | Path) -> dict[str, Any]:
    """Parse an export; a file of another schema version is refused with a clear message."""
    try:
        with gzip.open(path, "rb") as handle:
            doc = json.loads(handle.read().decode())
    except (OSError, ValueError) as err:
        raise ValueError(f"history file {path} is not a gzip JSON history export: {err}") from err
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if version != SCHEMA_VERSION:
        raise ValueError(f"history file {path} has schema_version {version!r}; this kit reads "
                         f"schema_version {SCHEMA_VERSION} (regenerate it with "
                         "`python datasets/recommend/make_history.py`)")
    return doc


def load_history(folder: Path | None = None) -> dict[str, Any]:
    """The shipped history, after its sha256 check against datasets/recommend/manifest.json
    (a missing or changed file raises kit.datasets.DatasetError naming the file and the
    command that regenerates it)."""
    from kit.datasets import verified_path

    return read_export(verified_path(HISTORY_FILE, folder or history_folder()))
