"""Check every regex: it compiles, it cannot match the empty string, and which engine runs it."""

from __future__ import annotations

import re
from typing import Iterator

try:  # Python 3.11+ keeps the regex parser here; it is what `re` itself uses.
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

from tenet.compiler import ast
from tenet.compiler.diagnostics import Diagnostic, Span, error, note
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.predicates.base import compile_user_regex
from tenet.compiler.walk import ast_atoms, rule_preds

# Probes with no empty-width structure: a pattern that finds an empty match in them
# would match every text.
_PROBES = ("zq", "zq\nzq", " ")
_RE2_MISSING = {
    sre_constants.ASSERT: "lookahead/lookbehind",
    sre_constants.ASSERT_NOT: "negative lookahead/lookbehind",
    sre_constants.GROUPREF: "backreferences",
    sre_constants.GROUPREF_EXISTS: "conditional groups",
    getattr(sre_constants, "ATOMIC_GROUP", None): "atomic groups",
    getattr(sre_constants, "POSSESSIVE_REPEAT", None): "possessive quantifiers",
}


def check_regex(policy: LinkedPolicy) -> list[Diagnostic]:
    """Report invalid regexes, regexes matching the empty string, and RE2 fallbacks."""
    found: list[Diagnostic] = []
    for regex in _all_regexes(policy):
        try:
            compiled = compile_user_regex(regex.pattern, regex.flags)
        except re.error as exc:
            found.append(error("E120", f"invalid regex: {exc.msg}", _pos_span(regex, exc.pos),
                               "regex syntax follows Python's `re` module"))
            continue
        except (RecursionError, OverflowError, ValueError):
            found.append(error("E120", "invalid regex: too complex to compile", regex.span,
                               "split the pattern into several simpler ones joined with `or`"))
            continue
        if any((m := compiled.search(p)) is not None and m.group() == "" for p in _PROBES):
            found.append(error("E121", "regex matches the empty string, so it matches every text",
                               regex.span, "use `+` instead of `*`, or anchor the pattern"))
            continue
        engine, reason = regex_engine(regex.pattern, regex.flags)
        if engine == "python":
            found.append(note("N122", f"regex uses {reason}, which RE2 cannot run identically; it runs "
                                      "on Python `re` under a time bound (slower)", regex.span,
                              "nothing to fix; for speed on large data, write it without lookaround or "
                              "backreferences"))
    return found


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


def _all_regexes(policy: LinkedPolicy) -> Iterator[ast.RegexLit]:
    for let in policy.lets:
        if isinstance(let.value, ast.RegexLit):
            yield let.value
    for linked in policy.rules:
        for pred in rule_preds(linked.rule):
            for atom in ast_atoms(pred):
                if isinstance(atom, ast.Matches) and isinstance(atom.regex, ast.RegexLit):
                    yield atom.regex


def _pos_span(regex: ast.RegexLit, pos: int | None) -> Span:
    if pos is None or regex.span.line != regex.span.end_line:
        return regex.span
    # The pattern had each `\/` unescaped to `/`: count them back in before `pos`.
    raw = regex.pattern.replace("/", "\\/")
    seen, at = 0, len(raw)
    for i in range(len(raw)):
        if seen == pos:
            at = i
            break
        seen += 0 if raw.startswith("\\/", i) else 1
    pos = at
    col = regex.span.col + 1 + pos
    return regex.span.model_copy(update={"col": col, "end_col": col + 1,
                                         "start": regex.span.start + 1 + pos,
                                         "end": regex.span.start + 2 + pos})
