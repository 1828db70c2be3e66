"""`S is json`: the whole text (outer whitespace ignored) is a JSON object or array."""

from __future__ import annotations

import json

from tenet.compiler import ast, ir
from tenet.compiler.predicates.base import STRIP_CHARS, subject_only


def is_json(text: str) -> bool:
    """True when the whole text (outer whitespace ignored) is a JSON object or array."""
    stripped = text.strip(STRIP_CHARS)
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        return isinstance(json.loads(stripped), (dict, list))
    except (ValueError, RecursionError):
        return False


KIND = subject_only("json", ast.IsJson, ir.JsonPred, "is_json", "is json",
                    holds=lambda pred, text: is_json(text))
