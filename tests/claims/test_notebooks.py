"""Each chapter's checked cells (tagged ``nbval-check-output``) print what the committed notebook
shows, compared the way nbval's lax mode does (tests/notebook_outputs.py, importable because
pytest puts tests/ on sys.path for its conftest), on the suite's one smoke run of the chapter.
A changed printed figure fails here, as it did under nbval."""

from __future__ import annotations

import pytest
from notebook_outputs import mismatches

from kit.core import chapters

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("chapter", chapters.written(), ids=lambda c: c.id)
def test_checked_outputs_match_the_committed_notebook(chapter, smoke_dir):
    executed = smoke_dir(chapter.id) / "notebook.ipynb"
    found = mismatches(chapter.notebook, executed)
    assert not found, f"{chapter.notebook.name}:\n" + "\n".join(found)
