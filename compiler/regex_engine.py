"""Which engine runs a policy regex: RE2, when it gives the same matches as Python `re`, else `re`.

Pure and dependency-free, so the compiler's regex check and the `matches` predicate kind
both ask it without importing each other.
"""

from __future__ import annotations

import re
from typing import Iterator

try:  # Python 3.11+ keeps the regex parser here; it is what `re` itself uses.
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_RE2_MISSING = {
    sre_constants.ASSERT: "lookahead/lookbehind",
    sre_constants.ASSERT_NOT: "negative lookahead/lookbehind",
    sre_constants.GROUPREF: "backreferences",
    sre_constants.GROUPREF_EXISTS: "conditional groups",
    getattr(sre_constants, "ATOMIC_GROUP", None): "atomic groups",
    getattr(sre_constants, "POSSESSIVE_REPEAT", None): "possessive quantifiers",
}


def regex_engine(pattern: str, flags: str) -> tuple[str, str]:
    """Return ("re2", "") if RE2 runs the pattern with identical results, else ("python", why)."""
    if "i" in flags and any(ord(ch) > 127 for ch in pattern):
        return "python", "case-insensitive non-ASCII letters"
    try:
        parsed = sre_parse.parse(pattern, re.ASCII)
    except (re.error, RecursionError, OverflowError, ValueError):
        return "python", "syntax RE2 does not share"
    for op in _walk_ops(parsed):
        if op in _RE2_MISSING and op is not None:
            return "python", _RE2_MISSING[op]
    if "x" in flags:
        return "python", "verbose mode (`x`)"
    for marker, what in (("\\Z", "`\\Z`"), ("(?", "inline flags or special groups"),
                         ("[:", "POSIX-style classes"), ("{,", "`{,n}` repeats"),
                         ("\\N{", "named characters"), ("\\u", "`\\u` escapes"),
                         ("\\U", "`\\U` escapes")):
        if marker in pattern and not _only_plain_groups(pattern, marker):
            return "python", what
    return "re2", ""


def _only_plain_groups(pattern: str, marker: str) -> bool:
    """`(?:` and `(?P<` groups are the same in RE2; other `(?` forms are not."""
    if marker != "(?":
        return False
    rest = pattern.replace("(?:", "").replace("(?P<", "")
    return "(?" not in rest


def _walk_ops(parsed) -> Iterator:
    for op, arg in parsed:
        yield op
        for child in _children(arg):
            yield from _walk_ops(child)


def _children(arg) -> Iterator:
    if isinstance(arg, sre_parse.SubPattern):
        yield arg
    elif isinstance(arg, (list, tuple)):
        for item in arg:
            yield from _children(item)
