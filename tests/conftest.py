"""Shared test set-up: fixture notebooks are inputs, not nbval targets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
collect_ignore_glob = ["fixtures/*"]

os.environ.setdefault("GLOG_v", "3")


@pytest.fixture(scope="session")
def squares_notebook() -> Path:
    """A small notebook that keeps the chapter contract (runner, sweep, book and UI tests)."""
    return FIXTURES / "squares.ipynb"


@pytest.fixture(scope="session")
def kit_cli() -> list[str]:
    """The command that runs ``python -m kit`` in this environment."""
    return [sys.executable, "-m", "kit"]
