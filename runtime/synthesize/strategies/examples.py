"""`examples`: every good × bad response the policy author wrote for a rule's prompt."""

from __future__ import annotations

from typing import Iterator

from tenet.runtime.synthesize.pairs import Pair, SynthesisContext


def examples(ctx: SynthesisContext) -> Iterator[Pair]:
    """Pair each example's good responses with its bad ones."""
    for rule in ctx.policy.rules:
        for example in rule.examples:
            for good in example.good:
                for bad in example.bad:
                    yield Pair(prompt=example.prompt, chosen=good, rejected=bad, strategy="examples",
                               target_rules=(rule.id,), source=f"example:{rule.id}", context=tuple(example.context))
