"""Read (prompt, response) rows from JSONL, CSV, Parquet, a saved HF dataset or a Hub data set
(`hf://org/name?split=train`, from the Hugging Face cache), in batches.

Every row comes out in one normalized Arrow schema; rows that cannot be labeled are kept,
with a reason in `bad`, so nothing is dropped silently. Conversational rows (a list of
`{role, content}` messages) become context turns + the last user prompt + the last
assistant response. `readers.py` turns a source into raw batches, `normalize.py` maps their
columns into the schema and marks bad rows, `gold.py` reads ratings as labels, and
`schema.py` holds the schema, `ColumnMap` and `DataError`.
"""

from __future__ import annotations

from typing import Any, Iterator

import pyarrow as pa

from tenet.runtime.data.gold import is_likert, unreadable_gold_rows
from tenet.runtime.data.normalize import normalize
from tenet.runtime.data.readers import raw_batches
from tenet.runtime.data.schema import (BAD_REASONS, DEFAULT_BATCH_ROWS, DEFAULT_MAX_CHARS, SCHEMA, ColumnMap,
                                       DataError)

__all__ = ["BAD_REASONS", "DEFAULT_BATCH_ROWS", "SCHEMA", "ColumnMap", "DataError", "gold_scale", "normalize",
           "read_batches", "unreadable_gold_rows"]


def read_batches(source: Any, columns: ColumnMap = ColumnMap(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[pa.Table]:
    """Yield normalized batches (schema `SCHEMA`) from a path, an Arrow table or a list of dicts.

    Raises:
        DataError: When the source cannot be opened or lacks the needed columns.
    """
    offset = 0
    # The rating scale is one fact about the whole column, not about each batch.
    likert = gold_scale(source, columns)
    for raw in raw_batches(source, batch_rows, columns):
        # Later batches with missing fields are bad rows, not a bad file: check columns once.
        table = normalize(raw, columns, offset, max_chars, check_columns=offset == 0, likert=likert)
        offset += table.num_rows
        yield table


def gold_scale(source: Any, columns: ColumnMap) -> bool:
    """Whether the gold column's numbers are a 1-5 scale (`is_likert`), read over the whole source."""
    return is_likert(_gold_values(source, columns)) if columns.gold else False


def _gold_values(source: Any, columns: ColumnMap) -> list[Any]:
    """Every value of the gold column, read once before labeling to fix the rating scale."""
    values: list[Any] = []
    column = columns.gold
    try:
        for raw in raw_batches(source, DEFAULT_BATCH_ROWS, columns):
            if isinstance(raw, pa.Table):
                if column in raw.column_names:
                    values.extend(raw.column(column).to_pylist())
            else:
                values.extend(r.get(column) for r in raw if isinstance(r, dict))
    except DataError:
        return []  # the real read reports it
    return values
