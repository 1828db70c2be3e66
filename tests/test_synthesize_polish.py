"""Polishing perturb pairs: both sides get the repairs the chosen side needs, never at the target's cost."""

from __future__ import annotations

import random

from tenet.compiler.pipeline import compile_policy
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.polish import polish, polish_all

POLICY = '''dsl 1
policy polish version "1"

rule greet (medium):
  require response starts with "Hi!"
  example:
    prompt "p"
    good   "Hi! ok"
    bad    "ok"

rule short (medium):
  require response has at most 5 words
  example:
    prompt "p"
    good   "Hi! one two"
    bad    "Hi! one two three four five six"

rule no-email (critical):
  forbid response contains email
  example:
    prompt "p"
    good   "Hi! ok"
    bad    "Hi! mail a@b.example"
'''


def rules(tmp_path):
    path = tmp_path / "polish.policy"
    path.write_text(POLICY, encoding="utf-8")
    result = compile_policy(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.ir.rules


def pair(chosen: str, rejected: str, target: str, strategy: str = "perturb") -> Pair:
    return Pair(prompt="p", chosen=chosen, rejected=rejected, strategy=strategy, target_rules=(target,), source="t")


def test_both_sides_get_the_repair_the_chosen_side_needs(tmp_path):
    polished = polish(pair("Sure thing.", "Sure thing. a@b.example", "no-email"), rules(tmp_path), random.Random(0))
    assert polished.chosen == "Hi! Sure thing."
    assert polished.rejected == "Hi! Sure thing. a@b.example"


def test_a_repair_that_would_flip_the_target_is_skipped(tmp_path):
    # Five words: the opener would make the chosen side six words and break `short`.
    original = pair("one two three four five", "one two three four five six", "short")
    assert polish(original, rules(tmp_path), random.Random(0)) == original


def test_only_edit_strategies_are_polished(tmp_path):
    authored = pair("Sure thing.", "Sure thing. a@b.example", "no-email", strategy="examples")
    edited = pair("Sure thing.", "Sure thing. a@b.example", "no-email")
    out = polish_all([authored, edited], rules(tmp_path), seed=1)
    assert out[0] == authored and out[1].chosen.startswith("Hi!")
