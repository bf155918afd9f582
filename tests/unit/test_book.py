"""kit.core.book: the results page, and a real Jupyter Book build from fixture runs."""

import json
import shutil
import subprocess

import pytest

from kit.core import book, chapters, runner


def fake_run(folder, chapter, metrics, headline):
    folder.mkdir(parents=True)
    record = {"status": "complete", "chapter": chapter, "params": {}, "metrics": metrics,
              "headline": headline, "figures": []}
    (folder / "results.json").write_text(json.dumps(record))
    return folder


def test_results_page_has_a_row_per_chapter_with_anchors(tmp_path):
    run = fake_run(tmp_path / "04" / "abc", "04", {"rel_l2": 1.234567e-3, "curve": [1, 2]},
                   [{"metric": "rel_l2", "label": "Burgers rel. L2", "anchor": "Raissi 2019",
                     "anchor_value": 6.7e-4}])
    page = book.results_markdown([book.BookEntry("04", "04_ai_for_science", "AI", run)])
    rows = [line for line in page.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 10
    assert rows[3] == ("| [04 AI for scientific computing](chapters/04_ai_for_science.ipynb) | "
                       "Burgers rel. L2 = 0.001235 | Raissi 2019: 0.00067 | `abc` |")
    assert rows[0] == "| 01 Low-bit training | not yet written | | |"


def test_failed_runs_stop_the_book(tmp_path, squares_notebook):
    spec = runner.RunSpec(runner.resolve(str(squares_notebook)), {}, tmp_path)
    with pytest.raises(RuntimeError, match="squares: boom"):
        book.entries_for([runner.RunOutcome(spec, "failed", error="boom")])


def book_copy(tmp_path):
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    for name in ["_config.yml", "_toc.yml", "intro.md"]:
        shutil.copyfile(chapters.BOOK / name, book_dir / name)
    return book_dir


@pytest.mark.slow
def test_book_builds_with_no_chapter_yet(kit_cli, tmp_path):
    book_dir = book_copy(tmp_path)
    out = subprocess.run([*kit_cli, "book", "--no-progress", "--skip-findings", "--chapters",
                          "--runs", str(tmp_path / "runs"), "--book-dir", str(book_dir)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    html = book_dir / "_build" / "html"
    assert "not yet written" in (html / "results.html").read_text()
    appendix = (html / "findings.html").read_text()
    assert "What we learned about MindSpore" in appendix and "not run in this build" in appendix


@pytest.mark.slow
def test_book_builds_from_a_smoke_run(kit_cli, squares_notebook, tmp_path):
    book_dir = book_copy(tmp_path)
    # --chapters with no ids: only the fixture (the chapters' own claims run in tests/claims)
    out = subprocess.run([*kit_cli, "book", "--smoke", "--no-progress", "--skip-findings",
                          "--chapters", "--notebook", str(squares_notebook),
                          "--runs", str(tmp_path / "runs"), "--book-dir", str(book_dir)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    html = book_dir / "_build" / "html"
    assert (html / "index.html").is_file()
    results = (html / "results.html").read_text()
    assert "n_squared = 9" in results and "not yet written" in results
    page = (html / "chapters" / "squares.html").read_text()
    assert "Fixture: squares" in page and "n^2 = 9" in page
    assert "<img" in page and "image/png" not in page  # the figure rendered inline, as an image
    assert "application/vnd.jupyter.widget-state+json" in page  # widgets from embedded state
