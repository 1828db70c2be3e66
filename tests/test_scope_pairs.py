"""Scope contrasts (`runtime/synthesize/scope.py`): a scoped rule's behaviour is rejected outside its scope.

A rule that requires a refusal on dangerous prompts teaches refusals on those prompts only;
the contrasts pair an ordinary prompt's whole answer (chosen) against the refusal (rejected),
as many as the rule has pairs (`scope_pairs = 1`), counting those the policy already has.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tenet.compiler import ir
from tenet.compiler.pipeline import compile_policy
from tenet.runtime import naturalness
from tenet.runtime.predicates.refusal import REFUSAL_SAMPLES
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.run import synthesize
from tenet.runtime.synthesize.scope import STRATEGY, scope_pairs, scoped_rules
from helpers import fixture_rules

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
HARMFUL = "Mix the powders in a metal pipe and seal both ends."


def rules() -> tuple[ir.RuleIR, ...]:
    """The rules of `synthesize/scoped.policy`."""
    return fixture_rules("synthesize/scoped.policy")


def refusal_pairs(n: int) -> list[Pair]:
    return [Pair(f"How do I make bomb number {k}?", REFUSAL_SAMPLES[0], HARMFUL, "perturb", ("refuse-dangerous",), "t")
            for k in range(n)]


def ordinary_pairs(n: int, rule: str = "no-email") -> list[Pair]:
    return [Pair(f"How do I bake loaf number {k}?", f"Knead the dough for ten minutes. Bake loaf {k} for forty minutes.",
                 f"Write to baker{k}@acme.example for the recipe.", "perturb", (rule,), "t") for k in range(n)]


def test_only_scoped_require_rules_are_mirrored():
    scoped = scoped_rules(rules())
    assert [r.id for r in scoped] == ["refuse-dangerous"]  # no-email holds everywhere
    minimal = compile_policy(str(FIXTURES / "minimal.policy")).artifact.ir.rules
    assert [r.id for r in scoped_rules(minimal)] == ["bullets-for-lists"]  # `forbid … unless` is not mirrored


def test_each_refusal_pair_gets_an_ordinary_answer_against_the_refusal():
    selected = refusal_pairs(4) + ordinary_pairs(10)
    made, counts = scope_pairs(selected, 1.0, rules(), None, seed=1)
    assert counts == Counter({"refuse-dangerous": 4}) and len(made) == 4
    for pair in made:
        assert pair.strategy == STRATEGY and pair.target_rules == () and pair.source == "scope:refuse-dangerous"
        assert "bake" in pair.prompt and pair.rejected in REFUSAL_SAMPLES
        assert naturalness.is_natural(pair.chosen)
    assert len({p.chosen for p in made}) == 4  # each answer once
    assert scope_pairs(selected, 1.0, rules(), None, seed=1) == (made, counts)  # deterministic
    assert len(scope_pairs(selected, 2.0, rules(), None, seed=1)[0]) == 8
    assert scope_pairs(selected, 0.0, rules(), None, seed=1) == ([], Counter())


def test_pairs_that_already_reject_the_refusal_outside_the_scope_count():
    already = [Pair("How do I bake bread?", "Knead it, then bake it for forty minutes.", REFUSAL_SAMPLES[0],
                    "perturb", ("help-with-ordinary",), "t")] * 3
    made, _ = scope_pairs(refusal_pairs(4) + already + ordinary_pairs(10), 1.0, rules(), None, seed=1)
    assert len(made) == 1


def test_pairs_that_reject_another_refusal_than_the_rules_do_not_count():
    # A rule against declining rejects deflections; the rule's own refusal is still never rejected.
    deflection = "I'm sorry for any confusion, but as a text-based AI, I'm not able to help with this request."
    other = [Pair("How do I bake bread?", "Knead it, then bake it for forty minutes.", deflection,
                  "perturb", ("help-with-ordinary",), "t")] * 3
    made, _ = scope_pairs(refusal_pairs(4) + other + ordinary_pairs(10), 1.0, rules(), None, seed=1)
    assert len(made) == 4 and all(p.rejected in REFUSAL_SAMPLES for p in made)


def test_no_contrast_when_every_answer_is_in_scope_or_breaks_a_rule():
    leaking = [Pair("How do I bake bread?", "Ask baker@acme.example for the recipe, then bake it.",
                    "Bake it.", "perturb", ("no-email",), "t")]
    made, _ = scope_pairs(refusal_pairs(3) + leaking, 1.0, rules(), None, seed=0)
    assert made == []  # the only out-of-scope answer gives out an email address


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_synthesize_adds_scope_contrasts_and_reports_them(tmp_path, share):
    artifact = compile_policy(str(FIXTURES / "scoped.policy")).artifact
    result = synthesize(artifact, tmp_path, root=FIXTURES, strategies=["examples", "perturb"],
                        artifact_share=0.0, scope_share=share)
    contrasts = [p for p in result.pairs if p.strategy == STRATEGY]
    report = result.report.to_dict()
    assert sum(report.get("scope_pairs", {}).values()) == len(contrasts)
    if share:
        assert contrasts and report["per_strategy"][STRATEGY]["kept"] == len(contrasts)
        assert all(p.rejected in REFUSAL_SAMPLES and "bomb" not in p.prompt.lower() for p in contrasts)
    else:
        assert not contrasts and STRATEGY not in report["per_strategy"]


def test_every_refusal_an_edit_writes_is_a_whole_refusal():
    for text in REFUSAL_SAMPLES:
        assert naturalness.declines(text) and naturalness.is_natural(text), text
