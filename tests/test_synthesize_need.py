"""A rule's need (how often the model's own answers break it) and a pair's weight from it."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tenet.compiler.ir import PairSpec
from tenet.compiler.pipeline import compile_policy
from tenet.runtime.synthesize.need import (FULL_NEED, NEED_FLOOR, break_rates, coupled_needs, pair_needs, rule_needs,
                                     shortfall_weights)
from tenet.runtime.synthesize.pairs import Candidate, Pair
from tenet.runtime.synthesize.prompts import PoolPrompt

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"


@functools.cache
def rules():
    result = compile_policy(str(FIXTURES / "strategies.policy"))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.ir.rules


def candidate(responses: list[str], cut: list[str] = ()) -> Candidate:
    return Candidate(PoolPrompt("what is the weather today", "prompts"), list(responses), len(cut), list(cut))


def test_break_rates_count_the_answers_that_break_each_rule():
    rates = break_rates([candidate(["hello there", "thanks"]), candidate(["It was awful and I hate the rain today."])],
                        rules())
    assert rates["no-hello"] == {"judged": 3, "broken": 1}
    assert rates["short"] == {"judged": 3, "broken": 1}  # nine words
    assert rates["no-rude"] == {"judged": 3, "broken": 1}


def test_an_answer_the_cap_cut_breaks_every_length_limit_however_short_its_prefix():
    rates = break_rates([candidate(["yes"], cut=["yes please"])], rules())
    assert rates["short"] == {"judged": 2, "broken": 1}
    assert rates["no-hello"] == {"judged": 2, "broken": 0}  # content rules read the prefix as it is


def test_no_samples_no_rates():
    assert break_rates([], rules()) == {}


def test_a_rule_never_seen_broken_keeps_a_floor_and_one_never_judged_full_weight():
    needs = rule_needs({"kept": {"judged": 40, "broken": 0}, "broken": {"judged": 40, "broken": 30},
                        "unseen": {"judged": 0, "broken": 0}})
    assert needs == {"kept": NEED_FLOOR, "broken": 0.75, "unseen": FULL_NEED}


def test_a_pair_weighs_its_neediest_target_and_a_contrast_weighs_full():
    def pair(*targets: str) -> Pair:
        return Pair("p", "c", "r", "perturb", targets, "prompts")

    needs = {"kept": NEED_FLOOR, "broken": 0.75}
    assert pair_needs([pair("kept"), pair("kept", "broken"), pair(), pair("new-rule")], needs) == [
        NEED_FLOOR, 0.75, FULL_NEED, FULL_NEED]


COUPLED = """dsl 1
policy coupled version "1"
let dangerous = /bomb/i
rule refuse (critical):
  when prompt matches dangerous
  require response is a refusal
  example:
    prompt "How do I make a bomb?"
    good   "I'm sorry, I can't help with that."
    bad    "Mix these."
rule help (high):
  unless prompt matches dangerous
  forbid response is a refusal
  example:
    prompt "Write a birthday message."
    good   "Happy birthday!"
    bad    "I'm sorry, I can't help with that."
rule short (medium):
  require response has at most 2 words
  example:
    prompt "Hi"
    good   "Hello!"
    bad    "Hello there, friend."
"""


def test_rules_that_check_the_same_predicate_train_together(tmp_path):
    (tmp_path / "coupled.policy").write_text(COUPLED)
    result = compile_policy(str(tmp_path / "coupled.policy"))
    assert result.ok, [d.message for d in result.diagnostics]
    rules = result.artifact.ir.rules
    needs = coupled_needs({"refuse": 0.9, "help": NEED_FLOOR, "short": 0.3}, rules)
    # training refusals makes a model refuse ordinary requests too: the rule against it trains
    # with it, by severity (high 4 against critical 8), so the critical rule leads
    assert needs == {"refuse": 0.9, "help": 0.45, "short": 0.3}
    # the other way round a rule already needs more than the coupling gives
    assert coupled_needs({"refuse": 0.2, "help": 0.6, "short": 0.3}, rules) == {"refuse": 0.6, "help": 0.6, "short": 0.3}


def test_coupled_rules_share_the_steps_by_their_pairs_together(tmp_path):
    (tmp_path / "coupled.policy").write_text(COUPLED)
    rules = compile_policy(str(tmp_path / "coupled.policy")).artifact.ir.rules
    # 16 refusal pairs at 0.9 weigh 14.4; the 24 pairs against declining get half of that
    # (high against critical) in all, 0.3 each, not the 0.45 each that would weigh 10.8
    needs = coupled_needs({"refuse": 0.9, "help": NEED_FLOOR, "short": 0.3}, rules, {"refuse": 16, "help": 24})
    assert needs == {"refuse": 0.9, "help": pytest.approx(0.3), "short": 0.3}
    # a coupled need never exceeds full weight, however few pairs the rule has
    assert coupled_needs({"refuse": 0.9, "help": NEED_FLOOR}, rules, {"refuse": 16, "help": 2})["help"] == FULL_NEED


def test_a_rule_short_of_its_budget_weighs_what_its_full_budget_would():
    specs = [PairSpec(rule=rule, severity="high", budget=36, strategies=("sample",), seeds=1)
             for rule in ("dose", "refuse", "over", "none")]
    needs = {"dose": 0.5, "refuse": 0.9, "over": 0.3, "none": 1.0, "contrast-only": 0.4}
    weights = shortfall_weights(needs, specs, {"dose": 12, "refuse": 36, "over": 40})
    # 12 pairs of 36 weigh three times each, so together they weigh 36 × 0.5 as a full budget
    assert weights["dose"] == pytest.approx(1.5)
    assert 12 * weights["dose"] == pytest.approx(36 * needs["dose"])
    # at or over budget, with no pairs, or with no budget, a rule keeps its need
    assert (weights["refuse"], weights["over"], weights["none"], weights["contrast-only"]) == (0.9, 0.3, 1.0, 0.4)
