"""A short page for every diagnostic code: what it means, a policy that triggers it, how to fix it.

`code_page("E160")` is what `tenet check --explain E160` prints. Every example is a complete
policy file; compiled on its own (saved as `example.policy`) it reports its page's code, which
tests/test_errors.py checks. The few examples that need more than one file, or a file no text
page can hold, say what else they need in `needs`. The pages themselves are data, one module
per part of a policy: `files.py` (syntax, loading, the file itself), `rules.py` (names, rules
and conditions), `training.py` (examples, training settings, prompts).
"""

from __future__ import annotations

import textwrap

from tenet.compiler.codes import files, rules, training
from tenet.compiler.codes.page import Page

__all__ = ["PAGES", "Page", "code_page"]

WIDTH = 88  # the width pages are wrapped to
PAGES: dict[str, Page] = {**files.PAGES, **rules.PAGES, **training.PAGES}
_SEVERITY = {"P": "error", "L": "error", "E": "error", "W": "warning", "N": "note"}


def code_page(code: str) -> str | None:
    """The page for a diagnostic code (`E160`, any case), or None for a code the compiler never emits."""
    key = code.strip().upper()
    page = PAGES.get(key)
    if page is None:
        return None
    example = textwrap.indent(page.example.rstrip("\n"), "    ")
    needs = f" (it also needs {page.needs})" if page.needs else ""
    return (f"{key} ({_SEVERITY[key[0]]}): {page.title}\n\n"
            f"{textwrap.fill(page.meaning, WIDTH)}\n\n"
            f"{textwrap.fill(f'Example{needs}:', WIDTH)}\n{example}\n\n"
            f"{textwrap.fill(f'Fix: {page.fix}', WIDTH)}\n")
