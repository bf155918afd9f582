"""Every recorded MindSpore gap still reproduces (strict xfail: a fix makes the suite say so);
every finding a notebook or chapter module cites is recorded."""

from __future__ import annotations

import re

import pytest

from kit import findings
from kit.core.chapters import ROOT


class GapStillPresent(AssertionError):
    """The reproducer observed the gap on the installed MindSpore."""


@pytest.mark.parametrize(
    "finding",
    [pytest.param(f, id=f.id, marks=[pytest.mark.slow,  # a fresh process each: not `make check`
                                     pytest.mark.xfail(strict=True, raises=GapStillPresent,
                                                       reason=f.title)])
     for f in findings.FINDINGS])
def test_gap_reproduces(finding):
    outcome = findings.run(finding)
    if outcome.status == "gap present":
        raise GapStillPresent(outcome.detail)
    # "fixed" passes, which strict xfail reports as a failure: retire the workaround.
    # "reproducer broken" raises a different error, which xfail does not excuse.
    assert outcome.status == "fixed", f"{finding.id}: {outcome.detail}"


def test_records_are_complete_and_unique():
    ids = [f.id for f in findings.FINDINGS]
    assert len(ids) == len(set(ids)) >= 15
    for f in findings.FINDINGS:
        assert re.fullmatch(r"[a-z0-9-]+", f.id)
        assert f.expected and f.actual and f.workaround and f.chapters and "gap(" in f.code
        assert all(re.fullmatch(r"\d\d", c) for c in f.chapters)
    with pytest.raises(ValueError, match="finding must be one of"):
        findings.finding("no-such-gap")


CITATION = re.compile(r"finding:([a-z0-9-]+)")


def cited() -> dict[str, set[str]]:
    """finding id -> files that cite it (chapter notebooks and kit modules)."""
    out: dict[str, set[str]] = {}
    files = [*ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"), *ROOT.glob("kit/**/*.py")]
    for path in files:
        if path.name == "findings.py":
            continue
        for fid in CITATION.findall(path.read_text()):
            out.setdefault(fid, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_cited_workaround_has_its_finding_recorded():
    citations = cited()
    assert citations, "no chapter cites a finding yet (chapter 08 should)"
    unknown = {fid: files for fid, files in citations.items() if fid not in findings.BY_ID}
    assert unknown == {}
    for fid, files in citations.items():
        chapters_citing = {f.split("/")[-1][:2] for f in files if f.startswith("notebooks/")}
        assert chapters_citing <= set(findings.BY_ID[fid].chapters), (fid, chapters_citing)


def test_appendix_lists_every_finding_with_its_reproducer():
    outcomes = [findings.Outcome(f, "gap present", "seen") for f in findings.FINDINGS]
    page = findings.appendix_markdown(outcomes, "2.10.0")
    assert page.startswith("# What we learned about MindSpore")
    for f in findings.FINDINGS:
        assert f"({f.id})=" in page and f.script.strip() in page
    table = [ln for ln in page.splitlines() if ln.startswith("| [")]
    assert len(table) == len(findings.FINDINGS)
    assert all(ln.count(" | ") == 4 for ln in table)
