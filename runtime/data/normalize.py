"""One raw batch into the normalized schema: columns mapped, conversations split, bad rows marked."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenet.runtime.data.gold import gold_column, schema_counting
from tenet.runtime.data.readers import Malformed
from tenet.runtime.data.schema import SCHEMA, TURN, ColumnMap, DataError


def normalize(raw: pa.Table | list[Any], columns: ColumnMap, offset: int, max_chars: int,
              check_columns: bool = True, likert: bool | None = None) -> pa.Table:
    """Turn one raw batch into the normalized schema, marking bad rows with a reason."""
    if isinstance(raw, pa.Table) and _is_plain_text(raw, columns):
        return _normalize_plain_arrow(raw, columns, offset, max_chars, likert)
    rows = raw.to_pylist() if isinstance(raw, pa.Table) else raw
    if check_columns:
        # Lines a file reader could not parse are bad rows; only an in-memory list of
        # non-objects (e.g. plain strings) is not data at all.
        if rows and not any(isinstance(r, (dict, Malformed)) for r in rows):
            raise DataError("rows are not objects with named fields")
        _require_columns(rows, columns)
    return _normalize_rows(rows, columns, offset, max_chars, likert)


def _is_plain_text(table: pa.Table, columns: ColumnMap) -> bool:
    names = table.column_names
    if columns.prompt not in names or columns.response not in names:
        if columns.messages not in names:
            raise DataError(_missing_message(names, columns))
        return False
    return all(pa.types.is_string(table.schema.field(c).type) or pa.types.is_large_string(table.schema.field(c).type)
               for c in (columns.prompt, columns.response))


def _missing_message(names: Iterable[str], columns: ColumnMap) -> str:
    return (f"no `{columns.prompt}`/`{columns.response}` columns and no `{columns.messages}` column; "
            f"found: {', '.join(names) or 'none'}. Map them with --columns prompt=...,response=...")


def _require_columns(rows: list[Any], columns: ColumnMap) -> None:
    seen: set[str] = set()
    for row in rows[:1000]:
        if isinstance(row, dict):
            seen.update(row)
    if seen and not ({columns.prompt, columns.response} & seen or columns.messages in seen):
        raise DataError(_missing_message(sorted(seen), columns))


def _normalize_plain_arrow(table: pa.Table, columns: ColumnMap, offset: int, max_chars: int,
                           likert: bool | None = None) -> pa.Table:
    prompt = table.column(columns.prompt).cast(pa.string())
    response = table.column(columns.response).cast(pa.string())
    missing = pc.or_(pc.is_null(prompt), pc.is_null(response))
    prompt = pc.fill_null(prompt, "")
    response = pc.fill_null(response, "")
    empty = pc.equal(pc.utf8_length(pc.utf8_trim(response, characters=" \t\n\r\f\v")), 0)
    oversized = pc.greater(pc.add(pc.utf8_length(prompt), pc.utf8_length(response)), max_chars)
    bad = pc.if_else(missing, "missing_field",
                     pc.if_else(empty, "empty", pc.if_else(oversized, "oversized", pa.scalar(None, pa.string()))))
    n = table.num_rows
    has_gold = columns.gold is not None and columns.gold in table.column_names
    gold_values = table.column(columns.gold).to_pylist() if has_gold else []
    gold = gold_column(gold_values, likert) if has_gold else pa.array(np.full(n, -1, np.int8))
    return pa.table({
        "row": pa.array(np.arange(offset, offset + n, dtype=np.int64)),
        "prompt": prompt, "response": response,
        "context": pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], TURN)),
        "gold": gold, "bad": bad,
    }, schema=schema_counting(gold_values, gold, likert) if has_gold else SCHEMA)


def _normalize_rows(rows: list[Any], columns: ColumnMap, offset: int, max_chars: int,
                    likert: bool | None = None) -> pa.Table:
    prompts, responses, contexts, golds, bads = [], [], [], [], []
    for row in rows:
        prompt, response, context, bad = _normalize_row(row, columns, max_chars)
        prompts.append(prompt)
        responses.append(response)
        contexts.append(context)
        bads.append(bad)
        golds.append(row.get(columns.gold) if columns.gold and isinstance(row, dict) else None)
    n = len(rows)
    gold = gold_column(golds, likert)
    return pa.table({
        "row": pa.array(range(offset, offset + n), pa.int64()),
        "prompt": pa.array(prompts, pa.string()), "response": pa.array(responses, pa.string()),
        "context": pa.array(contexts, pa.list_(TURN)), "gold": gold,
        "bad": pa.array(bads, pa.string()),
    }, schema=schema_counting(golds, gold, likert) if columns.gold else SCHEMA)


def _normalize_row(row: Any, columns: ColumnMap, max_chars: int) -> tuple[str, str, list, str | None]:
    if isinstance(row, Malformed):
        return "", "", [], row.reason
    if not isinstance(row, dict):
        return "", "", [], "malformed_row"
    if columns.messages in row and not (columns.prompt in row and columns.response in row):
        parsed = _split_messages(row.get(columns.messages))
        if parsed is None:
            return "", "", [], "bad_messages"
        prompt, response, context = parsed
    else:
        prompt, response, context = row.get(columns.prompt), row.get(columns.response), []
        if isinstance(prompt, list):  # TRL conversational prompt: a list of messages
            parsed = _split_messages(prompt + [{"role": "assistant", "content": response}])
            if parsed is None:
                return "", "", [], "bad_messages"
            prompt, response, context = parsed
    if prompt is None or response is None:
        return (prompt if isinstance(prompt, str) else "", response if isinstance(response, str) else "",
                [], "missing_field")
    if not isinstance(prompt, str) or not isinstance(response, str):
        return "", "", [], "non_text"
    if not _encodable(prompt) or not _encodable(response) or not all(_encodable(t["content"]) for t in context):
        return "", "", [], "invalid_text"
    if not response.strip(" \t\n\r\f\v"):
        return prompt, response, context, "empty"
    if len(prompt) + len(response) + sum(len(t["content"]) for t in context) > max_chars:
        return prompt, response, context, "oversized"
    return prompt, response, context, None


def _split_messages(messages: Any) -> tuple[str, str, list[dict]] | None:
    """Split a message list into (last user prompt, last assistant response, earlier turns)."""
    if not isinstance(messages, list) or not messages:
        return None
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
               for m in messages):
        return None
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last_assistant is None:
        return None
    last_user = max((i for i, m in enumerate(messages[:last_assistant]) if m["role"] == "user"), default=None)
    if last_user is None:
        return None
    context = [{"role": m["role"], "content": m["content"]} for m in messages[:last_user]
               if m["role"] in ("user", "assistant")]
    return messages[last_user]["content"], messages[last_assistant]["content"], context


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
