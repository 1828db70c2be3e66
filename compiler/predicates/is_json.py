"""`S is json`: the whole text (outer whitespace ignored) is a JSON object or array."""

from __future__ import annotations

import json

from compiler import ast, ir
from compiler.diagnostics import Span
from compiler.literals import subject
from compiler.predicates.base import STRIP_CHARS, PredicateKind, Resolve


def build(span: Span, children: list) -> ast.IsJson:
    """`subject "is" "json" -> is_json`."""
    return ast.IsJson(span=span, subject=children[0])


def lower(pred: ast.IsJson, resolve: Resolve) -> ir.JsonPred:
    """Nothing to resolve."""
    return ir.JsonPred(span=pred.span, subject=pred.subject)


def write(pred: ast.IsJson) -> str:
    """`response is json`."""
    return f"{subject(pred.subject)} is json"


def is_json(text: str) -> bool:
    """True when the whole text (outer whitespace ignored) is a JSON object or array."""
    stripped = text.strip(STRIP_CHARS)
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        return isinstance(json.loads(stripped), (dict, list))
    except (ValueError, RecursionError):
        return False


KIND = PredicateKind(
    name="json", ast_types=(ast.IsJson,), ir_type=ir.JsonPred, builders={"is_json": build},
    lower=lower, write=write, holds=lambda pred, text: is_json(text),
)
