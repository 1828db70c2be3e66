"""Rewrite policy regexes for RE2 so that Arrow's RE2 kernels match exactly what Python `re` does."""

from __future__ import annotations


def re2_pattern(pattern: str, flags: str) -> str | None:
    """Rewrite a policy regex for RE2 (inline flags, Python's `$` and `\\s`), or None if it can't be."""
    body = translate(pattern, dollar="m" not in flags)
    if body is None:
        return None
    inline = "".join(f for f in flags if f in "ims")
    return f"(?{inline}){body}" if inline else body


_SPACE = "\\t\\n\\x0b\\f\\r "  # Python's ASCII \s; RE2's \s lacks the vertical tab


def translate(pattern: str, dollar: bool) -> str | None:
    """The pattern with `\\s`, `\\S` and (when `dollar`) `$` spelled as Python means them; None if impossible."""
    # Python's `$` also matches before a final newline; RE2's matches only at the very end.
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            escape = pattern[i:i + 2]
            if escape == "\\s":
                escape = _SPACE if in_class else f"[{_SPACE}]"
            elif escape == "\\S":
                if in_class:
                    return None  # a negated class inside a class has no RE2 spelling here
                escape = f"[^{_SPACE}]"
            out.append(escape)
            i += 2
            continue
        if in_class:
            in_class = ch != "]" or out[-1] == "["
        elif ch == "[":
            in_class = True
        elif ch == "$" and dollar:
            ch = "(?:\\n?\\z)"
        out.append(ch)
        i += 1
    return "".join(out)
