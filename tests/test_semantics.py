"""Unit tests for the reference semantics in compiler/semantics.py."""

from __future__ import annotations

import pytest

from tenet.compiler import ir
from tenet.compiler.diagnostics import Span
from tenet.compiler.semantics import (
    UNANSWERED,
    Sample,
    count_units,
    evaluate,
    evaluate_text_atom,
    in_scope,
    is_json,
    match_span,
    reported_violation,
    row_score,
    row_verdict,
    rule_vote,
    subject_text,
    verdict_vote,
)

SPAN = Span(file="t.policy", line=1, col=1, end_line=1, end_col=2, start=0, end=1)
GOOD, BAD, ABSTAIN = ir.GOOD, ir.BAD, ir.ABSTAIN


def regex(pattern: str, flags: str = "", subject: str = "response") -> ir.RegexPred:
    return ir.RegexPred(span=SPAN, subject=subject, pattern=pattern, flags=flags)


def keywords(*terms: str, exact: bool = False, subject: str = "response") -> ir.KeywordsPred:
    return ir.KeywordsPred(span=SPAN, subject=subject, terms=terms, exact=exact)


def text(op: str, value: str, subject: str = "response") -> ir.TextPred:
    return ir.TextPred(span=SPAN, subject=subject, op=op, text=value)


def count(unit: str, op: str, value: int, high: int | None = None, subject: str = "response") -> ir.CountPred:
    return ir.CountPred(span=SPAN, subject=subject, unit=unit, op=op, value=value, high=high)


def score(fn: str = "sentiment", op: str = ">=", threshold: float = 0.5) -> ir.ScorePred:
    return ir.ScorePred(span=SPAN, subject="response", fn=fn, op=op, threshold=threshold)


def AND(a, b):  # noqa: N802 - reads like the policy language
    return ir.AndPred(span=SPAN, left=a, right=b)


def OR(a, b):  # noqa: N802
    return ir.OrPred(span=SPAN, left=a, right=b)


def NOT(a):  # noqa: N802
    return ir.NotPred(span=SPAN, operand=a)


def rule(verdict: str, check, when=None, unless=()) -> ir.RuleIR:
    return ir.RuleIR(id="r", module="m", span=SPAN, severity="high", verdict=verdict, check=check,
                     when=when, unless=tuple(unless), authority=1, precedence=0,
                     fingerprint=ir.Fingerprint(semantic="s", examples="e", metadata="m"))


def on(response: str, prompt: str = "p") -> Sample:
    return Sample(prompt=prompt, response=response)


TRUE = text("contains", "yes")
FALSE = text("contains", "no-such-text")
UNKNOWN = score()
YES = on("yes")


# --- regex ---------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "flags", "response", "expected"), [
    ("^- ", "", "- item", True),
    ("^- ", "", "intro\n- item", False),
    ("^- ", "m", "intro\n- item", True),
    ("hello", "", "HELLO", False),
    ("hello", "i", "HELLO", True),
    ("a.b", "", "a\nb", False),
    ("a.b", "s", "a\nb", True),
    (r"^\w+$", "", "café", False),  # ASCII classes, as in RE2
    (r"\d{3}", "", "٣٣٣", False),  # Arabic-Indic digits are not \d in ASCII mode
    (r"\bcat\b", "", "concatenate", False),
    (r"\bcat\b", "", "a cat.", True),
])
def test_regex(pattern: str, flags: str, response: str, expected: bool) -> None:
    assert evaluate(regex(pattern, flags), on(response)) is expected


# --- keywords -----------------------------------------------------------------------


@pytest.mark.parametrize(("terms", "exact", "response", "expected"), [
    (("Globex",), False, "Try globex instead.", True),
    (("Globex",), True, "Try globex instead.", False),
    (("Globex",), True, "Try Globex instead.", True),
    (("Globex",), False, "Globexes are great", False),
    (("Globex",), False, "MegaGlobex", False),
    (("Globex",), False, "Globex's router", True),
    (("Globex",), False, "(Globex)", True),
    (("Globex",), False, "Globex", True),
    (("good morning",), False, "Good   morning!", True),
    (("good morning",), False, "good\nmorning", True),
    (("good morning",), False, "good mornings", False),
    (("C++",), False, "I like C++ a lot", True),
    (("C++",), False, "I like C+ a lot", False),
    (("a", "b"), False, "neither here", False),
    (("hello", "hi"), False, "well, hi there", True),
])
def test_keywords(terms: tuple[str, ...], exact: bool, response: str, expected: bool) -> None:
    assert evaluate(keywords(*terms, exact=exact), on(response)) is expected


def test_keyword_match_span_covers_exactly_the_term() -> None:
    assert match_span(keywords("Globex"), "Try (Globex) now") == (5, 11)


# --- literal text ----------------------------------------------------------------------


@pytest.mark.parametrize(("op", "needle", "response", "expected"), [
    ("contains", "TODO", "x TODO y", True),
    ("contains", "TODO", "x todo y", False),
    ("starts_with", "Hi", "  \n Hi there", True),
    ("starts_with", "Hi", "Oh Hi", False),
    ("ends_with", "— Acme", "Thanks — Acme \n", True),
    ("ends_with", "— Acme", "— Acme, thanks", False),
])
def test_text_ops(op: str, needle: str, response: str, expected: bool) -> None:
    assert evaluate(text(op, needle), on(response)) is expected


def test_starts_with_ignores_only_ascii_whitespace() -> None:
    # A no-break space is not "outer whitespace" in every engine, so it is kept.
    assert evaluate(text("starts_with", "Hi"), on("\u00a0Hi")) is False


# --- counts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "value", "expected"), [
    ("words", "one two  three\nfour", 4),
    ("words", "   ", 0),
    ("sentences", "One. Two! Three? Four", 4),
    ("sentences", "Wait... what?!", 2),
    ("sentences", "", 0),
    ("lines", "a\n\n  \nb\n", 2),
    ("lines", "single", 1),
    ("bullets", "- a\n* b\n• c\n1. d\n-no space", 3),
    ("bullets", "  - indented", 1),
    ("characters", "héllo", 5),
    ("characters", "", 0),
])
def test_count_units(unit: str, value: str, expected: int) -> None:
    assert count_units(value, unit) == expected


@pytest.mark.parametrize(("op", "value", "high", "n_words", "expected"), [
    ("at_most", 3, None, 3, True),
    ("at_most", 3, None, 4, False),
    ("at_least", 3, None, 3, True),
    ("at_least", 3, None, 2, False),
    ("exactly", 3, None, 3, True),
    ("exactly", 3, None, 4, False),
    ("more_than", 3, None, 4, True),
    ("more_than", 3, None, 3, False),
    ("fewer_than", 3, None, 2, True),
    ("fewer_than", 3, None, 3, False),
    ("between", 2, 4, 2, True),
    ("between", 2, 4, 4, True),
    ("between", 2, 4, 5, False),
    ("between", 2, 4, 1, False),
])
def test_count_comparisons(op: str, value: int, high: int | None, n_words: int, expected: bool) -> None:
    response = " ".join(["w"] * n_words)
    assert evaluate(count("words", op, value, high), on(response)) is expected


# --- structure, PII, refusal ------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ('{"a": 1}', True),
    ("  [1, 2]\n", True),
    ('"just a string"', False),
    ("42", False),
    ("{broken", False),
    ('{"a": 1} trailing', False),
    ("", False),
    ("[" * 5000 + "]" * 5000, False),  # too deep for the JSON parser: no crash, not JSON
])
def test_is_json(value: str, expected: bool) -> None:
    assert is_json(value) is expected
    assert evaluate(ir.JsonPred(span=SPAN, subject="response"), on(value)) is expected


@pytest.mark.parametrize(("pii", "value", "expected"), [
    ("email", "write to jane.doe+tag@mail.example.co.uk today", True),
    ("email", "jane at example dot com", False),
    ("email", "@handle", False),
    ("link", "see https://acme.example/docs", True),
    ("link", "see WWW.acme.example", True),
    ("link", "see acme dot example", False),
    ("phone_number", "call 555-123-4567", True),
    ("phone_number", "call (555) 123-4567", True),
    ("phone_number", "call +1 555 123 4567", True),
    ("phone_number", "pay 123.45 dollars", False),
    ("phone_number", "version 1.2.3", False),
    # shapes a trained model wrote and a reviewer reads as contact details
    ("email", "The support email is: [email_address]@company.com", True),
    ("phone_number", "The nearest pharmacy is 1000-1000-1000.", True),
    ("phone_number", "call +44 20 7946 0958", True),
    ("phone_number", "call 555-1234 now", True),
    # numbers that are not phone numbers
    ("phone_number", "on 2024-01-15", False),
    ("phone_number", "from 1990-2000", False),
    ("phone_number", "between 100 and 2000", False),
])
def test_pii(pii: str, value: str, expected: bool) -> None:
    assert evaluate(ir.PiiPred(span=SPAN, subject="response", pii=pii), on(value)) is expected


def test_phone_match_span_excludes_boundary_characters() -> None:
    pred = ir.PiiPred(span=SPAN, subject="response", pii="phone_number")
    assert match_span(pred, "call 555-123-4567.") == (5, 17)


@pytest.mark.parametrize(("value", "expected"), [
    ("I'm sorry, but I can't help with that.", True),
    ("I cannot assist with this request.", True),
    ("I won’t provide that.", True),
    ("As an AI, I must decline.", True),
    ("Sure! Here is how to bake bread.", False),
    ("I can't wait to help you!", False),
    ("While I'm happy to assist, I'm unable to back up your photos due to the nature of my role.", True),
    ("I can help with that.", False),
    ("I'm more than happy to help. But I'd be more than happy to help with something else.", True),
    ("Here are the steps. Let me know if I can help with anything else!", False),
])
def test_refusal(value: str, expected: bool) -> None:
    assert evaluate(ir.RefusalPred(span=SPAN, subject="response"), on(value)) is expected


def test_text_atom_rejects_scores_and_connectives() -> None:
    with pytest.raises(TypeError):
        evaluate_text_atom(score(), "x")


# --- subjects on multi-turn samples ----------------------------------------------------------


CONVERSATION = Sample(
    prompt="last question",
    response="last answer",
    context=(("user", "first question"), ("assistant", "first answer"),
             ("user", "second question"), ("assistant", "second answer")),
)


@pytest.mark.parametrize(("subject", "present", "absent"), [
    ("prompt", ["last question"], ["first question", "last answer", "first answer"]),
    ("response", ["last answer"], ["first answer", "last question"]),
    ("any_prompt", ["first question", "second question", "last question"], ["first answer", "last answer"]),
    ("any_response", ["first answer", "second answer", "last answer"], ["first question", "last question"]),
    ("conversation", ["first question", "first answer", "last question", "last answer"], []),
])
def test_subjects(subject: str, present: list[str], absent: list[str]) -> None:
    for phrase in present:
        assert evaluate(text("contains", phrase, subject), CONVERSATION) is True, phrase
    for phrase in absent:
        assert evaluate(text("contains", phrase, subject), CONVERSATION) is False, phrase


def test_subject_text_order_is_chronological() -> None:
    assert subject_text(CONVERSATION, "conversation").splitlines() == [
        "first question", "first answer", "second question", "second answer", "last question", "last answer"]


def test_single_turn_any_subjects_equal_last_turn() -> None:
    sample = on("answer", prompt="question")
    assert subject_text(sample, "any_prompt") == "question"
    assert subject_text(sample, "any_response") == "answer"


def test_turns_do_not_join_into_one_word() -> None:
    sample = Sample(prompt="Glob", response="ex", context=())
    assert evaluate(keywords("Globex", subject="conversation"), sample) is False


# --- three-valued logic with unknown scores ------------------------------------------------


@pytest.mark.parametrize(("pred", "expected"), [
    (AND(TRUE, TRUE), True),
    (AND(TRUE, FALSE), False),
    (AND(FALSE, UNKNOWN), False),
    (AND(UNKNOWN, FALSE), False),
    (AND(TRUE, UNKNOWN), None),
    (AND(UNKNOWN, UNKNOWN), None),
    (OR(FALSE, FALSE), False),
    (OR(TRUE, UNKNOWN), True),
    (OR(UNKNOWN, TRUE), True),
    (OR(FALSE, UNKNOWN), None),
    (NOT(UNKNOWN), None),
    (NOT(TRUE), False),
    (NOT(NOT(FALSE)), False),
    (NOT(AND(FALSE, UNKNOWN)), True),
])
def test_three_valued_logic(pred, expected) -> None:
    assert evaluate(pred, YES) is expected


def test_scores_compare_when_known() -> None:
    def scorer(value: float | None):
        return lambda pred, sample: value

    for op, threshold, value, expected in [(">=", 0.5, 0.5, True), (">", 0.5, 0.5, False),
                                           ("<=", 0.5, 0.5, True), ("<", 0.5, 0.4, True),
                                           (">=", 0.5, 0.4, False)]:
        assert evaluate(score(op=op, threshold=threshold), YES, scorer(value)) is expected
    assert evaluate(score(), YES, scorer(None)) is None


def test_scorer_receives_the_predicate_and_sample() -> None:
    seen = []
    pred = score(fn="judge", threshold=0.7)
    evaluate(pred, YES, lambda p, s: seen.append((p, s)) or 0.9)
    assert seen == [(pred, YES)]


def test_unknown_score_is_not_evaluated_when_left_side_decides() -> None:
    calls = []
    evaluate(AND(FALSE, score()), YES, lambda p, s: calls.append(p) or 1.0)
    evaluate(OR(TRUE, score()), YES, lambda p, s: calls.append(p) or 1.0)
    assert calls == []


# --- verdict votes -------------------------------------------------------------------------


@pytest.mark.parametrize(("verdict", "holds", "vote"), [
    ("require", True, GOOD), ("require", False, BAD),
    ("forbid", True, BAD), ("forbid", False, GOOD),
    ("prefer", True, GOOD), ("prefer", False, ABSTAIN),
    ("avoid", True, BAD), ("avoid", False, ABSTAIN),
])
def test_verdict_votes(verdict: str, holds: bool, vote: int) -> None:
    assert verdict_vote(verdict, holds) == vote
    assert rule_vote(rule(verdict, TRUE if holds else FALSE), YES) == vote


def test_rule_vote_is_unknown_only_when_a_score_decides() -> None:
    assert rule_vote(rule("require", AND(TRUE, UNKNOWN)), YES) is None
    assert rule_vote(rule("require", AND(FALSE, UNKNOWN)), YES) == BAD
    assert rule_vote(rule("forbid", OR(TRUE, UNKNOWN)), YES) == BAD
    assert rule_vote(rule("require", UNKNOWN), YES, lambda p, s: 0.9) == GOOD


# --- scope: when / unless ------------------------------------------------------------------


def test_when_false_abstains() -> None:
    assert in_scope(rule("require", FALSE, when=FALSE), YES) is False
    assert rule_vote(rule("require", FALSE, when=FALSE), YES) == ABSTAIN


def test_when_true_votes() -> None:
    assert in_scope(rule("require", FALSE, when=TRUE), YES) is True
    assert rule_vote(rule("require", FALSE, when=TRUE), YES) == BAD


def test_any_unless_that_holds_abstains() -> None:
    r = rule("forbid", TRUE, unless=[FALSE, TRUE])
    assert in_scope(r, YES) is False
    assert rule_vote(r, YES) == ABSTAIN


def test_unless_that_does_not_hold_keeps_scope() -> None:
    assert rule_vote(rule("forbid", TRUE, unless=[FALSE, FALSE]), YES) == BAD


def test_unknown_scope_gives_unknown_vote() -> None:
    assert in_scope(rule("forbid", TRUE, when=UNKNOWN), YES) is None
    assert rule_vote(rule("forbid", TRUE, when=UNKNOWN), YES) is None
    assert in_scope(rule("forbid", TRUE, unless=[UNKNOWN]), YES) is None
    # A carve-out that certainly holds wins over an unknown one.
    assert in_scope(rule("forbid", TRUE, unless=[UNKNOWN, TRUE]), YES) is False
    # A `when` that is certainly false wins over an unknown carve-out.
    assert in_scope(rule("forbid", TRUE, when=FALSE, unless=[UNKNOWN]), YES) is False


def test_a_scope_before_the_answer_exists_is_unknown_only_where_the_answer_decides() -> None:
    """Before generation (`UNANSWERED`), atoms on the response are unknown; prompt atoms decide."""
    on_prompt = rule("require", TRUE, when=keywords("refund", subject="prompt"))
    on_answer = rule("require", TRUE, when=keywords("refund", subject="response"))
    both = rule("require", TRUE, when=AND(keywords("refund", subject="prompt"),
                                        keywords("sorry", subject="conversation")))
    unanswered = on("", prompt="How do I get a refund?")
    assert in_scope(on_prompt, unanswered, unknown=UNANSWERED) is True
    assert in_scope(on_prompt, on("", prompt="Hello"), unknown=UNANSWERED) is False
    assert in_scope(on_answer, unanswered, unknown=UNANSWERED) is None
    assert in_scope(both, unanswered, unknown=UNANSWERED) is None
    assert in_scope(both, on("", prompt="Hello"), unknown=UNANSWERED) is False  # `false` decides an `and`
    assert evaluate(keywords("refund", subject="any_response"), unanswered, unknown=UNANSWERED) is None


# --- the row verdict -----------------------------------------------------------------------


def test_a_row_is_bad_when_any_rule_votes_bad_whatever_its_severity() -> None:
    low = rule("forbid", TRUE).model_copy(update={"severity": "low", "precedence": 2})
    critical = rule("require", TRUE).model_copy(update={"severity": "critical", "precedence": 0})
    high = rule("require", TRUE).model_copy(update={"severity": "high", "precedence": 1})
    rules = (low, critical, high)
    assert row_verdict([BAD, GOOD, GOOD]) == BAD  # 12 of 13 weight is GOOD; the low violation stands
    assert row_score([BAD, GOOD, GOOD], rules) == pytest.approx(12 / 13)
    assert reported_violation([BAD, GOOD, BAD], rules) == 2  # the high one outranks the low one
    assert row_verdict([ABSTAIN, GOOD, ABSTAIN]) == GOOD
    assert reported_violation([ABSTAIN, GOOD, ABSTAIN], rules) is None
    assert row_verdict([ABSTAIN] * 3) == ABSTAIN and row_score([ABSTAIN] * 3, rules) is None


def test_scope_on_prompt_and_check_on_response() -> None:
    r = rule("require", regex("^- ", "m"), when=keywords("list", subject="prompt"))
    assert rule_vote(r, on("- a\n- b", prompt="List two things")) == GOOD
    assert rule_vote(r, on("a, b", prompt="List two things")) == BAD
    assert rule_vote(r, on("a, b", prompt="Tell me a joke")) == ABSTAIN
