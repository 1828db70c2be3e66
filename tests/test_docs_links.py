"""Every relative link in the Markdown docs leads somewhere: the file exists, and a `#anchor`
names a heading of it (GitHub's slugs). External links (http, https, mailto) are not followed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "build", "node_modules", "work", "mlruns", ".pytest_cache"}

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, …


def markdown_files() -> list[Path]:
    """README.md, CHANGELOG.md, docs/**, and each folder's README, outside build and cache folders."""
    return sorted(path for path in REPO.rglob("*.md")
                  if not SKIP_DIRS & set(path.relative_to(REPO).parts[:-1])
                  and not any(part.endswith(".egg-info") for part in path.relative_to(REPO).parts))


def prose_lines(text: str, keep_code: bool = False) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks; inline code removed unless `keep_code`."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line if keep_code else INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a Markdown file (duplicates get -1, -2, …)."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8"), keep_code=True):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def dangling_links(path: Path, root: Path = REPO) -> list[str]:
    """`file:line: target (why)` for each relative link of `path` that leads nowhere.

    Paths in the messages are relative to `root`.
    """
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(line):
            target = match.group(1)
            if EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(root)}:{number}: {target}"
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{where} (no such file)")
                continue
            if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{where} (no heading with this anchor in "
                                f"{linked.relative_to(root)})")
    return problems


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Efficacy: do trained models follow the policy?", "efficacy-do-trained-models-follow-the-policy"),
    ("examples/demo/acme-chat.policy", "examplesdemoacme-chatpolicy"),
    ("`tenet audit POLICY --rule ID`: one rule across cycles",
     "tenet-audit-policy---rule-id-one-rule-across-cycles"),
    ("Training throughput: tenet vs a plain TRL script", "training-throughput-tenet-vs-a-plain-trl-script"),
])
def test_the_slugs_match_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_dangling_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n[ok](b.md#part) [gone](c.md) [bad anchor](b.md#nope) "
                                   "[self](#title) `[code](x.md)`\n```\n[fenced](y.md)\n```\n",
                                   encoding="utf-8")
    (tmp_path / "b.md").write_text("## Part\n", encoding="utf-8")
    problems = dangling_links(tmp_path / "a.md", root=tmp_path)
    assert problems == ["a.md:3: c.md (no such file)",
                        "a.md:3: b.md#nope (no heading with this anchor in b.md)"]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_somewhere(path: Path) -> None:
    assert dangling_links(path) == []


def test_the_makefile_names_only_docs_that_exist() -> None:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"\b((?:docs/)[\w./-]+\.md)(?:#([\w-]+))?", text):
        path, anchor = REPO / target[0], target[1]
        assert path.exists(), f"Makefile names {target[0]}, which does not exist"
        if anchor:
            assert anchor in anchors(path), f"Makefile names {target[0]}#{anchor}, which has no such heading"
