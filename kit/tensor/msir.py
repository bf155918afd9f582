"""MindSpore's own graph IR of a block, summarised as an op table ("Two levels of IR").

``save_graphs`` is a process-wide context setting that writes dozens of ``.ir`` files, so the
block is compiled in a child process with the dump pointed at a scratch folder; the op names of
the final frontend graph (``*_execute_*.ir``) are counted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

OP = re.compile(r"^\s+%\d+\([^)]*\) = (?:PrimFunc_)?([A-Za-z]\w*)\(", re.M)
_CHILD = """
import json, sys
import mindspore as ms
import kit
kit.setup(0, mode="pynative")
from kit.tensor import blocks
name, rows, width, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ms.set_context(save_graphs=1, save_graphs_path=folder)
fn = ms.jit(blocks.ms_block(name))
fn(*[ms.Tensor(a) for a in blocks.inputs(name, (rows, width))]).asnumpy()
"""


def count_ops(ir_text: str) -> Counter:
    """Op names of the CNodes in one MindSpore ``.ir`` dump (``resolve`` and tuple plumbing
    are not operations)."""
    skip = {"resolve", "MakeTuple", "TupleGetItem", "Return", "Depend", "UpdateState", "Load"}
    return Counter(op for op in OP.findall(ir_text) if op not in skip)


def mindspore_ir_ops(name: str, shape: tuple[int, int] = (8, 16)) -> Counter:
    """Op counts of MindSpore's final frontend graph for a block under ``ms.jit``."""
    with tempfile.TemporaryDirectory(prefix="kit-msir-") as folder:
        out = subprocess.run([sys.executable, "-c", _CHILD, name, str(shape[0]), str(shape[1]),
                              folder], capture_output=True, text=True, timeout=300, cwd=folder)
        if out.returncode != 0:
            raise RuntimeError(f"IR dump failed: {out.stderr.strip()[-800:]}")
        dumps = sorted(Path(folder).rglob("*_execute_*.ir"))
        if not dumps:
            found = len(list(Path(folder).rglob("*.ir")))
            raise RuntimeError(f"no *_execute_*.ir among the {found} files MindSpore dumped")
        return count_ops(dumps[0].read_text())


def as_json(counts: Counter) -> str:
    """Stable text form (for records)."""
    return json.dumps(dict(sorted(counts.items())))
