"""Label candidate responses with the compiled rules, in batches, for the quality gates."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from tenet.compiler import ir
from tenet.compiler.lengths import caps_length
from tenet.runtime.data import read_batches
from tenet.runtime.label.engine import Labeler


def _row(prompt: str, response: str, context: Sequence[tuple[str, str]]) -> dict:
    if not context:
        return {"prompt": prompt, "response": response}
    turns = [{"role": role, "content": text} for role, text in context]
    return {"messages": turns + [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]}


Samples = Sequence[tuple[str, str, Sequence[tuple[str, str]]]]


def vote_matrix(rules: Sequence[ir.RuleIR], samples: Samples, labeler: Labeler | None = None) -> np.ndarray:
    """Votes (samples × rules) using the column engine; empty responses abstain everywhere."""
    labeler = labeler or Labeler(rules, spans=False)
    if not samples:
        return np.zeros((0, len(rules)), dtype=np.int8)
    return np.concatenate([labeler.votes(batch) for batch in _batches(samples)])


def scope_matrix(rules: Sequence[ir.RuleIR], samples: Samples, labeler: Labeler | None = None) -> np.ndarray:
    """Where each rule applies (samples × rules, bool), by the column engine (`Labeler.scope`)."""
    labeler = labeler or Labeler(rules, spans=False)
    if not samples:
        return np.zeros((0, len(rules)), dtype=bool)
    return np.concatenate([labeler.scope(batch) for batch in _batches(samples)])


def _batches(samples: Samples):
    """Normalized batches of (prompt, response, context) samples."""
    if any(c for _, _, c in samples):
        source = [_row(p, r, c) for p, r, c in samples]
    else:  # plain rows take the vectorized Arrow path
        source = pa.table({"prompt": [p for p, _, _ in samples], "response": [r for _, r, _ in samples]})
    return read_batches(source, batch_rows=65_536)


def passes(vote: int, verdict: str) -> bool:
    """The rule is satisfied: GOOD, or no violation for an `avoid` rule."""
    return vote == ir.GOOD or (verdict == "avoid" and vote == ir.ABSTAIN)


def fails(vote: int, verdict: str) -> bool:
    """The rule is broken: BAD, or no longer GOOD for a `prefer` rule."""
    return vote == ir.BAD or (verdict == "prefer" and vote == ir.ABSTAIN)


def capped_break_length_rules(rules: Sequence[ir.RuleIR], matrix: np.ndarray, capped: np.ndarray) -> np.ndarray:
    """Votes with every GOOD of a capped answer on a length-capping rule turned BAD.

    The cap cut the answer, so its real length is unknown and at least what was generated: it
    cannot be evidence of staying within a limit.
    """
    matrix = matrix.copy()
    for j, rule in enumerate(rules):
        if caps_length(rule):
            column = matrix[:, j]
            column[capped & (column == ir.GOOD)] = ir.BAD
    return matrix
