"""`contrast`: the model is asked to comply with a rule and, separately, to break it
(RLCD-style contrasting prompts); the two answers form a pair for contrastive fine-tuning."""

from __future__ import annotations

from typing import Iterator

from tenet.compiler import semantics
from tenet.runtime.synthesize.pairs import Pair, SynthesisContext, messages
from tenet.runtime.synthesize.strategies.revise import rule_text

COMPLY = "Answer the user. You must follow this rule: {rule}"
VIOLATE = "Answer the user. Deliberately break this rule: {rule}"


def contrast(ctx: SynthesisContext) -> Iterator[Pair]:
    """Yield (complying, violating) answers for prompts in each rule's scope."""
    if ctx.generator is None:
        return
    jobs = []
    for rule in ctx.policy.rules:
        for prompt in ctx.model_prompts():
            if semantics.in_scope(rule, semantics.Sample(prompt.text, "", prompt.context)) is not False:
                jobs.append((rule, prompt))
    requests = []
    for rule, prompt in jobs:
        for system in (COMPLY, VIOLATE):
            requests.append([{"role": "system", "content": system.format(rule=rule_text(rule))}, *messages(prompt)])
    outputs = ctx.complete_answers(requests) if requests else []
    for k, (rule, prompt) in enumerate(jobs):
        comply, breaks = outputs[2 * k], outputs[2 * k + 1]
        if comply and breaks and comply.strip() and breaks.strip() and comply.strip() != breaks.strip():
            yield Pair(prompt=prompt.text, chosen=comply, rejected=breaks, strategy="contrast",
                       target_rules=(rule.id,), source=prompt.source, context=prompt.context)
