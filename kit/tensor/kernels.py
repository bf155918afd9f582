"""Chapter 07's operator level ("Operator level: the kit's own kernels").

The C++ kernels in ``csrc/kernels.cc`` (a blocked matmul with an optional fused bias+GELU
epilogue, a one-pass LayerNorm+GELU and a plain bias+GELU pass) are compiled once with the
system compiler and used two ways: as MindSpore operators (``ops.Custom(func_type="aot")``,
in PyNative and ``ms.jit``) and directly through ``ctypes`` by the schedule search, which
would otherwise pay MindSpore's dispatch on every trial. Schedules are run-time arguments, so
one compiled library serves the whole search space.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from kit.core import native

SOURCE = Path(__file__).with_name("csrc") / "kernels.cc"
FLAGS = ("-std=c++20", "-O3", "-march=native", "-ffast-math", "-fopenmp",
         "-fno-tree-vectorize", "-fPIC")
LINK_FLAGS = ("-shared", "-fopenmp")
# -fno-tree-vectorize: vector width is an explicit schedule choice (GCC vector extensions), so
# the compiler must not vectorise the scalar variant behind the search's back; loops marked
# `omp simd` (the GELU epilogues) are still vectorised. Compiling and linking are separate steps
# so -ffast-math stays out of the link: linked into a shared library it would pull in
# crtfastmath.o, which switches the whole process (numpy, MindSpore) to flush-to-zero.
WIDTHS = (1, 4, 8, 16)
ORDERS = ("i-j-k", "j-i-k", "i-k-j")


PURPOSE = "chapter 07's custom kernels"


def compiler() -> str:
    """The C++ compiler (``$CXX`` or g++), or a clear error saying what to install."""
    return native.compiler(PURPOSE)


def build(source: Path = SOURCE) -> Path:
    """Compile ``source`` into a shared library once per content and flags (cached)."""
    return native.build(source, FLAGS, LINK_FLAGS, PURPOSE)


@functools.cache
def library() -> ctypes.CDLL:
    """The compiled kernels loaded through ctypes (argument types declared)."""
    lib = ctypes.CDLL(str(build()))
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.kit_matmul.argtypes = [p, p, p, p, i64, i64, i64, p]
    lib.kit_layernorm_gelu.argtypes = [p, p, p, p, i64, i64, p]
    lib.kit_bias_gelu.argtypes = [p, p, p, i64, i64, i64]
    return lib


@dataclass(frozen=True)
class Schedule:
    """A matmul schedule: tile sizes, the order of the tile loops, vector width, threads."""

    tm: int
    tn: int
    tk: int
    order: int = 0
    vec: int = 1
    threads: int = 1

    def check(self, m: int, n: int, k: int) -> Schedule:
        """Raise ValueError naming the field when the schedule does not fit an (m, n, k) matmul."""
        for name, tile, size in (("tm", self.tm, m), ("tn", self.tn, n), ("tk", self.tk, k)):
            if not 1 <= tile <= size or size % tile:
                raise ValueError(f"tile {name}={tile} must divide the problem size {size} "
                                 f"(and be at most {size})")
        if self.order not in range(len(ORDERS)):
            raise ValueError(f"order must be 0..{len(ORDERS) - 1} ({', '.join(ORDERS)}), "
                             f"got {self.order}")
        if self.vec not in WIDTHS:
            raise ValueError(f"vec must be one of {WIDTHS}, got {self.vec}")
        if self.tn % self.vec:
            raise ValueError(f"vec={self.vec} must divide tn={self.tn}")
        if not 1 <= self.threads <= 64:
            raise ValueError(f"threads must be in [1, 64], got {self.threads}")
        return self

    def array(self) -> np.ndarray:
        return np.array(astuple(self), np.int64)


def naive_schedule(m: int, n: int, k: int, threads: int = 1) -> Schedule:
    """The textbook loop nest: no tiling, scalar, the row loop split over ``threads``."""
    return Schedule(m, n, k, 0, 1, threads)


def _float32_matrix(name: str, value: np.ndarray, ndim: int = 2) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype != np.float32:
        dtype = getattr(value, "dtype", type(value).__name__)
        raise ValueError(f"{name} must be a float32 numpy array (the kernels are float32 only), "
                         f"got {dtype}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {value.shape}")
    return np.ascontiguousarray(value)


def _ptr(a: np.ndarray | None) -> ctypes.c_void_p | None:
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


def matmul(a: np.ndarray, b: np.ndarray, schedule: Schedule,
           bias: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (or ``gelu(a @ b + bias)`` with the fused epilogue) by the kit's kernel."""
    a, b = _float32_matrix("a", a), _float32_matrix("b", b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner sizes differ: a is {a.shape}, b is {b.shape}")
    (m, k), n = a.shape, b.shape[1]
    schedule.check(m, n, k)
    if bias is not None:
        bias = _float32_matrix("bias", bias, 1)
        if bias.shape != (n,):
            raise ValueError(f"bias must have shape ({n},), got {bias.shape}")
    out = np.empty((m, n), np.float32) if out is None else out
    library().kit_matmul(_ptr(a), _ptr(b), _ptr(bias), _ptr(out), m, n, k,
                         _ptr(schedule.array()))
    return out


def bias_gelu(x: np.ndarray, bias: np.ndarray, threads: int = 2,
              out: np.ndarray | None = None) -> np.ndarray:
    """``gelu(x + bias)`` as its own pass over memory (the unfused alternative)."""
    x, bias = _float32_matrix("x", x), _float32_matrix("bias", bias, 1)
    if bias.shape != (x.shape[1],):
        raise ValueError(f"bias must have shape ({x.shape[1]},), got {bias.shape}")
    out = np.empty_like(x) if out is None else out
    library().kit_bias_gelu(_ptr(x), _ptr(bias), _ptr(out), x.shape[0], x.shape[1], threads)
    return out


def _check_ln_schedule(width: int, vec: int, chunk: int, threads: int) -> np.ndarray:
    if vec not in WIDTHS or width % vec:
        raise ValueError(f"vec must be one of {WIDTHS} and divide the width {width}, got {vec}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 row, got {chunk}")
    if not 1 <= threads <= 64:
        raise ValueError(f"threads must be in [1, 64], got {threads}")
    return np.array([vec, chunk, threads], np.int64)


def layernorm_gelu(x: np.ndarray, w: np.ndarray, b: np.ndarray, vec: int = 16, chunk: int = 16,
                   threads: int = 2, out: np.ndarray | None = None) -> np.ndarray:
    """The fused LayerNorm+GELU kernel: one pass over each row, the row kept in L1."""
    x, w, b = _float32_matrix("x", x), _float32_matrix("w", w, 1), _float32_matrix("b", b, 1)
    if w.shape != (x.shape[1],) or b.shape != (x.shape[1],):
        raise ValueError(f"w and b must have shape ({x.shape[1]},), got {w.shape}, {b.shape}")
    schedule = _check_ln_schedule(x.shape[1], vec, chunk, threads)
    out = np.empty_like(x) if out is None else out
    library().kit_layernorm_gelu(_ptr(x), _ptr(w), _ptr(b), _ptr(out), x.shape[0], x.shape[1],
                                 _ptr(schedule))
    return out


# ---- the same kernels as MindSpore operators -------------------------------------------------

def _matmul_shape(a, b, *rest):
    return (a[0], b[1])


def _same_shape(x, *rest):
    return tuple(x)


def _first_dtype(x, *rest):
    return x


def ms_matmul(bias_gelu_epilogue: bool = False):
    """``ops.Custom`` running the kit's matmul: call it as ``op(a, b, schedule)`` or, with the
    epilogue, ``op(a, b, bias, schedule)`` (schedule: an int64 tensor of ``Schedule.array()``)."""
    from mindspore import ops

    entry = "MatmulBiasGeluAot" if bias_gelu_epilogue else "MatmulAot"
    return ops.Custom(f"{build()}:{entry}", out_shape=_matmul_shape, out_dtype=_first_dtype,
                      func_type="aot")


def ms_layernorm_gelu():
    """``ops.Custom`` running the fused LayerNorm+GELU: ``op(x, w, b, schedule)`` with schedule
    an int64 tensor (vec, chunk, threads)."""
    from mindspore import ops

    return ops.Custom(f"{build()}:LayerNormGeluAot", out_shape=_same_shape,
                      out_dtype=_first_dtype, func_type="aot")


def ln_schedule_tensor(width: int, vec: int = 16, chunk: int = 16, threads: int = 2):
    """The LayerNorm+GELU schedule as the int64 MindSpore tensor the operator takes."""
    import mindspore as ms

    return ms.Tensor(_check_ln_schedule(width, vec, chunk, threads))
