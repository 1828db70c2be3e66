"""Build a short string that a regex matches, from Python's own parse of the pattern.

Used by the `perturb` strategy to make a `matches` condition hold, and by the temptation
prompts to ask about what a `when prompt matches` scope names. It covers literals,
classes, categories, alternation (first branch), groups and repeats (minimum count, at least
one); the caller verifies the result with the real pattern, so an unsupported construct
only means no pair, never a wrong one.
"""

from __future__ import annotations

import functools
import re

try:
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

_CATEGORY = {
    C.CATEGORY_DIGIT: "1", C.CATEGORY_NOT_DIGIT: "a", C.CATEGORY_SPACE: " ",
    C.CATEGORY_NOT_SPACE: "a", C.CATEGORY_WORD: "a", C.CATEGORY_NOT_WORD: " ",
}
_CANDIDATES = "aeZ1 -.x*,:!?"


@functools.lru_cache(maxsize=1024)
def sample_match(pattern: str, flags: str = "") -> str | None:
    """Return a string the pattern (in ASCII mode) matches, or None if none is found."""
    bits = re.ASCII | (re.IGNORECASE if "i" in flags else 0) | (re.MULTILINE if "m" in flags else 0)
    try:
        parsed = P.parse(pattern, bits)
        text = _emit(parsed, {})
    except (re.error, RecursionError, ValueError, KeyError, IndexError):
        return None
    return text if re.compile(pattern, bits).search(text) else None


def _emit(parsed, groups: dict[int, str]) -> str:
    out = []
    for op, arg in parsed:
        out.append(_emit_op(op, arg, groups))
    return "".join(out)


def _emit_op(op, arg, groups: dict[int, str]) -> str:
    if op is C.LITERAL:
        return chr(arg)
    if op is C.NOT_LITERAL:
        return next(ch for ch in _CANDIDATES if ord(ch) != arg)
    if op is C.ANY:
        return "a"
    if op is C.IN:
        return _emit_class(arg)
    if op is C.BRANCH:
        return _emit(arg[1][0], groups)
    if op is C.SUBPATTERN:
        group, _, _, body = arg
        text = _emit(body, groups)
        if group is not None:
            groups[group] = text
        return text
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        low, _, body = arg
        return _emit(body, groups) * max(1, low)
    if op is C.GROUPREF:
        return groups.get(arg, "")
    if op is getattr(C, "ATOMIC_GROUP", None):
        return _emit(arg, groups)
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return ""  # anchors and lookarounds add no characters; the caller verifies
    raise ValueError(f"unsupported regex construct {op}")


def _emit_class(items) -> str:
    negate = any(op is C.NEGATE for op, _ in items)
    allowed = [op_arg for op_arg in items if op_arg[0] is not C.NEGATE]
    if not negate:
        op, arg = allowed[0]
        if op is C.LITERAL:
            return chr(arg)
        if op is C.RANGE:
            return chr(arg[0])
        if op is C.CATEGORY:
            return _CATEGORY.get(arg, "a")
        raise ValueError("unsupported class item")
    for ch in _CANDIDATES:
        if not any(_class_item_matches(op, arg, ch) for op, arg in allowed):
            return ch
    raise ValueError("no candidate outside the negated class")


def _class_item_matches(op, arg, ch: str) -> bool:
    if op is C.LITERAL:
        return ord(ch) == arg
    if op is C.RANGE:
        return arg[0] <= ord(ch) <= arg[1]
    if op is C.CATEGORY:
        probe = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
                 C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}[arg]
        return re.fullmatch(probe, ch, re.ASCII) is not None
    return False
