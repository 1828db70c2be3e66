"""The column engine (Arrow/RE2 kernels) against the reference semantics, on random text.

`compiler/semantics.py` is the one definition of every predicate. These property tests
label random rows (plain, conversational `messages`, TRL list prompts; ASCII, whitespace,
punctuation and tricky Unicode such as the Kelvin sign and the long s that RE2 case-folds
into ASCII) with `tests/fixtures/label/predicates.policy`, which uses every text predicate
kind, flag, subject and connective, and check that:

- `Labeler.votes` over `read_batches` equals `semantics.rule_vote` on every row and rule;
- the spans from `Labeler.label` equal `semantics.match_span` of the first located text atom
  of the rule's check that holds;
- the same holds when RE2 is forced to fail and the Python `re` fallback runs everything;
- with model-backed scores (a fake scorer that sometimes has no verdict), Kleene logic and
  fail-closed votes agree with the reference.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tenet.compiler import ir, predicates, semantics
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.walk import atoms
from tenet.runtime.data import read_batches
from tenet.runtime.label import kernels
from tenet.runtime.label.engine import Labeler, span_column, vote_column

FIXTURES = Path(__file__).parent / "fixtures" / "label"
WS = semantics.STRIP_CHARS
IN_PROCESS_CALLS: list[str] = []


def in_process_search(pattern, texts, row_budget=None, **_) -> list[bool]:
    """What `bounded_search` computes, minus the forked worker and the time bound."""
    IN_PROCESS_CALLS.append(pattern.pattern)
    return [pattern.search(t) is not None for t in texts]


@pytest.fixture(autouse=True, scope="module")
def no_fork_per_search():
    """Policy regexes on Python `re` normally run in a forked, time-bounded worker (one fork per
    batch and regex: too slow for hundreds of examples). Here they run in-process; that the
    bounded worker returns the same answers is tested in test_label_engine."""
    with mock.patch.object(kernels, "bounded_search", in_process_search):
        yield


@functools.cache
def artifact(name: str):
    result = compile_policy(str(FIXTURES / name))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


# --- random rows -------------------------------------------------------------------------

# Fragments that make the predicates fire often (and RE2/Python differences show up).
FRAGMENTS = [
    "RivalCo", "rivalco", "C++", "c++", "customer  service", "Customer\nService", "Globex", "kiosk",
    "\u212aiosk", "KIOSK", "café", "CAFÉ", "Straße", "STRASSE", "Über", "über", "ACME", "acme",
    "e-mail", "Ñandú", "ñandú", "sure", "Sure", "SURE", "\u017fure", "ok", "OK", "kelvin",
    "\u212aelvin", "refund", "Refund", "start", "end", "done", "done.", "done\n", "done.\n", "abXc",
    "AB\nC", "ab\nc\n", "foobar",
    "FOObar", "the the", "x x", "hack", "weapon", "json", "JSON", '{"a": 1}', "[1, 2]", "{bad",
    "  [ ]  ", "a@b.co", "user.name+tag@mail.example.org", "http://x.io/p", "HTTPS://Y.COM",
    "www.acme.com", "http\u017f://z.io", "555-123-4567", "(555) 123-4567", "+1 555 123 4567",
    "5551234567", "123", "1234", "I'm sorry, but", "I\u2019m afraid, but", "i can\u2019t help",
    "I cannot assist", "As an AI", "I must decline", "I'm \u017forry, but", "\u0130 am sorry, but",
    "- item", "* item", "\u2022 item", "-item", "compare", "list", "steps", "no bullets", "error",
    "hello", "h e l l o", "?", "!", ".", "...", "!!", "\n", "\n\n", "\r\n", "\t", "\f", " ", "  ",
    "中文", "😀", "é", "ü", "\u2019", "\u212a", "\u017f", "\u0131", "\u0130", "ß",
]
ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \t\n\r\f\v" + \
    "éü中😀\u212a\u017f\u2019\u0131\u0130ßÜ"

# Fragments and single characters, joined: cheap to draw, and they make predicates fire.
PIECES = FRAGMENTS + sorted(set(ALPHABET))


@st.composite
def rows(draw, texts) -> tuple[dict, semantics.Sample]:
    """One input row and the sample the reference should see for it."""
    prompt, response = draw(texts), draw(texts)
    shape = draw(st.sampled_from(["plain", "plain", "messages", "trl"]))
    if shape == "plain":
        return {"prompt": prompt, "response": response}, semantics.Sample(prompt, response)
    turns = draw(st.lists(st.tuples(texts, texts), max_size=2))
    context = tuple(t for user, assistant in turns for t in (("user", user), ("assistant", assistant)))
    messages = [{"role": r, "content": c} for r, c in context] + [{"role": "user", "content": prompt}]
    if draw(st.booleans()):
        messages.insert(0, {"role": "system", "content": draw(texts)})  # system turns are not context
    sample = semantics.Sample(prompt, response, context)
    if shape == "trl":
        return {"prompt": messages, "response": response}, sample
    return {"messages": messages + [{"role": "assistant", "content": response}]}, sample


def row_lists(pieces: list[str] = PIECES):
    texts = st.lists(st.sampled_from(pieces), max_size=12).map("".join)
    return st.lists(rows(texts), min_size=1, max_size=8)


WITH_VTAB = PIECES + ["\x0b", "\x0b- item"]


# --- expectations from the reference --------------------------------------------------------


def expected_span(rule: ir.RuleIR, sample: semantics.Sample, vote: int):
    """(atom, span): match_span of the first located text atom of the rule's check that holds."""
    if vote == ir.ABSTAIN:
        return None, None
    for atom in atoms(rule.check):
        if not semantics.locates(atom):  # the kind has no `finder`
            continue
        text = semantics.subject_text(sample, atom.subject)
        if semantics.evaluate_text_atom(atom, text):
            hit = semantics.match_span(atom, text)
            return atom, (None if hit is None else {"start": hit[0], "end": hit[1]})
    return None, None


def engine_run(rules, data, batch_rows, score=None) -> tuple[np.ndarray, pa.Table, pa.Table]:
    """The vote matrix (`Labeler.votes`, via `Labeler.label`) and labeled table over all batches."""
    labeler = Labeler(rules, score=score)
    batches = list(read_batches(data, batch_rows=batch_rows))
    labeled = [labeler.label(b) for b in batches]
    votes = np.concatenate([matrix for _, matrix in labeled])
    return votes, pa.concat_tables([table for table, _ in labeled]), pa.concat_tables(batches)


def check_against_reference(data, samples, rules, batch_rows, score=None, ref_score=None):
    """Label `data` with the column engine and compare every vote and span with the reference."""
    votes, labeled, normalized = engine_run(rules, data, batch_rows, score)
    assert normalized.num_rows == len(samples)
    bad = normalized.column("bad").to_pylist()
    for i, (sample, reason) in enumerate(zip(samples, bad)):
        is_empty = not sample.response.strip(WS)
        assert reason == ("empty" if is_empty else None), (i, sample)
        if reason is None:
            context = tuple((t["role"], t["content"]) for t in normalized.column("context")[i].as_py())
            assert (normalized.column("prompt")[i].as_py(), normalized.column("response")[i].as_py(),
                    context) == (sample.prompt, sample.response, sample.context)
    expected = np.empty_like(votes)
    for i, sample in enumerate(samples):
        for j, rule in enumerate(rules):
            vote = semantics.rule_vote(rule, sample, ref_score)
            expected[i, j] = ir.ABSTAIN if bad[i] else (ir.BAD if vote is None else vote)
    compared = np.ones(len(rules), dtype=bool)
    mismatches = [(i, rules[j].id, int(votes[i, j]), int(expected[i, j]), samples[i])
                  for i, j in zip(*np.nonzero(votes != expected)) if compared[j]]
    assert not mismatches, mismatches[:3]
    ids = [r.id for r in rules]
    label_votes = np.stack([labeled.column(vote_column(r.id, ids)).to_numpy() for r in rules], axis=1)
    assert (label_votes == votes).all()
    for j, rule in enumerate(rules):
        if not compared[j]:
            continue
        spans = labeled.column(span_column(rule.id, ids)).to_pylist()
        for i, sample in enumerate(samples):
            atom, want = expected_span(rule, sample, int(expected[i, j]))
            assert spans[i] == want, (rule.id, i, sample, spans[i], want)
    return votes, labeled


# --- the properties ---------------------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(PROPERTY, max_examples=100)
# Report the first failing example unshrunk: shrinking these rows is slow and adds nothing.
FIRST_FAILURE = settings(PROPERTY, max_examples=100, phases=[Phase.generate])


def test_fixture_covers_every_text_predicate_kind():
    """Every registered kind is in a fixture, so no kind escapes the properties below."""
    rules = artifact("predicates.policy").ir.rules
    used = [a for r in rules for p in (r.check, r.when, *r.unless) if p is not None for a in atoms(p)]
    assert {a.kind for a in used} == {k.name for k in predicates.kinds() if k.is_text}
    scored = [a for r in artifact("scores.policy").ir.rules for p in (r.check, r.when, *r.unless)
              if p is not None for a in atoms(p)]
    assert {a.kind for a in scored} >= {k.name for k in predicates.kinds() if not k.is_text}
    regexes = [a for a in used if a.kind == "regex"]
    assert {f for a in regexes for f in a.flags} >= set("imsx")
    assert {a.engine for a in regexes} == {"re2", "python"}
    assert {a.unit for a in used if a.kind == "count"} == {"words", "sentences", "lines", "bullets",
                                                             "characters"}
    assert {a.op for a in used if a.kind == "count"} == {"at_most", "at_least", "exactly", "more_than",
                                                           "fewer_than", "between"}
    assert {a.pii for a in used if a.kind == "pii"} == {"email", "link", "phone_number"}
    assert {a.op for a in used if a.kind == "text"} == {"contains", "starts_with", "ends_with"}
    keywords = [a for a in used if a.kind == "keywords"]
    assert {a.exact for a in keywords} == {True, False}
    assert any("C++" in a.terms for a in keywords) and any(" " in t for a in keywords for t in a.terms)
    assert {a.subject for a in used} == {"prompt", "response", "conversation", "any_prompt", "any_response"}
    assert {r.verdict for r in rules} == {"require", "forbid", "prefer", "avoid"}
    assert any(r.when for r in rules) and any(r.unless for r in rules)
    assert {p.kind for r in rules for p in _connectives(r.check)} == {"and", "or", "not"}
    assert not any(r.shadowed_by for r in rules)  # shadowing is tested on its own


def _connectives(pred):
    if isinstance(pred, (ir.AndPred, ir.OrPred)):
        yield pred
        yield from _connectives(pred.left)
        yield from _connectives(pred.right)
    elif isinstance(pred, ir.NotPred):
        yield pred
        yield from _connectives(pred.operand)


def _split(data):
    return [row for row, _ in data], [sample for _, sample in data]


@PROPERTY
@given(data=row_lists(), batch_rows=st.integers(4, 8))
def test_column_engine_matches_reference_votes_and_spans(data, batch_rows):
    """Every vote and span of every rule, on every row, as the reference says (known bugs aside)."""
    rules = artifact("predicates.policy").ir.rules
    rows_in, samples = _split(data)
    check_against_reference(rows_in, samples, rules, batch_rows)
    if all("messages" not in r and isinstance(r["prompt"], str) for r in rows_in):
        # plain string columns take the all-Arrow normalization path
        table = pa.Table.from_pylist(rows_in, schema=pa.schema([("prompt", pa.string()),
                                                                ("response", pa.string())]))
        check_against_reference(table, samples, rules, batch_rows)


@FIRST_FAILURE
@given(data=row_lists(WITH_VTAB), batch_rows=st.integers(4, 8))
def test_column_engine_matches_reference_everywhere(data, batch_rows):
    """The full property, with no exclusions: what must hold once the bugs are fixed."""
    rules = artifact("predicates.policy").ir.rules
    rows_in, samples = _split(data)
    check_against_reference(rows_in, samples, rules, batch_rows)


@QUICK
@given(data=row_lists(WITH_VTAB))
def test_python_fallback_gives_identical_votes_and_spans(data):
    """RE2 forced off (every RE2 call raises ArrowInvalid): Python `re` gives the same labels."""
    rules = artifact("predicates.policy").ir.rules
    rows_in, samples = _split(data)
    fallback_calls = []
    real_search = kernels.python_search

    def counting_search(pattern, texts_):
        fallback_calls.append(pattern.pattern)
        return real_search(pattern, texts_)

    IN_PROCESS_CALLS.clear()
    with mock.patch.object(kernels, "re2_pattern", side_effect=pa.ArrowInvalid("RE2 forced off")), \
            mock.patch.object(kernels, "_span_pattern", return_value=("(?<=x)y", False)), \
            mock.patch.object(kernels, "python_search", side_effect=counting_search):
        # identical to the reference (and so to the RE2 engine, tested above); Python locates
        # every span
        forced, forced_labeled = check_against_reference(rows_in, samples, rules, 8)
        for j, rule in enumerate(rules):
            for i, sample in enumerate(samples):
                _, want = expected_span(rule, sample, int(forced[i, j]))
                assert forced_labeled.column(span_column(rule.id, [r.id for r in rules]))[i].as_py() == want
    # built-in patterns (keywords, pii, refusal) ran on in-process Python `re`, policy regexes on
    # the (here in-process) bounded search
    assert semantics.REFUSAL_PATTERN in fallback_calls
    assert semantics.PII_PATTERNS["email"] in fallback_calls
    assert "\\b[0-9]{3}\\b" in IN_PROCESS_CALLS and "\\b[0-9]{3}\\b" not in fallback_calls


# --- model-backed scores: three-valued logic and fail-closed votes ------------------------------


def fake_value(pred: ir.ScorePred, text: str) -> float | None:
    """A deterministic stand-in score; None ("no verdict") for some texts."""
    n = len(text) + len(pred.fn)
    if n % 5 == 3:
        return None
    return {"sentiment": ((n % 9) - 4) / 4, "similarity": (n % 11) / 10,
            "classifier": (n % 7) / 6, "judge": (n % 10) / 10}[pred.fn]


def fake_batch(pred: ir.ScorePred, batch: list[str]) -> list[float | None]:
    return [fake_value(pred, t) for t in batch]


def fake_reference(pred: ir.ScorePred, sample: semantics.Sample) -> float | None:
    return fake_value(pred, semantics.subject_text(sample, pred.subject))


@QUICK
@given(data=row_lists(), batch_rows=st.integers(1, 8))
def test_scores_follow_kleene_logic_and_fail_closed(data, batch_rows):
    rules = artifact("scores.policy").ir.rules
    rows_in, samples = _split(data)
    check_against_reference(rows_in, samples, rules, batch_rows, score=fake_batch, ref_score=fake_reference)


def test_scores_fixture_reaches_every_three_valued_case():
    """The fake scorer and the fixture really produce unknown scopes and unknown checks."""
    rules = artifact("scores.policy").ir.rules
    samples = [semantics.Sample(p, r) for p in ("hi", "hello there", "x" * 13, "json please")
               for r in ("ok", "a refund", "Sure thing!", "I'm sorry, but no", "x" * 8)]
    outcomes = {(r.id, semantics.rule_vote(r, s, fake_reference)) for r in rules for s in samples}
    votes = {v for _, v in outcomes}
    assert None in votes and {ir.GOOD, ir.BAD, ir.ABSTAIN} <= votes
    assert any(semantics.in_scope(r, s, fake_reference) is None for r in rules for s in samples)


def test_an_address_after_a_vertical_tab_is_placed_as_python_places_it():
    """RE2's `\\s` lacks the vertical tab: an untranslated email span took the tab in (found by
    the property above in CI)."""
    rules = artifact("predicates.policy").ir.rules
    texts = ["\x0ba@b.co", "x\x0ba@b.co", "see www.x.io\x0bok"]
    check_against_reference([{"prompt": "", "response": t} for t in texts],
                            [semantics.Sample("", t) for t in texts], rules, 4)


# --- the row verdict: a violation is never outvoted ---------------------------------------------------


class WeightedRule:
    """What the aggregation reads of a rule: its weight (severity, soft) and its precedence."""

    def __init__(self, severity: str, soft: bool, precedence: int):
        self.severity = severity
        self.weight = ir.SEVERITY_WEIGHT[severity] * (0.5 if soft else 1.0)
        self.precedence = precedence


@st.composite
def vote_matrices(draw) -> tuple[np.ndarray, list[WeightedRule]]:
    """A vote matrix and its rules: any severities, soft or hard, in any precedence order."""
    n_rules = draw(st.integers(1, 8))
    kinds = draw(st.lists(st.tuples(st.sampled_from(ir.SEVERITIES), st.booleans()),
                          min_size=n_rules, max_size=n_rules))
    order = draw(st.permutations(range(n_rules)))
    rules = [WeightedRule(severity, soft, order[j]) for j, (severity, soft) in enumerate(kinds)]
    rows = draw(st.lists(st.lists(st.sampled_from([ir.GOOD, ir.BAD, ir.ABSTAIN]), min_size=n_rules,
                                  max_size=n_rules), min_size=1, max_size=12))
    return np.array(rows, dtype=np.int8), rules


@QUICK
@given(data=vote_matrices())
def test_verdict_is_bad_iff_some_vote_is_bad(data):
    """Vectorized (`aggregate`) and reference (`semantics.row_verdict`) verdicts: BAD iff some rule
    voted BAD, ABSTAIN iff every rule abstained, GOOD otherwise; they agree on score and reason."""
    from tenet.runtime.label.engine import aggregate, reported_violations

    matrix, rules = data
    verdicts, scores = aggregate(matrix, rules)
    reasons = reported_violations(matrix, rules)
    for i, row in enumerate(matrix.tolist()):
        expected = (ir.BAD if ir.BAD in row else ir.ABSTAIN if set(row) == {ir.ABSTAIN} else ir.GOOD)
        assert semantics.row_verdict(row) == expected
        assert verdicts[i] == expected
        reference_score = semantics.row_score(row, rules)
        assert (np.isnan(scores[i]) and reference_score is None) or scores[i] == pytest.approx(reference_score)
        reason = semantics.reported_violation(row, rules)
        assert reasons[i] == (-1 if reason is None else reason)
        if reason is not None:  # the violation reported is the broken rule that ranks first
            assert row[reason] == ir.BAD
            assert rules[reason].precedence == min(r.precedence for r, v in zip(rules, row) if v == ir.BAD)
