"""kit.core.chapters and kit.core.contract: the registry and the notebook contract."""

import json

import nbformat
import pytest

from kit.core import chapters, contract


def test_registry_has_ten_chapters_in_order():
    assert [c.id for c in chapters.CHAPTERS] == [f"{i:02d}" for i in range(1, 11)]
    assert chapters.chapter("4").slug == "ai_for_science"
    assert chapters.chapter("04").notebook.name == "04_ai_for_science.ipynb"
    with pytest.raises(ValueError, match="chapter must be one of 01, 02"):
        chapters.chapter("11")
    assert all(c.exists for c in chapters.written())


def test_fixture_keeps_the_contract(squares_notebook):
    assert contract.problems(squares_notebook) == []


def test_contract_finds_every_breach(tmp_path, squares_notebook):
    nb = nbformat.read(squares_notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].source = "n = 3\nm = n * 2\nresults_path = None"
    code[0].metadata["tags"] = ["parameters"]
    code[2].outputs = [nbformat.v4.new_output("stream", text="x")]
    for c in code:
        if "widgets.panel(" in c.source:
            c.metadata["tags"] = []
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    found = contract.problems(path)
    assert "parameters cell has a non-literal statement: 'm = n * 2'" in found
    assert "parameters cell lacks 'seed'" in found
    assert any("is not tagged 'nbval-ignore-output'" in p for p in found)
    assert "code cell 2 keeps outputs or an execution count" in found


def test_contract_needs_parameters_widget_and_checked_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "empty.ipynb"
    nbformat.write(nb, path)
    found = contract.problems(path)
    assert found[0] == "the first code cell is not tagged 'parameters'"
    assert any("no widget cell" in p for p in found)
    assert any("no cell tagged 'nbval-check-output'" in p for p in found)


def test_contract_finds_a_cell_without_an_id(tmp_path, squares_notebook):
    nb = json.loads(squares_notebook.read_text(encoding="utf-8"))
    del nb["cells"][1]["id"]
    path = tmp_path / "no_id.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert "cell 1 has no id (nbformat 4.5 requires one)" in contract.problems(path)


def test_clean_keeps_only_checked_outputs_with_their_count(tmp_path, squares_notebook):
    source = tmp_path / "nb.ipynb"
    executed = tmp_path / "ran.ipynb"
    nb = nbformat.read(squares_notebook, as_version=4)
    nbformat.write(nb, source)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.execution_count = i
            cell.outputs = [nbformat.v4.new_output("stream", text=f"out {i}")]
    nb.metadata["papermill"] = {"parameters": {}}
    nbformat.write(nb, executed)
    nbformat.write(nb, source)  # a notebook saved with every output, as after a lab session
    assert contract.clean(source, executed) == 1
    cleaned = nbformat.read(source, as_version=4)
    kept = [c for c in cleaned.cells if c.cell_type == "code" and c.outputs]
    assert len(kept) == 1 and "nbval-check-output" in kept[0].metadata["tags"]
    assert kept[0].execution_count is not None and "papermill" not in cleaned.metadata
    assert contract.problems(source) == []
