"""Keyword sets at run time: whole-word column search, mention a term or drop the mentions."""

from __future__ import annotations

import random

import pyarrow as pa

from tenet.compiler import ir
from tenet.compiler.predicates.keywords import keyword_pattern
from tenet.runtime.predicates.base import RuntimeKind
from tenet.runtime.textedit import edits

# A name reads as something to try ("You might also consider Globex."); a common word reads as
# a judgement ("Some would even call that stupid."): "Some people also suggest useless." is not
# English, and a model taught against it could learn to avoid the bad grammar, not the word.
NAME_SENTENCES = ("You might also consider {piece}.", "Some people also suggest {piece}.")
WORD_SENTENCES = ("Some would even call that {piece}.", "Some people would call it {piece}.")


def sentences_for(term: str) -> tuple[str, ...]:
    """The sentences a term is added in: those for a name when it is capitalized, else for a word."""
    return NAME_SENTENCES if term[:1].isupper() else WORD_SENTENCES


def column(pred: ir.KeywordsPred, cols, score=None) -> pa.Array:
    """RE2 unless a case-insensitive term is non-ASCII (RE2 and Python fold those differently)."""
    pattern = keyword_pattern(pred.terms, pred.exact)
    engine = "re2" if pred.exact or all(t.isascii() for t in pred.terms) else "python"
    return cols.search(pred.subject, pattern, "", not pred.exact, engine, trusted=True)


def span_pattern(pred: ir.KeywordsPred) -> tuple[str, str] | None:
    """The case-sensitive pattern with an inline `i`, when RE2 runs it."""
    if not (pred.exact or all(t.isascii() for t in pred.terms)):
        return None
    return keyword_pattern(pred.terms, True), "" if pred.exact else "i"


def edit(pred: ir.KeywordsPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """Mention a term in a sentence of its own, or drop the sentences that mention one."""
    if not want:
        return edits.remove_units(pred, text)
    options = [o for term in pred.terms for o in edits.in_sentence(text, sentences_for(term), [term], rng)]
    rng.shuffle(options)
    return edits.first_natural_holding((pred,), text, options)


KIND = RuntimeKind(name="keywords", column=column, span_pattern=span_pattern, edit=edit)
