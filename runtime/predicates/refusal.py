"""Refusals at run time: RE2 column search; an edit replaces the answer by a refusal or drops it."""

from __future__ import annotations

import random

import pyarrow as pa

from compiler import ir
from compiler.predicates.refusal import REFUSAL_PATTERN
from runtime.predicates import RuntimeKind
from runtime.synthesize import edits

REFUSAL_SAMPLE = "I'm sorry, but I can't help with that."


def column(pred: ir.RefusalPred, cols, score=None) -> pa.Array:
    """The built-in pattern is case-insensitive and linear-time."""
    return cols.search(pred.subject, REFUSAL_PATTERN, "", True, "re2", trusted=True)


def span_pattern(pred: ir.RefusalPred) -> tuple[str, str] | None:
    """The pattern with its `(?i)` moved to the inline flags."""
    return REFUSAL_PATTERN.removeprefix("(?i)"), "i"


def edit(pred: ir.RefusalPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """A refusal is a whole answer; removing one drops the sentences that decline."""
    return REFUSAL_SAMPLE if want else edits.remove_units(pred, text)


KIND = RuntimeKind(name="refusal", column=column, span_pattern=span_pattern, edit=edit)
