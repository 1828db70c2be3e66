"""Contact details at run time: RE2 column search, add a sample detail in a sentence or drop it."""

from __future__ import annotations

import random

import pyarrow as pa

from tenet.compiler import ir
from tenet.compiler.predicates.pii import PII_PATTERNS
from tenet.runtime.label.re2 import translate
from tenet.runtime.predicates.base import RuntimeKind
from tenet.runtime.textedit import edits

# Sample details (reserved example domains and numbers) and the sentences that carry them: each
# inserted piece reads as part of the answer, and they vary so that training learns the detail,
# not one sentence (`edits.in_sentence`).
PII_SAMPLES = {"email": ("help@acme.example", "support@example.com", "jane.doe@example.org"),
               "link": ("https://acme.example/help", "https://www.example.com/guide"),
               "phone_number": ("555-123-4567", "(555) 010-2030", "+1 555 010 9988")}
PII_SENTENCES = {"email": ("You can also email {piece}.", "For more help, write to {piece}.",
                           "Questions? Our team answers at {piece}."),
                 "link": ("See {piece} for details.", "There is a full guide at {piece}."),
                 "phone_number": ("You can also call {piece}.", "For more help, call us at {piece}.")}


def column(pred: ir.PiiPred, cols, score=None) -> pa.Array:
    """Built-in patterns are linear-time: they run in-process wherever RE2 cannot."""
    pattern = PII_PATTERNS[pred.pii]
    return cols.search(pred.subject, pattern, "", pattern.startswith("(?i)"), "re2", trusted=True)


def span_pattern(pred: ir.PiiPred) -> tuple[str, str] | None:
    """The pattern for RE2, `\\s` spelled as Python means it (RE2's lacks the vertical tab, so
    "\\x0ba@b.co" put the tab inside the address); a phone number's `hit` group excludes
    boundary characters, so Python places it."""
    if pred.pii == "phone_number":
        return None
    pattern = PII_PATTERNS[pred.pii]
    body = translate(pattern.removeprefix("(?i)"), dollar=False)
    return None if body is None else (body, "i" if pattern.startswith("(?i)") else "")


def edit(pred: ir.PiiPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """Give a sample detail in a sentence, or drop the sentences that hold one."""
    if not want:
        return edits.remove_units(pred, text)
    options = edits.in_sentence(text, PII_SENTENCES[pred.pii], PII_SAMPLES[pred.pii], rng)
    return edits.first_natural_holding((pred,), text, options)


KIND = RuntimeKind(name="pii", column=column, span_pattern=span_pattern, edit=edit)
