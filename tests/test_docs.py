"""The documentation: the generated command reference is current, every relative link leads
somewhere, and the scripts the integration page shows are the ones the tests run."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from benchstone.cli import reference

ROOT = Path(__file__).parent.parent
CLI_REFERENCE = ROOT / "docs" / "cli.md"
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
FIXTURES = Path(__file__).parent / "fixtures"
# inline links and images, [text](target "title"); reference-style links are not used
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_the_command_reference_is_current() -> None:
    assert CLI_REFERENCE.read_text() == reference.reference(), (
        "docs/cli.md differs from the commands' --help: run make docs")


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = reference.reference()
    monkeypatch.setenv("COLUMNS", "250")
    assert reference.reference() == narrow


def _outside_code(text: str) -> list[str]:
    """The lines of a Markdown page that are not inside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of a page: lower case, punctuation dropped, spaces
    as hyphens, a repeated heading numbered."""
    seen: dict[str, int] = {}
    for line in _outside_code(page.read_text()):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def links(page: Path) -> list[str]:
    return [target for line in _outside_code(page.read_text()) for target in LINK.findall(line)
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, mailto: ... are not checked


def test_anchors_follow_githubs_rules() -> None:
    page = ROOT / "README.md"
    assert {"exit-codes", "starting-a-benchmark-bench-init"} <= anchors(page)
    assert "a-picture-bench-history---plot" in anchors(ROOT / "docs" / "integrations.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        destination = (page.parent / unquote(path)).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading #{fragment} in {destination.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_pages_have_links_to_check() -> None:
    assert "docs/cli.md" in links(ROOT / "README.md")
    assert "gates.md#what-the-gates-promote" in links(ROOT / "docs" / "development.md")


@pytest.mark.parametrize("script", [
    FIXTURES / "loops" / "keep_or_revert.sh",
    FIXTURES / "loops" / "keep_or_revert.py",
    FIXTURES / "ci" / "benchstone.yml",
], ids=lambda path: path.name)
def test_the_integration_page_shows_the_scripts_the_tests_run(script: Path) -> None:
    page = (ROOT / "docs" / "integrations.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", page, flags=re.DOTALL | re.MULTILINE)
    assert script.read_text() in blocks, (
        f"docs/integrations.md does not show {script.relative_to(ROOT)} as it is")
