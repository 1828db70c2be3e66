"""Run one update cycle: walk the plan's stages, dispatching each to its handler, each a nested MLflow run.

The compiled plan (compiler/plan.py) is label → synthesize → evaluate (before) → train →
round 2 … N (`rounds`) → evaluate (after) → gate → register. `_run_cycle` applies the caller's
overrides to the stages (`apply_overrides`), opens the cycle's run, and hands each stage to the
handler `HANDLERS` names for its type, as SQLMesh's plan evaluator dispatches to
`visit_<stage>`. Each stage carries the values its handler needs; what stages hand each other
(pairs, compliance, the trained model, gate results) travels in a `CycleContext`
(runtime/context.py). Training jobs are built and trained by runtime/train/jobs.py, an
update's replayed data comes from runtime/replay.py, and what is logged beside the stages'
metrics from runtime/cycle_log.py.

Every stage reads and writes files in the cycle's work folder, so a stage's inputs are on disk
and digested in MLflow; a model that fails a gate is registered but never promoted. An update
cycle (the policy has a champion) runs the same plan: the diff against the champion decides
what the stages reuse (see `_run_cycle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.plan import (EvaluateStage, GateStage, LabelStage, RegisterStage, RoundStage, S, Stage,
                                 SynthesizeStage, TrainingPlan, TrainStage, describe_stage, method_for, stage_of)
from tenet.runtime import tags as tag
from tenet.runtime.context import CycleContext, CycleModels, CycleOptions, CycleResult, NothingToTrain
from tenet.runtime.cycle_log import compliance_report, log_compliance, log_policy
from tenet.runtime.heldout import heldout_prompts, require_heldout
from tenet.runtime.replay import update_data
from tenet.runtime.rounds import visit_round
from tenet.runtime.train.jobs import build_job, train_job
from tenet.runtime.update_plan import decide

if TYPE_CHECKING:
    from tenet.runtime.synthesize.generate import Generator

__all__ = ["CycleOptions", "CycleResult", "HANDLERS", "NothingToTrain", "apply_overrides", "heldout_prompts",
           "run_cycle", "stage_of", "train_stage"]


def train_stage(artifact: CompiledArtifact) -> TrainStage:
    """The plan's train stage."""
    return stage_of(artifact.plan, TrainStage)


def apply_overrides(plan: TrainingPlan, options: CycleOptions) -> TrainingPlan:
    """The plan with the caller's overrides applied to the stages they belong to.

    `--base-model`, `--method`, `--max-steps` and `--device` change the train stage
    (`--method auto` resolves against the synthesize stage's strategies, as the compiler does);
    `--eval-prompts` changes both evaluate stages. `--model-prompts` and `--from-base` are no
    plan values: the synthesize handler reads the first from the options, and the second,
    with the champion diff, decides where training starts. The artifact keeps its compiled plan
    (and plan hash); the MLflow `plan.*` params record the overridden train stage.
    """
    strategies = stage_of(plan, SynthesizeStage).strategies
    return plan.model_copy(update={"stages": tuple(_override(s, options, strategies) for s in plan.stages)})


def _override(stage: Stage, options: CycleOptions, strategies: tuple[str, ...]) -> Stage:
    """One stage with the overrides that belong to it, validated like a compiled stage."""
    if isinstance(stage, EvaluateStage) and options.eval_prompts:
        return _updated(stage, prompts=options.eval_prompts)
    if not isinstance(stage, TrainStage):
        return stage
    given = {"max_steps": options.max_steps, "device": options.device, "seed": options.seed}
    settings = stage.settings.replace(**{k: v for k, v in given.items() if v is not None})
    return _updated(stage, method=method_for(options.method or stage.method, strategies),
                    base_model=options.base_model or stage.base_model,
                    # `trainer.*` / `lora.*` overrides are the policy's; no flag changes them.
                    hyperparameters=tuple((k, v if "." in k else getattr(settings, k))
                                          for k, v in stage.hyperparameters))


def _updated(stage: S, **changes: object) -> S:
    """A copy of `stage` with `changes`, validated (model_copy would skip validation)."""
    return type(stage).model_validate({**stage.model_dump(), **changes})


def run_cycle(artifact: CompiledArtifact, options: CycleOptions,
              progress: Callable[[str], None] = lambda stage: None,
              notify: Callable[[str], None] = lambda message: None) -> CycleResult:
    """Run one cycle of the policy, after any other cycle of it in this work folder finishes."""
    from tenet.runtime.locks import exclusive

    lock = Path(options.work_dir) / artifact.ir.policy_id / ".cycle.lock"
    with exclusive(lock, on_wait=lambda pid: notify(f"another cycle of {artifact.ir.policy_id} is running "
                                                     f"(process {pid}); waiting for it to finish")):
        return _run_cycle(artifact, options, progress)


def _run_cycle(artifact: CompiledArtifact, options: CycleOptions,
               progress: Callable[[str], None]) -> CycleResult:
    """Walk the artifact's plan, with the caller's overrides, and record it in MLflow.

    When the policy has a champion, the cycle is an update of the same plan: it diffs against
    the champion's artifact, and the handlers reuse cached candidates and generations for
    unchanged rules (synthesize), evaluate the champion as "before" (evaluate), train from it
    (unless `from_base`) on the changed rules' pairs plus a replay share of the rest (train),
    and gate on no unchanged rule regressing (gate).
    """
    plan = apply_overrides(artifact.plan, options)
    ctx = _prepare(artifact, options, plan)
    ir, tracker = artifact.ir, ctx.tracker
    params, tags = _run_record(ctx, stage_of(plan, TrainStage))
    with tracker.cycle(f"{ir.policy_id}@{ir.version}", params, tags) as run_id:
        ctx.run_id = run_id
        _open(ctx, plan)
        for stage in plan.stages:
            progress(stage.name)
            with tracker.stage(stage.name):
                HANDLERS[type(stage)](stage, ctx)
        _finish(ctx)
    return CycleResult(run_id=ctx.run_id, before=ctx.before, after=ctx.after, gates=ctx.gates,
                       promoted=ctx.passed, model_version=ctx.model_version, drift=ctx.drift,
                       tracking_uri=tracker.uri, stages=[describe_stage(s) for s in artifact.plan.stages],
                       diff_summary=ctx.delta.summary(), parent_run=ctx.parent.run_id if ctx.parent else None,
                       unchanged=ctx.delta.unchanged)


def _prepare(artifact: CompiledArtifact, options: CycleOptions, plan: TrainingPlan) -> CycleContext:
    """Everything a cycle knows before its run opens; refuse a cycle that would change nothing."""
    from tenet.runtime.cache import Cache
    from tenet.runtime.lineage import changes, find_parent
    from tenet.runtime.models import resolve_model
    from tenet.runtime.track import Tracker

    policy_id = artifact.ir.policy_id
    root = Path(artifact.sources[-1].path).parent
    # Nothing to evaluate on means nothing could be promoted: refuse before a model loads.
    require_heldout(artifact, root)
    work = Path(options.work_dir) / policy_id / artifact.policy_hash[:12]
    work.mkdir(parents=True, exist_ok=True)
    cache = Cache(Path(options.work_dir) / "cache")
    # A missing model fails before any run is opened.
    train = stage_of(plan, TrainStage)
    base_path = resolve_model(train.base_model, root, train.settings.revision)
    tracker = Tracker(policy_id, options.work_dir)
    tracker.sweep_stale_runs()
    parent = find_parent(tracker, policy_id)
    delta = changes(parent, artifact)
    # The decisions `tenet plan` prints come from the same function.
    decisions = decide(artifact, parent, delta, options.from_base, train)
    if decisions.train == "nothing":
        raise NothingToTrain(f"no rule changed since champion version {parent.version} (run {parent.run_id}); "
                             "nothing to retrain. Use --from-base to train again from the base model.")
    return CycleContext(artifact=artifact, options=options, root=root, work=work, cache=cache,
                        tracker=tracker, base_path=base_path, parent=parent, delta=delta, decisions=decisions)


def _run_record(ctx: CycleContext, train: TrainStage) -> tuple[dict[str, Any], dict[str, str]]:
    """The cycle run's params (the overridden train stage) and tags (policy, diff, lineage)."""
    from tenet.runtime.hub import commit_params
    from tenet.runtime.lineage import git_commit

    artifact, parent = ctx.artifact, ctx.parent
    ir = artifact.ir
    params = {"policy.id": ir.policy_id, "policy.version": ir.version, "policy.hash": artifact.policy_hash,
              "plan.hash": artifact.plan_hash, "plan.base_model": train.base_model,
              "plan.method": train.method, **{f"plan.{k}": v for k, v in train.hyperparameters},
              **commit_params("base", ctx.base_path)}
    tags = {tag.COMPILER: artifact.compiler_version, tag.POLICY_ID: ir.policy_id,
            tag.POLICY_VERSION: ir.version, tag.POLICY_HASH: artifact.policy_hash,
            tag.DIFF_SUMMARY: ctx.delta.summary(), tag.GIT_COMMIT: git_commit(ctx.root),
            **({tag.DIFF_PARENT_RUN: parent.run_id, tag.DIFF_PARENT_VERSION: parent.version}
               if parent else {})}
    return params, tags


def _open(ctx: CycleContext, plan: TrainingPlan) -> None:
    """Log the policy and the diff on the opened run and load the cycle's models."""
    from tenet.runtime.device import select_device
    from tenet.runtime.label.engine import Labeler
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.synthesize.ray_generate import open_generator

    tracker, rules, train = ctx.tracker, ctx.artifact.ir.rules, stage_of(plan, TrainStage)
    log_policy(tracker, ctx.artifact, ctx.work)
    tracker.mlflow.log_dict(ctx.delta.records(), "policy/diff.json")
    tracker.mlflow.log_dict(ctx.decisions.to_dict(), "policy/update.json")
    # Model-backed rules (sentiment, similarity, judges) need their scorers, or every vote
    # on them would fail closed.
    model_backed = any(r.runtime_only for r in rules)
    settings = train.settings
    scorers = Scorers(root=ctx.root, judge_model=train.base_model, device=settings.device,
                      revision=settings.revision) if model_backed else None
    # The cycle generates on the device it trains on. Pairs always come from the base model's
    # samples, so an update cycle finds them cached.
    generation = dict(max_new_tokens=stage_of(plan, SynthesizeStage).max_new_tokens,
                      device=select_device(settings.device), precision=settings.precision, cache=ctx.cache,
                      progress=ctx.options.progress, engine=ctx.options.engine or ctx.artifact.ir.training.generation,
                      ray_address=ctx.options.ray_address)
    generator = open_generator(ctx.base_path, **generation)
    incumbent = generator if ctx.parent is None else open_generator(ctx.parent.model_dir, **generation)
    ctx.models = CycleModels(generator=generator, incumbent=incumbent, scorers=scorers, generation=generation,
                             labeler=Labeler(rules, score=scorers, spans=False, cache=ctx.cache))
    tracker.mlflow.set_tag(tag.CYCLE_START, f"champion v{ctx.parent.version}" if ctx.continuing else "base")


def _finish(ctx: CycleContext) -> None:
    """Record the outcome on the cycle run: cache use, the model version, promotion, the model's path."""
    from tenet.runtime.lineage import work_id

    tracker, client = ctx.tracker, ctx.tracker.client
    for name, value in (("cache.hits", ctx.cache.hits), ("cache.misses", ctx.cache.misses)):
        client.log_metric(ctx.run_id, name, value)
    scorers = ctx.models.scorers
    for name, value in (scorers.commit_params() if scorers else {}).items():  # Hub judges, classifiers
        tracker.log_param(name, value, run_id=ctx.run_id)
    client.set_tag(ctx.run_id, tag.MODEL_VERSION, str(ctx.model_version))
    client.set_tag(ctx.run_id, tag.PROMOTED, str(ctx.passed).lower())
    # `<work>/…`: only this work folder (`tenet.work.id`) reads it back as a folder (runtime/lineage.py).
    tracker.set_tag(ctx.run_id, tag.MODEL_PATH, str(Path(ctx.trained_dir).resolve()))
    client.set_tag(ctx.run_id, tag.WORK_ID, work_id(ctx.options.work_dir))


# --- stage handlers: one per stage type in compiler/plan.py ------------------------------------

def visit_label(stage: LabelStage, ctx: CycleContext) -> None:
    """Label the rules' examples with the compiled rules; log the report and the rule analysis."""
    from tenet.runtime.data import ColumnMap
    from tenet.runtime.label.run import label_dataset

    rows = [{"prompt": ex.prompt, "response": text, "rating": int(role == "good")}
            for r in ctx.artifact.ir.rules if r.id in stage.rules for ex in r.examples
            for role, texts in (("good", ex.good), ("bad", ex.bad)) for text in texts]
    out = ctx.work / "label" / "examples.parquet"
    label_dataset(ctx.artifact, rows, out, columns=ColumnMap(gold="rating"), spans=True)
    for name in ("examples.report.json", "examples.rule_analysis.csv", "examples.rule_analysis.json"):
        ctx.tracker.mlflow.log_artifact(str(out.parent / name), "reports")


def visit_synthesize(stage: SynthesizeStage, ctx: CycleContext) -> None:
    """Synthesize the pairs with the stage's strategies; log the datasets, the QA report and counts.

    In an update, unchanged rules' candidates come from the cache (`tenet.runtime.synthesize.reuse`).
    """
    from tenet.runtime.synthesize.run import synthesize

    tracker, ctx.pairs_dir = ctx.tracker, ctx.work / "pairs"
    synth = synthesize(ctx.artifact, ctx.pairs_dir, root=ctx.root, strategies=stage.strategies,
                       generator=ctx.models.generator, samples_per_prompt=ctx.options.samples_per_prompt,
                       max_model_prompts=ctx.options.model_prompts, scorers=ctx.models.scorers,
                       cache=ctx.cache, artifact_share=stage.artifact_pairs, scope_share=stage.scope_pairs)
    for name in ("pairs", "unpaired", "eval_prompts"):
        tracker.log_dataset(ctx.pairs_dir / f"{name}.parquet", name,
                            "training" if name != "eval_prompts" else "evaluation")
    tracker.mlflow.log_artifact(str(ctx.pairs_dir / "pair_qa.json"), "reports")
    qa = synth.report.to_dict()
    tracker.mlflow.log_metrics({"pairs.kept": len(synth.pairs),
                                "pairs.reused_rules": len(synth.report.reused_rules),
                                "pairs.capped_samples": qa["capped_samples"],
                                "pairs.artifact_contrasts": sum(qa["artifact_pairs"].values()),
                                "pairs.scope_contrasts": sum(qa["scope_pairs"].values()),
                                **{f"pairs.dropped.{reason}": n
                                   for reason, n in qa["dropped_by_reason"].items()}})
    ctx.synth = synth


def visit_evaluate(stage: EvaluateStage, ctx: CycleContext) -> None:
    """Answer the held-out prompts greedily and measure compliance; after training, also drift.

    The "base" model is the incumbent: the champion in an update cycle, else the base model.
    """
    from tenet.runtime.evaluate import eval_prompts, evaluate_model

    prompts = eval_prompts(ctx.artifact.ir, ctx.synth.eval_prompts, stage.prompts, stage.tempt_prompts, stage.seed)
    model = ctx.models.incumbent if stage.model == "base" else ctx.models.load(ctx.trained_dir)
    result = evaluate_model(model, ctx.artifact.ir.rules, prompts, ctx.models.labeler, seed=stage.seed,
                            max_new_tokens=stage.max_new_tokens)
    log_compliance(ctx.tracker, stage.phase, result)
    if stage.phase == "before":
        ctx.before = result
    else:
        ctx.after = result
    if stage.model == "trained" and stage.capability_guard == "kl":
        ctx.drift = _kl_drift(ctx, model)


def _kl_drift(ctx: CycleContext, trained: Generator) -> float:
    """KL of the trained model from the base on the "before" answers, logged as `drift.kl`."""
    from tenet.runtime.evaluate import kl_drift

    neutral = [a for _, a in ctx.before.samples if a.strip()][:16] or ["Hello, how can I help you today?"]
    drift = kl_drift(trained.model, ctx.models.generator.model, trained.tokenizer, neutral)
    ctx.tracker.mlflow.log_metric("drift.kl", drift)
    return drift


def visit_train(stage: TrainStage, ctx: CycleContext) -> None:
    """Train the stage's method with its typed settings; an update trains from the champion.

    An update trains on the changed rules' pairs plus replay (`tenet.runtime.replay.update_data`); one that only
    removed rules trains nothing and carries the champion over.
    """
    tracker = ctx.tracker
    ctx.train = stage
    if ctx.decisions.train == "skip":
        # Only removals: no rule asks for anything new, so the champion carries over
        # and is evaluated and gated under the new version.
        tracker.mlflow.set_tag(tag.TRAIN_SKIPPED, "only rules were removed")
        ctx.trained_dir = ctx.parent.model_dir
        return
    from tenet.runtime.lineage import start_model

    start = start_model(ctx.parent, ctx.cache.root) if ctx.continuing else ctx.base_path
    data, settings = ctx.pairs_dir, stage.settings
    if ctx.continuing:
        data, settings = update_data(ctx.work, ctx.delta.changed, settings)
        tracker.log_dataset(data / "pairs.parquet", "update-pairs", "training")
    tracker.log_param("train.start_model", start)
    # Checkpoints are only resumable onto the model they started from.
    out = ctx.work / (f"train-from-{ctx.parent.run_id[:12]}" if ctx.continuing else "train")
    job = build_job(stage.method, start, out, settings, ctx.artifact.ir.rules, data, ctx.options.progress)
    if ctx.options.before_train is not None:
        ctx.options.before_train(job)
    result = train_job(job)
    tracker.mlflow.log_metrics({f"train.{k.replace('/', '.')}": v for k, v in result.metrics.items()})
    # How many processes trained it: more than 1 under `accelerate launch` (docs/scaling-out.md).
    tracker.mlflow.log_param("train.world_size", result.world_size)
    ctx.trained_dir = result.output_dir


def visit_gate(stage: GateStage, ctx: CycleContext) -> None:
    """Check the stage's gates on the two evaluations; write the before/after report."""
    from tenet.runtime.gates import check_gates, promotable

    tracker = ctx.tracker
    # An update may move the rules it retrains; every other rule must hold. An update that
    # changed every rule has none left unchanged, so each rule is held to the champion's mark.
    regression = (ctx.delta.unchanged or None) if ctx.parent is not None else None
    ctx.gates = check_gates(stage.gates, ctx.before, ctx.after, ctx.drift, regression_rules=regression)
    # Fail closed: a gate that measured nothing failed, and an evaluation without votes promotes nothing.
    ctx.passed = promotable(ctx.gates, ctx.after)
    for g in ctx.gates:
        tracker.mlflow.log_metric(f"gate.{g.gate.target}{'.' + g.gate.rule if g.gate.rule else ''}.passed",
                                  float(g.passed))
    tracker.mlflow.set_tag(tag.GATES, "passed" if ctx.passed else "failed")
    report = compliance_report(ctx.artifact.ir.rules, ctx.before, ctx.after, ctx.gates, ctx.work)
    tracker.mlflow.log_artifact(str(report), "reports")


def visit_register(stage: RegisterStage, ctx: CycleContext) -> None:
    """Register the trained model under the stage's name; move the alias only if every gate passed.

    The cycle's outcome is first copied onto the cycle run, so the registered model, which
    links to that run, shows it in the MLflow UI.
    """
    artifact, tracker = ctx.artifact, ctx.tracker
    tracker.log_summary(ctx.run_id)
    ctx.model_version = tracker.register(ctx.run_id, ctx.trained_dir, stage.model_name,
                                         {"policy.version": artifact.ir.version,
                                          "policy.hash": artifact.policy_hash,
                                          "gates": "passed" if ctx.passed else "failed"},
                                         rules=artifact.ir.rules, gates=ctx.gates)
    if ctx.passed:
        tracker.promote(stage.model_name, ctx.model_version, stage.alias, actor="tenet compile-and-train",
                        reason=f"all {len(ctx.gates)} gates passed")


# Adding a stage: a stage type in compiler/plan.py (in `PlanStage`, built by `build_plan`) and
# its handler here (docs/architecture.md).
HANDLERS: dict[type[Stage], Callable[[Any, CycleContext], None]] = {
    LabelStage: visit_label,
    SynthesizeStage: visit_synthesize,
    EvaluateStage: visit_evaluate,
    TrainStage: visit_train,
    RoundStage: visit_round,
    GateStage: visit_gate,
    RegisterStage: visit_register,
}
