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
from typing import TYPE_CHECKING

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.plan import RoundStage
from tenet.runtime import tags as tag
from tenet.runtime.synthesize.run import synthesize, write
from tenet.runtime.train.jobs import build_job, train_job

if TYPE_CHECKING:
    from tenet.runtime.context import CycleContext


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


def visit_round(stage: RoundStage, ctx: CycleContext) -> None:
    """Train again on the trained model's own answers, paired on the rules it still breaks (`runtime/rounds.py`).

    The round trains from the last round's model with the train stage's method and settings,
    without a warm-up, for the fresh cycle's steps scaled to its share of pairs.
    """
    tracker, folder = ctx.tracker, ctx.work / stage.name
    found = on_policy_round(ctx.artifact, folder / "pairs", stage, root=ctx.root,
                            generator=ctx.models.load(ctx.trained_dir), max_model_prompts=ctx.options.model_prompts,
                            scorers=ctx.models.scorers, cache=ctx.cache)
    tracker.mlflow.log_metrics({"round.pairs": found.pairs, "round.rules_below_target": len(found.below_target),
                                **{f"round.break_rate.{rule}": rate for rule, rate in found.break_rates.items()}})
    if not found.pairs:
        why = "every rule is at target on the model's samples" if not found.below_target else "no pair was kept"
        tracker.mlflow.set_tag(tag.TRAIN_SKIPPED, why)
        return
    tracker.log_dataset(found.folder / "pairs.parquet", f"{stage.name}-pairs", "training")
    settings = ctx.train.settings.replace(sft_epochs=0.0)
    first = _row_count(ctx.pairs_dir / "pairs.parquet")
    if settings.max_steps > 0 and first:
        settings = settings.replace(max_steps=max(1, -(-settings.max_steps * found.pairs // first)))
    job = build_job(ctx.train.method, ctx.trained_dir, folder / "train", settings, ctx.artifact.ir.rules, found.folder,
               ctx.options.progress)
    if ctx.options.before_train is not None:
        ctx.options.before_train(job)
    result = train_job(job)
    tracker.mlflow.log_metrics({f"train.{k.replace('/', '.')}": v for k, v in result.metrics.items()})
    ctx.trained_dir = result.output_dir


def _row_count(path: Path) -> int:
    """Rows of a Parquet file (0 when it does not exist)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
