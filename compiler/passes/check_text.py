"""Check that no string, regex or comment of a policy holds an invisible control character.

Control characters (C0 but tab and line feed, DEL, C1) and the bidirectional overrides and
isolates (U+202A–U+202E, U+2066–U+2069) are invisible or reorder what a reviewer sees, so a
policy could read one way in a pull request and compile another, or carry terminal escapes
into `tenet explain`, MLflow and the training data. Each one in a string or regex literal is
E181, at its position; a bidirectional control in a comment is E181 too (the "Trojan Source"
trick). A string may still ask for a tab, a line break or a carriage return with the escapes
`\\t`, `\\n` and `\\r`; a `\\uXXXX` escape of any other control character is E181 on the string.
Runs on every module of the program, before linking.
"""

from __future__ import annotations

import unicodedata
from typing import Iterator

from lark import Token
from lark.exceptions import LarkError

from tenet.compiler.diagnostics import Diagnostic, Span, error
from tenet.compiler.literals import unquote
from tenet.compiler.load import Module, Program
from tenet.compiler.parse import parser

_ESCAPABLE = "\t\n\r"  # what `\t`, `\n` and `\r` write
HINT = ("control and bidirectional characters are invisible or reorder the text, so what a reviewer reads "
        "is not what tenet compiles; delete it (write `\\t`, `\\n` or `\\r` for a tab or a line break)")
_WHERE = {"STRING": "string", "REGEX": "regex", "COMMENT": "comment"}


def is_bidi_control(ch: str) -> bool:
    """True for the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)."""
    return "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069"


def is_forbidden(ch: str) -> bool:
    """True for a character no policy literal may hold raw: C0 but tab and line feed, DEL, C1, bidi controls."""
    code = ord(ch)
    return (code < 0x20 and ch not in "\t\n") or 0x7F <= code <= 0x9F or is_bidi_control(ch)


def check_text(program: Program) -> list[Diagnostic]:
    """E181 for every control character in a string, regex or comment of any module."""
    return [diagnostic for module in program.modules for diagnostic in _check_module(module)]


def _check_module(module: Module) -> Iterator[Diagnostic]:
    if "\\u" not in module.text and not any(is_forbidden(ch) for ch in module.text):
        return
    for token in _tokens(module.text):
        where = _WHERE.get(token.type)
        if where is None:
            continue
        flagged = is_bidi_control if where == "comment" else is_forbidden
        raw = [i for i, ch in enumerate(token.value) if flagged(ch)]
        for offset in raw:
            yield _diagnostic(module.path, token, offset, f"{where} holds {_describe(token.value[offset])}")
        if where == "string":
            escaped = [ch for ch in unquote(token.value) if is_forbidden(ch) and ch not in _ESCAPABLE]
            if len(escaped) > len(raw):
                ch = escaped[-1]
                yield _diagnostic(module.path, token, None, f"string writes {_describe(ch)} as an escape")


def _tokens(text: str) -> Iterator[Token]:
    """The source's tokens, comments included, as the policy's own lexer reads them."""
    try:
        yield from parser().lex(text, dont_ignore=True)
    except LarkError:  # the text parsed, so this is unreachable; the parse's diagnostics stand
        return


def _describe(ch: str) -> str:
    """`the control character U+001B` or `the bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE)`."""
    code = f"U+{ord(ch):04X}"
    if is_bidi_control(ch):
        return f"the bidirectional control {code} ({unicodedata.name(ch)})"
    return f"the control character {code}"


def _diagnostic(path: str, token: Token, offset: int | None, message: str) -> Diagnostic:
    """E181 at one character of `token` (a literal never spans lines), or at the whole token."""
    start = token.start_pos + (offset or 0)
    col = token.column + (offset or 0)
    width = 1 if offset is not None else len(token.value)
    span = Span(file=path, line=token.line, col=col, end_line=token.line, end_col=col + width,
                start=start, end=start + width)
    return error("E181", message, span, HINT)
