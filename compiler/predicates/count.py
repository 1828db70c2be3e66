"""`S has at most N words` and the other count forms: words, sentences, lines, bullets, characters."""

from __future__ import annotations

import math
from typing import Any, get_args

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, Span, did_you_mean, error
from tenet.compiler.literals import number, subject
from tenet.compiler.predicates.base import WS, PredicateKind, Resolve, compiled

WORD_PATTERN = f"[^{WS}]+"
SENTENCE_PATTERN = f"[^.!?{WS}][^.!?]*(?:[.!?]+|$)"
LINE_PATTERN = "(?m)^[ \\t]*[^ \\t\\r\\n]"
BULLET_PATTERN = "(?m)^[ \\t]*[-*\u2022][ \\t]+[^ \\t\\r\\n]"
COUNT_PATTERNS: dict[str, str] = {
    "words": WORD_PATTERN,
    "sentences": SENTENCE_PATTERN,
    "lines": LINE_PATTERN,
    "bullets": BULLET_PATTERN,
}
UNITS = frozenset(get_args(ir.CountPred.model_fields["unit"].annotation))
# The count's vocabulary: each comparison as written, and the singular of each unit.
QUANTITIES = {"at_most": "at most", "at_least": "at least", "exactly": "exactly",
              "more_than": "more than", "fewer_than": "fewer than"}
SINGULARS = {"word": "words", "sentence": "sentences", "line": "lines", "bullet": "bullets",
             "character": "characters"}
UNIT_NAMES = tuple(SINGULARS.values())
MAX_COUNT = 1_000_000_000
_OPS = {words: op for op, words in QUANTITIES.items()}


def build_quantity(span: Span, children: list) -> str:
    """`!quantity` (`at most`, `fewer than`, ...) -> the comparison (`at_most`)."""
    return _OPS[" ".join(str(c) for c in children)]


def build_unit(span: Span, children: list) -> tuple[str, Span]:
    """`!unit` -> the unit, singular made plural (an unknown word, for the checks to report), and its span."""
    word = str(children[0])
    return SINGULARS.get(word, word), span


def build(span: Span, children: list) -> ast.Count:
    """`subject "has" quantity NUMBER unit -> count`."""
    subject_, op, value, (unit, unit_span) = children
    return ast.Count(span=span, subject=subject_, op=op, value=float(value), unit=unit, unit_span=unit_span)


def build_between(span: Span, children: list) -> ast.Count:
    """`subject "has" "between" NUMBER "and" NUMBER unit -> count_between`."""
    subject_, low, high, (unit, unit_span) = children
    return ast.Count(span=span, subject=subject_, op="between", value=float(low), high=float(high),
                     unit=unit, unit_span=unit_span)


def lower(pred: ast.Count, resolve: Resolve) -> ir.CountPred:
    """Bounds become integers (the checks reject fractional ones)."""
    return ir.CountPred(span=pred.span, subject=pred.subject, unit=pred.unit, op=pred.op,
                        value=int(pred.value), high=None if pred.high is None else int(pred.high))


def write(pred: ast.Count) -> str:
    """`response has at most 80 words`, `response has exactly 1 line`."""
    # `build_unit` already maps singular units to their plural, so `unit` is canonical.
    if pred.op == "between":
        assert pred.high is not None
        return f"{subject(pred.subject)} has between {number(pred.value)} and {number(pred.high)} {pred.unit}"
    # "exactly 1 line" reads right; an unknown unit (an error the checks report) stays as written.
    unit = pred.unit[:-1] if pred.value == 1 and pred.unit in UNITS else pred.unit
    return f"{subject(pred.subject)} has {QUANTITIES[pred.op]} {number(pred.value)} {unit}"


def count_units(text: str, unit: str) -> int:
    """Count words, sentences, non-empty lines, bullet items or characters."""
    if unit == "characters":
        return len(text)
    return len(compiled(COUNT_PATTERNS[unit]).findall(text))


def compare_count(n: Any, op: str, value: int, high: int | None) -> Any:
    """Apply a count predicate's comparison to one count or to a numpy array of counts.

    Written with operators only (`&`, no chained comparison), so the column kernel shares it.
    """
    if op == "at_most":
        return n <= value
    if op == "at_least":
        return n >= value
    if op == "exactly":
        return n == value
    if op == "more_than":
        return n > value
    if op == "fewer_than":
        return n < value
    return (n >= value) & (n <= (high if high is not None else value))


def holds(pred: ir.CountPred, text: str) -> bool:
    """Count the unit, then compare."""
    return bool(compare_count(count_units(text, pred.unit), pred.op, pred.value, pred.high))


def check(pred: ast.Count) -> list[Diagnostic]:
    """Bounds are whole numbers from 0 to `MAX_COUNT`, the smaller first (E112); the unit is known (E107)."""
    values = [pred.value] + ([pred.high] if pred.high is not None else [])
    if any(not math.isfinite(v) or v < 0 or v > MAX_COUNT or v != int(v) for v in values):
        return [error("E112", f"counts must be whole numbers from 0 to {MAX_COUNT:,}", pred.span,
                      "write a whole number with no sign or fraction, e.g. `has at most 3 sentences`")]
    if pred.high is not None and pred.high < pred.value:
        return [error("E112", f"empty range: between {pred.value:g} and {pred.high:g}", pred.span,
                      "write the smaller number first")]
    return []


def check_unit(pred: ast.Count) -> list[Diagnostic]:
    """An unknown unit (E107), with the closest known one."""
    if pred.unit in UNIT_NAMES:
        return []
    return [error("E107", f"unknown unit `{pred.unit}`", pred.unit_span,
                  did_you_mean(pred.unit, UNIT_NAMES) or "count words, sentences, lines, bullets or characters")]


KIND = PredicateKind(
    name="count", ast_types=(ast.Count,), ir_type=ir.CountPred,
    builders={"count": build, "count_between": build_between, "quantity": build_quantity,
              "unit": build_unit}, lower=lower, write=write, holds=holds, check=check,
)
