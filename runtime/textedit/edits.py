"""Edit helpers the predicate kinds share: insert a piece, drop matching units, tidy the rest.

Each kind's own edit (make it hold, make it fail) lives in `runtime/predicates/<kind>.py`;
`perturb_ops` applies them to a rule's condition and verifies the result.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

from tenet.compiler import semantics
from tenet.compiler.predicates.base import Finder
from tenet.runtime import naturalness
from tenet.runtime.textedit import restructure

SENTENCE_MARKS = ".!?"


def adds_artifact(original: str, edited: str) -> bool:
    """The edit introduced a naturalness problem the original did not have."""
    return not set(naturalness.problems(edited)) <= set(naturalness.problems(original))


def first_holding(pred, options: list[str]) -> str | None:
    """The first option on which the text atom `pred` holds."""
    return next((option for option in options if semantics.evaluate_text_atom(pred, option)), None)


def placements(text: str, piece: str, rng: random.Random) -> list[str]:
    """`piece` before or after the answer, on its own line or not, starting at a random one."""
    body, piece = text.strip(), piece.strip() or piece
    options = [f"{body}\n{piece}", f"{piece}\n{body}", f"{body} {piece}", f"{piece} {body}"]
    start = rng.randrange(len(options))
    return options[start:] + options[:start]


def in_sentence(text: str, sentences: Sequence[str], pieces: Sequence[str], rng: random.Random) -> list[str]:
    """The answer with one of `sentences` (`{piece}` filled in) added as prose, in a seeded order.

    A violation that is always the same sentence in the same place teaches the model to avoid
    that sentence, not the thing it contains: so the sentence, the piece and the place (the
    end of the answer, or a paragraph after its opening) vary. After a list the sentence
    starts its own paragraph, never the end of the last item.
    """
    body = text.strip()
    lines = body.splitlines()
    after_list = bool(lines) and restructure.is_list_item(lines[-1])
    opening, sep, rest = body.partition("\n\n")
    after_opening = bool(sep and rest) and not restructure.is_list_item(opening.splitlines()[-1])
    options = []
    for sentence in sentences:
        for piece in pieces:
            added = sentence.format(piece=piece.strip() or piece)
            options.append(f"{body}\n\n{added}" if after_list else f"{body} {added}")
            if after_opening:
                options.append(f"{opening}\n\n{added}\n\n{rest}")
    rng.shuffle(options)
    return options


def first_natural_holding(preds: Sequence, original: str, options: Sequence[str]) -> str | None:
    """The first option on which one of the text atoms `preds` holds and that adds no artifact."""
    return next((o for o in options if any(semantics.evaluate_text_atom(p, o) for p in preds)
                 and not adds_artifact(original, o)), None)


def remove_units(pred, text: str) -> str | None:
    """Drop every sentence or list item in which the atom matches.

    A match with no word in it (a list marker, a bracket) is markup, not content: only the
    match itself goes.
    """
    find = semantics.span_finder(pred)
    hit = find(text)
    if hit is not None and not re.search(r"\w", text[hit[0]:hit[1]]):
        return _remove_matches(find, text)
    return restructure.drop_units(text, lambda unit: find(unit) is not None)


def _remove_matches(find: Finder, text: str) -> str | None:
    for _ in range(50):
        hit = find(text)
        if hit is None:
            return tidy(text) or None
        start, end = hit
        if start == end:
            return None
        text = text[:start] + text[end:]
    return None


def tidy(text: str) -> str:
    """Collapse the spaces and blank lines a removal leaves behind."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


def first_natural(original: str, options: list[str]) -> str | None:
    """The first option that adds no artifact (the caller verifies the predicate)."""
    return next((o for o in options if not adds_artifact(original, o)), options[0])
