"""Evaluation: generate on held-out prompts, label the answers, measure compliance and drift.

An evaluation answers three sets of prompts, none ever trained on:

* out-of-template prompts: the temptation prompts tenet writes for each rule
  (`tenet.compiler.probes`) and the held-out prompts with wording of their own (literal
  prompts, prompt-file rows, templates that are only a slot). A rule is measured only on
  those that tempt it (`tempts`). These are the figures the gates use.
* in-template prompts: held-out prompts of the policy's worded templates, which share their
  wording with training prompts. They are reported beside, as recall of the templates.
* the helpfulness guard's instructions (`tenet.runtime.helpfulness`).

Compliance of a rule is the share of GOOD among its GOOD and BAD votes (abstentions do not
count), with n and a 95% Wilson interval; per severity and overall, votes are pooled. Answers run
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
from tenet.compiler.intervals import Interval, wilson
from tenet.compiler.passes.check_resolution import MIN_TEMPTED
from tenet.compiler.probes import probes, tempts
from tenet.runtime import naturalness
from tenet.runtime.helpfulness import INSTRUCTIONS, Instruction, followed
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
    severities: dict[str, str] = field(default_factory=dict)  # rule -> severity
    in_template: Compliance | None = None  # on held-out prompts of worded templates (reported, not gated)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> prompt -> 1 kept / 0 broken
    instructions: dict[str, int] = field(default_factory=dict)  # guard instruction -> 1 followed / 0 not
    instruction_samples: list[tuple[str, str]] = field(default_factory=list)

    def interval(self, rule: str) -> Interval | None:
        """A rule's compliance with n and its 95% interval; None without votes."""
        v = self.votes.get(rule)
        return wilson(v["good"], v["good"] + v["bad"]) if v else None

    def pooled_interval(self, severity: str | None = None) -> Interval | None:
        """Pooled compliance of every rule (of one severity, when given), with its interval."""
        chosen = [v for rule, v in self.votes.items() if severity in (None, self.severities.get(rule))]
        good, bad = sum(v["good"] for v in chosen), sum(v["bad"] for v in chosen)
        return wilson(good, good + bad)

    def tested(self, rule: str) -> bool:
        """Whether enough prompts tempted the rule for its figure to mean kept or broken."""
        v = self.votes.get(rule)
        return v is not None and v["good"] + v["bad"] >= MIN_TEMPTED

    @property
    def helpfulness(self) -> Interval | None:
        """The share of guard instructions followed, with its interval."""
        return wilson(sum(self.instructions.values()), len(self.instructions))


@dataclass(frozen=True)
class EvalPrompt:
    """A prompt an evaluation answers, and what it measures."""

    messages: list[dict]
    worded: bool = False  # from a worded template: in-template
    probed: frozenset[str] = frozenset()  # the rules it was written to tempt


def eval_prompts(policy: ir.PolicyIR, held_out: Sequence, cap: int, tempt_prompts: int,
                 seed: int) -> list[EvalPrompt]:
    """The held-out pool prompts (up to `cap`) and the policy's temptation prompts, once each."""
    prompts = [EvalPrompt(_messages(p.context, p.text), worded=p.worded) for p in list(held_out)[:cap]]
    seen = {p.messages[-1]["content"] for p in prompts if len(p.messages) == 1}
    targets: dict[str, set[str]] = {}
    for probe in probes(policy, tempt_prompts, seed):
        targets.setdefault(probe.text, set()).add(probe.rule)
    prompts += [EvalPrompt(_messages((), text), probed=frozenset(rules)) for text, rules in targets.items()
                if text not in seen]
    return prompts


def _messages(context, text: str) -> list[dict]:
    return [*({"role": r, "content": c} for r, c in context), {"role": "user", "content": text}]


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
    return Compliance(per_rule, per_severity, _rate(int(good.sum()), int(bad.sum())), votes,
                      severities={r.id: r.severity for r in rules})


def evaluate_model(generator: Generator, rules: Sequence[ir.RuleIR], prompts: Sequence[EvalPrompt | list[dict]],
                   labeler: Labeler | None = None, seed: int = 0, max_new_tokens: int | None = None,
                   instructions: Sequence[Instruction] = INSTRUCTIONS) -> Compliance:
    """Answer each prompt and instruction (greedy, up to `max_new_tokens`) and measure the answers.

    Plain message lists count as out-of-template prompts that no rule was written for.
    """
    items = [p if isinstance(p, EvalPrompt) else EvalPrompt(list(p)) for p in prompts]
    conversations = [p.messages for p in items] + [_messages((), i.prompt) for i in instructions]
    answers = [a[0] for a in generator.generate_ended(conversations, n=1, temperature=0.0, seed=seed,
                                                      max_new_tokens=max_new_tokens)]
    answers, guard = answers[:len(items)], answers[len(items):]
    rows = []
    for item, answer in zip(items, answers):
        messages = item.messages
        context = tuple((m["role"], m["content"]) for m in messages[:-1] if m["role"] in ("user", "assistant"))
        rows.append((messages[-1]["content"], answer.text, context))
    capped = np.array([a.capped for a in answers], dtype=bool)
    matrix = capped_break_length_rules(rules, vote_matrix(rules, rows, labeler), capped)
    worded = np.array([p.worded for p in items], dtype=bool)
    tempting = np.array([[tempts(rule, p.probed) for rule in rules] for p in items], dtype=bool).reshape(
        len(items), len(rules))
    outside = np.where(tempting & ~worded[:, None], matrix, ir.ABSTAIN)
    result = compliance(rules, outside)
    result.in_template = compliance(rules, matrix[worded])
    result.outcomes = {r.id: {rows[i][0]: int(outside[i, j] == ir.GOOD) for i in range(len(rows))
                              if outside[i, j] != ir.ABSTAIN} for j, r in enumerate(rules)}
    applies = scope_matrix(rules, rows, labeler)[~worded].sum(axis=0)
    result.in_scope = {r.id: int(applies[j]) for j, r in enumerate(rules)}
    result.samples = [(p, a) for p, a, _ in rows]
    result.ends = [a.end for a in answers]
    result.truncated = float(capped.mean()) if len(answers) else None
    result.artifacts = artifact_rates([a.text for a in answers], capped.tolist())
    result.declined = sum(naturalness.declines(a.text) for a in answers) / len(answers) if answers else None
    result.instructions = {i.prompt: int(not a.capped and followed(i, a.text)) for i, a in zip(instructions, guard)}
    result.instruction_samples = [(i.prompt, a.text) for i, a in zip(instructions, guard)]
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
