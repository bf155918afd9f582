"""kit.core.book: the results page, and a real Jupyter Book build from fixture runs."""

import json
import re
import shutil
import subprocess
import sysconfig
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from kit.core import book, chapters, runner


def fake_run(folder, chapter, metrics, headline, spread=None):
    folder.mkdir(parents=True)
    record = {"status": "complete", "chapter": chapter, "params": {}, "metrics": metrics,
              "headline": headline, "figures": []}
    if spread is not None:
        record["spread"] = spread
    (folder / "results.json").write_text(json.dumps(record))
    return folder


class Cells(HTMLParser):
    """The text of every cell of every row of each HTML table in a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.cell = [], None

    @property
    def rows(self):
        return [row for table in self.tables for row in table]

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def render_like_the_book(page, tables=False):
    """The table cells of a markdown page rendered by MyST's parser with the book's own
    extensions: all rows, or (``tables=True``) a list of rows per table."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = yaml.safe_load((chapters.BOOK / "_config.yml").read_text())
    extensions = set(config["parse"]["myst_enable_extensions"])
    parser = create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)
    cells = Cells()
    cells.feed(parser.render(page))
    return cells.tables if tables else cells.rows


NASTY = "|mean - exact| / MCSE *bold* _it_ <b>tag</b> `code` $x$ [l](u)"


def test_results_page_has_a_row_per_headline_with_anchors(tmp_path):
    run = fake_run(tmp_path / "04" / "abc", "04", {"rel_l2": 1.234567e-3, "curve": [1, 2]},
                   [{"metric": "rel_l2", "label": "Burgers rel. L2", "anchor": "Raissi 2019",
                     "anchor_value": 6.7e-4}])
    page = book.results_markdown([book.BookEntry("04", "04_ai_for_science", "AI", run)])
    rows = render_like_the_book(page)
    headline_rows = [r for r in rows if len(r) == 5]
    assert headline_rows[0] == ["Chapter", "Headline metric", "Kit (this book)",
                                "Anchor (published)", "Anchor value"]
    assert headline_rows[1] == ["01 Low-bit training", "not yet written", "", "", ""]
    assert headline_rows[4] == ["04 AI for scientific computing", "Burgers rel. L2",
                                "0.001235 (single run)", "Raissi 2019", "0.00067"]
    assert "](chapters/04_ai_for_science.ipynb)" in page
    assert len(headline_rows) == 11  # header + ten chapters with one headline or none
    assert ["04 AI", "–", "smoke defaults", "runs/04/abc"] in rows  # this fake has no notebook


def test_results_table_cells_survive_markdown_characters(tmp_path):
    metrics = {"a": 1.0, "b": 2.5, "c": "x|y*z"}
    headline = [{"metric": "a", "label": NASTY, "anchor": "A | B_c <d>", "anchor_value": 2.0},
                {"metric": "b", "label": "plain", "anchor": "`tick` *star*"},
                {"metric": "c", "label": "<script>x</script>", "anchor": "_u_"}]
    run = fake_run(tmp_path / "03" / "h1", "03", metrics, headline)
    page = book.results_markdown([book.BookEntry("03", "03_model_innovation", "MI", run)])
    headlines, times = render_like_the_book(page, tables=True)
    assert {len(r) for r in headlines} == {5}, headlines  # no `|` split a row or ate a cell
    assert {len(r) for r in times} == {4}, times
    rows = headlines
    mine = [r for r in rows if r[1] in (NASTY, "plain", "<script>x</script>")]
    assert [r[1] for r in mine] == [NASTY, "plain", "<script>x</script>"]
    assert [r[3] for r in mine] == ["A | B_c <d>", "`tick` *star*", "_u_"]
    assert mine[0][2] == "1 (single run)" and mine[2][2] == "x|y*z (single run)"
    assert "<script>" not in page


def test_results_page_shows_spread_source_and_deterministic(tmp_path):
    spread = {"acc": {"n": 5, "median": 0.91, "min": 0.88, "max": 0.93, "std": 0.02,
                      "source": "seeds", "samples": [0.88, 0.9, 0.91, 0.92, 0.93]},
              "count": {"deterministic": True},
              "t": {"n": 3, "median": 2.0, "min": 1.5, "max": 2.5, "source": "timing rounds",
                    "samples": [1.5, 2.0, 2.5]},
              "one": {"n": 1, "median": 0.5, "min": 0.5, "max": 0.5, "source": "seeds",
                      "samples": [0.5]}}
    headline = [{"metric": "acc", "label": "accuracy", "anchor": "paper", "anchor_value": 0.9},
                {"metric": "count", "label": "violations", "anchor": "must be 0",
                 "anchor_value": 0},
                {"metric": "t", "label": "speed-up", "anchor": "paper", "anchor_value": 4.0},
                {"metric": "one", "label": "one seed", "anchor": "-"}]
    run = fake_run(tmp_path / "05" / "h2", "05", {"acc": 0.91, "count": 0, "t": 2.0, "one": 0.5},
                   headline, spread)
    page = book.results_markdown([book.BookEntry("05", "05_trustworthy_ai", "T", run)],
                                 figure_dir=tmp_path / "figs")
    cells = {r[1]: r[2] for r in render_like_the_book(page) if len(r) == 5}
    assert cells["accuracy"] == "0.91 [0.88, 0.93] (n = 5, seeds, sd 0.02)"
    assert cells["violations"] == "0 (exact)"
    assert cells["speed-up"] == "2 [1.5, 2.5] (n = 3, timing rounds)"
    assert cells["one seed"] == "0.5 (n = 1, seeds)"
    assert (tmp_path / "figs" / book.HEADLINE_FIGURE).stat().st_size > 1000
    assert f"](figs/{book.HEADLINE_FIGURE})" in page
    assert "2 of 4 headline metrics have a published number" in page  # 0 cannot be a ratio


def test_results_page_marks_rows_measured_on_the_anchors_data(tmp_path):
    headline = [{"metric": "a", "label": "MNIST drop", "anchor": "TWN", "anchor_value": 0.06,
                 "same_data": True},
                {"metric": "b", "label": "digits drop", "anchor": "HAWQ-V3", "anchor_value": 0.85},
                {"metric": "c", "label": "no anchor", "anchor": "-"}]
    run = fake_run(tmp_path / "01" / "h3", "01", {"a": 0.7, "b": 0.3, "c": 1.0}, headline)
    page = book.results_markdown([book.BookEntry("01", "01_low_bit_training", "L", run)])
    anchors = {r[1]: r[3] for r in render_like_the_book(page) if len(r) == 5}
    assert (anchors["MNIST drop"], anchors["digits drop"], anchors["no anchor"]) == (
        "TWN (same data)", "HAWQ-V3", "-")
    assert 'Anchors marked "(same data)"' in page


def test_better_direction_and_ratio_to_anchor():
    assert book.better_direction({"metric": "x", "anchor": "issue target <= 0.3"}) == "lower"
    assert book.better_direction({"metric": "x", "anchor": "target >= 1.5"}) == "higher"
    assert book.better_direction({"metric": "burgers_rel_l2", "anchor": "Raissi"}) == "lower"
    assert book.better_direction({"metric": "x", "label": "CKKS speed-up"}) == "higher"
    assert book.better_direction({"metric": "rel_l2", "better": "higher"}) == "higher"
    assert book.better_direction({"metric": "accuracy_drop_pts"}) == "lower"
    assert book.better_direction({"metric": "regret_reduction_vs_cold_tpe"}) == "higher"
    assert book.better_direction({"metric": "mia_auc_dp", "anchor": "chance = 0.5"}) is None
    assert book.better_direction({"metric": "simulatability"}) is None

    def head(value, anchor, better, spread=None):
        return book.Headline("04", "m", value, spread, "a", anchor, better)

    assert book.relative_to_anchor(head(2.0, 4.0, "higher")) == (0.5, 0.5, 0.5)
    spread = {"n": 3, "median": 2.0, "min": 1.0, "max": 4.0, "source": "seeds"}
    assert book.relative_to_anchor(head(2.0, 4.0, "lower", spread)) == (2.0, 1.0, 4.0)
    assert book.relative_to_anchor(head(0.0, 4.0, "lower")) is None
    assert book.relative_to_anchor(head(1.0, None, "lower")) is None
    assert book.relative_to_anchor(head([1.0], 1.0, "lower")) is None


def test_figure_labels_wrap_instead_of_cutting():
    long = "membership-inference AUC of the DP-SGD model against a shadow attack"
    label = book.figure_label(book.Headline("05", long, 0.5, None, "a", 0.5, None), width=30)
    assert label.replace("\n    ", " ") == f"05  {long} (?)"
    assert all(len(line) <= 30 for line in label.splitlines()) and "…" not in label
    assert book.figure_label(book.Headline("05", "x", 1, None, "a", 1, "lower")) == "05  x"


def test_seconds_read_as_minutes():
    assert book.fmt_seconds(42.13) == "42.1 s"
    assert book.fmt_seconds(125.4) == "2 min 05 s"
    assert book.fmt_seconds(None) == "–"


def executed_notebook(run_dir):
    """A notebook as papermill leaves it: defaults, an injected cell, absolute paths."""
    import nbformat

    run_dir.mkdir(parents=True)
    results = str(run_dir / "results.json")
    nb = nbformat.v4.new_notebook()
    defaults = nbformat.v4.new_code_cell("n = 3\nresults_path = None")
    defaults.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell(f"# Parameters\nn = 8\nresults_path = {results!r}\n")
    injected.metadata["tags"] = ["injected-parameters"]
    out = nbformat.v4.new_code_cell("print(results_path)")
    out.outputs = [nbformat.v4.new_output("stream", name="stdout", text=results + "\n"),
                   nbformat.v4.new_output("stream", name="stderr", text=(
                       f"{sysconfig.get_paths()['purelib']}/x.py:1: Warn\n"
                       f"{chapters.ROOT}/kit/core/results.py:2: Warn\n"))]
    nb.cells = [defaults, injected, out]
    nb.metadata["papermill"] = {"parameters": {"n": 8, "results_path": results},
                                "input_path": str(chapters.ROOT / "notebooks" / "x.ipynb"),
                                "output_path": str(run_dir / "notebook.ipynb"), "duration": 9.5}
    nbformat.write(nb, run_dir / "notebook.ipynb")
    return run_dir


def test_published_pages_name_no_absolute_path(tmp_path):
    import nbformat

    run = executed_notebook(tmp_path / "runs" / "04" / "beef")
    entry = book.BookEntry("04", "04_ai_for_science", "AI", run)
    page = book.publish_notebook(entry, tmp_path / "book" / "04.ipynb")
    text = page.read_text()
    for machine_path in (str(tmp_path), str(chapters.ROOT), sysconfig.get_paths()["purelib"],
                         str(Path.home())):
        assert machine_path not in text
    nb = nbformat.read(page, as_version=4)
    line = nb.cells[1]
    assert line.cell_type == "markdown" and line.source.startswith("**Parameters of this run:**")
    assert "`n = 8`" in line.source and "results_path" not in line.source
    assert "`runs/04/beef/results.json`" in line.source
    assert nb.cells[2].outputs[0]["text"] == "runs/04/beef/results.json\n"
    assert "kit/core/results.py:2" in nb.cells[2].outputs[1]["text"]
    assert nb.cells[0].source == "n = 3\nresults_path = None"  # the defaults stay as written
    assert book.duration_of(run) == 9.5
    assert book.settings_of("04", run) == "1 parameter(s) set"


def test_parameters_line_without_injected_values():
    line = book.parameters_line({"results_path": "/x/results.json"}, "runs/04/a/results.json")
    assert "the defaults in the cell above" in line and "/x/" not in line


def test_failed_runs_stop_the_book(tmp_path, squares_notebook):
    spec = runner.RunSpec(runner.resolve(str(squares_notebook)), {}, tmp_path)
    with pytest.raises(RuntimeError, match="squares: boom"):
        book.entries_for([runner.RunOutcome(spec, "failed", error="boom")])


def book_copy(tmp_path):
    return book.copy_book_sources(tmp_path / "book")


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
    assert "n_squared" in results and "9 (single run)" in results
    assert "not yet written" in results
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "html-manager" / "embed-amd.js").is_file()
    for built in html.rglob("*.html"):
        sources = re.findall(r"<(?:script|link)[^>]*(?:src|href)=\"([^\"]+)\"", built.read_text())
        remote = [s for s in sources if s.startswith(("http:", "https:", "//"))]
        assert not remote, f"{built.name} loads {remote}"
    page = (html / "chapters" / "squares.html").read_text()
    assert "Fixture: squares" in page and "n^2 = 9" in page
    assert "<img" in page and "image/png" not in page  # the figure rendered inline, as an image
    assert "application/vnd.jupyter.widget-state+json" in page  # widgets from embedded state


def fake_vendor_cache(root):
    """An installed-looking npm cache: every VENDOR_FILES entry, folders with a map file."""
    for pkg, part, _ in book.VENDOR_FILES:
        target = root / "node_modules" / pkg / part
        if target.suffix == ".js":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("// js")
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / "embed-amd.js").write_text("// js")
            (target / "embed-amd.js.map").write_text("{}")
    return root


def test_vendor_assets_serve_from_the_installed_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # a reused cache needs no npm
    cache = fake_vendor_cache(tmp_path / "cache")
    out = book.vendor_assets(tmp_path / "book", cache)
    assert out == tmp_path / "book" / "_build" / "vendor"
    assert (out / "mathjax" / "tex-chtml.js").is_file() and (out / "require.js").is_file()
    assert (out / "html-manager" / "embed-amd.js").is_file()
    assert not list(out.rglob("*.map"))
    config = yaml.safe_load((chapters.BOOK / "_config.yml").read_text())["sphinx"]["config"]
    assert (out / config["mathjax_path"]).is_file()
    assert "_build/vendor" in config["html_static_path"]
    served = [out / js for js in config["nb_ipywidgets_js"]]
    assets = chapters.BOOK / "_assets"
    assert all(p.is_file() or (assets / p.name).is_file() for p in served)


def test_vendoring_without_npm_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install npm"):
        book.install_vendor(tmp_path / "empty-cache")


def test_a_smoke_book_keeps_every_chapter(tmp_path):
    # at smoke defaults every chapter's run has the same parameter hash; the book needs each
    specs = []
    for chapter in [chapters.chapter("01"), chapters.chapter("04")]:
        spec = runner.RunSpec(runner.Target(chapter.id, chapter.notebook), {}, tmp_path)
        fake_run(spec.run_dir, chapter.id, {"m": 1.0}, [])
        specs.append(spec)
    outcomes = runner.run_all(specs, progress=False)
    assert [(o.spec.target.name, o.status) for o in outcomes] == [("01", "skipped"),
                                                                  ("04", "skipped")]
    assert [e.page for e in book.entries_for(outcomes)] == ["01_low_bit_training",
                                                           "04_ai_for_science"]


def test_machine_paths_without_a_run_folder():
    site = sysconfig.get_paths()["purelib"]
    text = f"error in {site}/m.py and {chapters.ROOT}/kit/x.py, not {chapters.ROOT}2/y"
    clean = book.scrub_paths(text, book.path_replacements())
    assert site not in clean and f"{chapters.ROOT}/" not in clean
    assert clean.endswith(f"and kit/x.py, not {chapters.ROOT}2/y")  # only whole paths
