"""Refusals at run time: RE2 column search; an edit replaces the answer by a refusal or drops it."""

from __future__ import annotations

import random

import pyarrow as pa

from tenet.compiler import ir
from tenet.compiler.predicates.refusal import REFUSAL_PATTERN
from tenet.runtime.predicates.base import RuntimeKind
from tenet.runtime.textedit import edits

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
# Where a refusal breaks a rule (the rejected side of "forbid response is a refusal"), the
# refusal put in is the kind a chat model writes to an ordinary request, the deflection
# (the embedded model: "I'm sorry for any misunderstanding, but as a text-based AI, I don't
# have the capability to create custom messages"), not one of the refusals above. A sentence
# that is one pair's chosen side and another's rejected side is pushed up and down at once,
# and a small model tells the two apart only by the prompt: it learns a refusal's opening with
# the wrong ending ("I'm sorry, but I can help with that.").
DEFLECTION_SAMPLES = (
    "I'm sorry for any misunderstanding, but as an AI, I don't have the ability to help with that.",
    "As an AI language model, I don't have the capability to do that for you.",
    "I'm sorry for any confusion, but as a text-based AI, I'm not able to help with this request.",
    "I'm not equipped to help with that kind of request, as I'm only a chatbot.",
)


def column(pred: ir.RefusalPred, cols, score=None) -> pa.Array:
    """The built-in pattern is case-insensitive and linear-time."""
    return cols.search(pred.subject, REFUSAL_PATTERN, "", True, "re2", trusted=True)


def span_pattern(pred: ir.RefusalPred) -> tuple[str, str] | None:
    """The pattern with its `(?i)` moved to the inline flags."""
    return REFUSAL_PATTERN.removeprefix("(?i)"), "i"


def edit(pred: ir.RefusalPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """A refusal is a whole answer: one of `REFUSAL_SAMPLES` on a chosen side, one of
    `DEFLECTION_SAMPLES` on a rejected side; removing one drops the sentences that decline."""
    if not want:
        return edits.remove_units(pred, text)
    return rng.choice(REFUSAL_SAMPLES if for_chosen else DEFLECTION_SAMPLES)


KIND = RuntimeKind(name="refusal", column=column, span_pattern=span_pattern, edit=edit)
