"""Unit tests share one process: a test that switches MindSpore's execution mode (kit.setup's
default is graph mode) must not change the mode the next test runs in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _restore_mindspore_mode():
    import mindspore as ms

    mode = ms.get_context("mode")
    yield
    if ms.get_context("mode") != mode:
        ms.set_context(mode=mode)
