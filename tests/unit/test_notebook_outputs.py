"""The checked-output comparison that replaced nbval's second execution fails where nbval would
(tests/notebook_outputs.py): a changed figure, a missing output, an edited checked cell."""

import shutil

import nbformat
import pytest
from notebook_outputs import mismatches, sanitize_patterns

from kit.core.contract import clean

pytestmark = pytest.mark.slow  # one kernel start for the fixture notebook


@pytest.fixture(scope="module")
def pair(smoke_dir, squares_notebook, tmp_path_factory):
    """The fixture notebook committed (cleaned from a run) and a copy of the run itself."""
    folder = tmp_path_factory.mktemp("outputs")
    executed = folder / "executed.ipynb"
    shutil.copyfile(smoke_dir(str(squares_notebook)) / "notebook.ipynb", executed)
    committed = folder / "committed.ipynb"
    shutil.copyfile(squares_notebook, committed)
    assert clean(committed, executed) == 1
    return committed, executed


def edit_checked_output(path, old, new):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", []))
    assert old in cell.outputs[0]["text"]
    cell.outputs[0]["text"] = cell.outputs[0]["text"].replace(old, new)
    nbformat.write(nb, path)


def test_a_run_matches_its_own_clean_copy(pair):
    committed, executed = pair
    assert mismatches(committed, executed) == []


def test_a_changed_figure_is_a_mismatch(pair, tmp_path):
    committed, executed = pair
    changed = tmp_path / "changed.ipynb"
    shutil.copyfile(executed, changed)
    edit_checked_output(changed, "n^2 = 9", "n^2 = 10")
    found = mismatches(committed, changed)
    assert len(found) == 1 and "n^2 = 10" in found[0]


def test_sanitized_timings_are_not_a_mismatch(pair, tmp_path):
    committed, executed = pair
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    shutil.copyfile(committed, a)
    shutil.copyfile(executed, b)
    edit_checked_output(a, "n^2 = 9", "n^2 = 9 in 1.5 s")
    edit_checked_output(b, "n^2 = 9", "n^2 = 9 in 12 ms")
    assert mismatches(a, b) == []


def test_missing_output_and_edited_source_are_mismatches(pair, tmp_path):
    committed, executed = pair
    empty = tmp_path / "empty.ipynb"
    shutil.copyfile(executed, empty)
    nb = nbformat.read(empty, as_version=4)
    cell = next(c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", []))
    cell.outputs = []
    nbformat.write(nb, empty)
    assert mismatches(committed, empty)
    cell.source += "\nprint('more')"
    nbformat.write(nb, empty)
    assert "source differs" in mismatches(committed, empty)[0]


def test_the_sanitizer_file_is_read_in_order():
    assert [r for r, _ in sanitize_patterns()][:1] == ["0x[0-9a-fA-F]+"]
