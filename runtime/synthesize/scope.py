"""Scope contrasts: what a rule requires on some prompts is taught against on the others.

A rule that requires something in a scope (`when prompt matches dangerous require response is
a refusal`) gets pairs whose chosen sides show that behaviour on in-scope prompts only. A small
model learns the behaviour, not the scope: trained on in-scope refusals alone, it refuses
dangerous prompts and ordinary ones too ("Can you help me write a birthday message?" →
"I'm sorry, but I can't help with that."). So for each such
rule, `scope_pairs` contrasts per pair of the rule mirror it outside the scope: the chosen side
is a selected pair's chosen side on an out-of-scope prompt (whole, natural, keeping every rule
that votes on it); the rejected side is the same answer edited so the rule's condition holds
there (the refusal, the bullets) by the rule's own edit (`perturb_ops.make`). Pairs that
already reject one of the rule's chosen sides out of scope count towards the number; a pair
of a `forbid response is a refusal` rule does not, as it rejects a deflection, not the
refusal the rule teaches, and counting them could leave the scoped rule no contrast.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Sequence

from tenet.compiler import ir, semantics
from tenet.compiler.semantics import Sample
from tenet.runtime import naturalness
from tenet.runtime.label.engine import Labeler
from tenet.runtime.synthesize.artifacts import keeps_every_rule, unique_answers
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.perturb_ops import make

STRATEGY = "scope"


def scoped_rules(rules: Sequence[ir.RuleIR]) -> list[ir.RuleIR]:
    """Rules that require a behaviour on part of the prompts: a `when` or `unless` scope."""
    return [r for r in rules if r.verdict in ("require", "prefer") and (r.when is not None or r.unless)
            and not r.runtime_only]


def scope_pairs(selected: Sequence[Pair], share: float, rules: Sequence[ir.RuleIR],
                labeler: Labeler | None, seed: int) -> tuple[list[Pair], Counter]:
    """Contrasts outside each scoped rule's scope; returns them and a count per rule.

    A rule with n selected pairs gets `round(share * n)` out-of-scope contrasts in all,
    the ones already among the selected pairs included. An answer is used once.
    """
    scoped = scoped_rules(rules)
    if share <= 0 or not scoped:
        return [], Counter()
    rng = random.Random(f"{seed}:scope")
    answers = unique_answers(selected, rng)
    answers = [a for a, ok in zip(answers, keeps_every_rule(answers, rules, labeler)) if ok]
    used: set[int] = set()
    made: list[Pair] = []
    for rule in scoped:
        shown = {p.chosen for p in selected if rule.id in p.target_rules}  # what its pairs teach
        want = round(share * sum(1 for p in selected if rule.id in p.target_rules))
        want -= sum(1 for p in selected if p.rejected in shown and _contrasts_outside(rule, p))
        for k, pair in enumerate(answers):
            if want <= 0:
                break
            if k in used:
                continue
            rejected = mirror(rule, pair, rng)
            if rejected is not None:
                used.add(k)
                want -= 1
                made.append(Pair(pair.prompt, pair.chosen, rejected, STRATEGY, (), f"scope:{rule.id}", pair.context))
    return made, Counter(p.source.split(":", 1)[1] for p in made)


def mirror(rule: ir.RuleIR, pair: Pair, rng: random.Random) -> str | None:
    """`pair`'s chosen side edited so the rule's condition holds, where its prompt is out of scope."""
    sample = Sample(pair.prompt, pair.chosen, tuple(pair.context))
    if semantics.in_scope(rule, sample) is not False:
        return None
    # The rejected side shows what the rule's chosen sides show (a refusal it teaches, not the
    # deflection that a rule forbidding refusals is shown against: runtime/predicates/refusal.py).
    edited = make(rule.check, sample, True, rng, for_chosen=True)
    if edited is None or edited == pair.chosen or naturalness.problems(edited):
        return None
    # The edit must not pull the answer into the scope (a scope on the response itself).
    return edited if semantics.in_scope(rule, sample._replace(response=edited)) is False else None


def _contrasts_outside(rule: ir.RuleIR, pair: Pair) -> bool:
    """The pair already teaches against the rule's behaviour outside its scope."""
    chosen = Sample(pair.prompt, pair.chosen, tuple(pair.context))
    if semantics.in_scope(rule, chosen) is not False:
        return False
    rejected = chosen._replace(response=pair.rejected)
    return (semantics.evaluate(rule.check, rejected) is True
            and semantics.evaluate(rule.check, chosen) is False)
