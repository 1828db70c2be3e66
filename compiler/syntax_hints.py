"""Hints for the syntax errors plain-English authors make most, each naming the fix.

A syntax error knows the unexpected token, the terminals the parser could have taken there,
and the source around it. Each `_hint_*` function below recognises one stumble from those
(`require response does not mention "X"`, `has less than 5 lines`, `contains "x" or "y"`,
an unquoted version, a missing `dsl 1` line, a keyword used as a setting) and writes the
corrected text, or returns None.
"""

from __future__ import annotations

import re
from typing import Callable

from lark import Token

from tenet.compiler.predicates.count import QUANTITIES
from tenet.compiler.setting_names import setting_hint

# How much source before the error the hints look at: a clause, never the whole file.
LOOK_BEHIND = 400

_STRING = r'"(?:\\.|[^"\\\n])*"'
_REGEX = r"/(?:\\.|[^/\\\n])+/[imsx]*"
_WORDS = r"(?:exact\s+)?words\s*\([^)\n]*\)"
_NAME = r"[A-Za-z][A-Za-z0-9_-]*"
_OPERAND = f"(?:{_STRING}|{_REGEX}|{_WORDS}|{_NAME})"
_SUBJECT = r"(?:any\s+)?(?:prompt|response|conversation)"
_TEXT_VERB = r"mentions|contains|starts\s+with|ends\s+with|matches"

# Negated verbs people write after a subject, and the predicate each one negates.
_NEGATION = r"(?:does\s+not|doesn't|do\s+not|don't|never|not|is\s+not|isn't)"
_NEGATED_VERBS: tuple[tuple[str, str], ...] = (
    (r"mentions?", "mentions"), (r"contains?", "contains"), (r"match(?:es)?", "matches"),
    (r"starts?\s+with", "starts with"), (r"ends?\s+with", "ends with"), (r"ha(?:s|ve)", "has"),
    (r"json", "is json"), (r"a\s+refusal", "is a refusal"),
)
_OPPOSITE = {"require": "forbid", "forbid": "require", "prefer": "avoid", "avoid": "prefer"}

# Everyday ways to bound a count, and the quantity the language spells them with.
_QUANTITY_WORDS: tuple[tuple[str, str], ...] = (
    (r"less\s+than", "fewer than"), (r"(?:under|below)\b", "fewer than"),
    (r"(?:no|not)\s+more\s+than", "at most"), (r"up\s+to", "at most"),
    (r"(?:a\s+)?max(?:imum)?(?:\s+of)?\b", "at most"),
    (r"(?:no|not)\s+(?:less|fewer)\s+than", "at least"), (r"(?:a\s+)?min(?:imum)?(?:\s+of)?\b", "at least"),
    (r"(?:over|above)\b", "more than"), (r"greater\s+than", "more than"),
    (r"<=", "at most"), (r">=", "at least"), (r"<", "fewer than"), (r">", "more than"),
)
_QUANTITIES = ", ".join(f"`{words}`" for words in QUANTITIES.values()) + " or `between N and M`"


def stumble_hint(token: Token, acceptable: set[str], text: str) -> str | None:
    """A hint that writes the fix for a common mistake at `token`, or None."""
    start = token.start_pos or 0
    before, after = text[max(0, start - LOOK_BEHIND):start], text[start:].split("\n", 1)[0]
    for hint_for in _HINTS:
        hint = hint_for(token, acceptable, before, after)
        if hint:
            return hint
    return None


def header_hint(acceptable: set[str], found: str) -> str | None:
    """A file that does not start with `dsl 1`, or has no `policy` line after it (`found`: what it has)."""
    if acceptable == {"DSL"}:
        if found == "policy":
            return "a policy file starts with the line `dsl 1` (the language version): add it above this line"
        return 'a policy file starts with two lines: `dsl 1`, then `policy my-policy version "1"`'
    if acceptable == {"POLICY"}:
        return 'the line after `dsl 1` names the policy: `policy my-policy version "1"`'
    return None


def _hint_header(token: Token, acceptable: set[str], before: str, after: str) -> str | None:
    """A missing `dsl 1` or `policy` line, found at `token`."""
    return header_hint(acceptable, str(token))


def _hint_header_values(token: Token, acceptable: set[str], before: str, after: str) -> str | None:
    """`version 1.2` (the version is a string) and `dsl "1"` (the language version is a number)."""
    if acceptable == {"STRING"} and re.search(r"\bversion\s*$", before):
        written = re.match(r'[^\s"#]+', after)
        shown = written.group() if written else "1"
        return f'the version is text in double quotes: `version "{shown}"`'
    if acceptable == {"NUMBER"} and re.search(r"\bdsl\s*$", before):
        return "the language version is a bare number: `dsl 1`"
    return None


def _hint_negated_verb(token: Token, acceptable: set[str], before: str, after: str) -> str | None:
    """`require response does not mention "X"`: the verdict or a leading `not` says the negation."""
    if str(token) == "not" and re.search(r"\bis\s*$", before):  # `is not json`: read it as `is not` + `json`
        before = re.sub(r"\bis\s*$", "", before)
        after = "is " + after
    subject = re.search(rf"\b({_SUBJECT})\s*$", before)
    phrase = re.match(rf"{_NEGATION}\s+", after)
    if not subject or not phrase:
        return None
    rest = after[phrase.end():]
    for pattern, verb in _NEGATED_VERBS:
        found = re.match(rf"(?:{pattern})\b\s*", rest)
        if found:
            operand = _operand(rest[found.end():])
            condition = f"{_spaced(subject.group(1))} {verb} {operand}".rstrip()
            verdict = re.search(r"\b(require|forbid|prefer|avoid)\s*$", before[:subject.start()])
            # The opposite verdict negates the whole condition: only right when nothing follows.
            tail = rest[found.end():].strip().removeprefix(operand).strip()
            if verdict and (not tail or tail.startswith("#")):
                return f"say it with the opposite verdict: `{_OPPOSITE[verdict.group(1)]} {condition}`"
            return f"put `not` before the condition: `not {condition}`"
    return None


def _hint_quantity(token: Token, acceptable: set[str], before: str, after: str) -> str | None:
    """`has less than 5 lines`, `has 5 lines`, `has <= 5 lines`: name the quantity the language spells."""
    if not re.search(r"\bhas\s*$", before) or "AT" not in acceptable:
        return None
    if token.type == "NUMBER":
        count = re.match(r"(\S+)\s+([A-Za-z]+)", after)
        shown = f"{count.group(1)} {count.group(2)}" if count else "5 lines"
        return (f"say how to compare the count: `has at least {shown}`, `has at most {shown}` or "
                f"`has exactly {shown}`")
    for pattern, quantity in _QUANTITY_WORDS:
        found = re.match(rf"(?:{pattern})\s*", after)
        if found:
            count = re.match(r"([0-9]+)\s+([A-Za-z]+)", after[found.end():])
            if not count:
                return f"write `has {quantity} N UNIT`, e.g. `has {quantity} 5 lines`"
            number, unit = int(count.group(1)), count.group(2)
            same = quantity == "fewer than" and number > 0
            also = f" (the same as `has at most {number - 1} {unit}`)" if same else ""
            return f"write `has {quantity} {number} {unit}`{also}"
    return f"a count reads `has QUANTITY N UNIT`, where QUANTITY is {_QUANTITIES}"


def _hint_joined_operands(token: Token, acceptable: set[str], before: str, after: str) -> str | None:
    """`when prompt contains "x" or "y"`: `or`/`and` join whole conditions, not texts."""
    if token.type == "COMMA":
        join, after = ",", after[1:].lstrip()
        written = re.search(rf"\b({_SUBJECT})\s+({_TEXT_VERB})\s+({_OPERAND})\s*$", before)
    else:
        written = re.search(rf"\b({_SUBJECT})\s+({_TEXT_VERB})\s+({_OPERAND})\s+(or|and)\s*$", before)
        join = written.group(4) if written else ""
    second = re.match(_OPERAND, after)
    if not written or not second:
        return None
    subject, verb = _spaced(written.group(1)), _spaced(written.group(2))
    first, other = written.group(3), second.group()
    as_words = f"`{subject} mentions words({first}, {other})`"
    both_strings = re.fullmatch(_STRING, first) and re.fullmatch(_STRING, other)
    if join != "and" and verb == "mentions" and both_strings:
        return f"list the words in one set: {as_words}"
    connective = "or" if join == "," else join
    hint = (f"`{connective}` joins whole conditions: write "
            f"`{subject} {verb} {first} {connective} {subject} {verb} {other}`")
    if connective == "or" and both_strings:
        hint += f", or {as_words} to match either as a whole word"
    return hint


def _hint_keyword_as_setting(token: Token, acceptable: set[str], before: str, after: str) -> str | None:
    """`model = "..."` in `training:`: a keyword where a setting name goes."""
    if token.type == "ID" or "ID" not in acceptable or not re.match(r"[A-Za-z]+\s*=", after):
        return None
    meant = setting_hint(str(token))
    return f"`{token}` is a word of the policy language, not a setting; {meant}" if meant else None


def _operand(text: str) -> str:
    """The condition's operand at the start of `text`: a string, regex or word set, else up to `and`/`or`."""
    quoted = re.match(f"{_STRING}|{_REGEX}|{_WORDS}", text)
    if quoted:
        return quoted.group()
    return re.split(r"\s+(?:and|or)\b|\s*#", text, maxsplit=1)[0].strip()


def _spaced(words: str) -> str:
    """`any   prompt` as `any prompt`."""
    return " ".join(words.split())


_HINTS: tuple[Callable[[Token, set[str], str, str], str | None], ...] = (
    _hint_header, _hint_header_values, _hint_negated_verb, _hint_quantity, _hint_joined_operands,
    _hint_keyword_as_setting,
)
