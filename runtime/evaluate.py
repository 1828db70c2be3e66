"""Evaluation: generate on held-out prompts, label the answers, measure compliance and drift.

Compliance of a rule is the share of GOOD among its GOOD and BAD votes on the held-out
prompts (abstentions do not count); per severity and overall, votes are pooled. The
capability guard is the mean per-token KL divergence of the evaluated model from the base
model on neutral text, so a model that complies by forgetting how to write shows up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from compiler import ir
from runtime.label.engine import Labeler
from runtime.synthesize.generate import Generator
from runtime.synthesize.verify import vote_matrix

SEVERITIES = ir.SEVERITIES


@dataclass
class Compliance:
    """Compliance rates of one model on one prompt set."""

    per_rule: dict[str, float | None]
    per_severity: dict[str, float | None]
    overall: float | None
    votes: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> good/bad/abstain
    samples: list[tuple[str, str]] = field(default_factory=list)


def _rate(good: int, bad: int) -> float | None:
    return good / (good + bad) if good + bad else None


def compliance(rules: Sequence[ir.RuleIR], matrix: np.ndarray) -> Compliance:
    """Per-rule, per-severity and overall compliance from a vote matrix (rows × rules)."""
    good = (matrix == ir.GOOD).sum(axis=0)
    bad = (matrix == ir.BAD).sum(axis=0)
    abstain = (matrix == ir.ABSTAIN).sum(axis=0)
    per_rule = {r.id: _rate(int(good[j]), int(bad[j])) for j, r in enumerate(rules)}
    per_severity = {}
    for severity in SEVERITIES:
        cols = [j for j, r in enumerate(rules) if r.severity == severity]
        per_severity[severity] = _rate(int(good[cols].sum()), int(bad[cols].sum())) if cols else None
    votes = {r.id: {"good": int(good[j]), "bad": int(bad[j]), "abstain": int(abstain[j])}
             for j, r in enumerate(rules)}
    return Compliance(per_rule, per_severity, _rate(int(good.sum()), int(bad.sum())), votes)


def evaluate_model(generator: Generator, rules: Sequence[ir.RuleIR], prompts: Sequence[list[dict]],
                   labeler: Labeler | None = None, seed: int = 0) -> Compliance:
    """Answer each prompt (greedy) and measure compliance on the answers."""
    answers = [a[0] for a in generator.generate(list(prompts), n=1, temperature=0.0, seed=seed)]
    rows = []
    for messages, answer in zip(prompts, answers):
        context = tuple((m["role"], m["content"]) for m in messages[:-1] if m["role"] in ("user", "assistant"))
        rows.append((messages[-1]["content"], answer, context))
    result = compliance(rules, vote_matrix(rules, rows, labeler))
    result.samples = [(p, a) for p, a, _ in rows]
    return result


def kl_drift(model, base, tokenizer, texts: Sequence[str], max_length: int = 128) -> float:
    """Mean per-token KL(model ‖ base) on `texts`: how far the model moved from the base."""
    import torch

    total, tokens = 0.0, 0
    for text in texts:
        batch = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
        with torch.inference_mode():
            logp = model(**batch).logits.float().log_softmax(-1)
            logq = base(**batch).logits.float().log_softmax(-1)
        kl = (logp.exp() * (logp - logq)).sum(-1)  # per position
        total += float(kl.sum())
        tokens += kl.numel()
    return total / tokens if tokens else 0.0
