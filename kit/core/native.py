"""Compile a chapter's C++ source into a shared library for ``ops.Custom(func_type="aot")``
(chapters 04 and 07): the system compiler, compiled once per content and flags, cached in the
temp folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path


def compiler(purpose: str) -> str:
    """The C++ compiler (``$CXX`` or g++), or a clear error saying what to install."""
    name = os.environ.get("CXX", "g++")
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"C++ compiler {name!r} not found: {purpose} need g++ with OpenMP "
                           "(Debian/Ubuntu: apt install g++), or set CXX")
    return path


def build(source: Path, flags: Sequence[str], link_flags: Sequence[str], purpose: str) -> Path:
    """Compile ``source`` into a shared library once per content and flags (written under a
    temporary name and renamed, so a crash leaves no half library). Compiling and linking are
    separate steps so that flags such as -ffast-math stay out of the link."""
    cxx = compiler(purpose)
    key = hashlib.sha256(source.read_bytes() + " ".join((cxx, *flags, *link_flags)).encode())
    key = key.hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"kit-kernels-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    target = folder / f"{source.stem}-{key}.so"
    if not target.is_file():
        partial = folder / f".{target.name}.{os.getpid()}"
        obj = partial.with_suffix(".o")
        for command in ([cxx, *flags, "-c", "-o", str(obj), str(source)],
                        [cxx, *link_flags, "-o", str(partial), str(obj)]):
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"compiling {source.name} failed:\n{out.stderr[-2000:]}")
        obj.unlink()
        os.replace(partial, target)
    return target
