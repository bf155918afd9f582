"""nbval's comparison of checked cells, applied to a notebook the runner already executed.

``make test`` executes each chapter's smoke run once (tests/conftest.py ``smoke_dir``); instead of
letting nbval execute the notebook a second time, tests/claims/test_notebooks.py compares that
run's cells tagged ``nbval-check-output`` with the committed outputs, exactly as
``pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg`` does: streams coalesced per
name, the sanitizer's regexes applied, the same output keys skipped (nbval's defaults with
images), every remaining key and value equal.
"""

from __future__ import annotations

import configparser
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import nbformat
from nbval.plugin import coalesce_streams, transform_streams_for_comparison

CHECK_TAG = "nbval-check-output"
SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"
# nbval's skip_compare when --nbdime is off (nbval/plugin.py, IPyNbFile.__init__)
SKIP = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
        "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


def sanitize_patterns(path: Path = SANITIZE) -> list[tuple[str, str]]:
    """The (regex, replacement) pairs of an nbval sanitizer file, in file order."""
    parser = configparser.ConfigParser()
    parser.read(path)
    return [(parser[s]["regex"], parser[s]["replace"]) for s in parser.sections()]


def _sanitize(value: Any, patterns: list[tuple[str, str]]) -> Any:
    if not isinstance(value, str):
        return value
    for regex, replace in patterns:
        value = re.sub(regex, replace, value)
    return value


def flatten(outputs: list, patterns: list[tuple[str, str]]) -> dict[str, list]:
    """nbval's comparison form: ``{key or MIME type: [sanitized values in order]}``."""
    flat: dict[str, list] = defaultdict(list)
    for output in transform_streams_for_comparison(coalesce_streams(outputs)):
        for key, value in output.items():
            if key in SKIP:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP:
                        flat[mime].append(_sanitize(data, patterns))
            else:
                flat[key].append(_sanitize(value, patterns))
    return dict(flat)


def checked_cells(path: Path) -> list[Any]:
    """The code cells tagged ``nbval-check-output``, in order."""
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells
            if c.cell_type == "code" and CHECK_TAG in c.get("metadata", {}).get("tags", [])]


def mismatches(committed: Path, executed: Path) -> list[str]:
    """Every difference nbval would report between the committed and the executed checked
    cells (empty when they agree); a checked cell whose source changed is a difference too."""
    patterns = sanitize_patterns()
    ref, run = checked_cells(committed), checked_cells(executed)
    if len(ref) != len(run):
        return [f"{len(ref)} checked cell(s) committed, {len(run)} in the executed notebook"]
    found = []
    for i, (a, b) in enumerate(zip(ref, run, strict=True)):
        if a.source != b.source:
            found.append(f"checked cell {i}: source differs from the committed notebook")
            continue
        want, got = flatten(a.outputs, patterns), flatten(b.outputs, patterns)
        if want != got:
            found.append(f"checked cell {i}:\n--- committed\n{want}\n--- executed\n{got}")
    return found
