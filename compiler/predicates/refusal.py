"""`S is a refusal`: the text declines the request."""

from __future__ import annotations

from compiler import ast, ir
from compiler.diagnostics import Span
from compiler.literals import subject
from compiler.predicates.base import PredicateKind, Resolve, compiled, locates, searches

REFUSAL_PATTERN = (
    "(?i)\\b(?:i(?:['\u2019]m| am) (?:sorry|afraid),? but"
    "|i(?: can['\u2019]?t| cannot| won['\u2019]t| will not| am unable to| am not able to"
    "|['\u2019]m unable to|['\u2019]m not able to) (?:help|assist|provide|do that|answer|comply|share|support)"
    "|as an? (?:[a-z-]+ ){0,2}(?:ai|chatbot|language model)\\b"
    "|i (?:do not|don['\u2019]?t) have the (?:ability|capability|capacity) to"
    "|i(?:['\u2019]m| am) not equipped to"
    "|i must decline|i (?:have to|need to) decline)"
)


def build(span: Span, children: list) -> ast.Refusal:
    """`subject "is" "a" "refusal" -> refusal`."""
    return ast.Refusal(span=span, subject=children[0])


def lower(pred: ast.Refusal, resolve: Resolve) -> ir.RefusalPred:
    """Nothing to resolve."""
    return ir.RefusalPred(span=pred.span, subject=pred.subject)


def write(pred: ast.Refusal) -> str:
    """`response is a refusal`."""
    return f"{subject(pred.subject)} is a refusal"


def pattern(pred: ir.RefusalPred):
    """The built-in refusal pattern."""
    return compiled(REFUSAL_PATTERN)


KIND = PredicateKind(
    name="refusal", ast_types=(ast.Refusal,), ir_type=ir.RefusalPred, builders={"refusal": build},
    lower=lower, write=write, holds=searches(pattern), finder=locates(pattern),
)
