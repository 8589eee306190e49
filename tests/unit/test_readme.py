"""The README stands alone: every link and cited repository file exists, and it points to nothing
outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CITED_PATH = re.compile(
    r"`((?:src|tests|benchmarks|docs|\.ci)/[A-Za-z0-9_./-]+|dev\.sh|\.env\.example|pyproject\.toml)`"
)
# Places the documents mention that are made at run time and ignored by git (e.g. downloaded tools).
GENERATED = tuple(
    line.strip().rstrip("/")
    for line in (REPO / ".gitignore").read_text().splitlines()
    if line.strip() and not line.startswith("#") and "/" in line.rstrip("/")
)
OUTSIDE = ("SPEC", "SUPABASE.md", "PROVIDERS.md", "ARCHITECTURE.md", "seed-README", "shared/")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_and_cited_file_exists(document: Path) -> None:
    text = document.read_text()
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (document.parent / target).exists(), f"{document.name} links to missing {target}"
    for cited in CITED_PATH.findall(text):
        path = cited.rstrip("/.")
        if path.startswith(GENERATED):
            continue
        assert (REPO / path).exists() or list(REPO.glob(path + "*")), f"{document.name} cites missing {cited}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_points_to_nothing_outside_the_repository(document: Path) -> None:
    text = document.read_text()
    for name in OUTSIDE:
        assert not re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", text), f"{document.name} cites {name}"


def test_the_readme_links_its_docs_and_draws_how_it_works() -> None:
    text = (REPO / "README.md").read_text()
    for page in ("docs/CONTEXT.md", "docs/BENCHMARKS.md"):
        assert f"]({page})" in text
    assert "## How it works" in text and "```mermaid" in text
