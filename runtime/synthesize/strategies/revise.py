"""`revise`: the model rewrites a response that breaks a rule so that it follows the rule's
text (critique-and-revision, as in Constitutional AI)."""

from __future__ import annotations

from typing import Iterator

from tenet.compiler import ir, semantics
from tenet.compiler.semantics import Sample
from tenet.runtime.synthesize.pairs import Pair, SynthesisContext

REVISE_TEMPLATE = ("Rewrite the answer below so that it follows this rule: {rule}\n"
                   "Keep everything else the same. Reply with the rewritten answer only.\n\n"
                   "Question: {prompt}\n\nAnswer: {response}")


def rule_text(rule: ir.RuleIR) -> str:
    """The rule in words, for prompting a model."""
    return rule.description or rule.because or rule.id.replace("-", " ")


def revise(ctx: SynthesisContext) -> Iterator[Pair]:
    """Yield (revised, original) pairs for sampled responses that a text rule votes BAD."""
    if ctx.generator is None:
        return
    jobs: list[tuple[ir.RuleIR, Sample, str]] = []
    for candidate in ctx.candidates():
        for text in candidate.responses:
            sample = Sample(candidate.prompt.text, text, candidate.prompt.context)
            for rule in ctx.policy.rules:
                if semantics.rule_vote(rule, sample) == ir.BAD:
                    jobs.append((rule, sample, candidate.prompt.source))
                    break
    requests = [[{"role": "user", "content": REVISE_TEMPLATE.format(rule=rule_text(r), prompt=s.prompt,
                                                                      response=s.response)}] for r, s, _ in jobs]
    outputs = ctx.complete_answers(requests, temperature=0.0) if requests else []
    for (rule, sample, source), revised in zip(jobs, outputs):
        if revised and revised.strip() and revised.strip() != sample.response.strip():
            yield Pair(prompt=sample.prompt, chosen=revised, rejected=sample.response, strategy="revise",
                       target_rules=(rule.id,), source=source, context=sample.context)
