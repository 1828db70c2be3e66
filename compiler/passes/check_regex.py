"""Check every regex: it compiles, it cannot match the empty string, and which engine runs it."""

from __future__ import annotations

import re
from typing import Iterator

from tenet.compiler import ast
from tenet.compiler.diagnostics import Diagnostic, Span, error, note
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.predicates.base import compile_user_regex
from tenet.compiler.regex_engine import regex_engine
from tenet.compiler.walk import atoms, rule_preds

# Probes with no empty-width structure: a pattern that finds an empty match in them
# would match every text.
_PROBES = ("zq", "zq\nzq", " ")


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


def _all_regexes(policy: LinkedPolicy) -> Iterator[ast.RegexLit]:
    for let in policy.lets:
        if isinstance(let.value, ast.RegexLit):
            yield let.value
    for linked in policy.rules:
        for pred in rule_preds(linked.rule):
            for atom in atoms(pred):
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
