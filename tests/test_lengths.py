"""Length limits (`tenet.compiler.lengths`): which rules a too-long answer breaks, and the token cap
derived from the policy so that no length rule is decided by it."""

from __future__ import annotations

import pytest

from tenet.compiler.lengths import CAP_FLOOR, caps_length, generation_cap
from helpers import PROMPTS, write_policy
from tenet.compiler.pipeline import compile_policy


def rules_of(tmp_path, body: str):
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n\n' + body)
    result = compile_policy(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return {r.id: r for r in result.artifact.ir.rules}


@pytest.mark.parametrize("rule,capped", [
    ("require response has at most 60 words", True),
    ("require response has fewer than 3 sentences", True),
    ("require response has exactly 3 bullets", True),
    ("require response has between 2 and 4 lines", True),
    ("prefer response has at most 200 characters", True),
    ("forbid response has more than 120 words", True),
    ("avoid response has at least 10 lines", True),
    ("require response has at least 3 bullets", False),
    ("forbid response has fewer than 5 words", False),
    ("require not (response has more than 80 words)", True),
    ("require response starts with \"Hi\" and response has at most 50 words", True),
    ("forbid response has at most 50 words or response mentions \"x\"", False),
    ("require prompt has at most 10 words", False),
    ("forbid response mentions \"Globex\"", False),
])
def test_caps_length_follows_the_verdict_and_polarity(tmp_path, rule, capped):
    rules = rules_of(tmp_path, f"rule r (low):\n  {rule}\n")
    assert caps_length(rules["r"]) is capped


def test_the_cap_clears_the_largest_bound_with_room_and_has_a_floor(tmp_path):
    rules = rules_of(tmp_path, "rule r1 (low):\n  require response has at most 120 words\n"
                               "rule r2 (low):\n  require response has at most 3 sentences\n"
                               "rule r3 (low):\n  forbid response mentions \"x\"\n")
    assert generation_cap(tuple(rules.values())) == 2 * 120 + 64
    assert generation_cap((rules["r3"],)) == CAP_FLOOR
    assert generation_cap((rules["r2"],), floor=0) == 3 * 50 + 64
    bullets = rules_of(tmp_path, "rule r4 (low):\n  when response has at least 12 bullets\n"
                                 "  require response mentions \"list\"\n")
    assert generation_cap(tuple(bullets.values())) == 12 * 50 + 64  # scopes count too


def test_the_policy_default_caps_come_from_its_length_rules(tmp_path):
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n\n'
                        "rule r1 (low):\n  require response has at most 200 words\n")
    training = compile_policy(str(path)).artifact.ir.training
    assert training.max_new_tokens == training.eval_max_new_tokens == 464
    path.write_text(path.read_text() + PROMPTS + "training:\n  max_new_tokens = 64\n  eval_max_new_tokens = 500\n")
    training = compile_policy(str(path)).artifact.ir.training
    assert (training.max_new_tokens, training.eval_max_new_tokens) == (64, 500)
