"""The experiments of chapter 06's notebook (each function names its section)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from kit.confidential import ckks, compiler, protocol, tee
from kit.confidential import fixedpoint as fx
from kit.confidential import model as md
from kit.confidential import shares as sh
from kit.confidential.ir import Linear, Op, describe, evaluate
from kit.datasets import digits

TRUST = {
    "plaintext": "the server sees the input and the model (no protection)",
    "MPC (2 parties)": "secure while the two servers do not collude (semi-honest); dealer "
                       "trusted offline",
    "CKKS (HE)": "only the client's key holder can decrypt; server is untrusted "
                 "(semi-honest); the model is visible to the server",
    "TEE (simulated)": "trust the CPU vendor and enclave code; side channels out of scope",
}


@dataclass
class Data:
    """Digits split into train and test (section "Models")."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(test_size: int, seed: int, features: int = 64) -> Data:
    """digits 8x8, a seeded split; ``features=16`` average-pools 2x2 to 4x4 images."""
    if features not in (16, 64):
        raise ValueError(f"features must be 16 or 64, got {features!r}")
    d = digits()
    x = d.images if features == 64 else d.images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4))
    x = x.reshape(len(x), -1).astype(np.float32)
    perm = np.random.default_rng(seed).permutation(len(x))
    te, tr = perm[:test_size], perm[test_size:]
    return Data(x[tr], d.target[tr], x[te], d.target[te])


@dataclass
class Trained:
    """A trained MindSpore model and its compiled secure plan."""

    name: str
    net: md.MLP
    plan: list[Op]  # folded: Linear / Square / Relu
    logits: np.ndarray  # MindSpore plaintext logits on the test set
    accuracy: float
    seconds: float
    history: list[float] = field(default_factory=list)


def train_model(name: str, sizes: list[int], activation: str, data: Data, epochs: int,
                seed: int, donor: md.MLP | None = None, lr: float = 3e-3) -> Trained:
    """Section "Models": train (or fine-tune from ``donor``) in graph mode, then compile."""
    start = time.perf_counter()
    net = md.MLP(sizes, activation)
    if donor is not None:
        md.load_weights(net, donor)
    history = md.train(net, data.x_train, data.y_train, epochs, lr=lr, seed=seed)
    logits = md.predict(net, data.x_test)
    plan = compiler.fold_polynomials(md.export(net))
    return Trained(name, net, plan, logits, float((logits.argmax(1) == data.y_test).mean()),
                   time.perf_counter() - start, history)


def truncation_errors(frac_bits: int, n: int, seed: int) -> dict[str, float]:
    """Section "Truncation": SecureML truncation of shared products vs exact products."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-8, 8, n), rng.uniform(-8, 8, n)
    prod = fx.encode(x, frac_bits) * fx.encode(y, frac_bits)
    s0, s1 = sh.share(prod, rng)
    got = fx.decode(sh.reconstruct(fx.truncate_share(s0, 0, frac_bits),
                                   fx.truncate_share(s1, 1, frac_bits)), frac_bits)
    exact = fx.decode(fx.encode(x, frac_bits), frac_bits) * fx.decode(
        fx.encode(y, frac_bits), frac_bits)
    ulps = np.abs(got - exact) * 2.0**frac_bits
    return {"max_error_ulps": float(ulps.max()), "share_wrap_failures": int((ulps > 1).sum()),
            "mean_abs_error": float(np.abs(got - exact).mean())}


def poly_fit_error(bound: float = 4.0) -> float:
    """Section "Polynomial activation": max |fit - ReLU| of the initial degree-2 fit."""
    c0, c1, c2 = md.relu_poly_fit(bound)
    x = np.linspace(-bound, bound, 801)
    return float(np.max(np.abs(c0 + c1 * x + c2 * x * x - np.maximum(x, 0))))


def independence(plan: list[Op], x_a: np.ndarray, x_b: np.ndarray, trials: int,
                 frac_bits: int, seed: int) -> dict[str, float]:
    """Section "Security checks": party 1's view (input share and every message received) for
    two different inputs; two-sample KS test on the views and a chi-square test of the top
    byte against uniform. Large p-values: no detectable dependence on the input."""
    views = {}
    for label, x in (("a", x_a), ("b", x_b)):
        words = []
        for t in range(trials):
            run = protocol.secure_inference(plan, x, frac_bits, argmax=True, mode="thread",
                                            seed=seed + 1000 * t + (500 if label == "b" else 0),
                                            keep_view=True)
            # ring-valued messages only: opened bits (0/1 words) are uniform bits, not words
            ring = [v for v in run.views[1] if v.size and int(v.max()) > 1]
            words.append(np.concatenate([v.ravel() for v in ring]))
        views[label] = np.stack(words)  # (trials, words): same positions across trials
    a, b = views["a"], views["b"]
    ks = stats.ks_2samp((a[:, :512] / 2.0**64).ravel(), (b[:, :512] / 2.0**64).ravel())
    top = np.bincount((b.ravel() >> np.uint64(56)).astype(np.int64), minlength=256)
    chi = stats.chisquare(top)
    per_position = [stats.ks_2samp(a[:, j] / 2.0**64, b[:, j] / 2.0**64).pvalue
                    for j in range(min(200, a.shape[1]))]
    return {"ks_pvalue": float(ks.pvalue), "chi2_pvalue_top_byte": float(chi.pvalue),
            "positions_tested": len(per_position),
            "positions_rejected_at_1pct": int(np.sum(np.array(per_position) < 0.01)),
            "view_words": int(a.shape[1])}


def leaks_plaintext(plan: list[Op], x: np.ndarray, frac_bits: int, seed: int) -> bool:
    """Section "Security checks": does the encoded input appear anywhere in a party's view?"""
    run = protocol.secure_inference(plan, x, frac_bits, argmax=True, seed=seed, mode="thread",
                                    keep_view=True)
    secret = set(fx.encode(x, frac_bits).ravel().tolist()) - {0}
    seen = set(np.concatenate([v.ravel() for r in (0, 1) for v in run.views[r]]).tolist())
    return bool(secret & seen)


def suite_architectures(features: int, width: int) -> list[tuple[str, list[int], str]]:
    """Section "The secure compiler": five models of 1-4 layers for automatic parameters."""
    return [
        ("1 layer (linear)", [features, 10], "poly"),
        ("2 layers, x^2", [features, width, 10], "square"),
        ("2 layers, poly", [features, width, 10], "poly"),
        ("3 layers, poly", [features, width, width, 10], "poly"),
        ("4 layers, poly", [features, width, width, width, 10], "poly"),
    ]


def run_suite(data: Data, width: int, epochs: int, min_scale_bits: int, frac_bits: int,
              seed: int) -> pd.DataFrame:
    """Section "The secure compiler": train each architecture, compile, choose CKKS
    parameters automatically, run it encrypted and under MPC, compare with plaintext."""
    rows = []
    for name, sizes, act in suite_architectures(data.x_train.shape[1], width):
        t = train_model(name, sizes, act, data, epochs, seed, lr=2e-3)
        ref = evaluate(t.plan, data.x_test)
        params = compiler.choose_ckks(t.plan, data.x_train, len(data.x_test), min_scale_bits)
        try:
            he = ckks.infer_packed(t.plan, data.x_test, params)
            he_pred, he_ms, he_bytes, err = he.logits.argmax(1), he.ms_per_sample, \
                he.bytes_per_sample, ""
        except (ValueError, RuntimeError) as exc:
            he_pred, he_ms, he_bytes, err = None, np.nan, np.nan, str(exc)
        mpc = protocol.secure_inference(t.plan, data.x_test, frac_bits, seed=seed,
                                        mode="thread")
        tee_run = tee.infer(t.plan, data.x_test, repeats=3)
        agree = float((he_pred == ref.argmax(1)).mean()) if he_pred is not None else 0.0
        rows.append({
            "model": name, "layers": len(sizes) - 1, "plan": describe(t.plan),
            "depth": params.depth, "N": params.poly_modulus_degree,
            "modulus chain": list(params.coeff_mod_bit_sizes), "scale bits": params.scale_bits,
            "packing": params.packing, "plaintext acc": t.accuracy,
            "CKKS acc": float((he_pred == data.y_test).mean()) if he_pred is not None else 0.0,
            "CKKS agreement": agree, "CKKS ms/sample": he_ms, "CKKS bytes/sample": he_bytes,
            "MPC acc": float((mpc.outputs == data.y_test).mean()),
            "MPC ms/inference": mpc.ms_per_inference, "MPC bytes/inference":
                mpc.bytes_per_inference, "MPC rounds": mpc.rounds,
            "TEE ms/inference": tee_run.ms_per_inference,
            "works": bool(not err and agree >= 0.99), "error": err})
    return pd.DataFrame(rows)


@dataclass
class TEECosts:
    """Section "A simulated TEE": the TEE against plaintext and against MPC, amortised over a
    batch and per single query, timed in interleaved rounds (per-round ratios)."""

    rounds: dict[str, list[float]]
    ms: dict[str, float]  # median ms per inference of each side

    def metrics(self) -> dict[str, float]:
        return {f"{side}_ms_per_inference": v for side, v in self.ms.items()}

    def spreads(self) -> dict[str, list[float]]:
        return self.rounds


def tee_costs(*, plan: list[Op], x: np.ndarray, frac_bits: int, queries: int, rounds: int,
              seed: int) -> TEECosts:
    """Section "A simulated TEE": in every round, plaintext and the sealed TEE on the batch
    ``x``, the TEE and plaintext on ``queries`` single queries, and two-party MPC (threads,
    loopback; its online seconds) on the batch and on one query. Ratios per round:
    ``tee_overhead_vs_plaintext`` (batch), ``tee_query_overhead_vs_plaintext``,
    ``mpc_vs_tee_batch`` and ``mpc_vs_tee_query`` (MPC time over TEE time, per inference)."""
    import os

    from kit.core.measure import interleave

    if not isinstance(queries, int) or not 1 <= queries <= len(x):
        raise ValueError(f"queries must be an int in [1, {len(x)}], got {queries!r}")
    x = np.asarray(x, np.float64)
    key, q = os.urandom(32), x[:queries]
    online: dict[str, list[float]] = {"batch": [], "query": []}

    def mpc(batch: np.ndarray, label: str) -> None:
        online[label].append(protocol.secure_inference(plan, batch, frac_bits, seed=seed,
                                                       mode="thread").seconds_online)

    repeats = 5
    timed = interleave({"plain": lambda: evaluate(plan, x),
                        "tee": lambda: tee.infer_batch(plan, x, key),
                        "plain_query": lambda: [evaluate(plan, r[None]) for r in q],
                        "tee_query": lambda: tee.infer_each(plan, q, key),
                        "mpc": lambda: mpc(x, "batch"), "mpc_query": lambda: mpc(x[:1], "query")},
                       rounds=rounds, repeats=repeats, warmup=1)
    per = {name: np.array(timed.round_minima(name)) for name in timed.seconds}
    for label, name in (("batch", "mpc"), ("query", "mpc_query")):
        per[name] = np.array(online[label][1:]).reshape(rounds, repeats).min(axis=1)
    per_inference = {"plaintext_batch": per["plain"] / len(x), "tee_batch": per["tee"] / len(x),
                     "plaintext_query": per["plain_query"] / queries,
                     "tee_query": per["tee_query"] / queries, "mpc_batch": per["mpc"] / len(x),
                     "mpc_query": per["mpc_query"]}
    ratio = {"tee_overhead_vs_plaintext": per_inference["tee_batch"]
             / per_inference["plaintext_batch"],
             "tee_query_overhead_vs_plaintext": per_inference["tee_query"]
             / per_inference["plaintext_query"],
             "mpc_vs_tee_batch": per_inference["mpc_batch"] / per_inference["tee_batch"],
             "mpc_vs_tee_query": per_inference["mpc_query"] / per_inference["tee_query"]}
    return TEECosts({k: [float(v) for v in r] for k, r in ratio.items()},
                    {k: float(np.median(v)) * 1e3 for k, v in per_inference.items()})


def backend_rows(plain_ms: float, plain_bytes: int, plain_acc: float, mpc: protocol.MPCRun,
                 mpc_acc: float,
                 he: ckks.HERun, he_acc: float, he_single: ckks.HERun,
                 tee_run: tee.TEERun, tee_acc: float) -> pd.DataFrame:
    """Section "Results": trust model x latency x bytes x accuracy, one row per backend."""
    return pd.DataFrame([
        {"backend": "plaintext", "trust model": TRUST["plaintext"],
         "ms/inference": plain_ms, "bytes/inference": plain_bytes, "rounds": 0,
         "accuracy": plain_acc},
        {"backend": "MPC (2 parties)", "trust model": TRUST["MPC (2 parties)"],
         "ms/inference": mpc.ms_per_inference, "bytes/inference": mpc.bytes_per_inference,
         "rounds": mpc.rounds, "accuracy": mpc_acc},
        {"backend": "CKKS (HE), packed", "trust model": TRUST["CKKS (HE)"],
         "ms/inference": he.ms_per_sample, "bytes/inference": he.bytes_per_sample,
         "rounds": 1, "accuracy": he_acc},
        {"backend": "CKKS (HE), per-sample", "trust model": TRUST["CKKS (HE)"],
         "ms/inference": he_single.ms_per_sample, "bytes/inference":
             he_single.bytes_per_sample, "rounds": 1, "accuracy": np.nan},
        {"backend": "TEE (simulated)", "trust model": TRUST["TEE (simulated)"],
         "ms/inference": tee_run.ms_per_inference, "bytes/inference":
             tee_run.bytes_moved / tee_run.n, "rounds": 1, "accuracy": tee_acc},
    ])


def views_text(backend: str, plan: list[Op], x: np.ndarray, frac_bits: int) -> str:
    """Section "Explore": what each party sees for one input, in words and numbers."""
    if backend == "plaintext":
        return f"server sees the image itself: {np.round(x[:8], 2).tolist()} ..."
    if backend == "TEE":
        return ("host sees only sealed bytes; the enclave sees the image in plaintext "
                f"({np.round(x[:4], 2).tolist()} ...) and the model")
    if backend == "CKKS":
        return ("server sees ciphertexts (polynomials mod q, ~100s of KB each) and the model "
                "weights; the client sees only its decrypted logits")
    rng = np.random.default_rng(0)
    s0, s1 = sh.share(fx.encode(x[:4], frac_bits), rng)
    return (f"party 0 sees shares {[hex(int(v)) for v in s0]} ...\n"
            f"party 1 sees shares {[hex(int(v)) for v in s1]} ...\n"
            f"(the image's first pixels {np.round(x[:4], 2).tolist()} are their sum mod 2^64 "
            f"/ 2^{frac_bits}); the data owner sees only the predicted class")


def explore(backend: str, layers: int, suite: pd.DataFrame, sample: np.ndarray,
            frac_bits: int) -> str:
    """Section "Explore": latency, bytes and accuracy of a backend at a model depth (from the
    suite run), and what each party sees."""
    row = suite[suite["layers"] == layers].iloc[-1]
    col = {"plaintext": None, "MPC": "MPC", "CKKS": "CKKS", "TEE": "TEE"}[backend]
    lines = [f"model: {row['model']} ({row['plan']})", f"backend: {backend}"]
    if col == "MPC":
        lines += [f"accuracy {row['MPC acc']:.3f}, {row['MPC ms/inference']:.2f} ms/inference "
                  f"(amortised), {row['MPC bytes/inference'] / 1e3:.1f} KB/inference, "
                  f"{row['MPC rounds']} rounds"]
    elif col == "CKKS":
        lines += [f"accuracy {row['CKKS acc']:.3f}, {row['CKKS ms/sample']:.2f} ms/sample "
                  f"(packed), {row['CKKS bytes/sample'] / 1e3:.1f} KB/sample, N={row['N']}, "
                  f"chain {row['modulus chain']}"]
    elif col == "TEE":
        lines += [f"accuracy {row['plaintext acc']:.3f}, {row['TEE ms/inference']:.3f} "
                  f"ms/inference"]
    else:
        lines += [f"accuracy {row['plaintext acc']:.3f}"]
    lines.append(views_text(backend, [Linear(np.eye(1), np.zeros(1))], sample, frac_bits))
    return "\n".join(lines)


def tee_sentence(m: dict) -> str:
    """The TEE's cost against MPC, in words chosen by the measured ratios."""
    def compare(ratio: float) -> str:
        if ratio >= 10:
            return f"{ratio:.0f}x cheaper than MPC"
        if ratio >= 1.25:
            return f"{ratio:.1f}x cheaper than MPC"
        if ratio > 0.8:
            return "about as costly as MPC"
        return f"{1 / ratio:.1f}x costlier than MPC"

    return (f"The simulated TEE costs {m['tee_overhead_vs_plaintext']:.1f}x a plaintext forward "
            f"pass on a sealed batch and {m['tee_query_overhead_vs_plaintext']:.1f}x on single "
            f"sealed queries; per single query it is {compare(m['mpc_vs_tee_query'])} (MPC "
            f"pays its {m['mpc_rounds_per_inference']} rounds even on loopback), amortised over "
            f"a batch it is {compare(m['mpc_vs_tee_batch'])}, and it asks the user to trust the "
            f"hardware vendor instead of mathematics.")


def reading(m: dict) -> str:
    """Section "Results": the honest reading of the numbers, written from the numbers."""
    parts = [
        f"Under MPC the x^2 model agrees with plaintext on {m['mpc_argmax_agreement']:.1%} of "
        f"the test images, at {m['mpc_bytes_per_inference'] / 1e3:.1f} KB and "
        f"{m['mpc_rounds_per_inference']} rounds per inference; exact ReLU by comparison "
        f"costs {m['mpc_relu_rounds_per_inference']} rounds and "
        f"{m['mpc_poly_vs_relu_bytes_ratio']:.1f}x the bytes of the trained polynomial.",
        f"Under CKKS the packed path agrees on {m['ckks_argmax_agreement']:.1%} and is "
        f"{m['ckks_packed_speedup']:.0f}x faster per sample than TenSEAL's per-sample matmul "
        f"({m['ckks_ms_per_sample_packed']:.1f} ms vs {m['ckks_ms_per_sample_single']:.0f} ms"
        f" on shared cores).",
        f"The compiler's parameters worked for {m['auto_params_models_ok']} of "
        f"{m['auto_params_models_total']} architectures without tuning, where TenSEAL's README "
        f"parameters fail on the depth-3 model ({m['tenseal_readme_params_depth3']}).",
        tee_sentence(m),
    ]
    if m["plaintext_in_party_view"]:
        parts.append("Warning: an encoded input value appeared in a party's view.")
    return " ".join(parts)
