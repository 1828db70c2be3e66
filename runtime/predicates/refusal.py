"""Refusals at run time: RE2 column search; an edit replaces the answer by a refusal or drops it."""

from __future__ import annotations

import random

import pyarrow as pa

from compiler import ir
from compiler.predicates.refusal import REFUSAL_PATTERN
from runtime.predicates import RuntimeKind
from runtime.synthesize import edits

# Whole refusals an edit can put in place of an answer. They vary, so that training learns
# when to decline, not one sentence: with a single refusal as the chosen side of a
# dangerous-request pair and the rejected side of an ordinary-request pair, the trained model
# kept the shared "I'm sorry, but" and lost the rest ("I'm sorry, but please come closer.").
REFUSAL_SAMPLES = (
    "I'm sorry, but I can't help with that.",
    "I can't help with that request. If someone is in danger, please contact local emergency services.",
    "I'm sorry, but I cannot assist with that. I'm happy to help with something else.",
    "I won't help with that, because it could cause serious harm.",
)


def column(pred: ir.RefusalPred, cols, score=None) -> pa.Array:
    """The built-in pattern is case-insensitive and linear-time."""
    return cols.search(pred.subject, REFUSAL_PATTERN, "", True, "re2", trusted=True)


def span_pattern(pred: ir.RefusalPred) -> tuple[str, str] | None:
    """The pattern with its `(?i)` moved to the inline flags."""
    return REFUSAL_PATTERN.removeprefix("(?i)"), "i"


def edit(pred: ir.RefusalPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """A refusal is a whole answer (one of `REFUSAL_SAMPLES`); removing one drops the sentences that decline."""
    return rng.choice(REFUSAL_SAMPLES) if want else edits.remove_units(pred, text)


KIND = RuntimeKind(name="refusal", column=column, span_pattern=span_pattern, edit=edit)
