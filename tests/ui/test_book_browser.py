"""The published book as a reader sees it (issue #22): the smoke book built from every written
chapter's smoke run, opened from disk in Debian chromium with the network blocked.

Every page loads with no console error and asks nothing of the network; chapter 04's maths is
typeset by the vendored MathJax; a widget renders from its embedded state; the results tables
line up; no absolute path of this machine is in the built book. Screenshots of the index, the
results page and chapter 04 are saved beside the built book (``<book>/_build/screenshots``).

``KIT_BOOK_HTML=book/_build/html pytest tests/ui/test_book_browser.py`` checks an already
built book (the one ``make book`` made) instead of building the smoke book.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kit.core import book, chapters

pytestmark = pytest.mark.slow
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BUILT_BOOK = "KIT_BOOK_HTML"
MATHS_CHAPTER = "04"


@pytest.fixture(scope="module")
def book_html(smoke_dir: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``_build/html`` of the smoke book: every written chapter's shared smoke run, assembled
    and built exactly as ``python -m kit book`` does (findings not run: tests/findings do)."""
    if os.environ.get(BUILT_BOOK):
        html = Path(os.environ[BUILT_BOOK]).resolve()
        assert (html / "index.html").is_file(), f"{BUILT_BOOK}={html} holds no index.html"
        return html
    book_dir = book.copy_book_sources(tmp_path_factory.mktemp("smoke-book"))
    entries = [book.BookEntry(c.id, f"{c.id}_{c.slug}", c.title, smoke_dir(c.id))
               for c in chapters.written()]
    book.assemble(entries, book_dir)
    book.write_findings(book_dir, run_reproducers=False)
    return book.build_html(book_dir).parent


@pytest.fixture(scope="module")
def shots(book_html: Path) -> Path:
    """Where the screenshots go: beside the built book."""
    folder = book_html.parent / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """One headless chromium for the module (tests/conftest.py's ``chromium`` finds it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(chromium), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Visit:
    """A page opened from disk with every non-file request aborted and recorded, together with
    its console errors, uncaught exceptions and failed file loads."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console error: {m.text} ({m.location.get('url', '')})"))
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        self.page.on("requestfailed", lambda r: r.url.startswith("file:") and self.problems
                     .append(f"missing file: {r.url} ({r.failure})"))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri(), wait_until="load", timeout=60_000)
        refresh = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', path.read_text())
        if refresh:  # Jupyter Book's index.html only redirects to the root page
            self.page.wait_for_url(f"**/{refresh.group(1)}", timeout=60_000)
            self.page.wait_for_load_state("load")
        # MathJax (a deferred script, so defined by now where the page has maths) typesets
        # after load: wait for its startup promise, then for the fonts the page uses
        self.page.evaluate("async () => { if (window.MathJax && MathJax.startup) "
                           "await MathJax.startup.promise; await document.fonts.ready; }")

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.problems.append(f"network request (blocked): {route.request.url}")
            route.abort()

    def close(self) -> None:
        self.page.close()


def pages_of(html: Path) -> list[Path]:
    """Every page of the table of contents (plus search and index pages Sphinx adds)."""
    return sorted(html.glob("*.html")) + sorted((html / "chapters").glob("*.html"))


def chapter_page(html: Path, chapter_id: str) -> Path:
    found = sorted((html / "chapters").glob(f"{chapter_id}_*.html"))
    assert found, f"chapter {chapter_id} is not in the book at {html}"
    return found[0]


def test_every_page_loads_offline_with_no_console_error(browser, book_html):
    problems = {}
    for path in pages_of(book_html):
        visit = Visit(browser, path)
        if visit.problems:
            problems[str(path.relative_to(book_html))] = visit.problems
        visit.close()
    for chapter in chapters.written():
        chapter_page(book_html, chapter.id)
    assert not problems, problems


def test_chapter_04_maths_is_typeset_by_the_vendored_mathjax(browser, book_html, shots):
    visit = Visit(browser, chapter_page(book_html, MATHS_CHAPTER))
    page = visit.page
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert any(s.startswith("file:") and "/_static/mathjax/tex-chtml.js" in s for s in scripts)
    sources = page.locator(".math").count()
    typeset = page.locator("mjx-container").count()
    assert sources > 0 and typeset >= sources, (sources, typeset)
    assert page.locator(".math:not(:has(mjx-container))").count() == 0  # each one typeset
    text = page.evaluate("document.body.innerText")
    assert "$$" not in text and "\\begin{" not in text and "\\frac" not in text
    page.screenshot(path=str(shots / f"chapter-{MATHS_CHAPTER}.png"))  # the question, typeset
    assert not visit.problems, visit.problems
    visit.close()


def test_a_widget_renders_from_embedded_state(browser, book_html, shots):
    with_state = [p for p in sorted((book_html / "chapters").glob("*.html"))
                  if "application/vnd.jupyter.widget-state+json" in p.read_text()]
    assert with_state, "no chapter page carries widget state"
    visit = Visit(browser, with_state[0])
    controls = visit.page.locator(".jupyter-widgets input, .jupyter-widgets select, "
                                  ".jupyter-widgets .noUi-handle, .jupyter-widgets button, "
                                  ".jupyter-widgets .slider")
    controls.first.wait_for(state="visible", timeout=60_000)
    assert visit.page.locator(".jupyter-widgets").count() > 0
    controls.first.scroll_into_view_if_needed()
    visit.page.screenshot(path=str(shots / f"widget-{with_state[0].stem}.png"))
    assert not visit.problems, visit.problems
    visit.close()


def test_results_tables_line_up_and_show_the_figure(browser, book_html, shots):
    visit = Visit(browser, book_html / "results.html")
    page = visit.page
    widths = page.eval_on_selector_all(
        "article table", "ts => ts.map(t => [...t.rows].map(r => r.cells.length))")
    assert len(widths) == 2, widths  # headline metrics, wall time of the runs
    for rows in widths:
        assert len(set(rows)) == 1, rows
    assert widths[0][0] == 5 and len(widths[0]) > len(chapters.CHAPTERS)
    image = page.locator("article img").first
    assert page.evaluate("img => img.complete && img.naturalWidth > 200", image.element_handle())
    page.screenshot(path=str(shots / "results.png"), full_page=True)
    assert not visit.problems, visit.problems
    visit.close()
    index = Visit(browser, book_html / "index.html")
    index.page.screenshot(path=str(shots / "index.png"))
    index.close()


def test_no_absolute_path_of_this_machine_in_the_book(book_html, smoke_runs_root):
    machine = {str(chapters.ROOT), sysconfig.get_paths()["purelib"], str(Path.home())}
    if not os.environ.get(BUILT_BOOK):  # the smoke book's and the smoke runs' temporary folders
        machine |= {str(book_html.parents[1]), str(smoke_runs_root)}
    found = {}
    for path in book_html.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".ipynb", ".js", ".txt", ".md"} \
                and "_static" not in path.parts:
            text = path.read_text(errors="replace")
            hits = sorted(m for m in machine if m in text)
            if hits:
                found[str(path.relative_to(book_html))] = hits
    assert not found, found


CDN_HOSTS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com", "cdn.mathjax.org",
             "fonts.googleapis.com")


def test_no_page_names_a_cdn(book_html):
    named = {str(p.relative_to(book_html)): [h for h in CDN_HOSTS if h in p.read_text()]
             for p in pages_of(book_html)}
    assert not {page: hosts for page, hosts in named.items() if hosts}
