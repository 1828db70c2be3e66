"""Column-at-a-time evaluation of predicates over one batch (Arrow compute, RE2 regexes).

Every kernel returns a boolean Arrow array in which null means "unknown" (a model score
with no verdict), combined with Kleene logic, exactly like `tenet.compiler.semantics.evaluate`.
Patterns RE2 cannot run identically go to Python `re` (see `python_search`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenet.compiler import ir, predicates, semantics
from tenet.compiler.walk import fold
from tenet.runtime import predicates as runtime_predicates
from tenet.runtime.label import bounded
from tenet.runtime.label.bounded import bounded_search
from tenet.runtime.label.re2 import re2_pattern

# RE2 folds these two letters into ASCII 'k' and 's' under (?i); Python's ASCII mode does not.
_FOLD_SPECIAL = "[\u212a\u017f]"

ScoreBatch = Callable[[ir.ScorePred, list[str]], list["float | None"]]


class Columns:
    """The subject texts of one normalized batch, built on first use.

    Bad rows (oversized, malformed, ...) abstain whatever their text says, so their texts
    are blanked here: a 10 MB row must not cost a regex search. `regex_stuck` counts, per
    fallback pattern, the rows that got no verdict so far in the run (see `_search`).
    """

    def __init__(self, table: pa.Table, regex_stuck: dict[tuple[str, int], int] | None = None):
        self.table = _blank_bad_rows(table)
        self.regex_stuck = regex_stuck if regex_stuck is not None else {}
        self._arrays: dict[str, pa.Array] = {}
        self._lists: dict[str, list[str]] = {}
        self._special: dict[str, np.ndarray] = {}
        self.atom_hits: dict[int, np.ndarray] = {}  # id(atom) -> where it held, for provenance
        self.timed_out: dict[tuple[str, str], np.ndarray] = {}  # fallback searches that overran
        contexts = table.column("context")
        self.has_context = bool(pc.max(pc.list_value_length(contexts)).as_py() or 0)

    def array(self, subject: str) -> pa.Array:
        """The subject as an Arrow string array."""
        if subject not in self._arrays:
            if subject in ("prompt", "response") or not self.has_context:
                base = "response" if subject in ("response", "any_response") else "prompt"
                if subject == "conversation":
                    arr = pc.binary_join_element_wise(self.array("prompt"), self.array("response"), "\n")
                else:
                    arr = self.table.column(base).combine_chunks()
            else:
                arr = pa.array(self._joined(subject), pa.string())
            self._arrays[subject] = arr
        return self._arrays[subject]

    def texts(self, subject: str) -> list[str]:
        """The subject as Python strings."""
        if subject not in self._lists:
            self._lists[subject] = self.array(subject).to_pylist()
        return self._lists[subject]

    def fold_special(self, subject: str) -> np.ndarray:
        """Rows whose text holds a letter RE2 and Python fold differently under (?i)."""
        if subject not in self._special:
            arr = self.array(subject)
            if pc.all(pc.string_is_ascii(arr)).as_py() is not False:  # the usual batch: no search needed
                self._special[subject] = np.zeros(len(arr), dtype=bool)
            else:
                self._special[subject] = pc.match_substring_regex(arr, _FOLD_SPECIAL).to_numpy(zero_copy_only=False)
        return self._special[subject]

    def search(self, subject: str, pattern: str, flags: str, case_insensitive: bool, engine: str,
               trusted: bool = False) -> pa.Array:
        """Regex search over a subject column (see `search_column`); kinds' kernels call this."""
        return search_column(self, subject, pattern, flags, case_insensitive, engine, trusted)

    def _joined(self, subject: str) -> list[str]:
        prompts = self.table.column("prompt").to_pylist()
        responses = self.table.column("response").to_pylist()
        contexts = self.table.column("context").to_pylist()
        return [semantics.subject_text(semantics.Sample(p, r, tuple((t["role"], t["content"]) for t in c)), subject)
                for p, r, c in zip(prompts, responses, contexts)]


def _blank_bad_rows(table: pa.Table) -> pa.Table:
    """The batch with empty texts (and no context) on rows that have a bad-row reason."""
    bad = pc.is_valid(table.column("bad"))
    if not pc.any(bad).as_py():
        return table
    for name in ("prompt", "response", "context"):
        column = table.column(name)
        empty = pa.scalar([] if name == "context" else "", column.type)
        table = table.set_column(table.schema.get_field_index(name), name, pc.if_else(bad, empty, column))
    return table


def python_search(pattern, texts: Sequence[str]) -> list[bool]:
    """Search with a compiled Python pattern, row by row (trusted, linear-time patterns)."""
    search = pattern.search
    return [search(t) is not None for t in texts]


def search_column(cols: Columns, subject: str, pattern: str, flags: str, case_insensitive: bool,
                  engine: str, trusted: bool = False) -> pa.Array:
    """Regex search over a subject column with RE2, or Python where RE2 would differ.

    Policy-written patterns on Python `re` run under a time bound; `trusted` built-in
    patterns (keywords, PII, refusals) cannot backtrack badly and run in-process.
    """
    compiled = semantics.compile_user_regex(pattern, flags)
    result = None
    if engine == "re2":
        try:
            translated = re2_pattern(pattern, flags)
            if translated is not None:
                result = pc.match_substring_regex(cols.array(subject), translated)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            result = None  # RE2 rejected it: run the reference engine instead
    if result is not None:
        if case_insensitive:
            special = cols.fold_special(subject)
            if special.any():
                values = result.to_numpy(zero_copy_only=False).copy()
                texts = cols.texts(subject)
                rows = np.flatnonzero(special)
                found = _search(cols, compiled, [texts[i] for i in rows], trusted)
                values[rows] = [bool(f) for f in found]
                _note_timeouts(cols, subject, pattern, rows, found)
                result = pa.array(values, pa.bool_())
        return result
    texts = cols.texts(subject)
    found = _search(cols, compiled, texts, trusted)
    _note_timeouts(cols, subject, pattern, np.arange(len(texts)), found)
    return pa.array([bool(f) for f in found], pa.bool_())


def _search(cols: Columns, compiled, texts: Sequence[str], trusted: bool) -> list[bool | None]:
    if trusted:
        return python_search(compiled, texts)
    key = (compiled.pattern, compiled.flags)
    left = bounded.MAX_STUCK_ROWS - cols.regex_stuck.get(key, 0)
    if left <= 0:
        # Given up earlier in the run: a hostile pattern is paid for once, not once a batch.
        return [None] * len(texts)
    found = bounded_search(compiled, texts, max_stuck=left)
    cols.regex_stuck[key] = cols.regex_stuck.get(key, 0) + sum(f is None for f in found)
    return found


def _note_timeouts(cols: Columns, subject: str, pattern: str, rows: np.ndarray, found: list) -> None:
    stuck = [i for i, f in zip(rows, found) if f is None]
    if stuck:
        mask = cols.timed_out.get((subject, pattern), np.zeros(cols.table.num_rows, dtype=bool))
        mask[stuck] = True
        cols.timed_out[subject, pattern] = mask


def evaluate(pred: ir.PredIR, cols: Columns, score: ScoreBatch | None) -> pa.Array:
    """Evaluate a predicate over a batch; null = unknown."""
    return fold(pred, lambda atom: _atom(atom, cols, score), _KLEENE)


# The connectives over columns, in Kleene logic (null = unknown), as `semantics` has them.
_KLEENE = {
    "and": lambda pred, left, right: pc.and_kleene(left(), right()),
    "or": lambda pred, left, right: pc.or_kleene(left(), right()),
    "not": lambda pred, operand: pc.invert(operand()),
}


def _atom(pred: ir.PredIR, cols: Columns, score: ScoreBatch | None) -> pa.Array:
    """One atom over a batch: a model score's kernel, or a text atom."""
    if not predicates.of(pred).is_text:
        return runtime_predicates.of(pred).column(pred, cols, score)
    return text_atom(pred, cols)


def text_atom(pred: ir.PredIR, cols: Columns) -> pa.Array:
    """Evaluate one text atom over a batch (its kind's column kernel), remembering where it held."""
    result = runtime_predicates.of(pred).column(pred, cols, None)
    cols.atom_hits[id(pred)] = result.to_numpy(zero_copy_only=False)
    return result


# --- provenance spans, column at a time ----------------------------------------------


def _span_pattern(pred: ir.PredIR) -> tuple[str, bool] | None:
    """An RE2 pattern whose `tenet_hit` group is exactly the span Python reports, and
    whether it is case-insensitive; None when only Python can locate the hit."""
    spec = runtime_predicates.of(pred).span_pattern
    found = spec(pred) if spec is not None else None
    if found is None:
        return None
    body, flags = found
    group = f"(?P<tenet_hit>{body})"
    return (f"(?{flags}){group}" if flags else group), "i" in flags


def spans_for_rows(pred: ir.PredIR, cols: Columns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Character spans (start, end arrays; -1 where it did not match) of an atom's first match on `rows`."""
    starts = np.full(len(rows), -1, dtype=np.int64)
    ends = np.full(len(rows), -1, dtype=np.int64)
    spec = _span_pattern(pred)
    python_rows = np.ones(len(rows), dtype=bool)
    if spec is not None and len(rows):
        pattern, case_insensitive = spec
        arr = cols.array(pred.subject).take(pa.array(rows))
        try:
            found = pc.find_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)
            hits = pc.struct_field(pc.extract_regex(arr, pattern), "tenet_hit")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            found = None
        if found is not None:
            lengths = pc.fill_null(pc.binary_length(hits), 0).to_numpy(zero_copy_only=False)
            # These span kernels match bytes, not characters: non-ASCII rows go to Python.
            python_rows = ~pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
            if case_insensitive:
                python_rows |= cols.fold_special(pred.subject)[rows]
            matched = ~python_rows & (found >= 0)
            starts[matched] = found[matched]
            ends[matched] = found[matched] + lengths[matched]
    if python_rows.any():
        texts, find = cols.texts(pred.subject), semantics.span_finder(pred)
        for k in np.flatnonzero(python_rows):
            hit = find(texts[rows[k]])
            if hit is not None:
                starts[k], ends[k] = hit
    return starts, ends
