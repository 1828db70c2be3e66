"""Literal containment, prefix and suffix at run time: Arrow string kernels, add or strip the text."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc

from tenet.compiler import ir
from tenet.compiler.predicates.base import STRIP_CHARS
from tenet.runtime.predicates.base import RuntimeKind
from tenet.runtime.textedit import edits


def column(pred: ir.TextPred, cols, score=None) -> pa.Array:
    """Substring, or prefix / suffix after trimming the same whitespace as the reference."""
    arr = cols.array(pred.subject)
    if pred.op == "contains":
        return pc.match_substring(arr, pred.text)
    if pred.op == "starts_with":
        return pc.starts_with(pc.utf8_ltrim(arr, characters=STRIP_CHARS), pred.text)
    return pc.ends_with(pc.utf8_rtrim(arr, characters=STRIP_CHARS), pred.text)


def edit(pred: ir.TextPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """Put the text first or last, or take every occurrence out."""
    needle = pred.text
    if pred.op == "starts_with":
        return f"{needle} {text.lstrip()}" if want else _strip_prefix(text, needle)
    if want:  # contains or ends_with: append, in the sentence or on a line of its own
        return edits.first_natural(text, [f"{text.rstrip()} {needle}", f"{text.rstrip()}\n{needle}"])
    if pred.op == "contains":
        return edits.tidy(text.replace(needle, "")) or None
    return _strip_suffix(text, needle)


def _strip_prefix(text: str, needle: str) -> str | None:
    stripped = text.lstrip(STRIP_CHARS)
    while stripped.startswith(needle):
        stripped = stripped[len(needle):].lstrip(STRIP_CHARS)
    return stripped or None


def _strip_suffix(text: str, needle: str) -> str | None:
    stripped = text.rstrip(STRIP_CHARS)
    while stripped.endswith(needle):
        stripped = stripped[: -len(needle)].rstrip(STRIP_CHARS)
    if stripped and needle[-1:] in edits.SENTENCE_MARKS and stripped[-1:] not in edits.SENTENCE_MARKS:
        # The needle closed the sentence ("!"): close it with another mark instead.
        stripped += "." if needle[-1] != "." else "!"
    return stripped or None


KIND = RuntimeKind(name="text", column=column, edit=edit)
