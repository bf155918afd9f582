"""Unit tests of chapter 06 (kit.confidential): sharing, Beaver products, truncation, the
comparison protocol, sockets and timeouts, polynomial folding, CKKS parameters, the TEE."""

from __future__ import annotations

import queue
import socket
import threading
import time

import numpy as np
import pytest

from kit.confidential import ckks, compiler, protocol, tee
from kit.confidential import fixedpoint as fx
from kit.confidential import shares as sh
from kit.confidential.ir import Linear, Poly, Relu, Square, evaluate

F = 16


def small_plan(rng, act, sizes=(6, 5, 3)):
    plan = [Linear(rng.normal(size=(sizes[0], sizes[1])) * 0.5, rng.normal(size=sizes[1]) * 0.1)]
    plan.append(act)
    plan.append(Linear(rng.normal(size=(sizes[1], sizes[2])) * 0.5, rng.normal(size=sizes[2])))
    return plan


def run_parties(fn, x_shares, materials):
    """Run ``fn(party, x_share)`` for both parties in threads over a real socket pair."""
    a, b = socket.socketpair()
    out = {}

    def go(role, sock):
        party = protocol.Party(role, protocol.Channel(sock, role, 5.0), materials[role], F)
        out[role] = fn(party, x_shares[role])

    threads = [threading.Thread(target=go, args=(r, s)) for r, s in ((0, a), (1, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    a.close()
    b.close()
    return out


def dealer_for(fn, x_share):
    rec = sh.Recorder()
    fn(protocol.Party(0, protocol.EchoChannel(), rec, F), x_share)
    return sh.Dealer(7).material(rec.requests)


# --- fixed point and sharing ----------------------------------------------------------------
def test_encode_decode_roundtrip_and_share_reconstruct():
    rng = np.random.default_rng(0)
    x = rng.uniform(-100, 100, 1000)
    v = fx.encode(x, F)
    assert np.max(np.abs(fx.decode(v, F) - x)) <= 2.0 ** -(F + 1) + 1e-12
    s0, s1 = sh.share(v, rng)
    assert np.array_equal(sh.reconstruct(s0, s1), v)
    assert not np.array_equal(s0, v) and not np.array_equal(s1, v)


def test_encode_refuses_overflow_nan_and_bad_frac_bits():
    with pytest.raises(ValueError, match="beyond the encodable range"):
        fx.encode(np.array([fx.max_abs(F) * 2]), F, "input x")
    with pytest.raises(ValueError, match="finite"):
        fx.encode(np.array([np.nan]), F)
    with pytest.raises(ValueError, match="frac_bits must be an int"):
        fx.encode(np.array([1.0]), 40)


def test_truncation_error_is_at_most_one_ulp():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-50, 50, 20000), rng.uniform(-50, 50, 20000)
    prod = fx.encode(x, F) * fx.encode(y, F)
    s0, s1 = sh.share(prod, rng)
    got = fx.decode(sh.reconstruct(fx.truncate_share(s0, 0, F), fx.truncate_share(s1, 1, F)), F)
    exact = fx.decode(prod, 2 * F)
    assert np.max(np.abs(got - exact)) <= 2.0 ** -F + 1e-12


def test_dealer_triples_are_correct():
    d = sh.Dealer(0)
    m0, m1 = d.material([sh.Request("matmul", ((3, 4), (4, 2))), sh.Request("mul", ((5,), (5,))),
                         sh.Request("and", ((4,), (4,))), sh.Request("bit", ((6,),))])
    a, b, c = (sh.reconstruct(p, q) for p, q in zip(*[m[0][1] for m in (m0.items, m1.items)],
                                                     strict=True))
    assert np.array_equal(sh.ring_matmul(a, b), c)
    a, b, c = (sh.reconstruct(p, q) for p, q in zip(m0.items[1][1], m1.items[1][1], strict=True))
    assert np.array_equal(a * b, c)
    a, b, c = ((p ^ q) for p, q in zip(m0.items[2][1], m1.items[2][1], strict=True))
    assert np.array_equal(a & b, c)
    rx = (m0.items[3][1][0] ^ m1.items[3][1][0]) & np.uint64(1)
    ra = sh.reconstruct(m0.items[3][1][1], m1.items[3][1][1])
    assert np.array_equal(rx, ra)


# --- protocol over sockets ------------------------------------------------------------------
def test_beaver_multiplication_and_matmul_over_a_socket():
    rng = np.random.default_rng(2)
    x = rng.uniform(-5, 5, (4, 6))
    w = rng.uniform(-2, 2, (6, 3))
    xs = sh.share(fx.encode(x, F), rng)
    ws = sh.share(fx.encode(w, F), rng)

    def fn(party, xsh):
        return (party.truncate(party.matmul(xsh, ws[party.role])), party.square(xsh))

    mats = dealer_for(fn, xs[0])
    out = run_parties(fn, xs, mats)
    prod = fx.decode(sh.reconstruct(out[0][0], out[1][0]), F)
    sq = fx.decode(sh.reconstruct(out[0][1], out[1][1]), F)
    assert np.max(np.abs(prod - x @ w)) < 1e-3
    assert np.max(np.abs(sq - x * x)) < 1e-3


def test_sign_bit_relu_and_argmax_are_exact():
    values = np.array([[0.0, -2.0 ** -F, 2.0 ** -F, -300.0, 300.0, 1.5, -1.5, 7.25]])
    rng = np.random.default_rng(3)
    xs = sh.share(fx.encode(values, F), rng)

    def fn(party, xsh):
        return party.msb(xsh), party.relu(xsh), party.argmax(xsh)

    out = run_parties(fn, xs, dealer_for(fn, xs[0]))
    msb = (out[0][0] ^ out[1][0]) & np.uint64(1)
    assert msb.tolist() == [[0, 1, 0, 1, 0, 0, 1, 0]]
    relu = fx.decode(sh.reconstruct(out[0][1], out[1][1]), F)
    assert np.allclose(relu, np.maximum(values, 0))
    assert sh.reconstruct(out[0][2], out[1][2]).tolist() == [4]


@pytest.mark.parametrize("act", [Square(), Relu(), Poly(0.2, 0.5, 0.1)])
def test_secure_inference_matches_plaintext(act):
    rng = np.random.default_rng(4)
    plan = small_plan(rng, act)
    x = rng.uniform(0, 1, (20, 6))
    ref = evaluate(plan, x)
    run = protocol.secure_inference(plan, x, F, argmax=False, mode="thread", timeout=10)
    assert np.max(np.abs(run.outputs - ref)) < 1e-2
    cls = protocol.secure_inference(plan, x, F, argmax=True, mode="thread", timeout=10)
    assert (cls.outputs == ref.argmax(1)).mean() >= 0.95
    assert cls.bytes_online > 0 and cls.rounds > run.rounds


def test_parties_as_separate_processes():
    rng = np.random.default_rng(5)
    plan = small_plan(rng, Square())
    x = rng.uniform(0, 1, (8, 6))
    run = protocol.secure_inference(plan, x, F, mode="process", timeout=20)
    assert np.array_equal(run.outputs, evaluate(plan, x).argmax(1))
    assert run.rounds == 3 + 2 * 9  # linear, square, linear; argmax of 3: 2 levels x 9
    # bytes: every round both parties send an 8-byte header plus their payload
    assert run.bytes_online >= 2 * 8 * run.rounds


def test_party_without_peer_times_out():
    q = queue.Queue()
    start = time.perf_counter()
    protocol.party_main(0, "127.0.0.1", 0, [], np.zeros((1, 1), np.uint64), None, F, False,
                        0.5, q)
    elapsed = time.perf_counter() - start
    assert q.get()[0] == "port"
    kind, role, message, _ = q.get()
    assert kind == "error" and role == 0 and "ProtocolTimeout" in message
    assert elapsed < 5


def test_peer_disconnect_and_stall_fail_cleanly():
    a, b = socket.socketpair()
    chan = protocol.Channel(a, 1, 0.5)
    b.close()
    with pytest.raises(ConnectionError, match="closed the connection"):
        chan.exchange([np.zeros(3, np.uint64)])
    a.close()
    a, b = socket.socketpair()
    chan = protocol.Channel(a, 1, 0.3)
    start = time.perf_counter()
    with pytest.raises(protocol.ProtocolTimeout, match="no data from its peer"):
        chan.exchange([np.zeros(3, np.uint64)])
    assert time.perf_counter() - start < 3
    a.close()
    b.close()


def test_bad_addresses_and_modes_are_refused():
    with pytest.raises(ValueError, match="host must be an IP address"):
        protocol.check_address("local host", 5000)
    with pytest.raises(ValueError, match="port must be an int in \\[1, 65535\\]"):
        protocol.check_address("127.0.0.1", 70000)
    with pytest.raises(ValueError, match="port must be an int"):
        protocol.check_address("127.0.0.1", 0)
    plan = small_plan(np.random.default_rng(0), Square())
    with pytest.raises(ValueError, match="mode must be"):
        protocol.secure_inference(plan, np.zeros((1, 6)), mode="fork")
    with pytest.raises(ValueError, match="beyond the encodable range"):
        protocol.secure_inference(plan, np.full((1, 6), 1e6), mode="thread")


def test_party_view_is_independent_of_the_input():
    from kit.confidential import chapter

    rng = np.random.default_rng(6)
    plan = small_plan(rng, Square())
    res = chapter.independence(plan, np.zeros((2, 6)), np.full((2, 6), 0.9), 25, F, 0)
    assert res["ks_pvalue"] > 1e-3
    assert res["chi2_pvalue_top_byte"] > 1e-3
    assert res["positions_rejected_at_1pct"] <= max(3, res["positions_tested"] // 20)
    assert not chapter.leaks_plaintext(plan, np.full((2, 6), 0.5), F, 0)


# --- compiler -------------------------------------------------------------------------------
@pytest.mark.parametrize("c2", [0.12, -0.3, 0.0])
def test_polynomial_folding_preserves_the_function(c2):
    rng = np.random.default_rng(7)
    plan = small_plan(rng, Poly(0.3, 0.5, c2))
    folded = compiler.fold_polynomials(plan)
    x = rng.uniform(-1, 1, (30, 6))
    assert np.allclose(evaluate(folded, x), evaluate(plan, x), atol=1e-9)
    assert not any(isinstance(op, Poly) for op in folded)
    assert compiler.depth(folded) == (3 if c2 else 2)


def test_polynomial_activation_approximates_relu():
    from kit.confidential import chapter

    assert chapter.poly_fit_error(4.0) < 0.4
    assert chapter.poly_fit_error(1.0) < 0.1


def test_parameter_selection_and_depth_check():
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (50, 6))
    shallow = small_plan(rng, Square())
    p = compiler.choose_ckks(shallow, x, 50)
    assert p.depth == 3 and p.levels == 3 and p.poly_modulus_degree == 8192
    assert p.total_bits <= compiler.MAX_MODULUS_BITS[p.poly_modulus_degree]
    assert min(p.coeff_mod_bit_sizes[1:-1]) >= 25 and p.packing == "batch"
    deep = [shallow[0]] + [Square(), Linear(np.eye(5) * 0.5, np.zeros(5))] * 3 + shallow[1:]
    q = compiler.choose_ckks(deep, x, 1)
    assert q.depth == 9 and q.poly_modulus_degree == 16384 and q.packing == "per-sample"
    with pytest.raises(ValueError, match="needs multiplicative depth 9, modulus chain .* "
                                         "supports 3"):
        compiler.check_depth(deep, p)
    with pytest.raises(ValueError, match="ReLU has no exact CKKS"):
        compiler.depth(small_plan(rng, Relu()))
    with pytest.raises(ValueError, match="batch must be"):
        compiler.choose_ckks(shallow, x, 0)


def test_backend_choice_respects_relu_and_costs():
    rng = np.random.default_rng(9)
    plan = small_plan(rng, Relu())
    cheap_he = compiler.UnitCosts(1e-9, 1e-9, 1, 4096, 8.0, 1000.0, 0.0)
    rows, total = compiler.choose_backends(plan, 100, cheap_he, rtt_ms=50.0, mbit_s=1.0)
    assert [r["backend"] for r in rows][1] == "MPC"
    dear_he = compiler.UnitCosts(1e3, 1e3, 10**6, 4096, 8.0, 1000.0, 0.0)
    rows, _ = compiler.choose_backends(plan, 1, dear_he, rtt_ms=0.1, mbit_s=1000.0)
    assert all(r["backend"] == "MPC" for r in rows)
    sq = small_plan(rng, Square())
    rows, _ = compiler.choose_backends(sq, 4096, cheap_he, rtt_ms=50.0, mbit_s=1.0)
    assert all(r["backend"] == "HE" for r in rows)


# --- CKKS -----------------------------------------------------------------------------------
def test_ckks_packed_and_per_sample_agree_with_plaintext():
    rng = np.random.default_rng(10)
    plan = small_plan(rng, Square())
    x = rng.uniform(0, 1, (12, 6))
    params = compiler.choose_ckks(plan, x, len(x))
    ref = evaluate(plan, x)
    packed = ckks.infer_packed(plan, x, params)
    assert np.max(np.abs(packed.logits - ref)) < 1e-3
    single = ckks.infer_per_sample(plan, x[:2], params)
    assert np.max(np.abs(single.logits - ref[:2])) < 1e-3


def test_tenseal_readme_parameters_fail_at_depth_three():
    rng = np.random.default_rng(11)
    plan = small_plan(rng, Square())
    assert "scale out of bounds" in ckks.try_params(plan, rng.uniform(0, 1, (4, 6)),
                                                    (60, 40, 40, 60), 40)


# --- TEE ------------------------------------------------------------------------------------
def test_tee_seal_roundtrip_tamper_and_inference():
    key = b"k" * 32
    sealed = tee.seal(key, b"hello enclave", b"n" * 16)
    assert tee.unseal(key, sealed) == b"hello enclave"
    assert b"hello" not in sealed
    broken = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    with pytest.raises(ValueError, match="failed authentication"):
        tee.unseal(key, broken)
    rng = np.random.default_rng(12)
    plan = small_plan(rng, Square())
    x = rng.uniform(0, 1, (5, 6))
    run = tee.infer(plan, x, repeats=2)
    assert np.allclose(run.logits, evaluate(plan, x))
    assert run.overhead > 1.0


# --- MindSpore model ------------------------------------------------------------------------
def test_mindspore_model_exports_to_the_secure_ir():
    import kit
    from kit.confidential import model as md

    kit.setup(0)
    rng = np.random.default_rng(13)
    x = rng.uniform(0, 1, (64, 8)).astype(np.float32)
    y = rng.integers(0, 3, 64).astype(np.int32)
    net = md.MLP([8, 6, 3], "poly")
    history = md.train(net, x, y, epochs=3, batch=32)
    assert len(history) == 3 and np.isfinite(history).all()
    plan = md.export(net)
    assert isinstance(plan[1], Poly)
    assert np.allclose(evaluate(plan, x), md.predict(net, x), atol=1e-4)
    folded = compiler.fold_polynomials(plan)
    assert np.allclose(evaluate(folded, x), md.predict(net, x), atol=1e-4)
    with pytest.raises(ValueError, match="activation must be one of"):
        md.MLP([8, 3], "tanh")


def test_party_process_fails_cleanly_when_its_peer_disconnects():
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    x0 = np.zeros((2, 3), np.uint64)

    def fn(party, xsh):
        return party.run([Square()], xsh, False)

    material = dealer_for(fn, x0)[0]
    proc = ctx.Process(target=protocol.party_main, daemon=True,
                       args=(0, "127.0.0.1", 0, [Square()], x0, material, F, False, 5.0, results))
    proc.start()
    try:
        kind, port = results.get(timeout=60)
        assert kind == "port"
        peer = socket.create_connection(("127.0.0.1", port), timeout=5)
        peer.close()  # the peer vanishes before answering
        kind, role, message, _ = results.get(timeout=30)
        assert kind == "error" and role == 0
        assert "closed the connection" in message or "ProtocolTimeout" in message
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


def test_secure_convolution_matches_plaintext():
    rng = np.random.default_rng(14)
    x = rng.uniform(0, 1, (2, 1, 8, 8))
    k = rng.normal(size=(3, 1, 3, 3)) * 0.5
    b = rng.normal(size=3) * 0.1
    xs = sh.share(fx.encode(x, F), rng)
    ks = sh.share(fx.encode(k, F), rng)
    bs = sh.share(fx.encode(b, F), rng)

    def fn(party, xsh):
        return party.conv2d(xsh, ks[party.role], bs[party.role])

    out = run_parties(fn, xs, dealer_for(fn, xs[0]))
    got = fx.decode(sh.reconstruct(out[0], out[1]), F)
    ref = np.zeros((2, 3, 6, 6))
    for o in range(3):
        for i in range(6):
            for j in range(6):
                ref[:, o, i, j] = (x[:, :, i:i + 3, j:j + 3] * k[o]).sum(axis=(1, 2, 3)) + b[o]
    assert got.shape == (2, 3, 6, 6)
    assert np.max(np.abs(got - ref)) < 1e-3
    with pytest.raises(ValueError, match="larger than the input"):
        protocol.im2col(x, 9, 9)


def test_tee_batch_and_single_queries_match_the_plaintext_plan():
    from kit.confidential import chapter

    rng = np.random.default_rng(3)
    plan = [Linear(rng.normal(size=(6, 4)), rng.normal(size=4)), Square(),
            Linear(rng.normal(size=(4, 3)), np.zeros(3))]
    x, key = rng.uniform(0, 1, (5, 6)), b"k" * 32
    np.testing.assert_allclose(tee.infer_batch(plan, x, key), evaluate(plan, x))
    np.testing.assert_allclose(tee.infer_each(plan, x, key), evaluate(plan, x))
    costs = chapter.tee_costs(plan=plan, x=x, frac_bits=F, queries=2, rounds=2, seed=0)
    assert set(costs.spreads()) == {"tee_overhead_vs_plaintext", "mpc_vs_tee_batch",
                                    "tee_query_overhead_vs_plaintext", "mpc_vs_tee_query"}
    assert all(len(r) == 2 and min(r) > 0 for r in costs.spreads().values())
    assert costs.metrics()["mpc_query_ms_per_inference"] > 0
    with pytest.raises(ValueError, match=r"queries must be an int in \[1, 5\], got 9"):
        chapter.tee_costs(plan=plan, x=x, frac_bits=F, queries=9, rounds=1, seed=0)
    with pytest.raises(ValueError, match="threads must be an int >= 1, got 0"):
        ckks.context((8192, (40, 30, 40), 30), threads=0)
