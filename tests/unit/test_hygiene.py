"""Committed notebooks keep the chapter contract; the code passes ruff."""

import shutil
import subprocess
import sys

import pytest

from kit.core import chapters, contract
from kit.core.chapters import ROOT

CHAPTER_NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_chapter_notebook_is_registered():
    registered = {c.notebook for c in chapters.CHAPTERS}
    assert [nb for nb in CHAPTER_NOTEBOOKS if nb not in registered] == []


@pytest.mark.parametrize("notebook", CHAPTER_NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_notebook_keeps_the_contract(notebook):
    assert contract.problems(notebook) == []


@pytest.mark.parametrize("notebook", CHAPTER_NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_has_book_settings(notebook):
    assert (ROOT / "notebooks" / "params" / f"{notebook.name[:2]}-book.yaml").is_file()


def test_ruff_passes():
    ruff = shutil.which("ruff", path=str(ROOT / ".venv" / "bin")) or shutil.which("ruff")
    if ruff is None:
        ruff_cmd = [sys.executable, "-m", "ruff"]
    else:
        ruff_cmd = [ruff]
    out = subprocess.run([*ruff_cmd, "check", str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:]
