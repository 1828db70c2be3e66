"""Reference semantics of the text predicates: the one definition every engine must match.

The runtime's column-at-a-time engine (RE2 over Arrow) is tested against these functions.
To keep both engines identical, every pattern here is written with explicit ASCII classes,
and user regexes run with `re.ASCII` (`\\w`, `\\d`, `\\s`, `\\b` are ASCII, as in RE2).
Model-backed scores are not evaluated here: they come back as unknown (None), and three-valued
logic decides whether the rule's vote still follows from the text predicates alone.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Callable, NamedTuple

from compiler import ir

# The atom kinds whose match has a location in the text: `explain` marks it and `label` records
# it as provenance (`span_finder` knows how to find each).
SPAN_KINDS = ("regex", "keywords", "text", "pii", "refusal")
WS = " \\t\\n\\r\\f\\v"
STRIP_CHARS = " \t\n\r\f\v"  # the only characters "outer whitespace" means, in every engine
WORD_PATTERN = f"[^{WS}]+"
SENTENCE_PATTERN = f"[^.!?{WS}][^.!?]*(?:[.!?]+|$)"
LINE_PATTERN = "(?m)^[ \\t]*[^ \\t\\r\\n]"
BULLET_PATTERN = "(?m)^[ \\t]*[-*\u2022][ \\t]+[^ \\t\\r\\n]"
WORD_CHARS = "A-Za-z0-9_"
PII_PATTERNS: dict[str, str] = {
    "email": "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
    "link": "(?i)(?:https?://|www\\.)[^ \\t\\n\\r\\f\\v<>\"]+",
    "phone_number": "(?:^|[^0-9])(?P<hit>(?:\\+?[0-9]{1,3}[ .-]?)?(?:\\([0-9]{3}\\)|[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4})(?:[^0-9]|$)",
}
REFUSAL_PATTERN = (
    "(?i)\\b(?:i(?:['\u2019]m| am) (?:sorry|afraid),? but"
    "|i(?: can['\u2019]?t| cannot| won['\u2019]t| will not| am unable to| am not able to"
    "|['\u2019]m unable to|['\u2019]m not able to) (?:help|assist|provide|do that|answer|comply|share|support)"
    "|as an? (?:[a-z-]+ ){0,2}(?:ai|chatbot|language model)\\b"
    "|i (?:do not|don['\u2019]?t) have the (?:ability|capability|capacity) to"
    "|i(?:['\u2019]m| am) not equipped to"
    "|i must decline|i (?:have to|need to) decline)"
)
COUNT_PATTERNS: dict[str, str] = {
    "words": WORD_PATTERN,
    "sentences": SENTENCE_PATTERN,
    "lines": LINE_PATTERN,
    "bullets": BULLET_PATTERN,
}
_FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class Sample(NamedTuple):
    """One (conversation, response) row: earlier turns, the last prompt, the response."""

    prompt: str
    response: str
    context: tuple[tuple[str, str], ...] = ()


def subject_text(sample: Sample, subject: str) -> str:
    """Return the text a subject names in a sample."""
    if subject == "prompt":
        return sample.prompt
    if subject == "response":
        return sample.response
    if subject == "any_prompt":
        return "\n".join([t for role, t in sample.context if role == "user"] + [sample.prompt])
    if subject == "any_response":
        return "\n".join([t for role, t in sample.context if role == "assistant"] + [sample.response])
    return "\n".join([t for _, t in sample.context] + [sample.prompt, sample.response])


@functools.lru_cache(maxsize=4096)
def compile_user_regex(pattern: str, flags: str) -> re.Pattern[str]:
    """Compile a policy regex with its flags, in ASCII mode."""
    bits = re.ASCII
    for flag in flags:
        bits |= _FLAG_BITS[flag]
    return re.compile(pattern, bits)


@functools.lru_cache(maxsize=4096)
def keyword_pattern(terms: tuple[str, ...], exact: bool) -> str:
    """Build the whole-word pattern for a keyword set (spaces in a phrase match any spacing).

    Boundaries are zero-width (`\\b` next to a word character, `\\B` next to another), so a
    match spans exactly the term, in Python's ASCII mode and in RE2 alike.
    """
    parts = sorted((_phrase(t) for t in terms if t.strip()), key=len, reverse=True)
    body = "|".join(parts) or "(?!)"
    prefix = "" if exact else "(?i)"
    return f"{prefix}(?:{body})"


def _phrase(term: str) -> str:
    words = term.split()
    left = "\\b" if _is_word_char(words[0][0]) else "\\B"
    right = "\\b" if _is_word_char(words[-1][-1]) else "\\B"
    return left + f"[{WS}]+".join(re.escape(word) for word in words) + right


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


def count_units(text: str, unit: str) -> int:
    """Count words, sentences, non-empty lines, bullet items or characters."""
    if unit == "characters":
        return len(text)
    return len(_compiled(COUNT_PATTERNS[unit]).findall(text))


def compare_count(n: int, op: str, value: int, high: int | None) -> bool:
    """Apply a count predicate's comparison."""
    if op == "at_most":
        return n <= value
    if op == "at_least":
        return n >= value
    if op == "exactly":
        return n == value
    if op == "more_than":
        return n > value
    if op == "fewer_than":
        return n < value
    return value <= n <= (high if high is not None else value)


def compare_score(score: float, op: str, threshold: float) -> bool:
    """Apply a score predicate's comparison."""
    return {">=": score >= threshold, "<=": score <= threshold,
            ">": score > threshold, "<": score < threshold}[op]


def is_json(text: str) -> bool:
    """True when the whole text (outer whitespace ignored) is a JSON object or array."""
    stripped = text.strip(STRIP_CHARS)
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        return isinstance(json.loads(stripped), (dict, list))
    except (ValueError, RecursionError):
        return False


def atom_pattern(pred: ir.PredIR) -> re.Pattern[str] | None:
    """The compiled search pattern behind a text atom, or None for non-regex atoms."""
    if isinstance(pred, ir.RegexPred):
        return compile_user_regex(pred.pattern, pred.flags)
    if isinstance(pred, ir.KeywordsPred):
        return _compiled(keyword_pattern(pred.terms, pred.exact))
    if isinstance(pred, ir.PiiPred):
        return _compiled(PII_PATTERNS[pred.pii])
    if isinstance(pred, ir.RefusalPred):
        return _compiled(REFUSAL_PATTERN)
    return None


ScoreFn = Callable[[ir.ScorePred, Sample], "float | None"]


def evaluate(pred: ir.PredIR, sample: Sample, score: ScoreFn | None = None) -> bool | None:
    """Evaluate a predicate on a sample; None means unknown (a score with no value).

    Args:
        pred: The predicate.
        sample: The row.
        score: Returns a model-backed score, or None when it has no verdict.
    """
    if isinstance(pred, ir.AndPred):
        return _and(evaluate(pred.left, sample, score), lambda: evaluate(pred.right, sample, score))
    if isinstance(pred, ir.OrPred):
        return _or(evaluate(pred.left, sample, score), lambda: evaluate(pred.right, sample, score))
    if isinstance(pred, ir.NotPred):
        value = evaluate(pred.operand, sample, score)
        return None if value is None else not value
    if isinstance(pred, ir.ScorePred):
        value = score(pred, sample) if score else None
        return None if value is None else compare_score(value, pred.op, pred.threshold)
    text = subject_text(sample, pred.subject)
    return evaluate_text_atom(pred, text)


def evaluate_text_atom(pred: ir.PredIR, text: str) -> bool:
    """Evaluate one text atom (not a score, not a connective) on a text."""
    pattern = atom_pattern(pred)
    if pattern is not None:
        return pattern.search(text) is not None
    if isinstance(pred, ir.TextPred):
        if pred.op == "contains":
            return pred.text in text
        if pred.op == "starts_with":
            return text.lstrip(STRIP_CHARS).startswith(pred.text)
        return text.rstrip(STRIP_CHARS).endswith(pred.text)
    if isinstance(pred, ir.CountPred):
        return compare_count(count_units(text, pred.unit), pred.op, pred.value, pred.high)
    if isinstance(pred, ir.JsonPred):
        return is_json(text)
    raise TypeError(f"not a text atom: {pred.kind}")


def match_span(pred: ir.PredIR, text: str) -> tuple[int, int] | None:
    """Where a text atom matched, for provenance; None when it has no location."""
    return span_finder(pred)(text)


def span_finder(pred: ir.PredIR) -> Callable[[str], "tuple[int, int] | None"]:
    """A function returning where an atom matches a text (built once, used per row)."""
    pattern = atom_pattern(pred)
    if pattern is not None:
        # Built-in patterns wrap the hit in a `hit` group, leaving out boundary characters.
        group = "hit" if "hit" in pattern.groupindex and not isinstance(pred, ir.RegexPred) else 0
        search = pattern.search

        def find_pattern(text: str) -> tuple[int, int] | None:
            m = search(text)
            return m.span(group) if m else None

        return find_pattern
    if isinstance(pred, ir.TextPred):
        needle = pred.text
        if pred.op == "contains":
            return lambda text: (lambda at: (at, at + len(needle)) if at >= 0 else None)(text.find(needle))
        if pred.op == "starts_with":
            def find_prefix(text: str) -> tuple[int, int] | None:
                at = len(text) - len(text.lstrip(STRIP_CHARS))
                return (at, at + len(needle)) if text.startswith(needle, at) else None

            return find_prefix

        def find_suffix(text: str) -> tuple[int, int] | None:
            stripped = text.rstrip(STRIP_CHARS)
            return (len(stripped) - len(needle), len(stripped)) if stripped.endswith(needle) else None

        return find_suffix
    return lambda text: None


def _and(left: bool | None, right: Callable[[], bool | None]) -> bool | None:
    if left is False:
        return False
    r = right()
    if r is False:
        return False
    return None if left is None or r is None else True


def _or(left: bool | None, right: Callable[[], bool | None]) -> bool | None:
    if left is True:
        return True
    r = right()
    if r is True:
        return True
    return None if left is None or r is None else False


def verdict_vote(verdict: str, holds: bool) -> int:
    """Turn whether the checked predicate holds into a vote for a verdict kind."""
    if verdict == "require":
        return ir.GOOD if holds else ir.BAD
    if verdict == "forbid":
        return ir.BAD if holds else ir.GOOD
    if verdict == "prefer":
        return ir.GOOD if holds else ir.ABSTAIN
    return ir.BAD if holds else ir.ABSTAIN


def in_scope(rule: ir.RuleIR, sample: Sample, score: ScoreFn | None = None) -> bool | None:
    """Whether a rule applies to a sample (its `when` holds and no `unless` does)."""
    scope: bool | None = True
    if rule.when is not None:
        scope = evaluate(rule.when, sample, score)
        if scope is False:
            return False
    for carve_out in rule.unless:
        hit = evaluate(carve_out, sample, score)
        if hit is True:
            return False
        if hit is None:
            scope = None
    return scope


def rule_vote(rule: ir.RuleIR, sample: Sample, score: ScoreFn | None = None) -> int | None:
    """A rule's vote on a sample: GOOD, BAD, ABSTAIN, or None when it needs a model score.

    Judges fail closed: the runtime passes a `score` that returns None for "no verdict", and
    callers turn a None vote from a rule with a judge into BAD.
    """
    scope = in_scope(rule, sample, score)
    if scope is False:
        return ir.ABSTAIN
    holds = evaluate(rule.check, sample, score)
    if scope is None or holds is None:
        return None
    return verdict_vote(rule.verdict, holds)
