"""Synthesize a policy's training data: prompts → strategies → quality gates → budget → files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from compiler.artifact import CompiledArtifact
from runtime.label.engine import Labeler
from runtime.label.scorers import Scorers
from runtime.synthesize import output
from runtime.synthesize.pairs import Completion, Pair, SynthesisContext
from runtime.synthesize.prompts import build_pool, normalize
from runtime.synthesize.quality import QaReport, gate, select_within_budget
from runtime.synthesize.strategies import NEEDS_MODEL, STRATEGIES

PAIRS_FILE, UNPAIRED_FILE, EVAL_FILE, QA_FILE = "pairs.parquet", "unpaired.parquet", "eval_prompts.parquet", "pair_qa.json"


@dataclass
class SynthesisResult:
    """The kept pairs and rows, the held-out prompts and the QA report."""

    pairs: list[Pair]
    completions: list[Completion]
    eval_prompts: list
    report: QaReport
    tokens_generated: int = 0


def synthesize(artifact: CompiledArtifact, out_dir: str | Path | None, *, root: str | Path = ".",
               strategies: Sequence[str] | None = None, generator=None, scorers: Scorers | None = None,
               feedback: list[dict] | None = None, samples_per_prompt: int = 4,
               progress: Callable[[str, int], None] | None = None,
               max_model_prompts: int | None = None) -> SynthesisResult:
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
    """
    policy = artifact.ir
    training = policy.training
    names = list(strategies or training.strategies)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    pool = build_pool(policy, root, training.eval_split, training.seed)
    ctx = SynthesisContext(policy=policy, pool=pool, seed=training.seed, generator=generator,
                           samples_per_prompt=samples_per_prompt, feedback=feedback or [],
                           max_model_prompts=max_model_prompts)
    candidates: list[Pair] = []
    completions: list[Completion] = []
    for name in names:
        if name in NEEDS_MODEL and generator is None:
            continue
        for item in STRATEGIES[name](ctx):
            (completions if isinstance(item, Completion) else candidates).append(item)
            if progress and len(candidates) % 256 == 0:
                progress(name, len(candidates))
        if progress:
            progress(name, len(candidates))
    if scorers is None and any(r.runtime_only for r in policy.rules):
        scorers = Scorers(root=root, judge_model=training.base_model)
    labeler = Labeler(policy.rules, score=scorers, spans=False)
    report = QaReport()
    for name in names:
        report.candidates.setdefault(name, 0)
    kept, report = gate(candidates, policy.rules, pool.eval_texts, training.length_ratio_max, labeler, report)
    selected = select_within_budget(kept, policy.pair_specs, training.seed, report)
    held_out = pool.eval_texts
    leaked = [c for c in completions if normalize(c.prompt) in held_out]
    completions = [c for c in completions if normalize(c.prompt) not in held_out]
    report.unpaired_dropped["eval_overlap"] += len(leaked)
    result = SynthesisResult(pairs=selected, completions=completions, eval_prompts=pool.eval, report=report,
                             tokens_generated=getattr(generator, "tokens_generated", 0))
    if out_dir is not None:
        write(result, artifact, Path(out_dir), names)
    return result


def write(result: SynthesisResult, artifact: CompiledArtifact, out_dir: Path, strategies: Sequence[str]) -> None:
    """Write pairs, unpaired rows, held-out prompts and the QA report into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pref_cols = ["prompt", "chosen", "rejected", "pair_id", "strategy", "target_rules", "source",
                 "policy_id", "policy_version", "policy_hash"]
    output.write_parquet(output.preference_rows(result.pairs, artifact), out_dir / PAIRS_FILE, pref_cols)
    output.write_parquet(output.unpaired_rows(result.pairs, result.completions, artifact), out_dir / UNPAIRED_FILE,
                         ["prompt", "completion", "label", "pair_id", "strategy", "target_rules", "source"])
    output.write_parquet(output.eval_rows(result.eval_prompts), out_dir / EVAL_FILE, ["prompt", "text", "source"])
    report = result.report.to_dict()
    report.update(policy_id=artifact.policy_id, policy_version=artifact.version, strategies=list(strategies),
                  eval_prompts=len(result.eval_prompts), unpaired_feedback_rows=len(result.completions))
    tmp = out_dir / f".{QA_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out_dir / QA_FILE)
