"""`is json` at run time: a cheap RE2 prefilter, then the reference parser; wrap or unwrap the answer."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenet.compiler import ir
from tenet.compiler.predicates.is_json import is_json
from tenet.runtime.predicates.base import RuntimeKind

_JSON_START = "^[ \\t\\n\\r\\f\\v]*[\\[{]"


def column(pred: ir.JsonPred, cols, score=None) -> pa.Array:
    """Only rows that open with `[` or `{` are parsed, by the reference `is_json`."""
    candidates = pc.match_substring_regex(cols.array(pred.subject), _JSON_START).to_numpy(zero_copy_only=False)
    values = np.zeros(len(candidates), dtype=bool)
    texts = cols.texts(pred.subject) if candidates.any() else []
    for i in np.flatnonzero(candidates):
        values[i] = is_json(texts[i])
    return pa.array(values, pa.bool_())


def edit(pred: ir.JsonPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    """Wrap the answer as `{"response": ...}`, or turn a document's strings into prose."""
    return json.dumps({"response": text}, ensure_ascii=False) if want else _unwrap_json(text)


def _unwrap_json(text: str) -> str | None:
    """The string values of a JSON document, as prose."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    strings = list(_strings(value))
    return " ".join(s.strip() for s in strings if s.strip()) or None


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


KIND = RuntimeKind(name="json", column=column, edit=edit)
