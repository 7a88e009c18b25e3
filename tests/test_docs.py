"""The README and docs/ stay true where a test can tell: links resolve, commands parse, make targets exist,
the README fits on a page and its sample screen is the one ``turnover run`` prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from flows.cli import build_parser
from tests.conftest import REPO
from tests.flows.test_faults_flow import SCREEN_LINES

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: "Fits on a page": about 100 lines of prose, tables and one sample screen.
README_MAX_CHARS = 9_000


def code_blocks(page: Path, languages: tuple[str, ...] = ("sh", "")) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
            if lang in languages]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: link to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: link to {target}: no such heading in {linked.name}"


def turnover_commands(page: Path) -> list[list[str]]:
    commands = []
    for block in code_blocks(page):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            match = re.match(r"(?:\S+=\S+ )*(?:\.venv/bin/)?turnover (.+)", line)
            if match:
                words = [w for w in shlex.split(match.group(1)) if w not in ("...", "…")]
                commands.append(words)
    return commands


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_turnover_command_shown_parses(page, capsys, monkeypatch):
    from flows import cli

    monkeypatch.setattr(cli, "_existing_file", lambda text: text)  # the files shown are examples
    for words in turnover_commands(page):
        if "--help" in words:
            continue
        try:
            build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"{page.name}: `turnover {' '.join(words)}` does not parse: {capsys.readouterr().err}")


def test_every_make_target_shown_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    for page in PAGES:
        for block in code_blocks(page):
            for target in re.findall(r"^(?:\w+=\S+ )*make ([\w-]+)", block, flags=re.MULTILINE):
                assert target in targets, f"{page.name}: make {target}: no such target"


def test_the_readme_fits_on_a_page_and_links_every_doc():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme) <= README_MAX_CHARS, f"README.md is {len(readme):,} characters"
    for doc in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{doc.name}" in readme, f"README.md does not link docs/{doc.name}"


def test_the_readme_s_sample_screen_is_what_turnover_run_prints():
    blocks = [b for b in code_blocks(REPO / "README.md", ("",)) if b.startswith("loaded  ")]
    assert len(blocks) == 1
    strays = [line for line in blocks[0].splitlines() if line and not line.startswith(SCREEN_LINES)]
    assert not strays
