"""Synthesize a policy's training data: prompts → strategies → quality gates → budget → files."""

from __future__ import annotations

from collections import Counter

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.strategies import NEEDS_MODEL, READS_SAMPLES
from tenet.runtime.label.engine import Labeler
from tenet.runtime.label.scorers import Scorers
from tenet.runtime.synthesize import output, reuse
from tenet.runtime.synthesize.artifacts import STRATEGY as ARTIFACT_STRATEGY, artifact_pairs
from tenet.runtime.synthesize.fluency import FluencyCheck
from tenet.runtime.synthesize.pairs import Candidate, Completion, Pair, SynthesisContext
from tenet.runtime.synthesize.polish import polish_all
from tenet.runtime.synthesize.prompts import PromptPool, build_pool, normalize
from tenet.runtime.synthesize.quality import QaReport, gate, select_within_budget
from tenet.runtime.synthesize.scope import STRATEGY as SCOPE_STRATEGY, scope_pairs
from tenet.runtime.synthesize.need import break_rates, coupled_needs, pair_needs, rule_needs, shortfall_weights
from tenet.runtime.synthesize.strategies import STRATEGIES

PAIRS_FILE, UNPAIRED_FILE, EVAL_FILE, QA_FILE = "pairs.parquet", "unpaired.parquet", "eval_prompts.parquet", "pair_qa.json"


@dataclass
class SynthesisResult:
    """The kept pairs and rows, the held-out prompts and the QA report."""

    pairs: list[Pair]
    completions: list[Completion]
    eval_prompts: list
    report: QaReport
    tokens_generated: int = 0
    needs: list[float] | None = None  # per pair: its weight in the step sample (runtime/synthesize/need.py)


def synthesize(artifact: CompiledArtifact, out_dir: str | Path | None, *, root: str | Path = ".",
               strategies: Sequence[str] | None = None, generator=None, scorers: Scorers | None = None,
               feedback: list[dict] | None = None, samples_per_prompt: int = 4,
               progress: Callable[[str, int], None] | None = None,
               max_model_prompts: int | None = None, cache=None,
               artifact_share: float | None = None, scope_share: float | None = None) -> SynthesisResult:
    """Run the strategies, gate and select pairs, and write the datasets and QA report.

    Args:
        artifact: The compiled policy (its pair specs give the per-rule budget).
        out_dir: Directory for the Parquet files and `pair_qa.json` (None: write nothing).
        root: Policy root, for prompt files.
        strategies: Names to run (default: the policy's `strategies` setting).
        generator: A `Generator` for the model-based strategies (sample, revise, contrast).
        scorers: Model-backed scores used when verifying pairs against model-backed rules.
        feedback: Logged rows with a `rating` for the feedback strategy.
        samples_per_prompt: N for best-of-N sampling.
        progress: Called with (strategy, candidates so far).
        max_model_prompts: Cap on the training prompts the model answers (a seeded choice).
        cache: A `tenet.runtime.cache.Cache`: rules whose candidates are cached skip the strategies.
        artifact_share: Artifact contrasts per selected rule pair (default: the policy's
            `artifact_pairs` setting; `runtime/synthesize/artifacts.py`).
        scope_share: Scope contrasts per pair of a scoped rule (default: the policy's
            `scope_pairs` setting; `runtime/synthesize/scope.py`).
    """
    policy = artifact.ir
    training = policy.training
    names = list(strategies or training.strategies)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    pool = build_pool(policy, root, training.eval_split, training.seed)
    items, reused, ctx = _gather(policy, pool, names, cache, progress,
                                 SynthesisContext(policy=policy, pool=pool, seed=training.seed, generator=generator,
                                                  samples_per_prompt=samples_per_prompt, feedback=feedback or [],
                                                  max_model_prompts=max_model_prompts))
    candidates = polish_all([item for item in items if isinstance(item, Pair)], policy.rules, training.seed)
    if scorers is None and any(r.runtime_only for r in policy.rules):
        scorers = Scorers.for_policy(training, root)
    labeler = Labeler(policy.rules, score=scorers, spans=False, cache=cache)
    report = QaReport()
    for name in names:
        report.candidates.setdefault(name, 0)
    kept, report = gate(candidates, policy.rules, pool.eval_texts, training.length_ratio_max, labeler, report)
    fluent = FluencyCheck(generator, cache=cache) if generator is not None else None
    selected = select_within_budget(kept, policy.pair_specs, training.seed, report, accept=fluent)
    selected += _contrasts(selected, training.artifact_pairs if artifact_share is None else artifact_share,
                           training.scope_pairs if scope_share is None else scope_share, policy, labeler, report)
    completions = _not_held_out([item for item in items if isinstance(item, Completion)], pool, report)
    report.reused_rules = sorted(g for g in reused if g != reuse.POLICY_GROUP)
    report.capped_samples, report.model_breaks = _sample_counts(_samples(ctx, policy, names), policy, labeler)
    per_rule = Counter(rule for pair in selected for rule in pair.target_rules)
    report.needs = coupled_needs(rule_needs(report.model_breaks), policy.rules, per_rule)
    report.weights = shortfall_weights(report.needs, policy.pair_specs, per_rule)
    result = SynthesisResult(pairs=selected, completions=completions, eval_prompts=pool.eval, report=report,
                             tokens_generated=getattr(generator, "tokens_generated", 0),
                             needs=pair_needs(selected, report.weights))
    if out_dir is not None:
        write(result, artifact, Path(out_dir), names)
    return result


def _not_held_out(completions: list[Completion], pool: PromptPool, report: QaReport) -> list[Completion]:
    """The unpaired rows whose prompt is not a held-out one; the others are counted as dropped."""
    kept = [c for c in completions if normalize(c.prompt) not in pool.eval_texts]
    report.unpaired_dropped["eval_overlap"] += len(completions) - len(kept)
    return kept


def _samples(ctx: SynthesisContext, policy, names: Sequence[str]) -> list[Candidate]:
    """The model's sampled answers to the training prompts (none when nothing was sampled).

    When every rule's candidates came from the cache no strategy sampled in this run; the
    samples are then read again over the whole policy, from the generation cache, so the
    break rates and the count of capped samples do not depend on what was cached.
    """
    if ctx.generator is None or not any(name in READS_SAMPLES for name in names):
        return []
    if ctx._candidates is None:
        ctx = replace(ctx, policy=policy)
    return ctx.candidates()


def _sample_counts(samples: list[Candidate], policy, labeler: Labeler) -> tuple[int, dict]:
    """How many samples the token cap cut, and how often the samples broke each rule."""
    return sum(c.capped for c in samples), break_rates(samples, policy.rules, labeler)


def _contrasts(selected: list[Pair], artifact_share: float, scope_share: float, policy, labeler: Labeler,
               report: QaReport) -> list[Pair]:
    """The scope and artifact contrasts for the selected rule pairs, counted in the report."""
    seed = policy.training.seed
    scoped, report.scope_pairs = scope_pairs(selected, scope_share, policy.rules, labeler, seed)
    artifacts, report.artifact_pairs = artifact_pairs(selected, artifact_share, policy.rules, labeler, seed)
    for strategy, made in ((SCOPE_STRATEGY, scoped), (ARTIFACT_STRATEGY, artifacts)):
        if not made:
            continue
        report.candidates[strategy] += len(made)
        report.kept[strategy] += len(made)
    return scoped + artifacts


def _gather(policy, pool, names: Sequence[str], cache, progress,
            ctx: SynthesisContext) -> tuple[list, dict[str, list], SynthesisContext]:
    """Every strategy's candidates: cached per rule when nothing they depend on changed.

    Returns the candidates, the reused groups and the context the strategies ran in (it
    holds the model's samples, counted in the QA report).
    """
    reused: dict[str, list] = {}
    if cache is not None:
        keys = reuse.rule_keys(policy, pool, names, _reuse_settings(ctx.generator, ctx.samples_per_prompt,
                                                                    ctx.max_model_prompts, ctx.feedback))
        reused = reuse.load(cache, keys)
    todo = tuple(r for r in policy.rules if r.id not in reused)
    ctx = replace(ctx, policy=policy.model_copy(update={"rules": todo}))
    fresh = _run_strategies(ctx, names, progress) if todo or reuse.POLICY_GROUP not in reused else []
    if cache is not None:
        reuse.store(cache, keys, [r.id for r in todo] + [g for g in [reuse.POLICY_GROUP] if g not in reused], fresh)
    return [item for group in reused.values() for item in group] + fresh, reused, ctx


def _run_strategies(ctx: SynthesisContext, names: Sequence[str],
                    progress: Callable[[str, int], None] | None) -> list[Pair | Completion]:
    """Every candidate pair and unpaired row the strategies yield, in strategy order."""
    items: list[Pair | Completion] = []
    pairs = 0
    for name in names:
        if name in NEEDS_MODEL and ctx.generator is None:
            continue
        for item in STRATEGIES[name](ctx):
            items.append(item)
            pairs += isinstance(item, Pair)
            if progress and pairs % 256 == 0:
                progress(name, pairs)
        if progress:
            progress(name, pairs)
    return items


def _reuse_settings(generator, samples_per_prompt: int, max_model_prompts: int | None,
                    feedback: list[dict] | None) -> dict:
    """What besides the rules and prompts decides the strategies' output."""
    from tenet.runtime.cache import key_of, model_fingerprint

    sampler = None
    if generator is not None:
        sampler = [model_fingerprint(generator.model_path), generator.max_new_tokens, generator.system_prompt]
    return {"sampler": sampler, "samples_per_prompt": samples_per_prompt, "max_model_prompts": max_model_prompts,
            "feedback": key_of(feedback or [])}


def write(result: SynthesisResult, artifact: CompiledArtifact, out_dir: Path, strategies: Sequence[str]) -> None:
    """Write pairs, unpaired rows, held-out prompts and the QA report into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pref_cols = ["prompt", "chosen", "rejected", "pair_id", "strategy", "target_rules", "source",
                 "policy_id", "policy_version", "policy_hash", "need"]
    output.write_parquet(output.preference_rows(result.pairs, artifact, result.needs), out_dir / PAIRS_FILE, pref_cols)
    output.write_parquet(output.unpaired_rows(result.pairs, result.completions, artifact), out_dir / UNPAIRED_FILE,
                         ["prompt", "completion", "label", "pair_id", "strategy", "target_rules", "source"])
    output.write_parquet(output.eval_rows(result.eval_prompts), out_dir / EVAL_FILE, ["prompt", "text", "source"])
    report = result.report.to_dict()
    report.update(policy_id=artifact.policy_id, policy_version=artifact.version, strategies=list(strategies),
                  eval_prompts=len(result.eval_prompts), unpaired_feedback_rows=len(result.completions))
    tmp = out_dir / f".{QA_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out_dir / QA_FILE)
