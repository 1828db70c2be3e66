"""Compiled rules as TRL reward functions: the policy itself is the verifiable reward.

Contract (TRL 1.16 `GRPOTrainer`/`RLOOTrainer`): a reward function is called with keyword
arguments `prompts`, `completions` and extras (`**kwargs`) and returns one float per completion.
Conversational data gives message lists (the prompt's last user turn is the prompt, the
completion's assistant turn the response); standard data gives plain strings. Both work here.

Values, per rule (`rule_rewards`):
    GOOD -> +1.0, BAD -> -1.0, ABSTAIN -> 0.0.
ABSTAIN is 0.0, not None: a rule that does not apply (its `when` did not hold, it is shadowed,
or the row could not be labeled, e.g. an empty completion) neither rewards nor punishes, and
TRL keeps the sample in every group. Each function is unweighted so its logged mean
(`rewards/rule_<id>/mean`) reads as net compliance; severity enters through
`rule_reward_weights(rules)` (weights normalized to sum 1), which GRPO takes as
`reward_weights`. `policy_reward(rules)` is the single-signal alternative: the severity-weighted
mean vote over the rules that voted (0.0 when none did).

All rules are labeled in one `Labeler` pass per batch: the per-rule functions share a
`RuleVotes` object that caches the last batch's vote matrix.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tenet.compiler import ir
from tenet.runtime.data import read_batches
from tenet.runtime.label.engine import Labeler
from tenet.runtime.label.kernels import ScoreBatch

RewardFunction = Callable[..., list[float]]


def reward_name(rule_id: str) -> str:
    """The reward function's `__name__` for a rule (TRL logs `rewards/<name>/mean`)."""
    return "rule_" + rule_id.replace("-", "_")


def _text(value: Any) -> str:
    """A completion's text: the assistant turns of a message list, or the string itself."""
    if isinstance(value, list):
        return "".join(str(m.get("content") or "") for m in value if m.get("role") == "assistant")
    return "" if value is None else str(value)


def _row(prompt: Any, completion: Any) -> dict:
    if isinstance(prompt, list):
        return {"prompt": prompt, "response": _text(completion)}
    return {"prompt": "" if prompt is None else str(prompt), "response": _text(completion)}


class RuleVotes:
    """Labels a (prompts, completions) batch once for all rules and remembers the last batch."""

    def __init__(self, rules: Sequence[ir.RuleIR], scorers: ScoreBatch | None = None):
        self.rules = tuple(rules)
        self.labeler = Labeler(self.rules, score=scorers, spans=False)
        self._key: tuple | None = None
        self._matrix: np.ndarray | None = None

    def matrix(self, prompts: Sequence[Any], completions: Sequence[Any]) -> np.ndarray:
        """The vote matrix (completions × rules) of GOOD=1 / BAD=0 / ABSTAIN=-1."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        key = (repr(list(prompts)), repr(list(completions)))
        if key != self._key or self._matrix is None:
            rows = [_row(p, c) for p, c in zip(prompts, completions)]
            parts = [self.labeler.votes(table) for table in read_batches(rows)] if rows else []
            matrix = (np.concatenate(parts) if parts
                      else np.empty((0, len(self.rules)), dtype=np.int8))
            self._key, self._matrix = key, matrix
        return self._matrix

    def signs(self, prompts: Sequence[Any], completions: Sequence[Any]) -> np.ndarray:
        """+1 for GOOD, -1 for BAD, 0 for ABSTAIN (completions × rules, float)."""
        matrix = self.matrix(prompts, completions)
        return np.where(matrix == ir.GOOD, 1.0, np.where(matrix == ir.BAD, -1.0, 0.0))

    def rule_function(self, j: int) -> RewardFunction:
        """The reward function of the j-th rule."""

        def reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
            return [float(v) for v in self.signs(prompts, completions)[:, j]]

        reward.__name__ = reward.__qualname__ = reward_name(self.rules[j].id)
        return reward


def rule_rewards(rules: Sequence[ir.RuleIR], scorers: ScoreBatch | None = None) -> list[RewardFunction]:
    """One reward function per rule (+1 GOOD, -1 BAD, 0 ABSTAIN), sharing one labeling pass."""
    votes = RuleVotes(rules, scorers)
    return [votes.rule_function(j) for j in range(len(votes.rules))]


def rule_reward_weights(rules: Sequence[ir.RuleIR]) -> list[float]:
    """Severity weights of `rule_rewards`, normalized to sum 1 (GRPOConfig `reward_weights`)."""
    weights = np.array([r.weight for r in rules], dtype=np.float64)
    total = weights.sum()
    return [float(w) for w in (weights / total if total > 0 else weights)]


def policy_reward(rules: Sequence[ir.RuleIR], scorers: ScoreBatch | None = None) -> RewardFunction:
    """One reward: the severity-weighted mean of the ±1 votes of the rules that voted, in [-1, 1]."""
    votes = RuleVotes(rules, scorers)
    weights = np.array([r.weight for r in votes.rules], dtype=np.float64)

    def policy_compliance(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        signs = votes.signs(prompts, completions)
        voted = (votes.matrix(prompts, completions) != ir.ABSTAIN).astype(np.float64)
        total = voted @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(total > 0, (signs @ weights) / total, 0.0)
        return [float(v) for v in score]

    return policy_compliance
