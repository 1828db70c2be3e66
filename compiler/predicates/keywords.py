"""`S mentions terms`: any term occurs as a whole word or phrase (case-insensitive unless exact)."""

from __future__ import annotations

import functools
import re

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, Span, error
from tenet.compiler.literals import subject, value
from tenet.compiler.predicates.base import WS, PredicateKind, Resolve, compiled, locates, searches


def build(span: Span, children: list) -> ast.Mentions:
    """`subject "mentions" term_ref -> mentions`."""
    return ast.Mentions(span=span, subject=children[0], terms=children[1])


def lower(pred: ast.Mentions, resolve: Resolve) -> ir.KeywordsPred:
    """Inline a `let` keyword set; a single quoted phrase is a set of one."""
    terms = resolve(pred.terms)
    if isinstance(terms, ast.StringTerm):
        return ir.KeywordsPred(span=pred.span, subject=pred.subject, terms=(terms.text,))
    return ir.KeywordsPred(span=pred.span, subject=pred.subject, terms=terms.terms, exact=terms.exact)


def write(pred: ast.Mentions) -> str:
    """`response mentions words("a", "b")`."""
    return f"{subject(pred.subject)} mentions {value(pred.terms)}"


@functools.lru_cache(maxsize=4096)
def keyword_pattern(terms: tuple[str, ...], exact: bool) -> str:
    """Build the whole-word pattern for a keyword set (spaces in a phrase match any spacing).

    Boundaries are zero-width (`\\b` next to a word character, `\\B` next to another), so a
    match spans exactly the term, in Python's ASCII mode and in RE2 alike.
    """
    parts = sorted((_phrase(t) for t in terms if t.strip()), key=len, reverse=True)
    body = "|".join(parts) or "(?!)"
    prefix = "" if exact else "(?i)"
    return f"{prefix}(?:{body})"


def _phrase(term: str) -> str:
    words = term.split()
    left = "\\b" if _is_word_char(words[0][0]) else "\\B"
    right = "\\b" if _is_word_char(words[-1][-1]) else "\\B"
    return left + f"[{WS}]+".join(re.escape(word) for word in words) + right


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def pattern(pred: ir.KeywordsPred) -> re.Pattern[str]:
    """The compiled keyword pattern."""
    return compiled(keyword_pattern(pred.terms, pred.exact))


def check(pred: ast.Mentions) -> list[Diagnostic]:
    """No keyword written in place may be empty (E113); a `let`'s words are checked with the `let`."""
    terms = pred.terms
    texts = terms.terms if isinstance(terms, ast.WordsLit) else (
        (terms.text,) if isinstance(terms, ast.StringTerm) else ())
    if any(not t.strip() for t in texts):
        return [error("E113", "empty keyword", pred.span, "remove the empty string")]
    return []


KIND = PredicateKind(
    name="keywords", ast_types=(ast.Mentions,), ir_type=ir.KeywordsPred, builders={"mentions": build},
    lower=lower, write=write, holds=searches(pattern), finder=locates(pattern), check=check,
)
