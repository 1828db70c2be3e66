"""Evaluation and gates: compliance arithmetic, drift, and every gate target."""

from __future__ import annotations

import numpy as np
import pytest

from tenet.compiler import ir
from tenet.compiler.diagnostics import Span
from tenet.runtime.evaluate import Compliance, compliance, kl_drift
from tenet.runtime.gates import check_gates, promotable

SPAN = Span(file="x", line=1, col=1, end_line=1, end_col=1, start=0, end=0)


def rule(rule_id: str, severity: str) -> ir.RuleIR:
    check = ir.TextPred(span=SPAN, subject="response", op="contains", text="x")
    fp = ir.Fingerprint(semantic="s", examples="e", metadata="m")
    return ir.RuleIR(id=rule_id, module="m", span=SPAN, severity=severity, verdict="forbid", check=check,
                     authority=1, precedence=0, fingerprint=fp)


RULES = (rule("a", "critical"), rule("b", "high"), rule("c", "high"))


def test_compliance_counts_good_over_good_and_bad():
    matrix = np.array([[1, 0, -1], [1, 1, -1], [0, 1, -1], [1, -1, -1]], dtype=np.int8)
    result = compliance(RULES, matrix)
    assert result.per_rule == {"a": 0.75, "b": 2 / 3, "c": None}
    assert result.per_severity == {"critical": 0.75, "high": 2 / 3, "medium": None, "low": None}
    assert result.overall == 5 / 7
    assert result.votes["c"] == {"good": 0, "bad": 0, "abstain": 4}


def gate(target: str, op: str, threshold: float, rule_id: str | None = None) -> ir.GateIR:
    return ir.GateIR(target=target, rule=rule_id, op=op, threshold=threshold)


def measured(instructions: list[int] | None = None, **outcomes: list[int]) -> Compliance:
    """An evaluation where each named rule kept (1) or broke (0) prompts p0, p1, …; the others abstained."""
    rows = max((len(v) for v in outcomes.values()), default=0)
    matrix = np.full((rows, len(RULES)), ir.ABSTAIN, dtype=np.int8)
    for j, r in enumerate(RULES):
        for i, kept in enumerate(outcomes.get(r.id, ())):
            matrix[i, j] = ir.GOOD if kept else ir.BAD
    result = compliance(RULES, matrix)
    result.outcomes = {r: {f"p{i}": kept for i, kept in enumerate(v)} for r, v in outcomes.items()}
    result.instructions = {f"i{i}": kept for i, kept in enumerate(instructions or ())}
    return result


def test_a_level_gate_passes_only_when_its_interval_clears_the_threshold():
    """30 of 30 kept: the Wilson interval is [0.886, 1], which clears 0.85 but not 0.9."""
    after = measured(a=[1] * 30, b=[1] * 9 + [0])
    results = check_gates([gate("critical", ">=", 0.85), gate("critical", ">=", 0.9), gate("overall", ">=", 0.9),
                           gate("high", ">=", 0.5), gate("rule", ">=", 0.5, "b")], after, after, drift=0.0)
    assert [r.passed for r in results] == [True, False, False, True, True]
    assert results[0].interval.low == pytest.approx(0.886, abs=1e-3) and results[0].interval.n == 30
    assert results[0].detail == "critical rules 1.000 [0.886, 1.000] n=30"
    assert results[2].interval.n == 40  # overall pools every rule's votes


def test_a_rule_tempted_by_too_few_prompts_is_not_tested():
    after = measured(a=[1] * 5)
    (result,) = check_gates([gate("rule", ">=", 0.1, "a")], after, after, drift=0.0)
    assert not result.passed
    assert result.detail == "not measured: rule a is not tested: 5 held-out prompts tempted it, fewer than 8"


def test_gates_on_drift_and_each_target():
    before, after = measured(a=[1] * 40, b=[1] * 20), measured(a=[1] * 40, b=[1] * 19 + [0])
    results = check_gates([gate("drift", "<=", 0.5), gate("drift", "<=", 0.05), gate("rule", ">=", 0.8, "c")],
                          before, after, drift=0.1)
    assert [r.passed for r in results] == [True, False, False]
    assert results[2].detail == "not measured: rule c cast no vote on the held-out prompts that tempt it"


def test_the_regression_gate_fails_only_when_the_paired_interval_shows_a_drop():
    before = measured(a=[1] * 24, b=[1] * 24)
    one_slip = measured(a=[1] * 23 + [0], b=[1] * 24)
    (result,) = check_gates([gate("regression", "<=", 0.02)], before, one_slip, drift=None)
    assert result.passed and result.value == pytest.approx(1 / 24)
    assert result.interval.low == 0.0 and result.interval.high > 0.02 and "(a)" in result.detail
    many = measured(a=[1] * 14 + [0] * 10, b=[1] * 24)
    (failed,) = check_gates([gate("regression", "<=", 0.02)], before, many, drift=None)
    assert not failed.passed and failed.interval.low > 0.02 and "(a)" in failed.detail


def test_the_helpfulness_gate_pairs_the_instructions():
    before = measured(a=[1] * 10, instructions=[1] * 16)
    same = measured(a=[1] * 10, instructions=[1] * 15 + [0])
    worse = measured(a=[1] * 10, instructions=[1] * 6 + [0] * 10)
    results = check_gates([gate("helpfulness", "<=", 0.0)] * 2, before, same, drift=None)
    assert results[0].passed and results[0].detail.startswith("instructions followed 16/16 before, 15/16 after")
    (failed,) = check_gates([gate("helpfulness", "<=", 0.0)], before, worse, drift=None)
    assert not failed.passed and failed.value == pytest.approx(10 / 16)
    (unanswered,) = check_gates([gate("helpfulness", "<=", 0.0)], measured(a=[1]), measured(a=[1]), drift=None)
    assert not unanswered.passed and unanswered.detail.startswith("not measured")


def test_drift_gate_fails_closed_when_unmeasured():
    c = Compliance({}, {}, None)
    (result,) = check_gates([gate("drift", "<=", 0.5)], c, c, drift=None)
    assert not result.passed and result.detail.startswith("not measured")


def test_a_gate_that_saw_no_votes_fails():
    """Fail closed: every compliance gate over rules that cast no vote fails as "not measured"."""
    silent = measured()
    results = check_gates([gate("critical", ">=", 0.0), gate("high", ">=", 0.0), gate("medium", ">=", 0.0),
                           gate("overall", ">=", 0.0), gate("rule", ">=", 0.0, "a")], silent, silent, drift=0.0)
    assert [r.passed for r in results] == [False] * 5
    assert [r.detail for r in results] == [
        "not measured: no critical rule voted on the held-out prompts that tempt it",
        "not measured: no high rule voted on the held-out prompts that tempt it",
        "not measured: no medium rule voted on the held-out prompts that tempt it",
        "not measured: no rule voted on the held-out prompts that tempt it",
        "not measured: rule a cast no vote on the held-out prompts that tempt it",
    ]
    assert all(r.value is None for r in results)


def test_a_rule_gate_says_when_no_held_out_prompt_was_in_the_rules_scope():
    after = Compliance({"a": None}, {}, None, in_scope={"a": 0})
    (result,) = check_gates([gate("rule", ">=", 0.5, "a")], after, after, drift=0.0)
    assert not result.passed
    assert result.detail == "not measured: no held-out prompt is in the scope of rule a"


def test_a_regression_gate_without_a_rule_measured_before_and_after_fails():
    """Measured means: some rule had votes on the same prompts both before and after training."""
    regression = gate("regression", "<=", 1.0)
    before, after = measured(a=[1, 1]), measured(b=[1, 0])
    (result,) = check_gates([regression], before, after, drift=None)
    assert not result.passed and result.detail == "not measured: no rule had votes both before and after training"
    (update,) = check_gates([regression], before, measured(a=[1, 1], b=[1, 0]), None, regression_rules={"b"})
    assert not update.passed
    assert update.detail == "not measured: no unchanged rule had votes both before and after training"
    (kept,) = check_gates([regression], before, measured(a=[1, 1], b=[1, 0]), None)
    assert kept.passed and kept.value == 0.0


def test_promotion_needs_votes_and_every_gate():
    voted = measured(a=[1] * 40)
    passed = check_gates([gate("critical", ">=", 0.9)], voted, voted, drift=0.0)
    assert promotable(passed, voted)
    assert not promotable([], measured())  # no gate, no vote
    assert not promotable([], None)  # nobody evaluated the model
    failed = check_gates([gate("critical", ">=", 0.9)], voted, measured(a=[1, 0] * 20), 0.0)
    assert not promotable(failed, voted)


def test_evaluate_model_counts_the_prompts_in_each_rules_scope(tmp_path):
    """The scope counts behind "no held-out prompt is in the rule's scope" come from the labeler."""
    from tenet.runtime.label.engine import Labeler
    from tenet.runtime.synthesize.verify import scope_matrix

    scoped = rule("r", "high").model_copy(update={
        "when": ir.TextPred(span=SPAN, subject="prompt", op="contains", text="refund")})
    rows = [("a refund please", "ok", ()), ("hello", "ok", ()), ("refund?", "", ())]
    applies = scope_matrix([scoped, RULES[0]], rows, Labeler([scoped, RULES[0]], spans=False))
    assert applies.tolist() == [[True, True], [False, True], [False, False]]  # an empty answer: a bad row


def test_kl_drift_is_zero_for_the_same_model_and_positive_after_a_change(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tiny_models import build_tiny_llama

    path = build_tiny_llama(tmp_path / "m")
    tokenizer = AutoTokenizer.from_pretrained(path)
    base = AutoModelForCausalLM.from_pretrained(path).eval()
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    texts = ["hello world", "thanks for the help"]
    assert kl_drift(model, base, tokenizer, texts) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    assert kl_drift(model, base, tokenizer, texts) > 0


def test_evaluate_model_generates_and_labels(tmp_path):
    import torch

    from tenet.runtime.evaluate import evaluate_model
    from tenet.runtime.synthesize.generate import Generator
    from tiny_models import build_constant_llama

    torch.set_num_threads(1)
    path = build_constant_llama(tmp_path / "c", "hello")
    generator = Generator(str(path), max_new_tokens=3)
    prompts = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "thanks"}]]
    only_hello = ir.TextPred(span=SPAN, subject="response", op="contains", text="hello")
    fp = ir.Fingerprint(semantic="s", examples="e", metadata="m")
    says_hello = ir.RuleIR(id="says-hello", module="m", span=SPAN, severity="high", verdict="require",
                           check=only_hello, authority=1, precedence=0, fingerprint=fp)
    result = evaluate_model(generator, [says_hello], prompts)
    assert [a for _, a in result.samples] and all("hello" in a for _, a in result.samples)
    assert result.per_rule == {"says-hello": 1.0} and result.per_severity["high"] == 1.0


# --- answers run to their end; a capped answer never keeps a length limit ----------------------


def test_a_capped_answer_never_counts_as_keeping_a_length_limit():
    from tenet.runtime.synthesize.verify import capped_break_length_rules

    count = ir.CountPred(span=SPAN, subject="response", unit="words", op="at_most", value=5)
    fp = ir.Fingerprint(semantic="s", examples="e", metadata="m")
    short = ir.RuleIR(id="short", module="m", span=SPAN, severity="high", verdict="require", check=count,
                      authority=1, precedence=0, fingerprint=fp)
    rules = (short, RULES[0])
    matrix = np.array([[1, 1], [1, 1], [0, 1], [-1, 0]], dtype=np.int8)
    capped = np.array([True, False, True, True])
    fixed = capped_break_length_rules(rules, matrix, capped)
    # Only GOOD votes of capped answers on the length rule turn BAD; other rules stand.
    assert fixed.tolist() == [[0, 1], [1, 1], [0, 1], [-1, 0]]
    assert matrix.tolist()[0] == [1, 1]  # the input is not modified


def test_artifact_rates_count_mid_sentence_endings_among_complete_answers_only():
    from tenet.runtime.evaluate import artifact_rates

    texts = ["Use the help page.", "- 1. Call us.", "It stops in the", "It stops in the"]
    rates = artifact_rates(texts, [False, False, False, True])
    assert rates["hybrid_marker"] == 0.25
    assert rates["mid_sentence"] == pytest.approx(1 / 3)  # the capped one is counted as truncated instead


def test_generation_records_whether_each_answer_ended_or_was_cut(tmp_path):
    import torch

    from tenet.runtime.cache import Cache
    from tenet.runtime.synthesize.generate import Generated, Generator
    from tiny_models import build_constant_llama

    torch.set_num_threads(1)
    looping = Generator(str(build_constant_llama(tmp_path / "hello", "hello")), max_new_tokens=4)
    (answer,), = looping.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0)
    assert answer == Generated("hello hello hello hello", "cap", 4) and answer.capped
    assert looping.tokens_generated == 4
    stopping = Generator(str(build_constant_llama(tmp_path / "eos", "<|im_end|>")), max_new_tokens=4,
                         cache=Cache(tmp_path / "c"))
    first = stopping.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0)
    assert first == [[Generated("", "eos", 1)]] and stopping.tokens_generated == 1
    again = stopping.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0)
    assert again == first and stopping.tokens_generated == 1  # from the cache, with how it ended
    # Another cap cannot change an answer that ended by itself within it: still the cache.
    assert stopping.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0,
                                   max_new_tokens=9) == first and stopping.tokens_generated == 1
    # A smaller cap than the cached one is served from the cache, cut to its first tokens.
    cached = Generator(str(build_constant_llama(tmp_path / "hello", "hello")), max_new_tokens=4,
                       cache=Cache(tmp_path / "c2"))
    cached.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0)
    assert cached.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0, max_new_tokens=2) == [
        [Generated("hello hello", "cap", 2)]] and cached.tokens_generated == 4
    # A shorter cap per call is a different generation.
    assert looping.generate_ended([[{"role": "user", "content": "hi"}]], temperature=0.0,
                                  max_new_tokens=2) == [[Generated("hello hello", "cap", 2)]]


def test_cached_answers_are_reused_under_another_cap_only_when_it_cannot_change_them():
    from tenet.runtime.synthesize.generate import Generated, _reusable

    stored = {"cap": 8, "answers": [["Short answer.", "eos", 4], ["A longer answer here.", "eos", 7]]}
    assert _reusable(stored, 8) is not None and _reusable(stored, 7) is not None
    assert _reusable(stored, 6) is None  # the second would have been cut at 6 tokens: without a cutter, no
    words = lambda text, cap: " ".join(text.split()[:cap])  # a whitespace "tokenizer"
    # Under a smaller cap, what ran past it becomes a capped answer holding its first tokens.
    assert _reusable(stored, 6, words) == [Generated("Short answer.", "eos", 4),
                                           Generated("A longer answer here.", "cap", 6)]
    assert _reusable(stored, 2, words) == [Generated("Short answer.", "cap", 2), Generated("A longer", "cap", 2)]
    assert _reusable(stored, 300) is not None  # both ended by themselves
    capped = {"cap": 8, "answers": [["Short answer.", "eos", 4], ["Cut off in the", "cap", 8]]}
    assert _reusable(capped, 8) is not None
    assert _reusable(capped, 16) is None  # a longer cap would let the second one go on
    assert _reusable(capped, 16, words) is None  # whatever the cutter: the cut text cannot grow
    assert _reusable(None, 8) is None and _reusable(["old", "entry"], 8) is None


def test_evaluation_reports_truncation_and_turns_capped_length_votes_bad(tmp_path):
    import torch

    from tenet.runtime.evaluate import evaluate_model
    from tenet.runtime.synthesize.generate import Generator
    from tiny_models import build_constant_llama

    torch.set_num_threads(1)
    count = ir.CountPred(span=SPAN, subject="response", unit="words", op="at_most", value=50)
    fp = ir.Fingerprint(semantic="s", examples="e", metadata="m")
    short = ir.RuleIR(id="short", module="m", span=SPAN, severity="high", verdict="require", check=count,
                      authority=1, precedence=0, fingerprint=fp)
    generator = Generator(str(build_constant_llama(tmp_path / "c", "hello")), max_new_tokens=3)
    prompts = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "thanks"}]]
    result = evaluate_model(generator, [short], prompts)
    # Three words is within 50, but the answers were cut off: they are not evidence of brevity.
    assert result.per_rule == {"short": 0.0} and result.truncated == 1.0
    assert result.ends == ["cap", "cap"] and result.declined == 0.0
