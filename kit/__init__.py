"""MindSpore Frontiers: helpers for the ten research chapters.

Importing ``kit`` quiets MindSpore before it is imported anywhere (``GLOG_v`` is only read at
import time) and keeps compile-failure dumps out of the working directory (``MS_OM_PATH``).
MindSpore itself is imported lazily, by :func:`kit.core.repro.setup` and the chapter modules.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("GLOG_v", "3")
os.environ.setdefault("MS_OM_PATH", os.path.join(tempfile.gettempdir(), "kit-ms-om"))

__version__ = "0.1.0"

from kit.core import params, results  # noqa: E402
from kit.core.repro import setup  # noqa: E402

__all__ = ["__version__", "params", "results", "setup"]
