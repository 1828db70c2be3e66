"""Evaluation: generate on held-out prompts, label the answers, measure compliance and drift.

Compliance of a rule is the share of GOOD among its GOOD and BAD votes on the held-out
prompts (abstentions do not count); per severity and overall, votes are pooled. Answers run
to their natural end under a cap derived from the policy's length rules; an answer the cap
cut off is a prefix, so it never counts as complying with a rule that bounds the response's
length (its GOOD vote on such a rule becomes BAD). Beside compliance, each evaluation
reports the truncation rate and the artifact rates of `tenet.runtime.naturalness` (loops, hybrid
list markers, mid-sentence endings among complete answers, leftovers) and how often the
model declines (a model can keep most rules by deflecting). The capability guard
is the mean per-token KL divergence of the evaluated model from the base model on neutral
text, so a model that complies by forgetting how to write shows up. Each evaluation also
counts the prompts in each rule's scope, so a gate can say why a rule cast no vote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tenet.compiler import ir
from tenet.runtime import naturalness
from tenet.runtime.label.engine import Labeler
from tenet.runtime.synthesize.generate import Generator
from tenet.runtime.synthesize.verify import capped_break_length_rules, scope_matrix, vote_matrix

SEVERITIES = ir.SEVERITIES


@dataclass
class Compliance:
    """Compliance rates of one model on one prompt set."""

    per_rule: dict[str, float | None]
    per_severity: dict[str, float | None]
    overall: float | None
    votes: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> good/bad/abstain
    samples: list[tuple[str, str]] = field(default_factory=list)
    truncated: float | None = None  # share of answers cut by the token cap
    declined: float | None = None  # share of answers that decline or deflect (built-in refusal check)
    artifacts: dict[str, float] = field(default_factory=dict)  # naturalness problem -> share of answers
    ends: list[str] = field(default_factory=list)  # per sample: "eos" or "cap"
    in_scope: dict[str, int] = field(default_factory=dict)  # rule -> held-out prompts in its scope


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
                   labeler: Labeler | None = None, seed: int = 0, max_new_tokens: int | None = None) -> Compliance:
    """Answer each prompt (greedy, up to `max_new_tokens`) and measure compliance on the answers."""
    answers = [a[0] for a in generator.generate_ended(list(prompts), n=1, temperature=0.0, seed=seed,
                                                      max_new_tokens=max_new_tokens)]
    rows = []
    for messages, answer in zip(prompts, answers):
        context = tuple((m["role"], m["content"]) for m in messages[:-1] if m["role"] in ("user", "assistant"))
        rows.append((messages[-1]["content"], answer.text, context))
    capped = np.array([a.capped for a in answers], dtype=bool)
    result = compliance(rules, capped_break_length_rules(rules, vote_matrix(rules, rows, labeler), capped))
    applies = scope_matrix(rules, rows, labeler).sum(axis=0)
    result.in_scope = {r.id: int(applies[j]) for j, r in enumerate(rules)}
    result.samples = [(p, a) for p, a, _ in rows]
    result.ends = [a.end for a in answers]
    result.truncated = float(capped.mean()) if len(answers) else None
    result.artifacts = artifact_rates([a.text for a in answers], capped.tolist())
    result.declined = sum(naturalness.declines(a.text) for a in answers) / len(answers) if answers else None
    return result


def artifact_rates(texts: Sequence[str], capped: Sequence[bool]) -> dict[str, float]:
    """Share of answers with each naturalness problem; mid-sentence endings among complete answers only."""
    if not texts:
        return {}
    found = [naturalness.problems(t) for t in texts]
    rates = {p: sum(p in f for f in found) / len(texts) for p in naturalness.PROBLEMS if p != "mid_sentence"}
    complete = [f for f, cut in zip(found, capped) if not cut]
    rates["mid_sentence"] = sum("mid_sentence" in f for f in complete) / len(complete) if complete else 0.0
    return {p: rates[p] for p in naturalness.PROBLEMS}


def kl_drift(model, base, tokenizer, texts: Sequence[str], max_length: int = 128) -> float:
    """Mean per-token KL(model ‖ base) on `texts`: how far the model moved from the base."""
    import torch

    total, tokens = 0.0, 0
    for text in texts:
        batch = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).to(model.device)
        with torch.inference_mode():
            logp = model(**batch).logits.float().log_softmax(-1)
            logq = base(**batch).logits.float().log_softmax(-1)
        kl = (logp.exp() * (logp - logq)).sum(-1)  # per position
        total += float(kl.sum())
        tokens += kl.numel()
    return total / tokens if tokens else 0.0
