"""Output port for the CLI, so commands never print directly and tests can capture output."""

from __future__ import annotations

import sys
from typing import TextIO


class Console:
    """Writes results to `out` and diagnostics and errors to `err`."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def print(self, text: str = "") -> None:
        """Write a line of results."""
        self.out.write(text + "\n")

    def error(self, text: str) -> None:
        """Write a line to the error stream."""
        self.err.write(text + "\n")
