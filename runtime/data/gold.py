"""Gold labels: a human rating (thumbs, stars, 0/1, a comment) read as GOOD, BAD or unknown."""

from __future__ import annotations

import math
import re
from typing import Any

import pyarrow as pa

from tenet.runtime.data.schema import GOLD_UNREADABLE_KEY, SCHEMA

_POSITIVE = re.compile(r"(?i)\b(great|good|helpful|perfect|thanks|love|excellent|correct)\b")
_NEGATIVE = re.compile(r"(?i)\b(bad|wrong|useless|rude|unhelpful|terrible|incorrect|awful)\b")


def gold_label(value: Any, likert: bool = False) -> int:
    """Map a human rating to GOOD (1), BAD (0) or unknown (-1).

    Thumbs (`up`/`down`, 👍/👎), booleans, 0/1 (or, with `likert`, 1–5 where 4–5 are good,
    1–2 bad and 3 unknown), and free-text comments by their positive or negative words.
    """
    if value is None:
        return -1
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        if likert and 1 <= value <= 5:
            return 1 if value >= 4 else 0 if value <= 2 else -1
        if value in (0, 1):
            return int(value)
        if 1 <= value <= 5:
            return 1 if value >= 4 else 0 if value <= 2 else -1
        return -1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("up", "good", "yes", "true", "thumbs_up", "👍", "1", "chosen"):
            return 1
        if word in ("down", "bad", "no", "false", "thumbs_down", "👎", "0", "rejected"):
            return 0
        try:
            return gold_label(float(word), likert)
        except ValueError:
            pass
        positive, negative = bool(_POSITIVE.search(word)), bool(_NEGATIVE.search(word))
        return 1 if positive and not negative else 0 if negative and not positive else -1
    return -1


def unreadable_gold(value: Any, likert: bool = False) -> bool:
    """True when a gold value is given but is no rating (`maybe`, 7, a list).

    Missing and blank values and a neutral 3 are no label either, but not unreadable.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return gold_label(value, likert) == -1 and _numeric(value) != 3


def unreadable_gold_rows(batch: pa.Table) -> int:
    """How many rows of a normalized batch had an unreadable gold value (see `GOLD_UNREADABLE_KEY`)."""
    return int((batch.schema.metadata or {}).get(GOLD_UNREADABLE_KEY, b"0"))


def schema_counting(values: list[Any], gold: pa.Array, likert: bool | None) -> pa.Schema:
    """`SCHEMA`, with the count of unreadable gold values among `values` as metadata when there are any."""
    likert = is_likert(values) if likert is None else likert
    unknown = gold.to_numpy(zero_copy_only=False) == -1
    count = sum(1 for value, no_label in zip(values, unknown) if no_label and unreadable_gold(value, likert))
    return SCHEMA.with_metadata({GOLD_UNREADABLE_KEY: str(count).encode()}) if count else SCHEMA


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def is_likert(values: list[Any]) -> bool:
    """True when numeric ratings go beyond 0/1, so 1 means the worst score, not thumbs up."""
    numbers = [n for n in map(_numeric, values) if n is not None]
    return any(1 < n <= 5 for n in numbers)


def gold_column(values: list[Any], likert: bool | None = None) -> pa.Array:
    likert = is_likert(values) if likert is None else likert
    return pa.array([gold_label(v, likert) for v in values], pa.int8())
