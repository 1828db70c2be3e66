"""Output port for the CLI, so commands never print directly and tests can capture output.

Everything the CLI prints passes through `Console`, which makes text from policies and data
safe for a terminal: control characters (C0 but newline and tab, DEL, C1) and the Unicode
bidirectional and line-separator controls are written as visible escapes (`\\x1b`, `\\u202e`),
so a string in a policy or a data row cannot clear a line, move the cursor, set a window
title or reorder what the reader sees. JSON goes through `print_json`, which writes the same
characters as JSON escapes, so the output stays valid JSON.
"""

from __future__ import annotations

import re
import sys
from typing import Iterable, TextIO

# C0 but \t and \n, DEL, C1; the bidi embeddings, overrides and isolates; line/paragraph separators.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, keep: Iterable[str] = ()) -> str:
    """`text` with every terminal control character written as a visible escape.

    Args:
        text: What to print (newlines and tabs are kept).
        keep: Exact control sequences the caller wrote itself (e.g. the `\\x1b[7m` of a
            highlight), kept as they are wherever they occur.
    """
    kept = sorted(set(keep), key=len, reverse=True)
    if not kept:
        return UNSAFE.sub(_visible, text)
    pieces = re.split("(" + "|".join(map(re.escape, kept)) + ")", text)
    return "".join(p if p in kept else UNSAFE.sub(_visible, p) for p in pieces)


def escape_json(text: str) -> str:
    """JSON text with the characters `escape` replaces written as `\\uXXXX` (still the same JSON value).

    JSON's own syntax is ASCII, so these characters can only stand inside its strings, where
    a `\\uXXXX` escape means the same character.
    """
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


class Console:
    """Writes results to `out` and diagnostics and errors to `err`, escaped for a terminal."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def print(self, text: str = "", keep: Iterable[str] = ()) -> None:
        """Write a line of results; `keep` names control sequences the caller wrote on purpose."""
        self.out.write(escape(text, keep) + "\n")

    def print_json(self, text: str) -> None:
        """Write a JSON document on the results stream."""
        self.out.write(escape_json(text) + "\n")

    def error(self, text: str) -> None:
        """Write a line to the error stream."""
        self.err.write(escape(text) + "\n")
