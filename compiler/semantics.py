"""Reference semantics of the predicates: the one definition every engine must match.

Each kind's own semantics (`holds`, `decide`, `finder`) lives in its module under
`compiler/predicates/`; this module dispatches to them, and holds what all kinds share:
subjects, three-valued connectives, scopes and votes.

The runtime's column-at-a-time engine (RE2 over Arrow) is tested against these functions.
To keep both engines identical, every pattern here is written with explicit ASCII classes,
and user regexes run with `re.ASCII` (`\\w`, `\\d`, `\\s`, `\\b` are ASCII, as in RE2).
Model-backed scores are not evaluated here: they come back as unknown (None), and three-valued
logic decides whether the rule's vote still follows from the text predicates alone.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from tenet.compiler import ir, predicates
from tenet.compiler.predicates.base import STRIP_CHARS, WS, Finder, compile_user_regex
from tenet.compiler.predicates.count import (
    BULLET_PATTERN,
    COUNT_PATTERNS,
    LINE_PATTERN,
    SENTENCE_PATTERN,
    WORD_PATTERN,
    compare_count,
    count_units,
)
from tenet.compiler.predicates.is_json import is_json
from tenet.compiler.predicates.keywords import keyword_pattern
from tenet.compiler.predicates.pii import PII_PATTERNS
from tenet.compiler.predicates.refusal import REFUSAL_PATTERN
from tenet.compiler.predicates.score import compare_score
from tenet.compiler.walk import atoms, fold

# Each kind's semantics lives in its module under `compiler/predicates/`; these names are
# re-exported because the runtime and the tests read them here, the one reference.
__all__ = [
    "BULLET_PATTERN", "COUNT_PATTERNS", "LINE_PATTERN", "PII_PATTERNS", "REFUSAL_PATTERN",
    "SENTENCE_PATTERN", "STRIP_CHARS", "UNANSWERED", "WORD_PATTERN", "WS", "Sample", "compare_count",
    "compare_score", "compile_user_regex", "count_units", "evaluate", "evaluate_text_atom",
    "in_scope", "is_json", "keyword_pattern", "locates", "match_span", "reported_violation", "row_score",
    "row_verdict", "rule_vote", "span_finder", "subject_text", "verdict_vote",
]
WORD_CHARS = "A-Za-z0-9_"
# The subjects whose text includes the response: unknown while the prompt is not answered yet.
UNANSWERED: frozenset[str] = frozenset({"response", "any_response", "conversation"})
# A vote per verdict kind: (when the checked predicate holds, when it does not).
VERDICT_VOTES: dict[str, tuple[int, int]] = {
    "require": (ir.GOOD, ir.BAD),
    "forbid": (ir.BAD, ir.GOOD),
    "prefer": (ir.GOOD, ir.ABSTAIN),
    "avoid": (ir.BAD, ir.ABSTAIN),
}


def __getattr__(name: str) -> Any:
    # SPAN_KINDS follows the registry, so a kind registered later (a plugin, a test) is in it.
    if name == "SPAN_KINDS":
        return tuple(kind.name for kind in predicates.kinds() if kind.finder is not None)
    raise AttributeError(name)


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


ScoreFn = Callable[[ir.ScorePred, Sample], "float | None"]


def evaluate(pred: ir.PredIR, sample: Sample, score: ScoreFn | None = None,
             unknown: frozenset[str] = frozenset()) -> bool | None:
    """Evaluate a predicate on a sample; None means unknown (a score with no value).

    Args:
        pred: The predicate.
        sample: The row.
        score: Returns a model-backed score, or None when it has no verdict.
        unknown: Subjects whose text is not known yet (`UNANSWERED`: the response before it
            is generated); a text atom on one of them is unknown.
    """
    return fold(pred, lambda atom: _atom(atom, sample, score, unknown), _KLEENE)


def _atom(pred: ir.PredIR, sample: Sample, score: ScoreFn | None, unknown: frozenset[str]) -> bool | None:
    """One atom's value: its kind's `holds` on the subject's text, or `decide` on a model score."""
    kind = predicates.of(pred)
    if kind.is_text:
        if pred.subject in unknown:
            return None
        return kind.holds(pred, subject_text(sample, pred.subject))
    value = score(pred, sample) if score else None
    return None if value is None else kind.decide(pred, value)


def evaluate_text_atom(pred: ir.PredIR, text: str) -> bool:
    """Evaluate one text atom (not a score, not a connective) on a text."""
    kind = predicates.of(pred)
    if not kind.is_text:
        raise TypeError(f"not a text atom: {pred.kind}")
    return kind.holds(pred, text)


def locates(pred: ir.PredIR) -> bool:
    """Whether an atom's match has a location in the text (`explain` marks it, `label` records it)."""
    return predicates.of(pred).finder is not None


def match_span(pred: ir.PredIR, text: str) -> tuple[int, int] | None:
    """Where a text atom matched, for provenance; None when it has no location."""
    return span_finder(pred)(text)


def span_finder(pred: ir.PredIR) -> Finder:
    """A function returning where an atom matches a text (built once, used per row)."""
    finder = predicates.of(pred).finder
    return finder(pred) if finder is not None else (lambda text: None)


def first_match(preds: Any, sample: Sample) -> tuple[str | None, tuple[int, int] | None]:
    """The subject and span of the first located atom, in `preds` order, that matches `sample`."""
    for pred in preds:
        for atom in atoms(pred):
            if locates(atom):
                hit = match_span(atom, subject_text(sample, atom.subject))
                if hit is not None:
                    return atom.subject, hit
    return None, None


def _negated(value: bool | None) -> bool | None:
    return None if value is None else not value


# Kleene logic: `false` decides an `and`, `true` an `or`; otherwise unknown wins.
_KLEENE = {
    "and": lambda pred, left, right: _connective(False, left(), right),
    "or": lambda pred, left, right: _connective(True, left(), right),
    "not": lambda pred, operand: _negated(operand()),
}


def _connective(decides: bool, left: bool | None, right: Callable[[], bool | None]) -> bool | None:
    """`and` (decides=False) or `or` (decides=True): the right side runs only when the left
    does not decide; an unknown side makes the result unknown unless the other decides."""
    if left is decides:
        return decides
    r = right()
    if r is decides:
        return decides
    return None if left is None or r is None else not decides


def verdict_vote(verdict: str, holds: bool) -> int:
    """Turn whether the checked predicate holds into a vote for a verdict kind."""
    when_holds, otherwise = VERDICT_VOTES[verdict]
    return when_holds if holds else otherwise


def in_scope(rule: ir.RuleIR, sample: Sample, score: ScoreFn | None = None,
             unknown: frozenset[str] = frozenset()) -> bool | None:
    """Whether a rule applies to a sample (its `when` holds and no `unless` does); None: unknown.

    `unknown` names subjects whose text is not known yet, as in `evaluate`.
    """
    scope: bool | None = True
    if rule.when is not None:
        scope = evaluate(rule.when, sample, score, unknown)
        if scope is False:
            return False
    for carve_out in rule.unless:
        hit = evaluate(carve_out, sample, score, unknown)
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


# --- a row's aggregate: verdict, score and the violation it reports ---------------------------


def row_verdict(votes: Sequence[int]) -> int:
    """A row's verdict: BAD when any rule voted BAD, ABSTAIN when none voted, else GOOD.

    A violation is never outvoted: severity and precedence pick the reported violation and
    weigh the score, but a row that breaks any rule that applies to it is BAD.
    """
    if any(v == ir.BAD for v in votes):
        return ir.BAD
    if all(v == ir.ABSTAIN for v in votes):
        return ir.ABSTAIN
    return ir.GOOD


def row_score(votes: Sequence[int], rules: Sequence[ir.RuleIR]) -> float | None:
    """Σ weight of the GOOD votes ÷ Σ weight of all votes (severity weights); None when none voted."""
    total = sum(rule.weight for vote, rule in zip(votes, rules) if vote != ir.ABSTAIN)
    good = sum(rule.weight for vote, rule in zip(votes, rules) if vote == ir.GOOD)
    return good / total if total > 0 else None


def reported_violation(votes: Sequence[int], rules: Sequence[ir.RuleIR]) -> int | None:
    """The index of the violation a row reports: the BAD-voting rule of highest precedence."""
    broken = [j for j, vote in enumerate(votes) if vote == ir.BAD]
    return min(broken, key=lambda j: rules[j].precedence, default=None)
