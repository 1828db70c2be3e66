"""`S contains|starts with|ends with "text"`: literal, case-sensitive, outer whitespace ignored."""

from __future__ import annotations

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, Span, error
from tenet.compiler.literals import quote, subject, unquote
from tenet.compiler.predicates.base import STRIP_CHARS, Finder, PredicateKind, Resolve

_WORDS = {"contains": "contains", "starts_with": "starts with", "ends_with": "ends with"}


def _builder(op: str):
    def build(span: Span, children: list) -> ast.TextOp:
        return ast.TextOp(span=span, subject=children[0], op=op, text=unquote(children[1]))

    build.__doc__ = f"`subject ... STRING -> {op}`."
    return build


def lower(pred: ast.TextOp, resolve: Resolve) -> ir.TextPred:
    """Copy the operation and its text."""
    return ir.TextPred(span=pred.span, subject=pred.subject, op=pred.op, text=pred.text)


def write(pred: ast.TextOp) -> str:
    """`response starts with "Hi"`."""
    return f"{subject(pred.subject)} {_WORDS[pred.op]} {quote(pred.text)}"


def holds(pred: ir.TextPred, text: str) -> bool:
    """Containment anywhere, or prefix / suffix once outer whitespace is stripped."""
    if pred.op == "contains":
        return pred.text in text
    if pred.op == "starts_with":
        return text.lstrip(STRIP_CHARS).startswith(pred.text)
    return text.rstrip(STRIP_CHARS).endswith(pred.text)


def finder(pred: ir.TextPred) -> Finder:
    """Locate the needle: first occurrence, or the prefix / suffix it must be."""
    needle = pred.text
    if pred.op == "contains":
        return lambda text: (lambda at: (at, at + len(needle)) if at >= 0 else None)(text.find(needle))
    if pred.op == "starts_with":
        def find_prefix(text: str) -> tuple[int, int] | None:
            at = len(text) - len(text.lstrip(STRIP_CHARS))
            return (at, at + len(needle)) if text.startswith(needle, at) else None

        return find_prefix

    def find_suffix(text: str) -> tuple[int, int] | None:
        stripped = text.rstrip(STRIP_CHARS)
        return (len(stripped) - len(needle), len(stripped)) if stripped.endswith(needle) else None

    return find_suffix


def check(pred: ast.TextOp) -> list[Diagnostic]:
    """The text may not be empty (E113): every text contains it."""
    if pred.text:
        return []
    return [error("E113", f"empty string in `{pred.op.replace('_', ' ')}`", pred.span,
                  "every text contains the empty string; give some text")]


KIND = PredicateKind(
    name="text", ast_types=(ast.TextOp,), ir_type=ir.TextPred,
    builders={op: _builder(op) for op in _WORDS}, lower=lower, write=write, holds=holds, finder=finder,
    check=check,
)
