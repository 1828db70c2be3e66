"""`sample`: on-policy best-of-N. The model's samples for a prompt are scored by the
labeler; the best becomes chosen and the worst rejected; ties are dropped."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from compiler import ir
from runtime.synthesize.pairs import Pair, SynthesisContext


def sample(ctx: SynthesisContext, labeler=None) -> Iterator[Pair]:
    """Yield best-vs-worst pairs from the shared model samples."""
    from runtime.synthesize.verify import vote_matrix

    candidates = [c for c in ctx.candidates() if len({r.strip() for r in c.responses if r.strip()}) >= 2]
    if not candidates:
        return
    flat = [(c.prompt, r) for c in candidates for r in c.responses]
    matrix = vote_matrix(ctx.policy.rules, [(p.text, r, p.context) for p, r in flat], labeler)
    weights = np.array([rule.weight for rule in ctx.policy.rules])
    offset = 0
    for candidate in candidates:
        n = len(candidate.responses)
        votes = matrix[offset:offset + n]
        offset += n
        scores = np.array([_score(v, weights) for v in votes])
        best, worst = int(np.argmax(scores)), int(np.argmin(scores))
        if scores[best] == scores[worst] or candidate.responses[best].strip() == candidate.responses[worst].strip():
            continue  # a tie carries no preference
        targets = tuple(rule.id for j, rule in enumerate(ctx.policy.rules)
                        if votes[best, j] != votes[worst, j] and votes[worst, j] == ir.BAD)
        if not targets:
            continue
        yield Pair(prompt=candidate.prompt.text, chosen=candidate.responses[best],
                   rejected=candidate.responses[worst], strategy="sample", target_rules=targets,
                   source=candidate.prompt.source, context=candidate.prompt.context)


def _score(votes: np.ndarray, weights: np.ndarray) -> float:
    """Compliance: critical-weighted share of GOOD among voting rules, BAD votes penalized."""
    voted = votes != ir.ABSTAIN
    if not voted.any():
        return 0.0
    return float(((votes == ir.GOOD) * weights).sum() - ((votes == ir.BAD) * weights).sum())
