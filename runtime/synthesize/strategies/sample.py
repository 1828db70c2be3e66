"""`sample`: on-policy best-of-N. The model's complete answers to a prompt are labeled with
the rules; for each rule that some answers follow and others break, the best answer that
follows it is chosen and the best answer that breaks it is rejected. Both sides are the
model's own words, so the pair differs where the rule does and the model learns the rule,
not an edit. Answers the token cap cut off, cut back to a natural prefix (`Candidate.cut`),
may be the breaker, never the follower; ties are dropped.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from tenet.compiler import ir
from tenet.runtime.synthesize.pairs import Pair, SynthesisContext
from tenet.runtime.synthesize.verify import fails, passes


def sample(ctx: SynthesisContext, labeler=None) -> Iterator[Pair]:
    """Yield one pair per (prompt, rule) that the model's answers split, best against best."""
    from tenet.runtime.synthesize.verify import vote_matrix

    candidates = [c for c in ctx.candidates()
                  if c.responses and len({r.strip() for r in c.responses + c.cut if r.strip()}) >= 2]
    if not candidates:
        return
    rules = ctx.policy.rules
    flat = [(c.prompt, r) for c in candidates for r in c.responses + c.cut]
    matrix = vote_matrix(rules, [(p.text, r, p.context) for p, r in flat], labeler)
    weights = np.array([rule.weight for rule in rules])
    offset = 0
    for candidate in candidates:
        n = len(candidate.responses) + len(candidate.cut)
        votes = matrix[offset:offset + n]
        offset += n
        yield from _split_pairs(candidate, votes, np.array([_score(v, weights) for v in votes]), rules)


def _split_pairs(candidate, votes: np.ndarray, scores: np.ndarray, rules) -> Iterator[Pair]:
    """For each rule the answers disagree on: the best follower against the best breaker."""
    seen: set[tuple[str, str]] = set()
    answers = candidate.responses + candidate.cut
    texts = [r.strip() for r in answers]
    finished = len(candidate.responses)  # the answers after these were cut: breakers only
    for j, rule in enumerate(rules):
        follow = [i for i in range(finished) if texts[i] and passes(int(votes[i, j]), rule.verdict)]
        broken = [i for i in range(len(texts)) if texts[i] and fails(int(votes[i, j]), rule.verdict)]
        if not follow or not broken:
            continue
        best = max(follow, key=lambda i: (scores[i], -i))
        worst = max(broken, key=lambda i: (scores[i], -i))
        if texts[best] == texts[worst] or (texts[best], texts[worst]) in seen:
            continue
        seen.add((texts[best], texts[worst]))
        others = tuple(r.id for k, r in enumerate(rules) if k != j
                       and passes(int(votes[best, k]), r.verdict) and fails(int(votes[worst, k]), r.verdict))
        yield Pair(prompt=candidate.prompt.text, chosen=answers[best], rejected=answers[worst], strategy="sample", target_rules=(rule.id, *others),
                   source=candidate.prompt.source, context=candidate.prompt.context)


def _score(votes: np.ndarray, weights: np.ndarray) -> float:
    """Compliance: critical-weighted share of GOOD among voting rules, BAD votes penalized."""
    voted = votes != ir.ABSTAIN
    if not voted.any():
        return 0.0
    return float(((votes == ir.GOOD) * weights).sum() - ((votes == ir.BAD) * weights).sum())
