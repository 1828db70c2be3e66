"""`S contains email|link|phone number`: personal contact details in the text."""

from __future__ import annotations

import re

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Span
from tenet.compiler.literals import subject
from tenet.compiler.predicates.base import Finder, PredicateKind, Resolve, compiled, locates, searches

PII_PATTERNS: dict[str, str] = {
    # The local part takes any run of non-space characters a model writes there, placeholders
    # included ("[email_address]@acme.com" still hands out an address).
    "email": "[^\\s@<>(),;:\"']+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
    "link": "(?i)(?:https?://|www\\.)[^ \\t\\n\\r\\f\\v<>\"]+",
    # North American shapes, "+" international numbers, three groups of 3-4 digits
    # ("1000-1000-1000") and 7-digit local numbers; the `hit` group leaves out the boundaries.
    "phone_number": (
        "(?:^|[^0-9])(?P<hit>"
        "(?:\\+?[0-9]{1,3}[ .-]?)?(?:\\([0-9]{3}\\)|[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}"
        "|\\+[0-9]{1,3}[ .-]?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4}"
        "|[0-9]{3,4}[ .-][0-9]{3,4}[ .-][0-9]{3,4}"
        "|[0-9]{3}[.-][0-9]{4}"
        ")(?:[^0-9]|$)"
    ),
}
_WORDS = {"email": "email", "link": "link", "phone_number": "phone number"}


def build(span: Span, children: list) -> ast.Pii:
    """`subject "contains" pii -> pii_atom`."""
    return ast.Pii(span=span, subject=children[0], pii=children[1])


def lower(pred: ast.Pii, resolve: Resolve) -> ir.PiiPred:
    """Nothing to resolve."""
    return ir.PiiPred(span=pred.span, subject=pred.subject, pii=pred.pii)


def write(pred: ast.Pii) -> str:
    """`response contains phone number`."""
    return f"{subject(pred.subject)} contains {_WORDS[pred.pii]}"


def pattern(pred: ir.PiiPred) -> re.Pattern[str]:
    """The built-in pattern for this kind of detail."""
    return compiled(PII_PATTERNS[pred.pii])


def finder(pred: ir.PiiPred) -> Finder:
    """The detail itself: a pattern's `hit` group leaves out the boundary characters around it."""
    return locates(pattern, "hit" if "hit" in pattern(pred).groupindex else 0)(pred)


KIND = PredicateKind(
    name="pii", ast_types=(ast.Pii,), ir_type=ir.PiiPred, builders={"pii_atom": build},
    lower=lower, write=write, holds=searches(pattern), finder=finder,
)
