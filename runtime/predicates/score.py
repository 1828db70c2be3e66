"""Model-backed scores at run time: a batched scorer gives values, the kind's `decide` compares them."""

from __future__ import annotations

import pyarrow as pa

from tenet.compiler import ir
from tenet.compiler.predicates.score import compare_score
from tenet.runtime.predicates.base import RuntimeKind


def column(pred: ir.ScorePred, cols, score=None) -> pa.Array:
    """Null (unknown) wherever the scorer has no value, and everywhere when there is no scorer."""
    if score is None:
        return pa.nulls(cols.table.num_rows, pa.bool_())
    values = score(pred, cols.texts(pred.subject))
    return pa.array([None if v is None else compare_score(v, pred.op, pred.threshold) for v in values],
                    pa.bool_())


# No edit: a response edit cannot be verified against a score without the model.
KIND = RuntimeKind(name="score", column=column)
