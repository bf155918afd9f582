"""Two-party secure inference over loopback sockets (chapter 06, "MPC inference").

Two parties hold additive shares of the input and of the model and run the protocol over a real
TCP connection on 127.0.0.1, so every byte and every round counted here crossed the socket. Each
party is a separate process (``mode="process"``, multiprocessing *spawn*) or, for cheap unit
tests, a thread of the caller (``mode="thread"``; same code, same sockets).

Online operations (each "round" is one exchange of messages):

* ``linear``: Beaver matrix triple, 1 round, then SecureML truncation (local); ``conv2d``:
  im2col (local) and the same matrix triple;
* ``square``: Beaver square pair, 1 round; ``poly``: a square plus public scalars;
* ``relu``: the sign bit of x from the shares' bits with a Kogge-Stone carry circuit on
  XOR-shared 64-bit words (1 + 6 rounds), bit-to-arithmetic conversion (1 round), one Beaver
  product (1 round): 9 rounds;
* ``argmax``: a tournament of comparisons and selections (10 classes: 4 levels x 9 rounds); only
  the index is revealed to the data owner.

A peer that disconnects or stalls makes a party fail with :class:`ProtocolTimeout` or
``ConnectionError`` after ``timeout`` seconds; nothing waits forever.
"""

from __future__ import annotations

import ipaddress
import multiprocessing as mp
import queue as queue_mod
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kit.confidential import fixedpoint as fx
from kit.confidential import shares as sh
from kit.confidential.ir import Linear, Op, Poly, Relu, Square

HEADER = struct.Struct("!Q")
LEVELS = (1, 2, 4, 8, 16, 32)  # Kogge-Stone prefix levels for 64-bit words


def im2col(x: np.ndarray, kh: int, kw: int) -> tuple[np.ndarray, int, int]:
    """Rows of flattened (c, kh, kw) patches of x (n, c, h, w), valid padding, stride 1."""
    n, c, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {kh}x{kw} is larger than the input {h}x{w}")
    patches = np.stack([x[:, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)],
                       axis=2)  # (n, c, kh*kw, oh, ow)
    return patches.transpose(0, 3, 4, 1, 2).reshape(n * oh * ow, c * kh * kw), oh, ow


class ProtocolTimeout(TimeoutError):
    """A party waited longer than its timeout for its peer (disconnected or stalled)."""


def check_address(host: str, port: int, listening: bool = False) -> tuple[str, int]:
    """Validate a party address: an IPv4/IPv6 literal and a port in [1, 65535] (0 allowed only
    for a listener, meaning "any free port")."""
    try:
        ipaddress.ip_address(host)
    except (ValueError, TypeError):
        raise ValueError(f"host must be an IP address literal such as '127.0.0.1', "
                         f"got {host!r}") from None
    low = 0 if listening else 1
    if not isinstance(port, int) or isinstance(port, bool) or not low <= port <= 65535:
        raise ValueError(f"port must be an int in [{low}, 65535], got {port!r}")
    return host, port


def _recv_exact(sock: socket.socket, n: int, role: int, timeout: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except TimeoutError:
            raise ProtocolTimeout(f"party {role}: no data from its peer for {timeout:g} s "
                                  f"(peer disconnected or stalled); giving up") from None
        except ConnectionResetError:
            chunk = b""  # the peer vanished: a reset reads like an orderly close
        if not chunk:
            raise ConnectionError(f"party {role}: the peer closed the connection mid-protocol")
        buf += chunk
    return bytes(buf)


class Channel:
    """One party's end of the connection; counts bytes and rounds that cross the socket."""

    def __init__(self, sock: socket.socket, role: int, timeout: float,
                 keep_view: bool = False) -> None:
        self.sock, self.role, self.timeout = sock, role, timeout
        sock.settimeout(timeout)
        self.sent = self.received = self.rounds = 0
        self.view: list[np.ndarray] | None = [] if keep_view else None

    def _send(self, message: bytes) -> None:
        try:
            self.sock.sendall(message)
        except (BrokenPipeError, ConnectionResetError):
            raise ConnectionError(f"party {self.role}: the peer closed the connection "
                                  "mid-protocol") from None

    def exchange(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Send our arrays and receive the peer's arrays of the same shapes (one round).
        Party 0 sends first, party 1 receives first, so large messages never deadlock."""
        payload = b"".join(np.ascontiguousarray(a, dtype=np.uint64).tobytes() for a in arrays)
        message = HEADER.pack(len(payload)) + payload
        if self.role == 0:
            self._send(message)
            data = self._receive()
        else:
            data = self._receive()
            self._send(message)
        self.sent += len(message)
        self.rounds += 1
        if len(data) != len(payload):
            raise ConnectionError(f"party {self.role}: peer sent {len(data)} bytes, expected "
                                  f"{len(payload)} (the parties are out of step)")
        flat = np.frombuffer(data, dtype=np.uint64)
        out, start = [], 0
        for a in arrays:
            out.append(flat[start:start + a.size].reshape(a.shape).copy())
            start += a.size
        if self.view is not None:
            self.view.extend(out)
        return out

    def _receive(self) -> bytes:
        (length,) = HEADER.unpack(_recv_exact(self.sock, HEADER.size, self.role, self.timeout))
        data = _recv_exact(self.sock, length, self.role, self.timeout)
        self.received += HEADER.size + length
        return data


class EchoChannel:
    """A stand-in channel for the dealer's dry run: returns zeros, counts rounds."""

    role = 0
    sent = received = rounds = 0

    def exchange(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        self.rounds += 1
        return [np.zeros_like(a, dtype=np.uint64) for a in arrays]


class Party:
    """One party's half of every secure operation (section "MPC inference")."""

    def __init__(self, role: int, channel: Any, source: Any, frac_bits: int) -> None:
        self.role, self.chan, self.src, self.f = role, channel, source, frac_bits

    # --- opening and products -------------------------------------------------------------
    def open_add(self, values: list[np.ndarray]) -> list[np.ndarray]:
        peer = self.chan.exchange(values)
        return [v + p for v, p in zip(values, peer, strict=True)]

    def open_xor(self, values: list[np.ndarray]) -> list[np.ndarray]:
        peer = self.chan.exchange(values)
        return [v ^ p for v, p in zip(values, peer, strict=True)]

    def matmul(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Shares of x @ w (2f fractional bits, not truncated): one Beaver triple, 1 round."""
        a, b, c = self.src.take("matmul", (x.shape, w.shape))
        e, f = self.open_add([x - a, w - b])
        z = c + sh.ring_matmul(e, b) + sh.ring_matmul(a, f)
        return z + sh.ring_matmul(e, f) if self.role == 0 else z

    def mul_many(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """Elementwise products of several pairs in one round (ring products, no truncation)."""
        triples = [self.src.take("mul", (x.shape, y.shape)) for x, y in pairs]
        opened = self.open_add([v for (x, y), (a, b, _) in zip(pairs, triples, strict=True)
                                for v in (x - a, y - b)])
        out = []
        for k, (a, b, c) in enumerate(triples):
            e, f = opened[2 * k], opened[2 * k + 1]
            z = c + e * b + f * a
            out.append(z + e * f if self.role == 0 else z)
        return out

    def truncate(self, x: np.ndarray) -> np.ndarray:
        return fx.truncate_share(x, self.role, self.f)

    def linear(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.truncate(self.matmul(x, w)) + b

    def conv2d(self, x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Shares of a valid, stride-1 convolution (n, c, h, w) * (o, c, kh, kw) + b: im2col is
        a local rearrangement of shares, then one Beaver matrix triple (1 round)."""
        n, o = x.shape[0], k.shape[0]
        cols, oh, ow = im2col(x, k.shape[2], k.shape[3])
        out = self.linear(cols, k.reshape(o, -1).T.copy(), b)
        return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    def square(self, x: np.ndarray) -> np.ndarray:
        """Shares of x^2 from a pair (a, a^2): open e = x - a; x^2 = e^2 + 2ea + a^2."""
        a, a2 = self.src.take("square", (x.shape,))
        (e,) = self.open_add([x - a])
        z = a2 + 2 * e * a
        return self.truncate(z + e * e if self.role == 0 else z)

    def scale(self, x: np.ndarray, c: float) -> np.ndarray:
        """Shares of c * x for a public real c (local)."""
        return self.truncate(x * fx.encode(np.array(c), self.f, "coefficient"))

    def constant(self, c: float, shape: tuple[int, ...]) -> np.ndarray:
        value = fx.encode(np.full(shape, c), self.f, "coefficient")
        return value if self.role == 0 else np.zeros(shape, dtype=np.uint64)

    def poly(self, x: np.ndarray, op: Poly) -> np.ndarray:
        return self.scale(self.square(x), op.c2) + self.scale(x, op.c1) + self.constant(
            op.c0, x.shape)

    # --- comparison -----------------------------------------------------------------------
    def and_many(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """Bitwise AND of XOR-shared words, several pairs in one round."""
        triples = [self.src.take("and", (x.shape, y.shape)) for x, y in pairs]
        opened = self.open_xor([v for (x, y), (a, b, _) in zip(pairs, triples, strict=True)
                                for v in (x ^ a, y ^ b)])
        out = []
        for k, (a, b, c) in enumerate(triples):
            e, f = opened[2 * k], opened[2 * k + 1]
            z = c ^ (e & b) ^ (f & a)
            out.append(z ^ (e & f) if self.role == 0 else z)
        return out

    def msb(self, x: np.ndarray) -> np.ndarray:
        """XOR shares (in bit 0) of the sign bit of x = s0 + s1: the top bit of s0 ^ s1 ^ carry,
        with the carry from a Kogge-Stone prefix circuit (7 rounds)."""
        zero = np.zeros_like(x)
        mine = (x, zero) if self.role == 0 else (zero, x)
        p = x  # XOR share of s0 ^ s1: each party holds its own word
        (g,) = self.and_many([mine])
        big, pp = g, p
        for level, k in enumerate(LEVELS):
            shift = np.uint64(k)
            if level == len(LEVELS) - 1:
                (t,) = self.and_many([(pp, big << shift)])
            else:
                t, pp_next = self.and_many([(pp, big << shift), (pp, pp << shift)])
            big = big ^ t
            if level < len(LEVELS) - 1:
                pp = pp_next
        return ((p >> np.uint64(63)) ^ (big >> np.uint64(62))) & np.uint64(1)

    def bit_to_arith(self, bit: np.ndarray) -> np.ndarray:
        """Additive shares of a bit given as XOR shares (1 round, a dealer bit r)."""
        rx, ra = self.src.take("bit", (bit.shape,))
        (c,) = self.open_xor([bit ^ (rx & np.uint64(1))])
        c = c & np.uint64(1)
        out = (1 - 2 * c) * ra
        return out + c if self.role == 0 else out

    def drelu(self, x: np.ndarray) -> np.ndarray:
        """Additive shares of the integer 1[x >= 0] (9 rounds with the product that uses it)."""
        m = self.bit_to_arith(self.msb(x))
        return (1 - m) if self.role == 0 else (0 - m)

    def relu(self, x: np.ndarray) -> np.ndarray:
        (y,) = self.mul_many([(self.drelu(x), x)])
        return y

    def argmax(self, v: np.ndarray) -> np.ndarray:
        """Shares of the index of the largest column of each row (a comparison tournament)."""
        n, k = v.shape
        idx = np.tile(fx.encode_int(np.arange(k)), (n, 1)) if self.role == 0 else np.zeros(
            (n, k), dtype=np.uint64)
        while v.shape[1] > 1:
            m = v.shape[1] // 2 * 2
            x, y, ix, iy = v[:, 0:m:2], v[:, 1:m:2], idx[:, 0:m:2], idx[:, 1:m:2]
            d = x - y
            b = self.drelu(d)
            dv, di = self.mul_many([(b, d), (b, ix - iy)])
            v = np.concatenate([y + dv, v[:, m:]], axis=1)
            idx = np.concatenate([iy + di, idx[:, m:]], axis=1)
        return idx[:, 0]

    def run(self, plan: list[Any], x: np.ndarray, argmax: bool) -> np.ndarray:
        """Evaluate a shared plan on shared inputs; returns output shares."""
        h = x
        for op in plan:
            if isinstance(op, tuple):  # a shared Linear: (W share, b share)
                h = self.linear(h, *op)
            elif isinstance(op, Square):
                h = self.square(h)
            elif isinstance(op, Poly):
                h = self.poly(h, op)
            elif isinstance(op, Relu):
                h = self.relu(h)
            else:
                raise ValueError(f"unsupported op {op!r}")
        return self.argmax(h) if argmax else h


# --- processes and sockets ----------------------------------------------------------------
def _connect(role: int, host: str, port: int, timeout: float,
             port_out: Any) -> socket.socket:
    if role == 0:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((host, port))
        server.listen(1)
        server.settimeout(timeout)
        port_out.put(("port", server.getsockname()[1]))
        try:
            conn, _ = server.accept()
        except TimeoutError:
            raise ProtocolTimeout(f"party 0: no peer connected to {host}:"
                                  f"{server.getsockname()[1]} within {timeout:g} s") from None
        finally:
            server.close()
        return conn
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            if time.monotonic() > deadline:
                raise ProtocolTimeout(f"party 1: could not reach party 0 at {host}:{port} "
                                      f"within {timeout:g} s ({err})") from None
            time.sleep(0.05)


def party_main(role: int, host: str, port: int, plan: list[Any], x: np.ndarray,
               material: sh.Material, frac_bits: int, argmax: bool, timeout: float,
               results: Any, keep_view: bool = False) -> None:
    """Entry point of one party (a spawned process or a thread): connect, run, report."""
    try:
        sock = _connect(role, host, port, timeout, results)
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            chan = Channel(sock, role, timeout, keep_view)
            start = time.perf_counter()
            out = Party(role, chan, material, frac_bits).run(plan, x, argmax)
            seconds = time.perf_counter() - start
        results.put(("result", role, out, {"sent": chan.sent, "received": chan.received,
                                           "rounds": chan.rounds, "seconds": seconds,
                                           "view": chan.view}))
    except Exception as err:  # reported to the owner, who raises it
        results.put(("error", role, f"{type(err).__name__}: {err}", None))


@dataclass
class MPCRun:
    """What one secure inference of a batch produced and cost (section "MPC inference")."""

    outputs: np.ndarray  # predicted classes (argmax) or logits
    n: int
    bytes_online: int  # both directions, between the parties
    rounds: int
    seconds_online: float
    bytes_offline: int  # dealer -> parties
    bytes_input: int  # owners -> parties (shares of inputs and weights)
    views: dict[int, list[np.ndarray]] = field(default_factory=dict)

    @property
    def bytes_per_inference(self) -> float:
        return self.bytes_online / self.n

    @property
    def ms_per_inference(self) -> float:
        return self.seconds_online * 1e3 / self.n


def share_plan(plan: list[Op], frac_bits: int,
               rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    """The model owner's step: additive shares of every weight (activations stay public ops)."""
    p0, p1 = [], []
    for i, op in enumerate(plan):
        if isinstance(op, Linear):
            w0, w1 = sh.share(fx.encode(op.W, frac_bits, f"layer {i} weights"), rng)
            b0, b1 = sh.share(fx.encode(op.b, frac_bits, f"layer {i} bias"), rng)
            p0.append((w0, b0))
            p1.append((w1, b1))
        else:
            p0.append(op)
            p1.append(op)
    return p0, p1


def secure_inference(plan: list[Op], x: np.ndarray, frac_bits: int = 16, argmax: bool = True,
                     seed: int = 0, mode: str = "process", host: str = "127.0.0.1",
                     port: int = 0, timeout: float = 30.0, keep_view: bool = False) -> MPCRun:
    """Run ``plan`` on ``x`` with two parties over a loopback socket (section "MPC inference").

    The caller plays the data owner, the model owner and the dealer: it encodes and shares the
    input and the weights (out-of-range values raise before anything runs), produces the
    dealer's triples from a dry run of the protocol (the offline phase), starts the two
    parties and reconstructs only what they return (argmax indices, or logits).
    """
    check_address(host, port, listening=True)
    if mode not in ("process", "thread"):
        raise ValueError(f"mode must be 'process' or 'thread', got {mode!r}")
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    rng = np.random.default_rng(seed)
    xs = sh.share(fx.encode(x, frac_bits, "input x"), rng)
    plans = share_plan(plan, frac_bits, rng)
    recorder = sh.Recorder()
    Party(0, EchoChannel(), recorder, frac_bits).run(plans[0], xs[0], argmax)
    materials = sh.Dealer(seed + 1).material(recorder.requests)
    input_bytes = sum(a.nbytes for s in xs for a in [s]) + sum(
        a.nbytes for p in plans for op in p if isinstance(op, tuple) for a in op)

    if mode == "process":
        ctx = mp.get_context("spawn")
        results: Any = ctx.Queue()
    else:
        results = queue_mod.Queue()

    def start(role: int, party_port: int) -> Any:
        args = (role, host, party_port, plans[role], xs[role], materials[role], frac_bits,
                argmax, timeout, results, keep_view)
        worker = (ctx.Process(target=party_main, args=args, daemon=True) if mode == "process"
                  else threading.Thread(target=party_main, args=args, daemon=True))
        worker.start()
        return worker

    workers = [start(0, port)]
    outs: dict[int, Any] = {}
    stats: dict[int, dict] = {}
    try:
        kind, *rest = _get(results, timeout + 60.0, workers)
        if kind == "error":
            raise RuntimeError(f"party {rest[0]} failed: {rest[1]}")
        workers.append(start(1, rest[0]))  # party 1 connects to the port party 0 bound
        while len(outs) < 2:
            kind, role, value, info = _get(results, timeout * 4 + 60.0, workers)
            if kind == "error":
                raise RuntimeError(f"party {role} failed: {value}")
            outs[role], stats[role] = value, info
    finally:
        for w in workers:
            if isinstance(w, mp.process.BaseProcess) and w.is_alive():
                w.join(timeout=5)
                if w.is_alive():
                    w.terminate()
    total = sh.reconstruct(outs[0], outs[1])
    result = total.view(np.int64) if argmax else fx.decode(total, frac_bits)
    return MPCRun(outputs=result, n=len(x), bytes_online=stats[0]["sent"] + stats[1]["sent"],
                  rounds=stats[0]["rounds"],
                  seconds_online=max(stats[0]["seconds"], stats[1]["seconds"]),
                  bytes_offline=materials[0].nbytes + materials[1].nbytes,
                  bytes_input=int(input_bytes),
                  views={r: stats[r]["view"] for r in (0, 1)} if keep_view else {})


def _get(results: Any, timeout: float, workers: list[Any]) -> tuple:
    try:
        return results.get(timeout=timeout)
    except queue_mod.Empty:
        alive = [getattr(w, "is_alive", lambda: False)() for w in workers]
        raise ProtocolTimeout(f"no answer from the parties within {timeout:g} s "
                              f"(alive: {alive})") from None
