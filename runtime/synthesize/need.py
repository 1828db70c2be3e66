"""How much each rule needs training: the share of the model's own answers that break it.

Severity sets a rule's pair budget at compile time, so a critical rule the model already
keeps (it never names a competitor) holds half the demo's pairs, while a medium rule it
breaks in four answers of five holds a fifth. The warm-up reads every chosen side, but the
preference steps see only a sample of the pairs (`tenet.runtime.train.common.rows_for_steps`),
and a uniform sample spends half of them on what the model already does. Each pair carries
a `need`: the break rate of its target rule in the model's sampled answers to the training
prompts (never the held-out ones), which the step sample uses as the pair's weight.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from tenet.compiler import ir
from tenet.compiler.walk import atoms, canonical_json
from tenet.runtime.label.engine import Labeler
from tenet.runtime.synthesize.pairs import Candidate, Pair
from tenet.runtime.synthesize.verify import capped_break_length_rules, vote_matrix

# A rule the samples never saw broken still gets some steps: a few dozen answers are weak
# evidence that the model always keeps it, and its pairs remind the model of it.
NEED_FLOOR = 0.1
# Contrasts (artifact, scope) and rules no sampled answer was in scope for: no evidence the
# model keeps them, so full weight. Contrasts are few, and each one teaches against an
# artifact no rule pair can (a loop, a one-item list); at the rule pairs' mean need they
# would drop out of most steps.
FULL_NEED = 1.0


def break_rates(candidates: Sequence[Candidate], rules: Sequence[ir.RuleIR],
                labeler: Labeler | None = None) -> dict[str, dict[str, int]]:
    """Per rule, how many of the model's sampled answers it judged and how many broke it.

    Finished answers count as they are; an answer the token cap cut (kept as its natural
    prefix) breaks every length limit, as in evaluation (`capped_break_length_rules`).
    """
    rows = [(c.prompt.text, text, c.prompt.context) for c in candidates for text in c.responses + c.cut]
    if not rows:
        return {}
    capped = np.concatenate([np.array([False] * len(c.responses) + [True] * len(c.cut), dtype=bool)
                             for c in candidates])
    matrix = capped_break_length_rules(rules, vote_matrix(rules, rows, labeler), capped)
    good = (matrix == ir.GOOD).sum(axis=0)
    bad = (matrix == ir.BAD).sum(axis=0)
    return {r.id: {"judged": int(good[j] + bad[j]), "broken": int(bad[j])} for j, r in enumerate(rules)}


def rule_needs(rates: dict[str, dict[str, int]]) -> dict[str, float]:
    """Each rule's need: its break rate, at least `NEED_FLOOR`; `FULL_NEED` when nothing was judged."""
    return {rule: max(NEED_FLOOR, r["broken"] / r["judged"]) if r["judged"] else FULL_NEED
            for rule, r in rates.items()}


def coupled_needs(needs: dict[str, float], rules: Sequence[ir.RuleIR],
                  pairs_per_rule: Mapping[str, int] | None = None) -> dict[str, float]:
    """Each rule's need raised so its share of the steps keeps up with the rules that check
    the same predicate, by severity.

    Pairs that teach a model to refuse dangerous requests also teach it to refuse: a rule
    that forbids declining ordinary requests, which the base model keeps, would get almost no
    steps by its own need, and the trained model would decline ordinary requests. Rules that
    check the same predicate move together, so a rule's pairs together weigh at least
    another's pairs together times their severity ratio: the more severe rule leads (with
    both at full weight, the less severe one would pull the model away from it). The weights
    are per pair, so they are divided by the rule's pair count (`pairs_per_rule`; one each
    when not given): otherwise the rule with more pairs outweighs the other whatever their
    severities.
    """
    by_id = {r.id: r for r in rules if r.id in needs}
    atoms_of = {i: {canonical_json(atom) for atom in atoms(r.check)} for i, r in by_id.items()}
    count = {i: max(1, (pairs_per_rule or {}).get(i, 1)) for i in by_id}

    def coupled(rule: str) -> float:
        shared = [other for other in atoms_of if other != rule and atoms_of[other] & atoms_of[rule]]
        return max([needs[rule]] + [needs[o] * count[o] / count[rule] * min(1.0, by_id[rule].weight / by_id[o].weight)
                                    for o in shared])

    return {rule: min(FULL_NEED, coupled(rule)) if rule in atoms_of else need for rule, need in needs.items()}


def shortfall_weights(needs: dict[str, float], specs: Sequence[ir.PairSpec],
                      pairs_per_rule: Mapping[str, int]) -> dict[str, float]:
    """Each rule's per-pair weight: its need times budget over pairs kept, when it kept fewer.

    Severity sets a rule's budget, and the step sample gives a rule about need × pairs kept of
    the steps. A rule whose prompts yield few pairs (one scoped to a few prompts) would lose
    its share of the steps with them. Scaled by budget over kept, a rule's pairs weigh
    together what its full budget would have; a rule at or over budget keeps its need.
    """
    budgets = {s.rule: s.budget for s in specs}

    def scale(rule: str) -> float:
        kept = pairs_per_rule.get(rule, 0)
        return max(1.0, budgets.get(rule, 0) / kept) if kept else 1.0

    return {rule: need * scale(rule) for rule, need in needs.items()}


def pair_needs(pairs: Sequence[Pair], needs: dict[str, float]) -> list[float]:
    """A pair's need: the largest need of its target rules; `FULL_NEED` for contrasts, or without rates."""
    return [max((needs.get(rule, FULL_NEED) for rule in p.target_rules), default=FULL_NEED) for p in pairs]
