"""``python -m kit list|run|sweep|book`` (design section 4).

Exit codes: 0 success, 1 a run or the book build failed, 2 bad input (refused before any kernel
starts: unknown chapter, malformed grid, unknown parameter, bad value).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kit.core import chapters
from kit.core.results import RESULTS_NAME, is_complete

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad input on the command line: reported with exit code 2."""


def _params(pairs: Sequence[Sequence[str]] | None, files: Sequence[str] | None) -> dict[str, Any]:
    """Parameters from ``-f file.yaml`` (in order), then ``-p name value`` (which wins)."""
    from kit.core.runner import parse_value

    params: dict[str, Any] = {}
    for file in files or []:
        path = Path(file)
        if not path.is_file():
            raise UsageError(f"parameters file {file!r} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise UsageError(f"parameters file {file!r} must hold a mapping of name: value")
        params.update(data)
    for name, value in pairs or []:
        params[name] = parse_value(value)
    return params


def cmd_list(args: argparse.Namespace) -> int:
    """Chapters, titles and status."""
    runs = Path(args.runs)
    rows = []
    for ch in chapters.CHAPTERS:
        folder = runs / ch.id
        done = sum(is_complete(p.parent) for p in folder.glob(f"*/{RESULTS_NAME}"))
        rows.append({"id": ch.id, "title": ch.title,
                     "status": "written" if ch.exists else "planned",
                     "book params": "yes" if ch.book_params.is_file() else "-",
                     "complete runs": done})
    print(pd.DataFrame(rows).to_string(index=False))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """One papermill run into runs/<chapter>/<hash>/."""
    from kit.core.runner import RunSpec, execute, resolve, validate

    target = resolve(args.target)
    params = _params(args.param, args.file)
    validate(target, params)
    outcome = execute(RunSpec(target, params, Path(args.runs)), timeout=args.timeout)
    where = outcome.spec.run_dir
    if outcome.status == "failed":
        print(f"{target.name}: FAILED after {outcome.seconds:.1f} s\n{outcome.error}",
              file=sys.stderr)
        return EXIT_FAILED
    verb = "already complete" if outcome.status == "skipped" else f"done in {outcome.seconds:.1f} s"
    print(f"{target.name}: {verb}: {where / 'notebook.ipynb'} and {where / RESULTS_NAME}")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """A grid of runs, resumable, locally or on Dask; prints and saves a summary table."""
    from kit.core.runner import parse_grid, resolve, sweep

    target = resolve(args.target)
    grid = parse_grid(args.grid)
    base = _params(args.param, args.file)
    overlap = sorted(set(grid) & set(base))
    if overlap:
        raise UsageError(f"parameters {overlap} are both in --grid and in -p/-f; give them once")

    def show(table: pd.DataFrame, csv: Path) -> None:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.drop(columns=["run"]).to_string(index=False))
        print(f"summary: {csv}")

    table = sweep(target, grid, base, Path(args.runs), workers=args.workers,
                  dask_address=args.dask, timeout=args.timeout,
                  progress=not args.no_progress, on_table=show)
    return EXIT_FAILED if (table["status"] == "failed").any() else EXIT_OK


def cmd_book(args: argparse.Namespace) -> int:
    """Run the chapters at book settings, write results.md, build the HTML book."""
    from kit.core.book import assemble, build_html, entries_for, run_chapters, write_findings
    from kit.core.runner import RunSpec, resolve, run_all, validate

    selected = (chapters.written() if args.chapters is None
                else [chapters.chapter(c) for c in args.chapters])
    missing = [c.id for c in selected if not c.exists]
    if missing:
        raise UsageError(f"chapters {missing} have no notebook yet")
    runs = Path(args.runs)
    outcomes = run_chapters(selected, runs, smoke=args.smoke, workers=args.workers,
                            progress=not args.no_progress)
    extra = []
    for nb in args.notebook or []:
        target = resolve(nb)
        validate(target, {})
        extra.append(RunSpec(target, {}, runs))
    outcomes += run_all(extra, progress=not args.no_progress)
    try:
        entries = entries_for(outcomes)
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return EXIT_FAILED
    book_dir = Path(args.book_dir)
    assemble(entries, book_dir)
    write_findings(book_dir, run_reproducers=not args.skip_findings)
    try:
        index = build_html(book_dir)
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return EXIT_FAILED
    print(f"book: {index}")
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    """Strip a notebook for committing, keeping checked outputs from an executed run."""
    from kit.core.contract import clean, problems
    from kit.core.runner import resolve

    target = resolve(args.target)
    if args.executed and not Path(args.executed).is_file():
        raise UsageError(f"executed notebook {args.executed!r} does not exist")
    filled = clean(target.notebook, args.executed)
    print(f"{target.notebook}: cleaned, {filled} checked cell(s) filled from the run")
    for problem in problems(target.notebook):
        print(f"contract: {problem}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m kit``."""
    top = argparse.ArgumentParser(prog="python -m kit", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--runs", default=str(chapters.RUNS), help="runs folder (default: runs/)")

    def parameters(p: argparse.ArgumentParser) -> None:
        p.add_argument("target", help="chapter id (01..10) or path to a notebook")
        p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                       help="a parameter, typed as papermill does (int, float, True, None, str)")
        p.add_argument("-f", "--file", action="append", help="a YAML file of parameters")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds a cell may run before the run is retried once, then fails "
                            "(default 600)")

    common(sub.add_parser("list", help="chapters, titles and status"))
    run = sub.add_parser("run", help="run one chapter with parameters")
    parameters(run)
    common(run)
    sw = sub.add_parser("sweep", help="run a grid of parameters (resumable)")
    parameters(sw)
    common(sw)
    sw.add_argument("--grid", nargs="+", required=True, metavar="NAME=V1,V2",
                    help="values to sweep, e.g. order=1,2,4 mode=graph,pynative")
    sw.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    sw.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    book = sub.add_parser("book", help="what `make book` runs")
    common(book)
    book.add_argument("--book-dir", default=str(chapters.BOOK), help="Jupyter Book folder")
    book.add_argument("--chapters", nargs="*",
                      help="only these chapters (default: all written; none if no ids follow)")
    book.add_argument("--notebook", action="append", help="also include this notebook (tests)")
    book.add_argument("--smoke", action="store_true", help="smoke defaults, not book settings")
    book.add_argument("--workers", type=int, default=1, help="chapters run at once")
    book.add_argument("--no-progress", action="store_true", help="no progress bar")
    book.add_argument("--skip-findings", action="store_true",
                      help="do not run the MindSpore reproducers for the appendix's status")
    clean = sub.add_parser("clean", help="strip a notebook for committing (keeps checked cells)")
    clean.add_argument("target", help="chapter id (01..10) or path to a notebook")
    clean.add_argument("executed", nargs="?", help="an executed run at default parameters")
    return top


COMMANDS = {"list": cmd_list, "run": cmd_run, "sweep": cmd_sweep, "book": cmd_book,
            "clean": cmd_clean}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parser().parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        print(f"error: --workers must be an int >= 1, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except ValueError as err:  # UsageError and every validation error of kit.core
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
