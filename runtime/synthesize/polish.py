"""Make a pair's two sides obey every other rule they can be edited to obey.

A pair teaches its target rule; but if both sides break another rule (a model sample that
is too long, say), training on the chosen side still teaches that violation. Polishing
applies the same repair for each such rule to both sides, so the chosen side is as compliant
as edits can make it and the pair still differs only on its target. This holds for edits
(perturb) and for pairs of model answers (sample, revise, contrast) alike; the authors'
examples and logged feedback stay as written. Pairs whose sides cannot both be repaired keep
that rule as it is; the quality gates verify the result as usual.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Sequence

from tenet.compiler import ir, semantics
from tenet.compiler.strategies import POLISHED
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.perturb_ops import repair, violate



def polish_all(pairs: Sequence[Pair], rules: Sequence[ir.RuleIR], seed: int) -> list[Pair]:
    """Polish every pair from an edit strategy; other pairs (authored examples, samples) stay."""
    editable = [r for r in rules if not r.runtime_only]
    return [polish(p, editable, random.Random(f"{seed}:polish:{k}")) if p.strategy in POLISHED else p
            for k, p in enumerate(pairs)]


def polish(pair: Pair, rules: Sequence[ir.RuleIR], rng: random.Random) -> Pair:
    """Repair, on both sides, each non-target rule that the chosen side breaks.

    A repair that would change a target rule's vote on either side (adding an opener to a
    pair about length, say) is skipped: the pair must still teach its target. When repairing
    the rejected side of a minimal pair would undo its violation (cutting an answer to length
    drops the sentence an edit inserted), the violation is made again on the repaired chosen
    side instead, so the pair stays minimal.
    """
    targets = [r for r in rules if r.id in pair.target_rules]
    for rule in rules:
        if rule.id in pair.target_rules or not _fails(rule, pair.sample("chosen")):
            continue
        fixed_chosen = repair(rule, pair.sample("chosen"), rng)
        if fixed_chosen is None:
            continue
        rejected = pair.sample("rejected")
        fixed_rejected = repair(rule, rejected, rng) if _fails(rule, rejected) else rejected.response
        for option in (fixed_rejected, _violated_again(pair, targets, fixed_chosen, rng)):
            polished = replace(pair, chosen=fixed_chosen, rejected=option) if option else None
            if polished and option != fixed_chosen and all(_votes(t, polished) == _votes(t, pair) for t in targets):
                pair = polished
                break
    return pair


def _violated_again(pair: Pair, targets: Sequence[ir.RuleIR], chosen: str, rng: random.Random) -> str | None:
    """The minimal pair's edit made again on a repaired chosen side (single-target edits only)."""
    if pair.strategy != "perturb" or len(targets) != 1:
        return None
    return violate(targets[0], pair.sample("chosen")._replace(response=chosen), rng)


def _votes(rule: ir.RuleIR, pair: Pair) -> tuple:
    return semantics.rule_vote(rule, pair.sample("chosen")), semantics.rule_vote(rule, pair.sample("rejected"))


def _fails(rule: ir.RuleIR, sample) -> bool:
    vote = semantics.rule_vote(rule, sample)
    return vote == ir.BAD
