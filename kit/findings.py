"""What the chapters learned about MindSpore: one minimal reproducer per gap or surprise.

Each :class:`Finding` carries the code that shows it. The code runs in a fresh process (so a
crash, a global context setting or a memory measurement cannot leak): it calls ``gap(...)``
(exit code 3) while MindSpore still behaves as recorded, and exits 0 once the expected
behaviour holds. ``tests/findings`` turns each into a strict xfail, so the release that fixes a
gap makes the suite say so; the book's appendix is generated from the same records.
Notebooks and chapter modules cite a finding as ``finding:<id>``.

Checked but not kept: ``nn.Dropout`` under ``ms.set_seed`` gave identical losses over 30 steps
in PyNative and GRAPH_MODE, in one process and across three (MindSpore 2.10.0, this machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass

GAP_EXIT = 3
PRELUDE = """
import os, sys
os.environ.setdefault("GLOG_v", "4")
import numpy as np
import mindspore as ms
from mindspore import nn, ops, Tensor


def gap(observed):
    print("GAP:", observed)
    sys.exit(3)


def first_line(err):
    lines = [ln.strip() for ln in str(err).splitlines() if any(c.isalpha() for c in ln)]
    return (lines[0] if lines else repr(err))[:160]
"""


@dataclass(frozen=True)
class Finding:
    """One MindSpore gap: what was expected, what happens, what the kit does instead."""

    id: str
    title: str
    chapters: tuple[str, ...]
    expected: str
    actual: str
    workaround: str
    code: str
    impact: str = ""

    @property
    def script(self) -> str:
        """The complete reproducer, to save as a file and run with ``python``."""
        return PRELUDE + textwrap.dedent(self.code)


@dataclass(frozen=True)
class Outcome:
    """What a reproducer did on the installed MindSpore."""

    finding: Finding
    status: str  # "gap present", "fixed", or "reproducer broken"
    detail: str


def run(finding: Finding, timeout: float = 120.0) -> Outcome:
    """Run one reproducer in a fresh process, in a scratch folder (some write files there)."""
    with tempfile.TemporaryDirectory(prefix="kit-finding-") as scratch:
        env = dict(os.environ, GLOG_v="4", MS_OM_PATH=scratch)
        script = os.path.join(scratch, f"{finding.id.replace('-', '_')}.py")
        with open(script, "w") as handle:  # MindSpore's graph compiler reads the source file
            handle.write(finding.script)
        try:
            proc = subprocess.run([sys.executable, script], cwd=scratch, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(finding, "reproducer broken", f"ran past {timeout} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("GAP:")]
    if proc.returncode == GAP_EXIT and lines:
        return Outcome(finding, "gap present", lines[-1][4:].strip())
    if proc.returncode == 0:
        return Outcome(finding, "fixed", proc.stdout.strip()[-300:])
    return Outcome(finding, "reproducer broken",
                   f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-600:]}")


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "recompute-no-memory", "Cell.recompute() saves no memory on CPU", ("02",),
        expected="A chain of dense blocks with every block recomputed stores fewer activations: "
                 "its peak resident memory for one training step grows clearly less.",
        actual="Recomputation runs (step time rises, gradients stay correct) but peak memory "
               "is the same with and without it, in PyNative, GRAPH_MODE and jit.",
        workaround="Chapter 02 plans recomputation with its own simulator and measures real "
                   "memory with explicit rematerialisation, not with Cell.recompute().",
        impact="Users cannot trade compute for memory on CPU with the documented switch.",
        code="""
        import subprocess
        INNER = '''
        import os, sys, numpy as np, mindspore as ms
        from mindspore import nn
        ms.set_context(mode=ms.GRAPH_MODE)
        class Block(nn.Cell):
            def __init__(self):
                super().__init__(); self.d = nn.Dense(1024, 1024); self.a = nn.Tanh()
            def construct(self, x):
                return self.a(self.d(x))
        blocks = [Block() for _ in range(10)]
        if sys.argv[1] == "1":
            for b in blocks:
                b.recompute()
        net = nn.SequentialCell(blocks)
        step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()),
                                   nn.SGD(net.trainable_params(), 0.01))
        x = ms.Tensor(np.ones((2048, 1024), np.float32))
        y = ms.Tensor(np.zeros((2048, 1024), np.float32))
        def hwm():
            status = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")]
            return int(status[0].split()[1]) / 1024
        base = hwm()
        step(x, y).asnumpy()
        step(x, y).asnumpy()
        print(hwm() - base)
        '''
        with open("inner.py", "w") as handle:
            handle.write(INNER)
        def growth(flag):
            out = subprocess.run([sys.executable, "inner.py", flag], capture_output=True,
                                 text=True, check=True)
            return float(out.stdout.strip().splitlines()[-1])
        plain, recomputed = growth("0"), growth("1")
        print(f"growth {plain:.0f} MB without, {recomputed:.0f} MB with recompute()")
        if recomputed > 0.8 * plain:
            gap(f"peak growth {plain:.0f} MB without, {recomputed:.0f} MB with recompute()")
        """),
    Finding(
        "memory-stats-zero", "Device memory statistics read 0 on CPU", ("02",),
        expected="ms.runtime.max_memory_allocated() reports the bytes a 64 MB matmul needed.",
        actual="It (and memory_allocated, memory_stats, max_memory_reserved) returns 0.",
        workaround="Peak memory is read from the process's VmHWM (kit.core.measure.peak_rss).",
        impact="No framework-level memory profile on CPU.",
        code="""
        x = ops.ones((4096, 4096), ms.float32)
        (x @ x).asnumpy()
        used = ms.runtime.max_memory_allocated()
        if not used > 0:
            gap(f"max_memory_allocated() = {used} after a 4096x4096 matmul")
        """),
    Finding(
        "amp-o1-batchnorm", "AMP level O1 leaves BatchNorm statistics un-updated in GRAPH_MODE",
        ("01",),
        expected="Training a conv net with BatchNorm under build_train_network(level='O1') "
                 "updates its moving mean, as level 'O0' does.",
        actual="In GRAPH_MODE the moving mean stays at its initial value under O1 (O0 updates "
               "it), and ./rewritten_network/*.py is written to the working directory.",
        workaround="Chapter 01 casts layers itself (to_float) and keeps BatchNorm in float32.",
        impact="Mixed-precision training silently degrades models with BatchNorm.",
        code="""
        ms.set_context(mode=ms.GRAPH_MODE)
        ms.set_seed(0)
        def moving_mean_changes(level):
            net = nn.SequentialCell([nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                     nn.Flatten(), nn.Dense(8 * 8 * 8, 2)])
            train = ms.amp.build_train_network(net, nn.Momentum(net.trainable_params(), 0.1, 0.9),
                                               nn.MSELoss(), level=level)
            train.set_train(True)
            rng = np.random.default_rng(0)
            x = Tensor(rng.standard_normal((16, 3, 8, 8)).astype(np.float32) + 3.0)
            y = Tensor(np.zeros((16, 2), np.float32))
            mean = next(p for p in train.get_parameters() if "moving_mean" in p.name)
            before = mean.asnumpy().copy()
            for _ in range(3):
                train(x, y)
            return not np.allclose(mean.asnumpy(), before)
        if moving_mean_changes("O0") and not moving_mean_changes("O1"):
            gap("moving_mean updated under O0 but unchanged after 3 O1 training steps")
        """),
    Finding(
        "amp-o2-loss-scale-cpu", "AMP level O2 with default loss scaling is refused on CPU",
        ("01",),
        expected="build_train_network(net, opt, loss, level='O2') builds a trainable network.",
        actual="ValueError: only loss_scale_manager=None or FixedLossScaleManager("
               "drop_overflow_update=False) are supported on device CPU.",
        workaround="Pass loss_scale_manager=None, or scale with ms.amp.DynamicLossScaler in a "
                   "functional training step.",
        code="""
        net = nn.Dense(4, 2)
        try:
            ms.amp.build_train_network(net, nn.Momentum(net.trainable_params(), 0.1, 0.9),
                                       nn.MSELoss(), level="O2")
        except ValueError as err:
            gap(str(err)[:160])
        """),
    Finding(
        "fake-quant-no-cpu-kernel", "Fake-quantization primitives have no CPU kernel", ("01",),
        expected="FakeQuantPerLayer runs on CPU (it imports there).",
        actual="RuntimeError: Unsupported op [FakeQuantPerLayer] on CPU (GPU kernels only); "
               "Golden Stick's SimQAT fails the same way.",
        workaround="A straight-through estimator built from ops.stop_gradient "
                   "(w + stop_gradient(q(w) - w)), which trains correctly on CPU.",
        code="""
        from mindspore.ops.operations._quant_ops import FakeQuantPerLayer
        op = FakeQuantPerLayer(num_bits=8)
        x = Tensor(np.linspace(-1, 1, 16, dtype=np.float32))
        try:
            low, high = Tensor(np.array([-1.0], np.float32)), Tensor(np.array([1.0], np.float32))
            op(x, low, high).asnumpy()
        except RuntimeError as err:
            gap(first_line(err))
        """),
    Finding(
        "bfloat16-no-cpu-kernels", "bfloat16 has almost no CPU kernels", ("01",),
        expected="A bfloat16 matmul runs on CPU, as float16 does.",
        actual="TypeError: Select CPU operator[MatMul] fail! Unsupported data type (likewise "
               "Dense, exp, relu, softmax, sum, conv2d, BatchNorm); only creation, cast and add.",
        workaround="bfloat16 is simulated by rounding float32 values (cast to bf16 and back).",
        code="""
        a = Tensor(np.ones((8, 8), np.float32)).astype(ms.bfloat16)
        try:
            ops.matmul(a, a).asnumpy()
        except (TypeError, RuntimeError) as err:
            gap(first_line(err))
        """),
    Finding(
        "int8-matmul-wraps", "int8 matmul wraps around on overflow", ("01",),
        expected="An int8 x int8 matmul returns the exact sum (widened to int32) or refuses.",
        actual="The result is int8 and wraps: 4 x (100 x 2) = 800 comes back as 32.",
        workaround="Cast to int32 (or float32) before the matmul.",
        code="""
        a = Tensor(np.full((1, 4), 100, np.int8))
        b = Tensor(np.full((4, 1), 2, np.int8))
        out = ops.matmul(a, b).asnumpy()
        if int(out.astype(np.int64)[0, 0]) != 800:
            gap(f"int8 matmul gave {out.ravel()[0]} (dtype {out.dtype}) instead of 800")
        """),
    Finding(
        "jvp-tuple-form", "ms.jvp fails with tuples of inputs and tangents", ("04", "07"),
        expected="ms.jvp(f, (x,), (v,)) works like ms.jvp(f, x, v).",
        actual="TypeError: Type Join Failed: AbstractTuple cannot join with AbstractTensor.",
        workaround="Call ms.jvp(f, x, v) with single tensors.",
        code="""
        def f(x):
            return ops.sin(x) * x
        x = Tensor(np.array([0.5, 1.0], np.float32))
        try:
            ms.jvp(f, (x,), (ops.ones_like(x),))
        except TypeError as err:
            gap(first_line(err))
        """),
    Finding(
        "no-hessian", "There is no hessian transform", ("04", "07"),
        expected="ms.hessian (or ops.hessian), like jax.hessian and torch.func.hessian.",
        actual="Neither exists; jacfwd(grad(f)) works (also under jit), jacrev(jacrev(f)) does "
               "not under jit.",
        workaround="ms.jacfwd(ms.grad(f)), or Hessian-vector products via jvp of grad.",
        code="""
        if not (hasattr(ms, "hessian") or hasattr(ops, "hessian")):
            gap("mindspore has no hessian (ms.hessian / ops.hessian)")
        """),
    Finding(
        "jacrev-jacrev-jit", "jacrev(jacrev(f)) fails under jit", ("04",),
        expected="A reverse-over-reverse Hessian compiles under ms.jit, as in PyNative.",
        actual="RuntimeError: Illegal AnfNode for evaluating, node: @jacrev_..:param_fn.",
        workaround="ms.jacfwd(ms.grad(f)) under jit (13 ms per call after compilation).",
        code="""
        def s(x):
            return (ops.sin(x) * ops.exp(x)).sum()
        @ms.jit
        def hess(x):
            return ms.jacrev(ms.jacrev(s))(x)
        try:
            hess(Tensor(np.array([0.1, 0.2, 0.3], np.float32))).asnumpy()
        except RuntimeError as err:
            gap(first_line(err))
        """),
    Finding(
        "jit-inline-lambda", "Inline lambdas break graph compilation", ("04", "07"),
        expected="ms.jit(lambda x: x * 2) compiles, as a named function does.",
        actual="TypeError: Parse Lambda Function Fail. Node type must be Lambda, but got Call.",
        workaround="Always pass named functions (def) to ms.jit, grad, vmap and value_and_grad.",
        code="""
        doubled = ms.jit(lambda x: x * 2)
        try:
            doubled(Tensor(np.ones(3, np.float32))).asnumpy()
        except (TypeError, RuntimeError) as err:
            gap(first_line(err))
        """),
    Finding(
        "jit-needs-source-file", "ms.jit cannot compile code typed at a prompt or run with -c",
        ("07", "08"),
        expected="A function defined in `python -c` (or a plain REPL) compiles under ms.jit.",
        actual="OSError: Mindspore can not compile temporary source code in terminal. Please "
               "write source code to a python file and run the file. (Notebooks work: IPython "
               "keeps cell sources where inspect finds them.)",
        workaround="Reproducers and child processes are written to files before they run "
                   "(kit.findings.run, kit.parallel.dp_worker).",
        code="""
        import subprocess
        snippet = ("import mindspore as ms, numpy as np\\n"
                   "def double(x):\\n    return x * 2\\n"
                   "print(ms.jit(double)(ms.Tensor(np.ones(2, np.float32))))")
        out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True)
        if out.returncode != 0:
            lines = [ln for ln in out.stderr.splitlines() if ln.startswith("OSError")]
            gap(lines[-1] if lines else out.stderr.strip().splitlines()[-1])
        """),
    Finding(
        "jit-captured-tensor-constant", "jit treats captured tensors as constants", ("04", "07"),
        expected="Differentiating at a tensor captured from the enclosing scope inside ms.jit "
                 "gives the same gradient as passing it in (2x for sum(x*x)).",
        actual="The gradient comes back as zeros: the captured tensor became a constant.",
        workaround="Pass every tensor a jit function differentiates at as an argument.",
        code="""
        x = Tensor(np.array([1.0, 2.0, 3.0], np.float32))
        def square_sum(t):
            return (t * t).sum()
        @ms.jit
        def grad_at_captured():
            return ms.grad(square_sum)(x)
        got = grad_at_captured()
        if isinstance(got, tuple) or not np.allclose(got.asnumpy(), [2.0, 4.0, 6.0]):
            shown = got if isinstance(got, tuple) else got.asnumpy().tolist()
            gap(f"gradient at the captured tensor is {shown!r}, expected [2, 4, 6]")
        """),
    Finding(
        "auto-parallel-cpu", "semi_auto_parallel and auto_parallel are refused on CPU", ("08",),
        expected="Sharding annotations (semi_auto_parallel) and the strategy search "
                 "(auto_parallel) compile on CPU, at least for planning or a dry run.",
        actual="RuntimeError: Invalid communication backend: CPU for semi_auto_parallel/"
               "auto_parallel mode, currently only support Ascend/GPU backend (the dry-run "
               "simulation is refused on CPU too).",
        workaround="Chapter 08 plans with its own cost model and runs only DATA_PARALLEL, "
                   "which works under msrun on CPU.",
        impact="No way to try MindSpore's parallel strategy search without Ascend or GPU.",
        code="""
        ms.set_context(mode=ms.GRAPH_MODE)
        ms.set_auto_parallel_context(parallel_mode="semi_auto_parallel", device_num=8)
        net = nn.Dense(4, 4)
        step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()),
                                   nn.SGD(net.trainable_params(), 0.1))
        ones = Tensor(np.ones((8, 4), np.float32))
        try:
            step(ones, ones).asnumpy()
        except RuntimeError as err:
            gap(first_line(err))
        """),
    Finding(
        "dataset-workers-slower", "mindspore.dataset gets slower with 2 workers", ("10",),
        expected="NumpySlicesDataset(...).batch(128) with num_parallel_workers=2 is at least "
                 "as fast as with 1 worker.",
        actual="It is several times slower (13-21k vs 2.2k samples/s measured here).",
        workaround="One worker, and a GeneratorDataset that yields whole batches.",
        code="""
        import time
        import mindspore.dataset as ds
        X = np.random.default_rng(0).standard_normal((8000, 256)).astype(np.float32)
        Y = np.zeros(8000, np.int32)
        def rate(workers):
            data = ds.NumpySlicesDataset((X, Y), shuffle=False,
                                         num_parallel_workers=workers).batch(128)
            start = time.perf_counter()
            n = sum(len(b[0]) for b in data.create_tuple_iterator(output_numpy=True))
            return n / (time.perf_counter() - start)
        rate(1)
        one, two = rate(1), rate(2)
        if two < 0.5 * one:
            gap(f"{one:.0f} samples/s with 1 worker, {two:.0f} with 2")
        """),
    Finding(
        "gamma-sample-cpu", "Gamma and Poisson sampling have no CPU kernel", ("03",),
        expected="ops.gamma (and nn.probability Gamma.sample) draw samples on CPU.",
        actual="RuntimeError: Unsupported op [Gamma] on CPU (likewise Poisson).",
        workaround="ops.random_gamma / ops.random_poisson, or reparameterised samplers built "
                   "from uniform and normal draws.",
        code="""
        try:
            ops.gamma((4,), Tensor(np.array([2.0], np.float32)),
                      Tensor(np.array([1.0], np.float32))).asnumpy()
        except RuntimeError as err:
            gap(first_line(err))
        """),
    Finding(
        "container-renames-parameters", "Cells wrapped in separate containers get equal "
        "parameter names", ("02",),
        expected="Two Dense layers put into two SequentialCells (segments of one network) keep "
                 "distinct parameter names, so one optimizer can train both.",
        actual="Both become '0.weight'/'0.bias'; nn.Momentum refuses: \"its name '0.weight' "
               "already exists\".",
        workaround="Chapter 02 renames each block with update_parameters_name after wrapping.",
        impact="Segment-wise executors and pipeline stages need manual renaming.",
        code="""
        a, b = nn.Dense(4, 4), nn.Dense(4, 4)
        s1, s2 = nn.SequentialCell([a]), nn.SequentialCell([b])
        try:
            nn.Momentum(a.trainable_params() + b.trainable_params(), 0.1, 0.9)
        except ValueError as err:
            gap(first_line(err))
        """),
    Finding(
        "grad-tuple-argument", "grad w.r.t. a tuple-of-Tensors argument returns an empty tuple",
        ("05",),
        expected="ms.grad(f, grad_position=0) where argument 0 is a tuple (w, b) returns the "
                 "gradients of w and b, or raises.",
        actual="It silently returns an empty tuple, in PyNative, under ms.jit and through "
               "ms.vmap (per-example gradients).",
        workaround="Chapter 05 passes each weight as its own argument with grad_position=(0, "
                   "..., 5) (kit.trust.privacy).",
        impact="Functional per-example gradients (DP-SGD) silently get no gradient at all.",
        code="""
        def loss(params, x):
            w, b = params
            return ((ops.matmul(x, w) + b) ** 2).sum()
        w = Tensor(np.ones((3, 2), np.float32)); b = Tensor(np.zeros(2, np.float32))
        x = Tensor(np.ones((4, 3), np.float32))
        g = ms.grad(loss, grad_position=0)((w, b), x)
        per_example = ms.vmap(ms.grad(loss, grad_position=0), in_axes=(None, 0))((w, b), x)
        sizes = [len(v) if isinstance(v, tuple) else "tensor" for v in (g, per_example)]
        if sizes != [2, 2]:
            gap(f"grad / vmap(grad) w.r.t. a tuple argument: tuples of lengths {sizes}")
        """),
    Finding(
        "jit-grad-tuple-items", "ms.jit returns no gradients for tensors indexed from a tuple "
        "argument", ("10",),
        expected="Inside ms.jit, ms.grad(f, grad_position=(1, 2))(x, params[0], params[1]) "
                 "returns one gradient per position, as in PyNative.",
        actual="ms.jit returns an empty tuple, silently; an update that zips gradients with "
               "weights changes nothing, and indexing it fails with 'cannot get item by index "
               "from an empty sequence'.",
        workaround="Pass each differentiated tensor as its own argument, or use an nn.Cell "
                   "with Parameters and ops.GradOperation(get_by_list=True) "
                   "(kit.recommend.history.Trainer).",
        impact="A functional optimizer over a tuple of weights trains nothing under jit.",
        code="""
        def loss(x, w, b):
            return (ops.matmul(x, w) + b).sum()
        def grads_from_tuple(params, x):
            return ms.grad(loss, grad_position=(1, 2))(x, params[0], params[1])
        params = (Tensor(np.ones((4, 3), np.float32)), Tensor(np.ones(3, np.float32)))
        x = Tensor(np.ones((5, 4), np.float32))
        eager = grads_from_tuple(params, x)
        jitted = ms.jit(grads_from_tuple)(params, x)
        if len(jitted) != len(eager):
            gap(f"ms.jit returned {len(jitted)} gradients for 2 tuple items "
                f"(PyNative: {len(eager)})")
        """),
    Finding(
        "xai-hook-order", "mindspore-xai 1.8.1's GuidedBackprop computes deconvolution on "
        "MindSpore 2.10", ("09",),
        expected="GuidedBackprop passes a gradient back through a ReLU only where the forward "
                 "input was positive and the gradient is positive: [0, 4] for "
                 "sum(relu(x) * [3, 4]) at x = [-1, 2].",
        actual="It returns [3, 4] (deconvolution). Cell.register_backward_hook hands "
               "hook_fn(cell, grad_input, grad_output) the gradient leaving towards the input "
               "first and the arriving one second; mindspore-xai 1.8 (written for MindSpore 1.x) "
               "reads them the other way round, so its GuidedBackprop and Deconvolution are "
               "swapped and its GradCAM weights channels by the input-side gradient.",
        workaround="Chapter 09 runs mindspore-xai side by side and reproduces each of its maps "
                   "with the kit's own definitions (Spearman 1.000), reading them under their "
                   "real names (kit.xai.anchor).",
        impact="Users of the in-framework XAI toolkit get deconvolution maps labelled Guided "
               "Backprop.",
        code="""
        ms.set_context(mode=ms.PYNATIVE_MODE)
        from mindspore_xai.explainer import GuidedBackprop

        class Net(nn.Cell):
            def __init__(self):
                super().__init__()
                self.relu = nn.ReLU()
                self.w = Tensor(np.array([3.0, 4.0], np.float32).reshape(1, 1, 1, 2))

            def construct(self, x):
                return (self.relu(x) * self.w).sum(axis=(1, 2, 3)).reshape(-1, 1)

        x = Tensor(np.array([-1.0, 2.0], np.float32).reshape(1, 1, 1, 2))
        sal = GuidedBackprop(Net())(x, 0, show=False).asnumpy().ravel()
        if not np.allclose(sal, [0.0, 4.0]):
            gap(f"GuidedBackprop saliency {sal.tolist()} (deconvolution gives [3, 4], "
                "guided [0, 4])")
        """),
    Finding(
        "mindarmour-dpmodel-cpu", "MindArmour's DPModel refuses CPU", ("05",),
        expected="mindarmour.privacy.diff_privacy.DPModel builds and trains on CPU like Model.",
        actual="The constructor raises ValueError: 'device_target' or DP training should be "
               "'GPU' or 'Ascend', but got CPU (MindArmour 2.0.0 with MindSpore 2.10.0).",
        workaround="Chapter 05 runs MindArmour's Gaussian noise mechanism inside the kit's "
                   "DP-SGD loop and compares its RDPMonitor epsilon with dp_accounting "
                   "(kit.trust.anchor).",
        impact="MindArmour's DP training cannot be used or tested on CPU-only machines.",
        code="""
        from mindarmour.privacy.diff_privacy import DPModel, NoiseMechanismsFactory
        net = nn.Dense(4, 2)
        mech = NoiseMechanismsFactory().create("Gaussian", norm_bound=1.0,
                                               initial_noise_multiplier=1.0)
        try:
            DPModel(micro_batches=2, norm_bound=1.0, noise_mech=mech, network=net,
                    loss_fn=nn.SoftmaxCrossEntropyWithLogits(sparse=True),
                    optimizer=nn.SGD(net.trainable_params(), 0.1))
        except ValueError as err:
            gap(first_line(err))
        """),
    Finding(
        "cross-entropy-second-order", "Second derivatives through ops.cross_entropy fail",
        ("01",),
        expected="A Hessian-vector product (ms.grad of the gradient-vector product) of a "
                 "cross-entropy loss compiles under ms.jit.",
        actual='RuntimeError: Bprop "GatherDGradV2" encounter a problem: The pointer[value] '
               'is null.',
        workaround="Chapter 01 writes the loss with one-hot targets: logsumexp(z) - "
                   "sum(z * onehot).",
        impact="Hessian-based sensitivity (HAWQ, Hutchinson traces) of a classifier fails to "
               "compile with the standard loss.",
        code="""
        def loss(w, x, y):
            return ops.cross_entropy(ops.matmul(x, w), y)
        grad = ms.grad(loss, grad_position=0)
        def gv(w, v, x, y):
            return (grad(w, x, y) * v).sum()
        @ms.jit
        def hvp(w, v, x, y):
            return ms.grad(gv, grad_position=0)(w, v, x, y)
        w = Tensor(np.ones((3, 2), np.float32)); v = Tensor(np.ones((3, 2), np.float32))
        x = Tensor(np.ones((4, 3), np.float32)); y = Tensor(np.array([0, 1, 0, 1], np.int32))
        try:
            hvp(w, v, x, y).asnumpy()
        except RuntimeError as err:
            gap(first_line(err))
        """),
    Finding(
        "ms-derivative-no-matmul", "ops.derivative cannot differentiate an MLP", ("04",),
        expected="ops.derivative(f, x, order), MindSpore's forward Taylor-mode operator, "
                 "differentiates a small network tanh(x @ w).",
        actual="It has Taylor rules only for Add, Sub, Mul, Div, RealDiv, Exp, Log, Sin, Cos and "
               "Tan: MatMul, Tanh and ReduceSum are refused.",
        workaround="Chapter 04 propagates Taylor coefficients itself (kit.science.taylor) and "
                   "benchmarks ops.derivative on a function it supports.",
        impact="Taylor mode is unavailable for PINNs, the case that needs high orders.",
        code="""
        w = ms.Tensor(np.ones((1, 4), np.float32))
        def net(x):
            return ops.tanh(ops.matmul(x, w))
        @ms.jit
        def second(x):
            return ops.derivative(net, x, 2)[1]
        try:
            second(ms.Tensor(np.ones((2, 1), np.float32)))
        except (RuntimeError, TypeError, ValueError) as err:
            gap(first_line(err))
        """),
    Finding(
        "softplus-float64", "float64 ops.softplus is only float32-accurate on CPU", ("04",),
        expected="ops.softplus on a float64 tensor agrees with log1p(exp(x)) to about 1e-15.",
        actual="It differs by 4.5e-7 at x = 0.3 (float32 accuracy).",
        workaround="Chapter 04 checks Taylor mode against nested grad with tanh, sin and "
                   "sigmoid, not softplus.",
        code="""
        x = ms.Tensor(np.array([0.3]), ms.float64)
        err = abs(float(ops.softplus(x).asnumpy()[0]) - float(np.log1p(np.exp(0.3))))
        if err > 1e-12:
            gap(f"float64 ops.softplus differs from log1p(exp(x)) by {err:.1e} at x = 0.3")
        """),
    Finding(
        "einsum-cpu", "ops.einsum is not supported on CPU", ("04",),
        expected="ops.einsum('bi,io->bo', a, b) runs on CPU as it does on GPU/Ascend.",
        actual="Unsupported op [Einsum] on CPU.",
        workaround="Chapter 04's FNO spectral layer uses batched matmuls.",
        code="""
        a = ms.Tensor(np.ones((2, 3), np.float32)); b = ms.Tensor(np.ones((3, 4), np.float32))
        try:
            ops.einsum("bi,io->bo", a, b).asnumpy()
        except (RuntimeError, TypeError, ValueError) as err:
            gap("Unsupported op [Einsum] on CPU" if "Einsum" in str(err) else first_line(err))
        """),
    Finding(
        "jit-nested-grad-closure", "Nesting ms.grad closures in a loop inside ms.jit fails",
        ("04",),
        expected="Building the k-th derivative by wrapping ms.grad k times inside a jitted "
                 "function compiles.",
        actual="RuntimeError: BUG: no manager for this func graph.",
        workaround="Chapter 04 builds the nesting outside jit and jits the result "
                   "(kit.science.pinn).",
        code="""
        def f(x):
            return ops.sin(x).sum()
        def lift(g):
            gg = ms.grad(g)
            def h(x):
                return gg(x).sum()
            return h
        @ms.jit
        def third(x):
            g = f
            for _ in range(2):
                g = lift(g)
            return ms.grad(g)(x)
        try:
            third(ms.Tensor(np.ones(3, np.float32)))
        except (RuntimeError, TypeError, ValueError) as err:
            gap(first_line(err))
        """),
    Finding(
        "logsoftmax-second-order", "ops.log_softmax cannot be differentiated twice", ("09",),
        expected="A Hessian-vector product (grad of grad . v) of a cross-entropy loss built on "
                 "ops.log_softmax (or nn.CrossEntropyLoss) works, as for any smooth loss.",
        actual="RuntimeError: Illegal primitive LogSoftmaxGrad's bprop not defined, in "
               "PyNative and in GRAPH_MODE/jit.",
        workaround="Chapter 09 writes log-softmax by hand (logits - max - log(sum(exp))), which "
                   "differentiates twice (exact Hessians for influence functions).",
        impact="No influence functions, Newton steps or Hessian-based curvature with the "
               "framework's own cross-entropy.",
        code="""
        def loss(w, x):
            return -ops.log_softmax(ops.matmul(x, w.reshape(4, 3)), -1)[:, 0].sum()
        grad = ms.grad(loss)
        def gdot(w, v, x):
            return (grad(w, x) * v).sum()
        w = Tensor(np.ones(12, np.float32)); x = Tensor(np.ones((5, 4), np.float32))
        try:
            ms.grad(gdot)(w, w, x).asnumpy()
        except Exception as err:
            gap(first_line(err))
        """),
    Finding(
        "pool-second-order", "MaxPool2d and AvgPool2d have no second derivative on CPU",
        ("09",),
        expected="A Hessian-vector product through a CNN with pooling works.",
        actual="MaxPool2d: 'MaxPoolGradGrad does not support on CPU'; AvgPool2d: 'Primitive "
               "AvgPoolGrad's bprop not defined'.",
        workaround="Chapter 09's CNN pools by reshape and mean, which differentiates twice.",
        impact="Curvature methods (influence functions, Hessian spectra, Newton) fail on any "
               "CNN with a pooling layer on CPU.",
        code="""
        ms.set_context(mode=ms.GRAPH_MODE)
        failures = []
        for pool in (nn.MaxPool2d(2, 2), nn.AvgPool2d(2, 2)):
            def f(x):
                return (pool(x) ** 2).sum()
            g = ms.grad(f)
            def gdot(x, v):
                return (g(x) * v).sum()
            x = Tensor(np.random.rand(1, 1, 4, 4).astype(np.float32))
            try:
                ms.jit(ms.grad(gdot))(x, x).asnumpy()
            except Exception as err:
                failures.append(f"{type(pool).__name__}: {first_line(err)}")
        if failures:
            gap("; ".join(failures))
        """),
    Finding(
        "bernoulli-ignores-seed", "ops.bernoulli ignores ms.set_seed", ("05", "09"),
        expected="Two ops.bernoulli draws after the same ms.set_seed are equal.",
        actual="They differ (and with an explicit seed= every call returns the same mask).",
        workaround="Threshold ops.rand: (ops.rand(shape) < p).",
        code="""
        p = Tensor(np.full((64,), 0.5, np.float32))
        ms.set_seed(1)
        a = ops.bernoulli(p, 0.5).asnumpy()
        ms.set_seed(1)
        b = ops.bernoulli(p, 0.5).asnumpy()
        if not np.array_equal(a, b):
            gap(f"{int((a != b).sum())} of 64 draws differ after the same seed")
        """),
    Finding(
        "float64-scalars", "Python float scalars are rounded to float32 against float64 tensors",
        ("04",),
        expected="A float64 tensor times the Python float 1/3 equals 1/3 to about 1e-16.",
        actual="It is off by about 1e-8: the scalar becomes float32 first (PyNative and ms.jit).",
        workaround="Chapter 04's Taylor recurrences divide only by small integers (exact in "
                   "float32); wrap other constants in ms.Tensor(c, ms.float64).",
        code="""
        x = Tensor(np.array([1.0]), ms.float64)
        err = abs(float((x * (1.0 / 3)).asnumpy()[0]) - 1 / 3)
        if err > 1e-15:
            gap(f"float64 tensor * Python float 1/3 is off by {err:.1e} (float32 scalar)")
        """),
    Finding(
        "im2col-train-step-hangs", "A train step through two im2col convolutions hangs",
        ("01",),
        expected="A GRAPH_MODE train step (SGD) of a CNN whose two 3x3 convolutions are written "
                 "as pad + 9 slices + stack + matmul runs as often as it is called.",
        actual="The 9th call never returns (the first 8 take ~30 ms each), with random inputs, "
               "SGD or Adam, max or mean pooling; forward-only calls and one such convolution "
               "do not hang.",
        workaround="Chapter 01's MNIST CNN convolves with ops.unfold + one matmul "
                   "(kit.lowbit.nets.conv_im2col): no hang, and 2.8x faster steps than "
                   "ops.conv2d (17.7 vs 49 ms at batch 64).",
        code="""
        import os
        import threading
        ms.set_context(mode=ms.GRAPH_MODE)

        def conv(h, w):
            b, c, s, _ = h.shape
            padded = ops.pad(h, (1, 1, 1, 1))
            shifted = []
            for i in range(3):
                for j in range(3):
                    shifted.append(padded[:, :, i:i + s, j:j + s])
            cols = ops.stack(shifted, axis=2).reshape(b, c * 9, s * s)
            return ops.matmul(w.reshape(w.shape[0], -1), cols).reshape(b, w.shape[0], s, s)

        class Net(nn.Cell):
            def __init__(self):
                super().__init__()
                rng = np.random.default_rng(0)
                self.w1 = ms.Parameter(Tensor(rng.normal(0, 0.3, (4, 1, 3, 3)).astype(np.float32)))
                self.w2 = ms.Parameter(Tensor(rng.normal(0, 0.3, (8, 4, 3, 3)).astype(np.float32)))
                self.fc = ms.Parameter(Tensor(rng.normal(0, 0.05, (10, 392)).astype(np.float32)))

            def construct(self, x):
                h = ops.relu(conv(x, self.w1))
                b, c, s, _ = h.shape
                h = h.reshape(b, c, s // 2, 2, s // 2, 2).amax(axis=(3, 5))
                h = ops.relu(conv(h, self.w2))
                b, c, s, _ = h.shape
                h = h.reshape(b, c, s // 2, 2, s // 2, 2).amax(axis=(3, 5))
                return ops.matmul(h.reshape(b, -1), self.fc.T)

        class WithLoss(nn.Cell):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def construct(self, x, y):
                return ops.cross_entropy(self.net(x), y)

        net = Net()
        step = nn.TrainOneStepCell(WithLoss(net), nn.SGD(net.trainable_params(), 0.01))
        rng = np.random.default_rng(0)
        x = Tensor(rng.uniform(0, 1, (64, 1, 28, 28)).astype(np.float32))
        y = Tensor(rng.integers(0, 10, 64).astype(np.int32))
        done = []

        def train():
            for _ in range(12):
                step(x, y).asnumpy()
                done.append(1)

        worker = threading.Thread(target=train, daemon=True)
        worker.start()
        worker.join(timeout=30)
        if worker.is_alive():
            threading.Timer(10, os._exit, (3,)).start()  # if exiting waits on the stuck step
            gap(f"train step {len(done) + 1} did not return within 30 s ({len(done)} returned)")
        """),
    Finding(
        "early-output-sync-slow", "Reading a loss before its gradient makes the call 5-9x "
        "slower", ("03", "04", "05", "09"),
        expected="For f = ms.jit(ms.value_and_grad(loss)), `v, g = f(x)` then `v.asnumpy()`, "
                 "`g.asnumpy()` costs about as much as reading `g` first.",
        actual="Reading the loss first made each call 5-9x slower on this CPU (a PINN loss "
               "with second derivatives, 2,000 points: 55-90 ms vs 10 ms); reading the "
               "gradient first, or the loss alone of a one-output train step, is not slowed.",
        workaround="kit.core.tensors.fetch reads a call's largest output first; chapter 04's "
                   "L-BFGS, chapter 05's attacks, chapter 03's samplers and chapter 09's "
                   "multi-output calls use it (chapter 04's Burgers PINN: 83 s -> 25 s for "
                   "1,000 iterations, same iterates).",
        impact="Every scipy-driven optimizer (loss and gradient per call) paid it.",
        code="""
        import time
        ms.set_context(mode=ms.GRAPH_MODE)
        rng = np.random.default_rng(0)
        shapes = [(2, 20), (20, 20), (20, 20), (20, 1)]
        W = [Tensor(rng.normal(0, 0.5, s).astype(np.float32)) for s in shapes]
        x = Tensor(rng.uniform(-1, 1, (2000, 2)).astype(np.float32))

        def u(w0, w1, w2, w3, x):
            h = ops.tanh(ops.matmul(x, w0))
            h = ops.tanh(ops.matmul(h, w1))
            h = ops.tanh(ops.matmul(h, w2))
            return ops.matmul(h, w3)

        def u_sum(w0, w1, w2, w3, x):
            return u(w0, w1, w2, w3, x).sum()

        def ux_sum(w0, w1, w2, w3, x):
            return ms.grad(u_sum, grad_position=4)(w0, w1, w2, w3, x)[:, 0].sum()

        def loss(w0, w1, w2, w3, x):
            uxx = ms.grad(ux_sum, grad_position=4)(w0, w1, w2, w3, x)[:, 0]
            return ((uxx - u(w0, w1, w2, w3, x)[:, 0]) ** 2).mean()

        f = ms.jit(ms.value_and_grad(loss, grad_position=(0, 1, 2, 3)))

        def loss_first():
            v, g = f(*W, x)
            v.asnumpy(), [t.asnumpy() for t in g]

        def grad_first():
            v, g = f(*W, x)
            [t.asnumpy() for t in g], v.asnumpy()

        def ms_per_call(read):
            start = time.perf_counter()
            for _ in range(20):
                read()
            return (time.perf_counter() - start) / 20 * 1e3

        loss_first(), grad_first()
        rounds = [(ms_per_call(loss_first), ms_per_call(grad_first)) for _ in range(5)]
        ratio = float(np.median([a / b for a, b in rounds]))
        if ratio > 2:
            gap(f"loss read first: {ratio:.1f}x the time of gradient first (median of 5 rounds)")
        """),
    Finding(
        "jit-function-optimizer-slow", "A train step as an ms.jit function is 2-3x slower "
        "than the same step as a Cell", ("04",),
        expected="`@ms.jit def step(x): loss, g = grad_fn(x); opt(g); return loss` (an "
                 "optimizer captured by a jitted function) runs about as fast as the same "
                 "step written as an nn.Cell's construct.",
        actual="It runs 1.6-2.7x slower on this CPU and erratically (chapter 04's FNO step: "
               "65-290 ms per call vs a steady 33 ms as a Cell), with identical losses.",
        workaround="Chapter 04's FNO trains with a Cell (kit.science.fno.TrainStep); the "
                   "kit's other train steps were Cells already.",
        impact="Functional-style training loops (the style MindSpore 2's tutorials show) pay "
               "it on every step.",
        code="""
        import time
        ms.set_context(mode=ms.GRAPH_MODE)
        rng = np.random.default_rng(0)
        x = Tensor(rng.standard_normal((256, 20, 32)).astype(np.float32))


        def make_net():
            ms.set_seed(0)
            layers = [nn.Dense(32, 64), nn.GELU()]
            layers += [m for _ in range(8) for m in (nn.Dense(64, 64), nn.GELU())]
            return nn.SequentialCell(layers + [
                                      nn.Dense(64, 32)])


        def loss_of(net):
            def loss(x):
                return (net(x) ** 2).mean()
            return loss


        def jit_function_step():
            net = make_net()
            opt = nn.Adam(net.trainable_params(), 1e-3)
            grad = ms.value_and_grad(loss_of(net), None, opt.parameters)

            @ms.jit
            def step(x):
                loss, grads = grad(x)
                opt(grads)
                return loss
            return step


        class CellStep(nn.Cell):
            def __init__(self):
                super().__init__()
                self.net = make_net()
                self.opt = nn.Adam(self.net.trainable_params(), 1e-3)
                self.grad = ms.value_and_grad(loss_of(self.net), None, self.opt.parameters)

            def construct(self, x):
                loss, grads = self.grad(x)
                self.opt(grads)
                return loss


        def ms_per_step(step):
            start = time.perf_counter()
            losses = [float(step(x).asnumpy()) for _ in range(20)]
            return (time.perf_counter() - start) / 20 * 1e3, losses


        steps = {"function": jit_function_step(), "cell": CellStep()}
        for s in steps.values():
            s(x).asnumpy()
        rounds = [(ms_per_step(steps["function"]), ms_per_step(steps["cell"])) for _ in range(5)]
        ratio = float(np.median([f[0] / c[0] for f, c in rounds]))
        assert rounds[0][0][1] == rounds[0][1][1], "the two steps must compute the same losses"
        if ratio > 1.5:
            gap(f"jitted function step: {ratio:.1f}x the Cell step's time (median of 5 rounds)")
        """),
)

BY_ID = {f.id: f for f in FINDINGS}


def finding(finding_id: str) -> Finding:
    """The finding with this id; a clear error naming the known ids otherwise."""
    if finding_id not in BY_ID:
        raise ValueError(f"finding must be one of {', '.join(BY_ID)}, got {finding_id!r}")
    return BY_ID[finding_id]


def appendix_markdown(outcomes: list[Outcome], version: str) -> str:
    """The book appendix "What we learned about MindSpore": a table, then each reproducer."""
    lines = [
        "# What we learned about MindSpore",
        "",
        f"Gaps and surprises the chapters met on MindSpore {version} on CPU, each with a "
        "minimal reproducer that `make test` runs as a strict expected failure: the day a "
        "release fixes one, the suite says so. Status is from running every reproducer while "
        "this book was built. Each entry is written so that it could be filed upstream as is.",
        "",
        "| Gap | Impact | Workaround in the kit | Chapters | Status here |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        f = o.finding
        cells = [f"[{f.title}](#{f.id})", f.impact or f.actual, f.workaround,
                 ", ".join(f.chapters), o.status]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for o in outcomes:
        f = o.finding
        lines += ["", f"({f.id})=", f"## {f.title}", "",
                  f"- **Expected:** {f.expected}", f"- **Actual:** {f.actual}",
                  f"- **Observed in this build:** {o.status}: {o.detail}",
                  f"- **Workaround:** {f.workaround}",
                  f"- **Chapters:** {', '.join(f.chapters)}", "",
                  "```python", f.script.strip(), "```"]
    return "\n".join(lines) + "\n"
