"""One diagnostic type and one renderer for every message a policy author sees."""

from __future__ import annotations

import difflib
import os
import re
from enum import Enum
from pathlib import Path
from typing import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from tenet import STD_DIR
from tenet.compiler.errors import ExitCode, TenetError


class Span(BaseModel):
    """A region of a source file; lines and columns are 1-based, offsets 0-based."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    start: int
    end: int


class Severity(str, Enum):
    """How serious a diagnostic is; only errors stop compilation."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Diagnostic(BaseModel):
    """A coded message about a span of policy source, with a hint for the fix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None

    def render(self, sources: dict[str, str] | None = None) -> str:
        """Render as `path:line:col: error[CODE]: message`, the source line, a caret and the hint."""
        sources = sources or {}
        head = f"{self.severity.value}[{self.code}]: {visible(self.message)}"
        if self.span is None:
            lines = [head]
        else:
            lines = [f"{display_path(self.span.file)}:{self.span.line}:{self.span.col}: {head}"]
            text = sources.get(self.span.file)
            if text is None:
                text = _read_quietly(self.span.file)
            if text is not None:
                lines.extend(_caret_lines(text, self.span))
        if self.hint:
            lines.append(f"  = hint: {visible(self.hint)}")
        return "\n".join(lines)


class CompileError(TenetError):
    """Raised when a policy cannot be compiled; carries every diagnostic found.

    Args:
        diagnostics: Every diagnostic found.
        sources: The text of the files they point into, when the raiser has it at hand
            (otherwise `render` reads the files).
    """

    exit_code = ExitCode.POLICY

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(f"{len(self.diagnostics)} diagnostic(s)")

    def render(self) -> str:
        """Every diagnostic with its source line and caret (each names its own severity)."""
        return render_all(self.diagnostics, self.sources)

    def __str__(self) -> str:
        """The rendered diagnostics, so that a traceback shows them."""
        return self.render()


def error(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    """Build an error diagnostic."""
    return Diagnostic(code=code, severity=Severity.ERROR, message=message, span=span, hint=hint)


def warning(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    """Build a warning diagnostic."""
    return Diagnostic(code=code, severity=Severity.WARNING, message=message, span=span, hint=hint)


def note(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    """Build a note diagnostic."""
    return Diagnostic(code=code, severity=Severity.NOTE, message=message, span=span, hint=hint)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """Return True when any diagnostic is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Suggest the closest known name, as a hint string, or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def render_all(
    diagnostics: Sequence[Diagnostic], sources: dict[str, str] | None = None, max_errors: int = 50
) -> str:
    """Render diagnostics in order, summarising any past `max_errors` as `... and N more`."""
    shown = [d.render(sources) for d in diagnostics[:max_errors]]
    if len(diagnostics) > max_errors:
        shown.append(f"... and {len(diagnostics) - max_errors} more")
    return "\n\n".join(shown)


def sort_key(d: Diagnostic) -> tuple:
    """Order diagnostics by file, then position, then code, so output is deterministic."""
    if d.span is None:
        return ("", 0, 0, d.code, d.message)
    return (d.span.file, d.span.line, d.span.col, d.code, d.message)


def display_path(path: str) -> str:
    """A source path as tenet prints it: `std/…` for the standard library, relative in the working folder.

    A path outside both is printed as it was given.
    """
    real = Path(os.path.realpath(path))
    if real.is_relative_to(STD_DIR):
        return "std/" + real.relative_to(STD_DIR).as_posix()
    try:
        here = Path.cwd()
    except OSError:  # the working folder was removed
        return path
    absolute = Path(os.path.abspath(path))
    if Path(path).is_absolute() and absolute.is_relative_to(here):
        return absolute.relative_to(here).as_posix()
    return path


def _read_quietly(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def visible(text: str) -> str:
    """`text` with each control or bidirectional character but tab and newline shown as U+FFFD.

    A terminal would act on them (an escape sequence, a reordered line); one replacement
    character per character keeps the caret under the right column.
    """
    return _INVISIBLE.sub("\ufffd", text)


_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _caret_lines(text: str, span: Span) -> list[str]:
    source_lines = text.split("\n")  # spans count lines by "\n" only, as the lexer does
    if not 1 <= span.line <= len(source_lines):
        return []
    line = visible(source_lines[span.line - 1].removesuffix("\r").expandtabs(1))
    width = span.end_col - span.col if span.end_line == span.line else len(line) - span.col + 1
    width = max(1, width)
    gutter = f"{span.line:>4} | "
    return [gutter + line, " " * (len(gutter) + span.col - 1) + "^" * width]
