"""Checks of the chapter notebook contract (design section 3), used by the hygiene tests.

``problems(path)`` lists what a notebook breaks: parameters cell first and literal-only with
``seed`` and ``results_path``; a widget cell from ``kit.core.widgets``; a ``nbval-check-output``
cell; no outputs kept except in that cell; every cell has an id.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat

REQUIRED_PARAMETERS = ("seed", "results_path")


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _literal_assignments(source: str) -> tuple[list[str], list[str]]:
    """Names assigned in ``source`` and the statements that are not ``name = <literal>``."""
    names, bad = [], []
    for node in ast.parse(source).body:
        ok = (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name))
        if ok:
            try:
                ast.literal_eval(node.value)
            except ValueError:
                ok = False
        if ok:
            names.append(node.targets[0].id)
        else:
            bad.append(ast.get_source_segment(source, node) or type(node).__name__)
    return names, bad


def problems(path: str | Path) -> list[str]:
    """Every way the notebook at ``path`` breaks the chapter contract (empty when it keeps it)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    found = [f"cell {i} has no id (nbformat 4.5 requires one)"
             for i, c in enumerate(raw["cells"]) if "id" not in c]
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or "parameters" not in _tags(code[0]):
        found.append("the first code cell is not tagged 'parameters'")
    else:
        names, bad = _literal_assignments(code[0].source)
        found += [f"parameters cell has a non-literal statement: {b!r}" for b in bad]
        found += [f"parameters cell lacks {n!r}" for n in REQUIRED_PARAMETERS if n not in names]
    if not any("widgets.panel(" in c.source for c in code):
        found.append("no widget cell (a cell calling kit.core.widgets.panel)")
    found += [f"widget cell {i} is not tagged 'nbval-ignore-output'"
              for i, c in enumerate(code)
              if "widgets.panel(" in c.source and "nbval-ignore-output" not in _tags(c)]
    if not any("nbval-check-output" in _tags(c) for c in code):
        found.append("no cell tagged 'nbval-check-output' printing the key figures")
    for i, c in enumerate(code):
        if (c.get("outputs") or c.get("execution_count")) and "nbval-check-output" not in _tags(c):
            found.append(f"code cell {i} keeps outputs or an execution count")
    return found


def clean(source: str | Path, executed: str | Path | None = None) -> int:
    """Strip ``source`` to the committed form: no outputs or execution counts, except the
    ``nbval-check-output`` cells, whose outputs are copied from ``executed`` (a run of the
    notebook at its default parameters). Returns the number of checked cells filled."""
    nb = nbformat.read(source, as_version=4)
    ran = {}
    if executed is not None:
        for cell in nbformat.read(executed, as_version=4).cells:
            if cell.cell_type == "code" and "nbval-check-output" in _tags(cell):
                ran[cell.source] = cell
    filled = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if "nbval-check-output" in _tags(cell) and cell.source in ran:
            # nbval treats a cell without an execution count as unrun: keep the run's count
            cell.outputs = ran[cell.source].outputs
            cell.execution_count = ran[cell.source].execution_count
            filled += 1
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, source)
    return filled
