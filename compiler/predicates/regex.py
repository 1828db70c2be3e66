"""`S matches /re/`: a policy regex finds a match in the text (RE2 where it runs identically)."""

from __future__ import annotations

import re

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Span
from tenet.compiler.literals import subject, value
from tenet.compiler.regex_engine import regex_engine
from tenet.compiler.predicates.base import PredicateKind, Resolve, compile_user_regex, locates, searches


def build(span: Span, children: list) -> ast.Matches:
    """`subject "matches" regex_ref -> matches`."""
    return ast.Matches(span=span, subject=children[0], regex=children[1])


def lower(pred: ast.Matches, resolve: Resolve) -> ir.RegexPred:
    """Inline a `let` regex and record which engine can run it."""
    regex = resolve(pred.regex)
    engine, _ = regex_engine(regex.pattern, regex.flags)
    return ir.RegexPred(span=pred.span, subject=pred.subject, pattern=regex.pattern, flags=regex.flags,
                        engine=engine)


def write(pred: ast.Matches) -> str:
    """`response matches /re/i`."""
    return f"{subject(pred.subject)} matches {value(pred.regex)}"


def pattern(pred: ir.RegexPred) -> re.Pattern[str]:
    """The compiled policy regex, flags applied, ASCII classes."""
    return compile_user_regex(pred.pattern, pred.flags)


KIND = PredicateKind(
    name="regex", ast_types=(ast.Matches,), ir_type=ir.RegexPred, builders={"matches": build},
    lower=lower, write=write, holds=searches(pattern),
    # A policy regex's span is its whole match: a `hit` group there is the author's own.
    finder=locates(pattern),
)
