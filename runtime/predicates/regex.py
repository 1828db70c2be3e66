"""Policy regexes at run time: RE2 column search (Python `re` where RE2 differs), insert or remove a match."""

from __future__ import annotations

import random

import pyarrow as pa

from tenet.compiler import ir
from tenet.runtime.label.re2 import translate
from tenet.runtime.predicates.base import RuntimeKind
from tenet.runtime.textedit import edits, restructure
from tenet.compiler.regex_sample import sample_match


def column(pred: ir.RegexPred, cols, score=None) -> pa.Array:
    """Search the subject column; policy patterns on Python `re` run under a time bound."""
    return cols.search(pred.subject, pred.pattern, pred.flags, "i" in pred.flags, pred.engine)


def span_pattern(pred: ir.RegexPred) -> tuple[str, str] | None:
    """The pattern for RE2, unless only Python can place the span."""
    # A rewritten `$` would put the final newline inside the span: locate those in Python.
    if pred.engine != "re2" or ("$" in pred.pattern and "m" not in pred.flags):
        return None
    body = translate(pred.pattern, dollar=False)
    if body is None:
        return None
    return body, "".join(f for f in pred.flags if f in "ims")


def edit(pred: ir.RegexPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """Add a sampled match next to the answer, or drop the sentences that match."""
    if not want:
        return edits.remove_units(pred, text)
    piece = sample_match(pred.pattern, pred.flags)
    if piece is None:
        return None
    options = edits.placements(text, piece, rng)
    if pred.pattern.startswith("^"):
        options.insert(0, f"{piece.strip() or piece} {text.strip()}")  # a prefix first for anchored patterns
    if restructure.is_list_item(f"{piece.strip()} x"):
        # A list marker: the answer's sentences as a list, since one bullet alone reads as a cut list.
        options[:0] = [o for o in (restructure.to_bullets(text), restructure.to_bullets(text, lead_in=False)) if o]
    return edits.first_holding(pred, options)


KIND = RuntimeKind(name="regex", column=column, span_pattern=span_pattern, edit=edit)
