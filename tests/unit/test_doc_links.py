"""Every relative link in the project's Markdown leads somewhere: the README, BENCHMARKS.md, docs/ and
any folder's README link to files that exist, and a link's #anchor into a Markdown file names one of
its headings as GitHub slugs them. The README sends a newcomer into docs/; a moved section must not
leave a dead link behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(
    {REPO / "README.md", REPO / "BENCHMARKS.md", *REPO.glob("docs/*.md"), *REPO.glob("*/README.md")}
)

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without code: a fenced block's `# comment` is no heading, and `[a](b)` in code no link."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped but for '-' and '_', spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's slug; a repeated heading's later copies get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(page.read_text())):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def relative_links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", prose(page.read_text()))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_the_pages_are_found():
    assert REPO / "README.md" in PAGES
    assert len(PAGES) > 3


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_reaches_a_file_and_its_anchor_a_heading(page):
    dead = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            dead.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            dead.append(f"{target}: no heading with that anchor")
    assert dead == [], f"{page.relative_to(REPO)} links nowhere"


def test_slugs_follow_githubs_rule():
    assert slug("The folder CLI: `python -m client classify`") == "the-folder-cli-python--m-client-classify"
    assert slug("Reliability: faults under load (`make soak`)") == "reliability-faults-under-load-make-soak"
    assert slug("1. Connection floods (slowloris)") == "1-connection-floods-slowloris"


TEST_NAME = re.compile(r"`(test_[a-z0-9_]+)")
DEFINED = re.compile(r"^\s*(?:async\s+)?def (test_[a-z0-9_]+)\(", re.MULTILINE)


def test_every_test_the_security_page_names_exists():
    """docs/security.md backs each claim with the test that shows it: a renamed or deleted test must not
    leave a claim standing on nothing."""
    named = set(TEST_NAME.findall((REPO / "docs" / "security.md").read_text()))
    defined = {name for path in REPO.glob("tests/**/*.py") for name in DEFINED.findall(path.read_text())}
    assert len(named) > 40
    assert sorted(named - defined) == []
