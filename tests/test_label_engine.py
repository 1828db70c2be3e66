"""The Labeler: shadowing, fail-closed judges, soft rules, aggregation, output columns, and the
column kernels on hand-picked inputs (including the known RE2/Python differences)."""

from __future__ import annotations

import functools
import math
import shutil
import signal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tenet.compiler import ir, semantics
from tenet.compiler.pipeline import compile_policy
from tenet.runtime.data import read_batches
from tenet.runtime.label.engine import (SPAN_TYPE, Labeler, aggregate, reported_violations, rules_metadata,
                                  span_column, vote_column)
from tenet.runtime.label.scorers import Scorers

pytest_plugins = ["tiny_models"]

FIXTURES = Path(__file__).parent / "fixtures" / "label"
GOOD, BAD, ABSTAIN = ir.GOOD, ir.BAD, ir.ABSTAIN


@functools.cache
def rules_of(name: str) -> tuple[ir.RuleIR, ...]:
    result = compile_policy(str(FIXTURES / name))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.ir.rules


def compile_text(tmp_path: Path, body: str, name: str = "p.policy") -> tuple[ir.RuleIR, ...]:
    path = tmp_path / name
    path.write_text("dsl 1\npolicy t version \"1\"\n" + body, encoding="utf-8")
    result = compile_policy(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.ir.rules


def label_rows(rules, rows, score=None) -> tuple[pa.Table, np.ndarray]:
    batch = next(read_batches(rows))
    return Labeler(rules, score=score).label(batch)


def votes_by_rule(rules, matrix, i=0) -> dict[str, int]:
    return {r.id: int(matrix[i, j]) for j, r in enumerate(rules)}


# --- shadowing ---------------------------------------------------------------------------------


def test_shadowed_rule_abstains_only_where_the_winner_votes():
    rules = rules_of("engine.policy")
    assert {r.id: r.shadowed_by for r in rules}["smileys-welcome"] == ("formal-no-smileys",)
    rows = [
        {"prompt": "formal please", "response": "Sure :)"},     # winner votes BAD
        {"prompt": "formal please", "response": "Certainly."},  # winner votes GOOD
        {"prompt": "casual", "response": "Sure :)"},            # winner out of scope
        {"prompt": "casual", "response": "Certainly."},
    ]
    _, matrix = label_rows(rules, rows)
    by_row = [votes_by_rule(rules, matrix, i) for i in range(4)]
    got = [(row["formal-no-smileys"], row["smileys-welcome"]) for row in by_row]
    assert got == [(BAD, ABSTAIN), (GOOD, ABSTAIN), (ABSTAIN, GOOD), (ABSTAIN, BAD)]
    # without shadowing the loser would have voted on the formal rows
    unshadowed = [r.model_copy(update={"shadowed_by": ()}) for r in rules]
    _, plain = label_rows(unshadowed, rows)
    assert [votes_by_rule(rules, plain, i)["smileys-welcome"] for i in range(4)] == [GOOD, BAD, GOOD, BAD]


# --- soft rules ----------------------------------------------------------------------------------


def test_soft_rules_abstain_instead_of_voting_the_other_way():
    rules = rules_of("engine.policy")
    rows = [{"prompt": "hi", "response": "thanks, GREAT work"}, {"prompt": "hi", "response": "fine"}]
    _, matrix = label_rows(rules, rows)
    first, second = votes_by_rule(rules, matrix, 0), votes_by_rule(rules, matrix, 1)
    assert (first["prefer-thanks"], second["prefer-thanks"]) == (GOOD, ABSTAIN)    # never BAD
    assert (first["avoid-shouting"], second["avoid-shouting"]) == (BAD, ABSTAIN)   # never GOOD
    soft = {r.id: r for r in rules}
    assert soft["prefer-thanks"].soft and soft["avoid-shouting"].soft and not soft["no-secrets"].soft
    assert soft["prefer-thanks"].weight == 1.0 and soft["no-secrets"].weight == 8.0


# --- aggregation ---------------------------------------------------------------------------------


class R:
    """A stand-in with what `aggregate` and `reported_violations` read (precedence: list order)."""

    def __init__(self, severity: str, soft: bool = False, precedence: int = 0):
        self.severity = severity
        self.weight = ir.SEVERITY_WEIGHT[severity] * (0.5 if soft else 1.0)
        self.precedence = precedence


def test_aggregate_by_hand():
    kinds = [("critical", False), ("high", False), ("high", False), ("high", False), ("medium", False),
             ("low", False), ("medium", True)]
    rules = [R(severity, soft, precedence) for precedence, (severity, soft) in enumerate(kinds)]
    matrix = np.array([
        # crit high high high  med  low  soft-med
        [BAD, GOOD, GOOD, GOOD, GOOD, GOOD, GOOD],          # 16 / 24, a critical violation
        [ABSTAIN, BAD, ABSTAIN, ABSTAIN, GOOD, GOOD, ABSTAIN],  # 3 / 7
        [ABSTAIN, GOOD, ABSTAIN, ABSTAIN, BAD, BAD, ABSTAIN],   # 4 / 7: the high GOOD outweighs, never outvotes
        [ABSTAIN] * 7,                                      # nobody voted
        [ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN, GOOD, BAD, BAD],   # 2 / (2 + 1 + 1) = 0.5
        [GOOD, BAD, BAD, ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN],   # 8 / 16: a critical GOOD does not excuse
        [ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN, BAD],  # only a soft BAD (an `avoid` broken)
        [GOOD, ABSTAIN, GOOD, ABSTAIN, ABSTAIN, GOOD, ABSTAIN],  # nothing broken
    ], dtype=np.int8)
    verdict, score = aggregate(matrix, rules)
    assert verdict.tolist() == [BAD, BAD, BAD, ABSTAIN, BAD, BAD, BAD, GOOD]
    expected = [16 / 24, 3 / 7, 4 / 7, math.nan, 0.5, 0.5, 0.0, 1.0]
    for got, want in zip(score.tolist(), expected):
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)
    assert verdict.dtype == np.int8
    # The reported violation is the broken rule of highest precedence.
    assert reported_violations(matrix, rules).tolist() == [0, 1, 4, -1, 5, 1, 6, -1]


def test_reported_violation_follows_precedence_not_column_order():
    rules = [R("low", precedence=2), R("critical", precedence=0), R("high", precedence=1)]
    matrix = np.array([[BAD, BAD, BAD], [BAD, GOOD, BAD], [BAD, ABSTAIN, GOOD]], dtype=np.int8)
    assert reported_violations(matrix, rules).tolist() == [1, 2, 0]
    assert reported_violations(np.zeros((2, 0), dtype=np.int8), []).tolist() == [-1, -1]


def test_label_output_columns_and_aggregation_on_real_rules():
    rules = rules_of("engine.policy")
    rows = [
        {"prompt": "hi", "response": "thanks! your password is hunter2"},  # critical BAD, others good
        {"prompt": "hi", "response": "thanks :)"},
        {"prompt": "hi", "response": "   "},                              # bad row: empty
    ]
    table, matrix = label_rows(rules, rows)
    ids = [r.id for r in rules]
    assert table.column_names == (["row", "prompt", "response", "context", "gold", "bad"]
                                  + [c for r in rules
                                     for c in (vote_column(r.id, ids), span_column(r.id, ids))]
                                  + ["verdict", "score", "reason"])
    for r in rules:
        assert table.schema.field(vote_column(r.id, ids)).type == pa.int8()
        assert table.schema.field(span_column(r.id, ids)).type == SPAN_TYPE
    first = votes_by_rule(rules, matrix, 0)
    assert first == {"formal-no-smileys": ABSTAIN, "smileys-welcome": BAD, "prefer-thanks": GOOD,
                     "avoid-shouting": ABSTAIN, "no-secrets": BAD}
    verdicts, scores = table.column("verdict").to_pylist(), table.column("score").to_pylist()
    # row 0: good weight 1 (prefer, medium soft) of 1 + 1 + 8 voting -> 0.1, and critical BAD anyway
    assert verdicts[0] == BAD and scores[0] == pytest.approx(1 / 10)
    # row 1: smileys-welcome GOOD (1), prefer GOOD (1), no-secrets GOOD (8)
    assert verdicts[1] == GOOD and scores[1] == pytest.approx(1.0)
    # a bad row: every vote abstains, verdict abstains, score is null
    assert set(matrix[2].tolist()) == {ABSTAIN} and verdicts[2] == ABSTAIN and scores[2] is None
    # row 0 reports its critical violation, not the low one; the others report none
    assert table.column("reason").to_pylist() == ["no-secrets", None, None]
    assert table.column(span_column("no-secrets", ids)).to_pylist()[0] == {"start": 13, "end": 21}
    assert table.column(span_column("no-secrets", ids)).to_pylist()[1] is None


def test_spans_can_be_switched_off():
    rules = rules_of("engine.policy")
    table, _ = Labeler(rules, spans=False).label(next(read_batches([{"prompt": "p", "response": "r"}])))
    assert not [c for c in table.column_names if c.startswith("span__")]


def test_rules_metadata_records_provenance():
    rules = rules_of("engine.policy")
    meta = rules_metadata(rules, "abc123")
    import json

    payload = json.loads(meta[b"tenet.provenance"])
    assert payload["policy_hash"] == "abc123"
    first = payload["rules"][0]
    assert first["id"] == rules[0].id and first["column"] == vote_column(rules[0].id, [r.id for r in rules])
    assert first["fingerprint"] == rules[0].fingerprint.semantic
    assert first["source"] == f"{rules[0].span.file}:{rules[0].span.line}"


def test_empty_batch_labels_to_an_empty_table():
    rules = rules_of("engine.policy")
    batch = next(read_batches([{"prompt": "p", "response": "r"}])).slice(0, 0)
    table, matrix = Labeler(rules).label(batch)
    assert table.num_rows == 0 and matrix.shape == (0, len(rules))


# --- fail-closed judges --------------------------------------------------------------------------


def judge_rules() -> tuple[ir.RuleIR, ...]:
    return rules_of("judge.policy")


def judge_root(tmp_path: Path, model_dir: Path) -> Path:
    (tmp_path / "models").mkdir()
    shutil.copytree(model_dir, tmp_path / "models" / "judge")
    return tmp_path


JUDGE_ROWS = [{"prompt": "Is it open?", "response": "Yes, it is open."},
              {"prompt": "Open?", "response": "Come in, please."}]
NO_VERDICT = {"judged-require": BAD, "judged-forbid": BAD, "judged-prefer": BAD, "judged-avoid": BAD,
              "judged-scope": BAD, "judged-by-text-first": GOOD}


def test_judge_without_parsable_score_fails_closed(tmp_path, tiny_llama_no_scores, monkeypatch):
    """A tiny random LM (its vocabulary has no digits) never answers `Score: N`: every vote that
    depends on it is BAD, whatever the verdict kind; text that decides alone still decides."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scorers = Scorers(root=judge_root(tmp_path, tiny_llama_no_scores), batch_size=2)
    rules = judge_rules()
    answers = []
    import tenet.runtime.label.scorers as scorer_module

    real_parse = scorer_module.parse_judge_score
    monkeypatch.setattr(scorer_module, "parse_judge_score", lambda a: answers.append(a) or real_parse(a))
    _, matrix = label_rows(rules, JUDGE_ROWS, score=scorers)
    assert answers and all(real_parse(a) is None and real_parse("Score:" + a) is None for a in answers)
    assert votes_by_rule(rules, matrix, 0) == NO_VERDICT
    assert votes_by_rule(rules, matrix, 1) == {**NO_VERDICT, "judged-by-text-first": BAD}


def test_scorer_returning_none_fails_closed(monkeypatch):
    monkeypatch.setattr(Scorers, "_judge", lambda self, pred, texts: [None] * len(texts))
    rules = judge_rules()
    _, matrix = label_rows(rules, JUDGE_ROWS, score=Scorers())
    assert votes_by_rule(rules, matrix, 0) == NO_VERDICT


def test_no_scorer_at_all_fails_closed():
    rules = judge_rules()
    _, matrix = label_rows(rules, JUDGE_ROWS, score=None)
    assert votes_by_rule(rules, matrix, 0) == NO_VERDICT


def test_judge_scores_decide_votes(monkeypatch):
    values = {"Yes, it is open.": 0.8, "Come in, please.": 0.2, "Is it open?": 0.9, "Open?": 0.1}
    monkeypatch.setattr(Scorers, "_judge", lambda self, pred, texts: [values[t] for t in texts])
    rules = judge_rules()
    _, matrix = label_rows(rules, JUDGE_ROWS, score=Scorers())
    assert votes_by_rule(rules, matrix, 0) == {
        "judged-require": GOOD, "judged-forbid": BAD, "judged-prefer": GOOD, "judged-avoid": BAD,
        "judged-scope": BAD,  # in scope (0.9), no "?" in the response
        "judged-by-text-first": GOOD}
    assert votes_by_rule(rules, matrix, 1) == {
        "judged-require": BAD, "judged-forbid": GOOD, "judged-prefer": ABSTAIN, "judged-avoid": ABSTAIN,
        "judged-scope": ABSTAIN,  # out of scope (0.1)
        "judged-by-text-first": GOOD}  # "please" but the judge says 0.2 < 0.5


def test_judge_that_continues_the_primed_score_is_parsed(tmp_path, constant_llama_7, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scorers = Scorers(root=judge_root(tmp_path, constant_llama_7))
    rules = judge_rules()
    _, matrix = label_rows(rules, JUDGE_ROWS[:1], score=scorers)
    assert votes_by_rule(rules, matrix, 0) == {
        "judged-require": GOOD, "judged-forbid": BAD, "judged-prefer": GOOD, "judged-avoid": BAD,
        "judged-scope": BAD, "judged-by-text-first": GOOD}


# --- kernels on hand-picked inputs -------------------------------------------------------------------


def one_vote(tmp_path, body: str, response: str, prompt: str = "p") -> tuple[int, dict | None]:
    rules = compile_text(tmp_path, body)
    table, matrix = label_rows(rules, [{"prompt": prompt, "response": response}])
    return int(matrix[0, 0]), table.column(span_column(rules[0].id, [r.id for r in rules]))[0].as_py()


@pytest.mark.parametrize("body, response, vote, span", [
    ('rule r (low):\n  forbid response matches /kelvin/i\n', "\u212aelvin", GOOD, None),    # RE2 folds K
    ('rule r (low):\n  forbid response matches /sure/i\n', "\u017fure", GOOD, None),        # ...and long s
    ('rule r (low):\n  forbid response matches /sure/i\n', "x SURE", BAD, {"start": 2, "end": 6}),
    ('rule r (low):\n  forbid response mentions words("kiosk")\n', "\u212aiosk", GOOD, None),
    ('rule r (low):\n  forbid response contains link\n', "http\u017f://x.io", GOOD, None),
    ('rule r (low):\n  forbid response matches /end$/\n', "the end", BAD, {"start": 4, "end": 7}),
    ('rule r (low):\n  forbid response matches /end$/\n', "the end\n\n", GOOD, None),
    ('rule r (low):\n  forbid response mentions words("C++")\n', "I like c++.", BAD, {"start": 7, "end": 10}),
    ('rule r (low):\n  forbid response mentions words("C++")\n', "I like c++x", GOOD, None),
    ('rule r (low):\n  forbid response mentions words("customer service")\n', "Customer \n Service!", BAD,
     {"start": 0, "end": 18}),
    ('rule r (low):\n  forbid response mentions exact words("ACME")\n', "acme", GOOD, None),
    # case-insensitivity is ASCII-only in both engines (semantics.py): "Café" matches, "CAFÉ" does not
    ('rule r (low):\n  forbid response mentions words("café")\n', "Café au lait", BAD,
     {"start": 0, "end": 4}),
    ('rule r (low):\n  forbid response mentions words("café")\n', "CAFÉ au lait", GOOD, None),
    ('rule r (low):\n  forbid response contains phone number\n', "call 555-123-4567 now", BAD,
     {"start": 5, "end": 17}),
    ('rule r (low):\n  forbid response matches /(\\w+) \\1/\n', "é the the", BAD, {"start": 2, "end": 9}),
    ('rule r (low):\n  require response has between 2 and 3 words\n', "one two three four", BAD, None),
    ('rule r (low):\n  require response has exactly 2 sentences\n', "Hi. How are you?! Fine", BAD, None),
    ('rule r (low):\n  require response has at most 3 characters\n', "中文😀", GOOD, None),
    ('rule r (low):\n  require response is json\n', ' \n{"a": [1, 2]}\t', GOOD, None),
    ('rule r (low):\n  require response is json\n', '"just a string"', BAD, None),
    ('rule r (low):\n  require response starts with "Sure"\n', " \n Sure thing", GOOD,
     {"start": 3, "end": 7}),
    ('rule r (low):\n  require response ends with "!"\n', "Done! \n", GOOD, {"start": 4, "end": 5}),
])
def test_kernel_cases(tmp_path, body, response, vote, span):
    rule = compile_text(tmp_path, body)[0]
    assert semantics.rule_vote(rule, semantics.Sample("p", response)) == vote  # the reference agrees
    assert one_vote(tmp_path, body, response) == (vote, span)


@pytest.mark.parametrize("body, response", [
    ('rule r (low):\n  require response has exactly 1 lines\n', "hello world"),
    ('rule r (low):\n  require response has exactly 2 lines\n', "first line\n\n  second line\n"),
    ('rule r (low):\n  require response has at most 1 bullets\n', "- - - x"),
])
def test_line_and_bullet_counts(tmp_path, body, response):
    sample = semantics.Sample("p", response)
    assert semantics.rule_vote(compile_text(tmp_path, body)[0], sample) == GOOD
    assert one_vote(tmp_path, body, response)[0] == GOOD


def test_backslash_s_matches_vertical_tab_like_the_reference(tmp_path):
    body = 'rule r (low):\n  forbid response matches /a\\sb/\n'
    assert semantics.rule_vote(compile_text(tmp_path, body)[0], semantics.Sample("p", "a\x0bb")) == BAD
    assert one_vote(tmp_path, body, "a\x0bb")[0] == BAD


@pytest.mark.parametrize("body, response, span", [
    ('rule r (low):\n  forbid response matches /a.b/\n', "x aéb", {"start": 2, "end": 5}),
    ('rule r (low):\n  forbid response matches /^\\s*[-*•]\\s+/m\n', "• item", {"start": 0, "end": 2}),
    ('rule r (low):\n  forbid response is a refusal\n', "I\u2019m sorry, but no", {"start": 0, "end": 14}),
])
def test_spans_on_non_ascii_text(tmp_path, body, response, span):
    assert one_vote(tmp_path, body, response) == (BAD, span)


def test_dollar_span_excludes_the_final_newline(tmp_path):
    body = 'rule r (low):\n  forbid response matches /done$/\n'
    assert semantics.match_span(compile_text(tmp_path, body)[0].check, "all done\n") == (4, 8)
    assert one_vote(tmp_path, body, "all done\n") == (BAD, {"start": 4, "end": 8})


# --- the time-bounded Python fallback ------------------------------------------------------------


def test_bounded_search_agrees_with_in_process_search():
    import re

    from tenet.runtime.label.bounded import bounded_search

    pattern = re.compile(r"\b(\w+) \1\b|foo(?=bar)", re.ASCII | re.IGNORECASE)
    texts = ["the the", "The the end", "foobar", "FOObar", "foo bar", "", "中文 x x 😀", "no"] * 5
    assert bounded_search(pattern, texts) == [pattern.search(t) is not None for t in texts]
    assert bounded_search(pattern, []) == []


def test_python_fallback_policy_regexes_agree_with_in_process_search():
    """The forked, bounded worker gives the votes in-process `re` gives, on a realistic batch."""
    from unittest import mock

    from tenet.runtime.label import kernels

    rules = rules_of("predicates.policy")
    responses = ["the the end", "x foobar", "FOObar über", "Straße", "h e l l o", "hello", "x x", "中文 ok"]
    rows = [{"prompt": r.upper(), "response": r} for r in responses]
    _, bounded = label_rows(rules, rows)
    with mock.patch.object(kernels, "bounded_search",
                           lambda pattern, texts, **_: [pattern.search(t) is not None for t in texts]):
        _, in_process = label_rows(rules, rows)
    assert (bounded == in_process).all()


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
def test_catastrophic_regex_row_abstains_and_the_rule_is_reported(tmp_path):
    rules = compile_text(tmp_path, 'rule r (low):\n  forbid response matches /^(a+)+(?=b)/\n')
    assert rules[0].check.engine == "python"
    rows = [{"prompt": "p", "response": "a" * 40 + "c"}, {"prompt": "p", "response": "aab"},
            {"prompt": "p", "response": "xyz"}]

    def timeout(*_):
        raise TimeoutError("labeling three rows took more than 20 s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(20)
    try:
        labeler = Labeler(rules)
        matrix = labeler.votes(next(read_batches(rows)))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert matrix[:, 0].tolist() == [ABSTAIN, BAD, GOOD]
    assert labeler.timeouts == {"r": 1}
