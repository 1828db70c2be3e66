"""The one row schema every reader's rows come out in, the column mapping, and the data error."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from tenet.compiler.errors import TenetError

BAD_REASONS = ("missing_field", "non_text", "empty", "oversized", "malformed_row", "bad_messages",
               "invalid_text")
TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema([
    ("row", pa.int64()),
    ("prompt", pa.string()),
    ("response", pa.string()),
    ("context", pa.list_(TURN)),
    ("gold", pa.int8()),
    ("bad", pa.string()),
])
# A normalized batch's schema metadata under this key counts its rows whose gold value was given
# but is no rating (`unreadable_gold`); their gold is -1 like a missing one.
GOLD_UNREADABLE_KEY = b"tenet.gold_unreadable"
DEFAULT_BATCH_ROWS = 65_536
DEFAULT_MAX_CHARS = 200_000


class DataError(TenetError):
    """The data cannot be read at all (missing file, unknown format, missing columns)."""


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold the prompt, response, messages and gold label."""

    prompt: str = "prompt"
    response: str = "response"
    messages: str = "messages"
    gold: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> "ColumnMap":
        """Parse `prompt=question,response=answer,gold=rating` into a map."""
        if not spec:
            return cls()
        fields: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in ("prompt", "response", "messages", "gold"):
                raise DataError(f"bad column mapping {part!r}; write e.g. prompt=question,response=answer")
            fields[key.strip()] = value.strip()
        return cls(**fields)
