"""Run one update cycle: the plan's stages in order, each a nested MLflow run.

label → synthesize → evaluate (base) → train → evaluate (trained) → gate → register.
Every stage reads and writes files in the cycle's work folder, so a stage's inputs are on
disk and digested in MLflow; a model that fails a gate is registered but never promoted.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from compiler.artifact import CompiledArtifact, to_json
from compiler.errors import NothingToDo
from compiler.plan import TrainStage, describe_stage, resolve_method
from runtime import tags as tag
from runtime.evaluate import Compliance
from runtime.gates import GateResult

METHOD_MODULES = {"dpo": "runtime.train.dpo", "kto": "runtime.train.kto", "orpo": "runtime.train.orpo",
                  "cft": "runtime.train.cft", "grpo": "runtime.train.grpo", "rlhf": "runtime.train.rlhf"}


@dataclass
class CycleOptions:
    """What the caller may override for one cycle."""

    work_dir: str = "work"
    base_model: str | None = None
    method: str | None = None
    max_steps: int | None = None
    device: str | None = None
    eval_prompts: int | None = None
    model_prompts: int | None = 24
    samples_per_prompt: int = 3
    from_base: bool = False  # train from the plan's base model even when a champion exists
    progress: bool = False  # progress bars inside the generating and training stages


class NothingToTrain(NothingToDo):
    """The policy's rules are what the champion was trained on: a cycle would change nothing."""


@dataclass
class CycleResult:
    """The outcome of a cycle: compliance before and after, gates, and where it is recorded."""

    run_id: str
    before: Compliance
    after: Compliance
    gates: list[GateResult]
    promoted: bool
    model_version: str | None
    drift: float | None
    tracking_uri: str
    stages: list[str] = field(default_factory=list)
    diff_summary: str = "fresh"
    parent_run: str | None = None
    unchanged: frozenset[str] = frozenset()


def train_stage(artifact: CompiledArtifact) -> TrainStage:
    """The plan's train stage."""
    return next(s for s in artifact.plan.stages if isinstance(s, TrainStage))


def run_cycle(artifact: CompiledArtifact, options: CycleOptions,
              progress: Callable[[str], None] = lambda stage: None,
              notify: Callable[[str], None] = lambda message: None) -> CycleResult:
    """Run one cycle of the policy, after any other cycle of it in this work folder finishes."""
    from runtime.locks import exclusive

    lock = Path(options.work_dir) / artifact.ir.policy_id / ".cycle.lock"
    with exclusive(lock, on_wait=lambda pid: notify(f"another cycle of {artifact.ir.policy_id} is running "
                                                     f"(process {pid}); waiting for it to finish")):
        return _run_cycle(artifact, options, progress)


def _run_cycle(artifact: CompiledArtifact, options: CycleOptions,
               progress: Callable[[str], None]) -> CycleResult:
    """Run every stage of the artifact's plan and record it in MLflow.

    When the policy has a champion, the cycle is an update: it diffs against the champion's
    artifact, reuses cached candidates and generations for unchanged rules, evaluates the
    champion as "before", trains from it (unless `from_base`) on the changed rules' pairs plus
    a replay share of the rest, and gates on no unchanged rule regressing.
    """
    from runtime.cache import Cache
    from runtime.evaluate import evaluate_model, kl_drift
    from runtime.gates import check_gates
    from runtime.label.engine import Labeler
    from runtime.label.scorers import Scorers
    from runtime.lineage import changes, find_parent, git_commit, start_model
    from runtime.models import resolve_model
    from runtime.synthesize.generate import Generator
    from runtime.synthesize.run import synthesize
    from runtime.track import Tracker
    from runtime.train.common import TrainResult

    ir, stage = artifact.ir, train_stage(artifact)
    hp = dict(stage.hyperparameters)
    if options.max_steps is not None:
        hp["max_steps"] = options.max_steps
    if options.device is not None:
        hp["device"] = options.device
    method = options.method or stage.method
    if method == "auto":
        method = resolve_method(ir.training.model_copy(update={"method": "auto"}))
    base_name = options.base_model or stage.base_model
    root = Path(artifact.sources[-1].path).parent
    work = Path(options.work_dir) / ir.policy_id / artifact.policy_hash[:12]
    work.mkdir(parents=True, exist_ok=True)
    cache = Cache(Path(options.work_dir) / "cache")
    base_path = resolve_model(base_name, root)  # a missing model fails before any run is opened
    tracker = Tracker(ir.policy_id, options.work_dir)
    tracker.sweep_stale_runs()
    parent = find_parent(tracker, ir.policy_id)
    delta = changes(parent, artifact)
    if parent is not None and not delta.changed and not delta.removed and not options.from_base:
        raise NothingToTrain(f"no rule changed since champion version {parent.version} (run {parent.run_id}); "
                             "nothing to retrain. Use --from-base to train again from the base model.")
    params = {"policy.id": ir.policy_id, "policy.version": ir.version, "policy.hash": artifact.policy_hash,
              "plan.hash": artifact.plan_hash, "plan.base_model": base_name, "plan.method": method,
              **{f"plan.{k}": v for k, v in hp.items()}}
    tags = {tag.COMPILER: artifact.compiler_version, tag.POLICY_ID: ir.policy_id,
            tag.POLICY_VERSION: ir.version, tag.POLICY_HASH: artifact.policy_hash,
            tag.DIFF_SUMMARY: delta.summary(), tag.GIT_COMMIT: git_commit(root),
            **({tag.DIFF_PARENT_RUN: parent.run_id, tag.DIFF_PARENT_VERSION: parent.version}
               if parent else {})}
    with tracker.cycle(f"{ir.policy_id}@{ir.version}", params, tags) as run_id:
        _log_policy(tracker, artifact, work)
        tracker.mlflow.log_dict(delta.records(), "policy/diff.json")
        # Model-backed rules (sentiment, similarity, judges) need their scorers, or every vote
        # on them would fail closed.
        scorers = Scorers(root=root, judge_model=base_name) if any(r.runtime_only for r in ir.rules) else None
        labeler = Labeler(ir.rules, score=scorers, spans=False, cache=cache)
        device = "cuda" if hp["device"] == "cuda" else "cpu"
        # Pairs always come from the base model's samples, so an update cycle finds them cached.
        settings = dict(max_new_tokens=ir.training.max_new_tokens, device=device, cache=cache,
                        progress=options.progress)
        generator = Generator(base_path, **settings)
        incumbent = generator if parent is None else Generator(parent.model_dir, **settings)
        continuing = parent is not None and not options.from_base
        tracker.mlflow.set_tag(tag.CYCLE_START, f"champion v{parent.version}" if continuing else "base")

        progress("label")
        with tracker.stage("label"):
            _label_examples(artifact, work, tracker)

        progress("synthesize")
        with tracker.stage("synthesize"):
            synth = synthesize(artifact, work / "pairs", root=root, generator=generator,
                               samples_per_prompt=options.samples_per_prompt,
                               max_model_prompts=options.model_prompts, scorers=scorers, cache=cache)
            for name in ("pairs", "unpaired", "eval_prompts"):
                tracker.log_dataset(work / "pairs" / f"{name}.parquet", name, "training" if name != "eval_prompts" else "evaluation")
            tracker.mlflow.log_artifact(str(work / "pairs" / "pair_qa.json"), "reports")
            qa = synth.report.to_dict()
            tracker.mlflow.log_metrics({"pairs.kept": len(synth.pairs),
                                        "pairs.reused_rules": len(synth.report.reused_rules),
                                        "pairs.capped_samples": qa["capped_samples"],
                                        **{f"pairs.dropped.{reason}": n
                                           for reason, n in qa["dropped_by_reason"].items()}})

        prompts = conversations(synth.eval_prompts)[: options.eval_prompts or ir.training.eval_prompts]
        progress("evaluate-before")
        with tracker.stage("evaluate-before"):
            before = evaluate_model(incumbent, ir.rules, prompts, labeler, seed=ir.training.seed,
                                    max_new_tokens=ir.training.eval_max_new_tokens)
            _log_compliance(tracker, "before", before)

        progress("train")
        with tracker.stage("train"):
            if continuing and not delta.changed:
                # Only removals: no rule asks for anything new, so the champion carries over
                # and is evaluated and gated under the new version.
                tracker.mlflow.set_tag(tag.TRAIN_SKIPPED, "only rules were removed")
                result = TrainResult(output_dir=parent.model_dir, global_step=0)
            else:
                start = start_model(parent, cache.root) if continuing else base_path
                data = work / "pairs"
                if continuing:
                    data, hp = _update_data(work, delta.changed, hp, ir.training.seed)
                    tracker.log_dataset(data / "pairs.parquet", "update-pairs", "training")
                tracker.mlflow.log_param("train.start_model", start)
                # Checkpoints are only resumable onto the model they started from.
                out = work / (f"train-from-{parent.run_id[:12]}" if continuing else "train")
                job = replace(_job(method, start, out, hp, ir, data), progress=options.progress)
                if float(hp.get("sft_epochs", 0)) > 0:
                    from runtime.train.warmup import warm_up

                    job = replace(job, model_path=warm_up(job, float(hp["sft_epochs"])))
                result = importlib.import_module(METHOD_MODULES[method]).train(job)
                tracker.mlflow.log_metrics({f"train.{k.replace('/', '.')}": v for k, v in result.metrics.items()})

        progress("evaluate-after")
        with tracker.stage("evaluate-after"):
            trained = Generator(result.output_dir, **settings)
            after = evaluate_model(trained, ir.rules, prompts, labeler, seed=ir.training.seed,
                                   max_new_tokens=ir.training.eval_max_new_tokens)
            _log_compliance(tracker, "after", after)
            neutral = [a for _, a in before.samples if a.strip()][:16] or ["Hello, how can I help you today?"]
            drift = kl_drift(trained.model, generator.model, trained.tokenizer, neutral)
            tracker.mlflow.log_metric("drift.kl", drift)
        for name, value in (("cache.hits", cache.hits), ("cache.misses", cache.misses)):
            tracker.client.log_metric(run_id, name, value)

        progress("gate")
        with tracker.stage("gate"):
            # An update may move the rules it retrains; every other rule must hold.
            gates = check_gates(ir.training.gates, before, after, drift,
                                regression_rules=delta.unchanged if parent is not None else None)
            passed = all(g.passed for g in gates)
            for g in gates:
                tracker.mlflow.log_metric(f"gate.{g.gate.target}{'.' + g.gate.rule if g.gate.rule else ''}.passed",
                                          float(g.passed))
            tracker.mlflow.set_tag(tag.GATES, "passed" if passed else "failed")
            report = _compliance_report(ir.rules, before, after, gates, work)
            tracker.mlflow.log_artifact(str(report), "reports")
        tracker.log_summary(run_id)

        progress("register")
        with tracker.stage("register"):
            version = tracker.register(run_id, result.output_dir, ir.policy_id,
                                       {"policy.version": ir.version, "policy.hash": artifact.policy_hash,
                                        "gates": "passed" if passed else "failed"},
                                       rules=ir.rules, gates=gates)
            if passed:
                tracker.promote(ir.policy_id, version, "champion", actor="tenet compile-and-train",
                                reason=f"all {len(gates)} gates passed")
        tracker.client.set_tag(run_id, tag.MODEL_VERSION, str(version))
        tracker.client.set_tag(run_id, tag.PROMOTED, str(passed).lower())
        tracker.client.set_tag(run_id, tag.MODEL_PATH, str(Path(result.output_dir).resolve()))
    return CycleResult(run_id=run_id, before=before, after=after, gates=gates, promoted=passed,
                       model_version=version, drift=drift, tracking_uri=tracker.uri,
                       stages=[describe_stage(s) for s in artifact.plan.stages], diff_summary=delta.summary(),
                       parent_run=parent.run_id if parent else None, unchanged=delta.unchanged)


def conversations(prompts) -> list[list[dict[str, str]]]:
    """Chat messages for pool prompts: the earlier turns, then the prompt as the user's turn."""
    return [[*({"role": r, "content": c} for r, c in p.context), {"role": "user", "content": p.text}]
            for p in prompts]


def heldout_conversations(artifact: CompiledArtifact, root: Path, limit: int | None = None) -> list[list[dict]]:
    """The held-out evaluation prompts a cycle of `artifact` measures on (never used for pairs)."""
    from runtime.synthesize.prompts import build_pool

    training = artifact.ir.training
    pool = build_pool(artifact.ir, root, training.eval_split, training.seed)
    return conversations(pool.eval)[: limit or training.eval_prompts]


def _update_data(work: Path, changed: frozenset[str], hp: dict, seed: int) -> tuple[Path, dict]:
    """The changed rules' pairs mixed with replayed earlier pairs, and the step cap scaled to them.

    `replay` is the share of the update's training rows that are the unchanged rules' pairs,
    trained on again so the model keeps what it learned. The step cap is the fresh cycle's
    cap times the changed rules' share of all pairs: the changed rules get about the training
    they would get in a fresh cycle, and an edit to one rule costs a fraction of one.
    """
    import math

    import pandas as pd

    folder = work / "update"
    folder.mkdir(exist_ok=True)
    pairs = pd.read_parquet(work / "pairs" / "pairs.parquet")
    new = pairs["target_rules"].map(lambda t: len(t) > 0 and t[0] in changed)
    old = pairs[~new]
    share = min(float(hp.get("replay", 0.0)), 0.95)
    replayed = min(len(old), math.ceil(int(new.sum()) * share / (1.0 - share)))
    subset = pd.concat([pairs[new], old.sample(n=replayed, random_state=seed)]).sample(frac=1.0, random_state=seed)
    subset.to_parquet(folder / "pairs.parquet", index=False)
    unpaired = pd.read_parquet(work / "pairs" / "unpaired.parquet")
    keep = unpaired["pair_id"].isin(subset["pair_id"]) if "pair_id" in unpaired else slice(None)
    unpaired[keep].to_parquet(folder / "unpaired.parquet", index=False)
    hp = dict(hp)
    if int(hp.get("max_steps", -1)) > 0 and len(pairs):
        hp["max_steps"] = max(1, math.ceil(int(hp["max_steps"]) * int(new.sum()) / len(pairs)))
    return folder, hp


def _job(method, start_path, out: Path, hp, ir, data: Path):
    from runtime.train.common import TrainJob, last_valid_checkpoint

    rewards = ()
    if method == "grpo":
        from runtime.train.rewards import rule_rewards

        rewards = tuple(rule_rewards(ir.rules))
    # A cycle of the same policy that was interrupted left checkpoints here: continue from the
    # newest complete one instead of starting over.
    resume = last_valid_checkpoint(out)
    return TrainJob(method=method, model_path=start_path, pairs_path=str(data / "pairs.parquet"),
                    unpaired_path=str(data / "unpaired.parquet"), output_dir=str(out),
                    hyperparameters=hp, report_to=("mlflow",), reward_functions=rewards, resume_from=resume,
                    prompts_path=_train_prompts(data) if method in ("grpo", "rlhf") else None)


def _train_prompts(data: Path) -> str:
    """The distinct training prompts of the pairs, for the online methods (never the held-out ones)."""
    import pandas as pd

    pairs = pd.read_parquet(data / "pairs.parquet", columns=["prompt"])
    seen, rows = set(), []
    for prompt in pairs["prompt"]:
        turns = [{"role": m["role"], "content": m["content"]} for m in prompt]
        key = repr(turns)
        if key not in seen:
            seen.add(key)
            rows.append({"prompt": turns})
    path = data / "train_prompts.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return str(path)


def _log_policy(tracker, artifact: CompiledArtifact, work: Path) -> None:
    (work / "artifact.json").write_text(to_json(artifact), encoding="utf-8")
    tracker.mlflow.log_artifact(str(work / "artifact.json"), "policy")
    for source in artifact.sources:
        if Path(source.path).is_file():
            tracker.mlflow.log_artifact(source.path, "policy/sources")
    plan = "\n".join(describe_stage(s) for s in artifact.plan.stages)
    tracker.mlflow.log_text(plan, "policy/plan.txt")


def _label_examples(artifact: CompiledArtifact, work: Path, tracker) -> None:
    from runtime.label.run import label_dataset

    rows = [{"prompt": ex.prompt, "response": text, "rating": int(role == "good")}
            for r in artifact.ir.rules for ex in r.examples
            for role, texts in (("good", ex.good), ("bad", ex.bad)) for text in texts]
    out = work / "label" / "examples.parquet"
    from runtime.data import ColumnMap

    label_dataset(artifact, rows, out, columns=ColumnMap(gold="rating"), spans=True)
    for name in ("examples.report.json", "examples.rule_analysis.csv", "examples.rule_analysis.json"):
        tracker.mlflow.log_artifact(str(out.parent / name), "reports")


def _log_compliance(tracker, phase: str, result: Compliance) -> None:
    metrics = {f"{phase}.rule.{rid}": v for rid, v in result.per_rule.items() if v is not None}
    metrics.update({f"{phase}.severity.{s}": v for s, v in result.per_severity.items() if v is not None})
    if result.overall is not None:
        metrics[f"{phase}.overall"] = result.overall
    if result.truncated is not None:
        metrics[f"{phase}.truncated"] = result.truncated
    if result.declined is not None:
        metrics[f"{phase}.declined"] = result.declined
    metrics.update({f"{phase}.artifact.{name}": rate for name, rate in result.artifacts.items()})
    tracker.mlflow.log_metrics(metrics)
    tracker.mlflow.log_dict({"per_rule": result.per_rule, "per_severity": result.per_severity,
                             "overall": result.overall, "votes": result.votes, "truncated": result.truncated,
                             "declined": result.declined,
                             "artifacts": result.artifacts,
                             "samples": [{"prompt": p, "response": a, "end": e}
                                         for (p, a), e in zip(result.samples[:50], result.ends)]},
                            f"reports/compliance_{phase}.json")


def _compliance_report(rules, before: Compliance, after: Compliance, gates, work: Path) -> Path:
    """A per-rule before/after table (CSV) and bar chart (PNG); returns the folder."""
    folder = work / "report"
    folder.mkdir(exist_ok=True)
    lines = ["rule,severity,before,after"]
    for r in rules:
        b, a = before.per_rule.get(r.id), after.per_rule.get(r.id)
        lines.append(f"{r.id},{r.severity},{'' if b is None else round(b, 4)},{'' if a is None else round(a, 4)}")
    # Beside compliance: how often answers were cut off, and the artifact rates.
    lines.append(f"(truncated),,{_round(before.truncated)},{_round(after.truncated)}")
    lines.append(f"(declined),,{_round(before.declined)},{_round(after.declined)}")
    for name in before.artifacts:
        lines.append(f"(artifact {name}),,{_round(before.artifacts[name])},{_round(after.artifacts.get(name))}")
    (folder / "compliance.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "gates.json").write_text(json.dumps([{"gate": g.gate.model_dump(), "value": g.value,
                                                    "passed": g.passed, "detail": g.detail} for g in gates],
                                                  indent=2), encoding="utf-8")
    _plot(rules, before, after, folder / "compliance.png")
    return folder


def _round(value: float | None) -> str:
    return "" if value is None else str(round(value, 4))


def _plot(rules, before: Compliance, after: Compliance, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    voted = [r.id for r in rules if before.per_rule.get(r.id) is not None or after.per_rule.get(r.id) is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(voted) + 2), 4))
    xs = range(len(voted))
    ax.bar([x - 0.2 for x in xs], [before.per_rule.get(r) or 0 for r in voted], 0.4, label="before")
    ax.bar([x + 0.2 for x in xs], [after.per_rule.get(r) or 0 for r in voted], 0.4, label="after")
    ax.set_xticks(list(xs), voted, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("compliance")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
