"""Counts at run time: per-row counts in Arrow, and length edits by whole sentences or items."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenet.compiler import ir, semantics
from tenet.compiler.predicates.count import COUNT_PATTERNS, compare_count, count_units
from tenet.runtime.predicates.base import RuntimeKind
from tenet.runtime.textedit import restructure

HEADROOM = 0.75  # a length repair aims at three quarters of the limit when a cut allows
# Line-anchored units are counted line by line: Arrow's count_substring_regex would
# re-anchor `^` at every position where it resumes searching.
_PER_LINE = {"lines": "^[ \\t]*[^ \\t\\r\\n]", "bullets": "^[ \\t]*[-*\u2022][ \\t]+[^ \\t\\r\\n]"}


def count_column(unit: str, arr: pa.Array) -> np.ndarray:
    """Per-row counts of a unit, identical to `semantics.count_units`."""
    if unit == "characters":
        return pc.utf8_length(arr).to_numpy(zero_copy_only=False)
    if unit in _PER_LINE:
        lines = pc.split_pattern(arr, "\n")
        hits = pc.match_substring_regex(pc.list_flatten(lines), _PER_LINE[unit]).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(lines).to_numpy(zero_copy_only=False)
        return np.bincount(parents[hits], minlength=len(arr))
    if unit == "words" and arr.null_count == 0 and pa.types.is_string(arr.type):
        return _word_counts(arr)
    return pc.count_substring_regex(arr, COUNT_PATTERNS[unit]).to_numpy(zero_copy_only=False)


def _word_counts(arr: pa.Array) -> np.ndarray:
    """Runs of non-whitespace per row (`semantics.count_units(text, "words")`), from the UTF-8 bytes.

    A word starts at a non-whitespace byte that opens its row or follows whitespace; the
    separators are ASCII, so no byte inside a multi-byte character is one.
    """
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    if data_buffer is None or offsets[-1] == offsets[0]:
        return np.zeros(len(arr), dtype=np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
    text = (data != 32) & ((data < 9) | (data > 13))  # not ` \t\n\v\f\r`, `WORD_PATTERN`'s separators
    bounds = offsets - offsets[0]
    starts = np.empty_like(text)
    starts[0] = text[0]
    np.greater(text[1:], text[:-1], out=starts[1:])  # text after a separator
    nonempty = bounds[:-1] < bounds[1:]
    firsts = bounds[:-1][nonempty]  # each non-empty row's first byte opens a word if it is text
    starts[firsts] = text[firsts]
    counts = np.zeros(len(arr), dtype=np.int64)
    counts[nonempty] = np.add.reduceat(starts, firsts, dtype=np.int64)  # rows in order, none empty
    return counts


def column(pred: ir.CountPred, cols, score=None) -> pa.Array:
    """Count every row, then apply the reference comparison to the whole array."""
    n = count_column(pred.unit, cols.array(pred.subject))
    return pa.array(compare_count(n, pred.op, pred.value, pred.high), pa.bool_())


def edit(pred: ir.CountPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """Change the count by whole units: cut sentences or items, or restructure a list.

    Only the model writes more: an answer is never padded, so a count that must grow (more
    words, more sentences) gives None here; `sample` pairs the model's longer answers.
    `for_chosen`: the edit makes a rule pass, so a cut keeps headroom below the limit.
    """
    fits = lambda t: semantics.evaluate_text_atom(pred, t) is want  # noqa: E731
    if pred.unit == "bullets":
        # A lead-in line first; every sentence an item only when the count needs it.
        options = (restructure.to_bullets(text), restructure.to_bullets(text, lead_in=False),
                   restructure.from_bullets(text))
        return next((o for o in options if o is not None and fits(o)), None)
    limit = _upper_limit(pred, want) if for_chosen else None
    if limit is not None:
        shorter = _cut_with_headroom(pred, text, fits, limit)
    else:
        shorter = restructure.shorten(text, fits, whole_lists=not counts_items(pred))
    if shorter is not None or pred.unit != "lines":
        return shorter
    # Lines without a cut: one sentence per line for more, a list run into its lead-in for fewer.
    options = (restructure.sentences_to_lines(text), restructure.list_to_prose(text))
    return next((o for o in options if o is not None and fits(o)), None)


def counts_items(pred: ir.CountPred) -> bool:
    """`pred` counts lines or list items: a list is what a cut must shorten to meet it."""
    return pred.unit in ("lines", "bullets")


def _cut_with_headroom(pred: ir.CountPred, text: str, fits, limit: int) -> str | None:
    # Cut with headroom below the limit: a model imitates the lengths it is shown, and
    # answers all just under the limit teach it to land on either side of it.
    roomy = int(limit * HEADROOM)
    # An answer kept within a length limit must still say something: two sentences or items.
    least = 1 if pred.unit == "lines" else 2
    for accept in (lambda t: fits(t) and count_units(t, pred.unit) <= roomy, fits):
        shorter = restructure.shorten(text, accept, min_units=least, whole_lists=not counts_items(pred))
        if shorter is not None:
            return shorter
    return None


def _upper_limit(pred: ir.CountPred, want: bool) -> int | None:
    """The largest count for which `pred` evaluates to `want`, when that is an upper limit."""
    if want and pred.op in ("at_most", "fewer_than"):
        return pred.value - (pred.op == "fewer_than")
    if not want and pred.op in ("at_least", "more_than"):
        return pred.value - (pred.op == "at_least")
    return None


KIND = RuntimeKind(name="count", column=column, edit=edit)
