"""On-policy rounds: pair the trained model's own answers on the rules it still breaks.

After a training round, the trained model answers the training prompts (never the held-out
ones), several sampled answers each. The compiled rules judge every answer. A rule the
answers break more often than the round's target allows gets pairs of the model's own
compliant answer against its own breaking answer to the same prompt (the `sample` strategy,
through the same quality gates and budget as the first round's pairs); rules it already keeps
get none. Training on them is iterative on-policy preference training with the rules as the
verifier (rejection sampling / iterative DPO, RLVR for verifiable constraints).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.plan import RoundStage
from tenet.runtime.synthesize.run import synthesize, write


@dataclass(frozen=True)
class RoundData:
    """What a round found: each rule's break rate on the model's samples, and the pairs it kept."""

    break_rates: dict[str, float]
    below_target: tuple[str, ...]
    pairs: int
    folder: Path


def on_policy_round(artifact: CompiledArtifact, folder: Path, stage: RoundStage, *, root: Path, generator,
                    max_model_prompts: int | None, scorers=None, cache=None) -> RoundData:
    """Sample `generator` on the training prompts and write the pairs for the rules below target into `folder`."""
    result = synthesize(artifact, None, root=root, strategies=("sample",), generator=generator,
                        samples_per_prompt=stage.samples_per_prompt, max_model_prompts=max_model_prompts,
                        scorers=scorers, cache=cache)
    rates = {rule: counts["broken"] / counts["judged"]
             for rule, counts in result.report.model_breaks.items() if counts["judged"]}
    below = tuple(rule for rule, rate in rates.items() if rate > 1.0 - stage.target)
    keep = [i for i, pair in enumerate(result.pairs) if pair.target_rules and pair.target_rules[0] in below]
    kept = replace(result, pairs=[result.pairs[i] for i in keep],
                   needs=[result.needs[i] for i in keep] if result.needs is not None else None)
    write(kept, artifact, folder, ("sample",))
    return RoundData(break_rates=rates, below_target=below, pairs=len(kept.pairs), folder=folder)
