"""Docs and code describe the software as it is; its history lives in git and CHANGELOG.md.

README.md, docs/, compiler/, runtime/ and examples/ may not name scratch paths under /tmp,
speak of "this session", or date a statement by a commit ("at 4347857", "until be5f8fb").
A figure says the date and machine it was measured on instead (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# (pattern, what it is); matched case-insensitively, line by line.
FORBIDDEN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w.])/tmp/"), "a scratch path under /tmp"),
    (re.compile(r"\bthis session\b", re.I), "a reference to a working session"),
    # An abbreviated commit: a 7- to 40-digit hex word after "commit", or one with both digits
    # and letters (so that "at 1000000 rows" is not one).
    (re.compile(r"\b(?:at|until|since)\s+(?:commit\s+[0-9a-f]{7,40}"
                r"|(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40})\b", re.I),
     "a statement dated by a commit"),
)


def scanned_files() -> list[Path]:
    """README.md, docs/**/*.md, compiler/**/*.py, runtime/**/*.py and every text file under examples/."""
    files = [REPO / "README.md", *REPO.glob("docs/**/*.md"), *REPO.glob("compiler/**/*.py"),
             *REPO.glob("runtime/**/*.py"), *(p for p in REPO.glob("examples/**/*") if p.is_file())]
    return sorted(p for p in files if "__pycache__" not in p.parts)


def history_references(text: str) -> list[str]:
    """`line N: what (the matched text)` for each forbidden reference in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, what in FORBIDDEN:
            for match in pattern.finditer(line):
                found.append(f"line {number}: {what} ({match.group(0)!r})")
    return found


@pytest.mark.parametrize("text", [
    "log: /tmp/ex/r3-demo.log", "This session's change applies to none of the rules.",
    "Latest: at d89e5e3 (the final code)", "until be5f8fb only a lone regex", "at commit 4347857",
])
def test_history_references_are_found(text: str) -> None:
    assert history_references(text)


@pytest.mark.parametrize("text", [
    "measured 2026-12-02 on the project's 2-core CPU machine", "at 1000000 rows", "at 2026-12-02",
    "git commit c0ffee2", "plan for acme-chat 1 (plan 61e19f342cd7)", "tempfile.mkdtemp() under $TMPDIR",
    "at most 120 words", "at decade",
])
def test_ordinary_text_passes(text: str) -> None:
    assert history_references(text) == []


def test_readme_docs_and_code_carry_no_history() -> None:
    problems = []
    for path in scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        problems += [f"{path.relative_to(REPO)}: {found}" for found in history_references(text)]
    assert problems == [], ("history belongs in git log and CHANGELOG.md; say the date and machine a figure "
                            "was measured on instead:\n" + "\n".join(problems))
