"""Run one update cycle: walk the plan's stages, dispatching each to its handler, each a nested MLflow run.

The compiled plan (compiler/plan.py) is label → synthesize → evaluate (before) → train →
evaluate (after) → gate → register. `_run_cycle` applies the caller's overrides to the stages
(`apply_overrides`), opens the cycle's run, and hands each stage to the handler `HANDLERS`
names for its type, as SQLMesh's plan evaluator dispatches to `visit_<stage>`. Each stage
carries the values its handler needs; what stages hand each other (pairs, compliance, the
trained model, gate results) travels in a `CycleContext`.

Every stage reads and writes files in the cycle's work folder, so a stage's inputs are on disk
and digested in MLflow; a model that fails a gate is registered but never promoted. An update
cycle (the policy has a champion) runs the same plan: the diff against the champion decides
what the stages reuse (see `_run_cycle`).
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from tenet.compiler.artifact import CompiledArtifact, to_json
from tenet.compiler.diagnostics import CompileError
from tenet.compiler.errors import NothingToDo
from tenet.compiler.passes.check_heldout import no_heldout_prompts
from tenet.compiler.plan import (EvaluateStage, GateStage, LabelStage, RegisterStage, Stage, SynthesizeStage,
                           TrainingPlan, TrainSettings, TrainStage, describe_stage, method_for)
from tenet.runtime import tags as tag
from tenet.runtime.evaluate import Compliance
from tenet.runtime.gates import GateResult
from tenet.runtime.train.common import NEED_COLUMN

if TYPE_CHECKING:
    from tenet.runtime.cache import Cache
    from tenet.runtime.device import select_device
    from tenet.runtime.label.engine import Labeler
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.lineage import Changes, Parent
    from tenet.runtime.synthesize.generate import Generator
    from tenet.runtime.synthesize.run import SynthesisResult
    from tenet.runtime.track import Tracker
    from tenet.runtime.train.common import TrainJob, TrainResult

METHOD_MODULES = {"dpo": "tenet.runtime.train.dpo", "kto": "tenet.runtime.train.kto", "orpo": "tenet.runtime.train.orpo",
                  "cft": "tenet.runtime.train.cft", "grpo": "tenet.runtime.train.grpo", "rlhf": "tenet.runtime.train.rlhf"}

S = TypeVar("S", bound=Stage)


@dataclass
class CycleOptions:
    """What the caller may override for one cycle (see `apply_overrides` for where each goes)."""

    work_dir: str = "work"
    base_model: str | None = None
    method: str | None = None
    max_steps: int | None = None
    device: str | None = None
    eval_prompts: int | None = None
    model_prompts: int | None = 24
    samples_per_prompt: int = 3
    from_base: bool = False  # train from the plan's base model even when a champion exists
    engine: str | None = None  # where the model generates: local or ray (default: the policy's `generation`)
    ray_address: str | None = None  # the operator's Ray cluster (default: RAY_ADDRESS, else a local one)
    progress: bool = False  # progress bars inside the generating and training stages
    # Called with the train stage's job just before it trains: under `accelerate launch` the
    # main process hands it to the other processes, so that they train it too (runtime/scale.py).
    before_train: Callable[[TrainJob], None] | None = None


class NothingToTrain(NothingToDo):
    """The policy's rules are what the champion was trained on: a cycle would change nothing."""

    outcome = "nothing-to-train"


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


@dataclass(frozen=True)
class CycleModels:
    """The models a cycle generates and labels with, loaded once when its run opens."""

    generator: Generator  # the base model: it samples the pairs and anchors the drift measure
    incumbent: Generator  # the model before training: the champion in an update, else the base
    labeler: Labeler
    scorers: Scorers | None
    generation: dict[str, Any]  # Generator settings every model of the cycle shares, and its engine

    def load(self, model_path: str) -> Generator:
        """A generator for another model of the cycle (the trained one), with the same settings."""
        from tenet.runtime.synthesize.ray_generate import open_generator

        return open_generator(model_path, **self.generation)


@dataclass
class CycleContext:
    """What the stages of one cycle share and hand each other.

    The first block is known before the cycle's run opens; `run_id` and `models` are set when
    it opens; the last block is filled in by the handlers in plan order, each reading only what
    an earlier stage wrote.
    """

    artifact: CompiledArtifact
    options: CycleOptions
    root: Path  # the policy's folder: prompt files and local models resolve from it
    work: Path  # this policy version's work folder
    cache: Cache
    tracker: Tracker
    base_path: str
    parent: Parent | None  # the champion's cycle, or None for a first cycle
    delta: Changes  # the diff against the champion's artifact
    run_id: str = field(init=False)
    models: CycleModels = field(init=False)

    synth: SynthesisResult | None = None
    pairs_dir: Path | None = None
    before: Compliance | None = None
    trained_dir: str | None = None
    after: Compliance | None = None
    drift: float | None = None
    gates: list[GateResult] = field(default_factory=list)
    passed: bool = False
    model_version: str | None = None

    @property
    def continuing(self) -> bool:
        """Whether training starts from the champion rather than from the base model."""
        return self.parent is not None and not self.options.from_base


def stage_of(plan: TrainingPlan, kind: type[S]) -> S:
    """The plan's first stage of a type."""
    return next(s for s in plan.stages if isinstance(s, kind))


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
    given = {"max_steps": options.max_steps, "device": options.device}
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
    if parent is not None and not delta.changed and not delta.removed and not options.from_base:
        raise NothingToTrain(f"no rule changed since champion version {parent.version} (run {parent.run_id}); "
                             "nothing to retrain. Use --from-base to train again from the base model.")
    return CycleContext(artifact=artifact, options=options, root=root, work=work, cache=cache,
                        tracker=tracker, base_path=base_path, parent=parent, delta=delta)


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
    _log_policy(tracker, ctx.artifact, ctx.work)
    tracker.mlflow.log_dict(ctx.delta.records(), "policy/diff.json")
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
    from tenet.runtime.evaluate import evaluate_model

    prompts = conversations(ctx.synth.eval_prompts)[: stage.prompts]
    model = ctx.models.incumbent if stage.model == "base" else ctx.models.load(ctx.trained_dir)
    result = evaluate_model(model, ctx.artifact.ir.rules, prompts, ctx.models.labeler, seed=stage.seed,
                            max_new_tokens=stage.max_new_tokens)
    _log_compliance(ctx.tracker, stage.phase, result)
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

    An update trains on the changed rules' pairs plus replay (`_update_data`); one that only
    removed rules trains nothing and carries the champion over.
    """
    tracker = ctx.tracker
    if ctx.continuing and not ctx.delta.changed:
        # Only removals: no rule asks for anything new, so the champion carries over
        # and is evaluated and gated under the new version.
        tracker.mlflow.set_tag(tag.TRAIN_SKIPPED, "only rules were removed")
        ctx.trained_dir = ctx.parent.model_dir
        return
    from tenet.runtime.lineage import start_model

    start = start_model(ctx.parent, ctx.cache.root) if ctx.continuing else ctx.base_path
    data, settings = ctx.pairs_dir, stage.settings
    if ctx.continuing:
        data, settings = _update_data(ctx.work, ctx.delta.changed, settings)
        tracker.log_dataset(data / "pairs.parquet", "update-pairs", "training")
    tracker.log_param("train.start_model", start)
    # Checkpoints are only resumable onto the model they started from.
    out = ctx.work / (f"train-from-{ctx.parent.run_id[:12]}" if ctx.continuing else "train")
    job = _job(stage.method, start, out, settings, ctx.artifact.ir.rules, data, ctx.options.progress)
    if ctx.options.before_train is not None:
        ctx.options.before_train(job)
    result = train_job(job)
    tracker.mlflow.log_metrics({f"train.{k.replace('/', '.')}": v for k, v in result.metrics.items()})
    # How many processes trained it: more than 1 under `accelerate launch` (docs/scaling-out.md).
    tracker.mlflow.log_param("train.world_size", result.world_size)
    ctx.trained_dir = result.output_dir


def train_job(job: TrainJob) -> TrainResult:
    """Warm up with SFT when the settings ask for it, then train the job's method.

    Every process of a distributed launch calls this with the same job (runtime/scale.py).
    The policy's `trainer.*` / `lora.*` settings are checked against tenet's allow-list and the
    installed TRL and peft first, so a refused one stops the stage before the warm-up trains.
    """
    from tenet.runtime.train.guard import check_overrides, stay_offline

    check_overrides(job.method, job.hyperparameters.overrides)
    stay_offline()
    warmup_seconds = 0.0
    if job.hyperparameters.sft_epochs > 0:
        from tenet.runtime.train.warmup import warm_up

        start = time.monotonic()
        job = replace(job, model_path=warm_up(job, job.hyperparameters.sft_epochs))
        warmup_seconds = time.monotonic() - start
    result = importlib.import_module(METHOD_MODULES[job.method]).train(job)
    # Where a train stage's time goes: the warm-up, the method's own steps (`train_runtime`),
    # and the rest (loading the model, the reference's log-probabilities, saving).
    timing = {"warmup_seconds": warmup_seconds, "method_seconds": result.seconds}
    return replace(result, metrics={**result.metrics, **timing})


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
    report = _compliance_report(ctx.artifact.ir.rules, ctx.before, ctx.after, ctx.gates, ctx.work)
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
    GateStage: visit_gate,
    RegisterStage: visit_register,
}


def conversations(prompts) -> list[list[dict[str, str]]]:
    """Chat messages for pool prompts: the earlier turns, then the prompt as the user's turn."""
    return [[*({"role": r, "content": c} for r, c in p.context), {"role": "user", "content": p.text}]
            for p in prompts]


def require_heldout(artifact: CompiledArtifact, root: Path) -> int:
    """The number of held-out prompts the policy's prompt sources give; none is a policy error (E173).

    The compiler counts templates and literal prompts itself (`tenet.compiler.heldout`); this also
    reads the prompt files, whose rows it cannot see.
    """
    from tenet.runtime.synthesize.prompts import build_pool

    synth = stage_of(artifact.plan, SynthesizeStage)
    count = len(build_pool(artifact.ir, root, synth.eval_split, synth.seed).eval)
    if count == 0:
        where = artifact.ir.prompts[0].span if artifact.ir.prompts else None
        raise CompileError([no_heldout_prompts(artifact.ir, where)])
    return count


def heldout_conversations(artifact: CompiledArtifact, root: Path, limit: int | None = None) -> list[list[dict]]:
    """The held-out evaluation prompts a cycle of `artifact` measures on (never used for pairs)."""
    from tenet.runtime.synthesize.prompts import build_pool

    synth = stage_of(artifact.plan, SynthesizeStage)
    pool = build_pool(artifact.ir, root, synth.eval_split, synth.seed)
    return conversations(pool.eval)[: limit or stage_of(artifact.plan, EvaluateStage).prompts]


def _update_data(work: Path, changed: frozenset[str], settings: TrainSettings) -> tuple[Path, TrainSettings]:
    """The changed rules' pairs mixed with replayed earlier pairs, and the step cap scaled to them.

    `replay` is the share of the update's training rows that are the unchanged rules' pairs,
    trained on again so the model keeps what it learned (`replayed_pairs`). The step cap is
    the fresh cycle's cap times the update's share of all pairs: every row gets about the
    training it would get in a fresh cycle, and an edit to one rule costs a fraction of one.
    """
    import math

    import pandas as pd

    folder = work / "update"
    folder.mkdir(exist_ok=True)
    pairs = pd.read_parquet(work / "pairs" / "pairs.parquet")
    new = pairs["target_rules"].map(lambda t: len(t) > 0 and t[0] in changed)
    old = pairs[~new]
    share = min(settings.replay, 0.95)
    replayed = min(len(old), math.ceil(int(new.sum()) * share / (1.0 - share)))
    seed = settings.seed
    subset = pd.concat([pairs[new], replayed_pairs(old, replayed, seed)]).sample(frac=1.0, random_state=seed)
    subset.to_parquet(folder / "pairs.parquet", index=False)
    unpaired = pd.read_parquet(work / "pairs" / "unpaired.parquet")
    keep = unpaired["pair_id"].isin(subset["pair_id"]) if "pair_id" in unpaired else slice(None)
    unpaired[keep].to_parquet(folder / "unpaired.parquet", index=False)
    if settings.max_steps > 0 and len(pairs):
        scaled = math.ceil(settings.max_steps * len(subset) / len(pairs))
        settings = settings.replace(max_steps=max(1, scaled))
    return folder, settings


# The least weight a replayed pair has, against 1.0 for a contrast or a rule the model always broke.
REPLAY_FLOOR = 0.5


def replayed_pairs(old, n: int, seed: int):
    """`n` of the earlier pairs, drawn by need with a floor of `REPLAY_FLOOR` (seeded).

    A fresh cycle's steps go mostly to the contrasts (loops, empty items, …) and the rules the
    model breaks (`runtime/synthesize/need.py`). A uniform replay would spend most of its rows
    on rules the model keeps and few on the contrasts, and the updated model could start to
    loop; drawn by need alone (floor 0.1, as the steps draw), the rules the model keeps would
    get almost none. Replay is there to keep those rules, so they keep half a contrast's weight.
    """
    weights = old[NEED_COLUMN].clip(lower=REPLAY_FLOOR) if NEED_COLUMN in old else None
    return old.sample(n=n, weights=weights, random_state=seed)


def _job(method: str, start_path: str, out: Path, settings: TrainSettings, rules, data: Path,
         progress: bool):
    """The `TrainJob` for the train stage: typed settings, data paths, rewards for GRPO."""
    from tenet.runtime.train.common import TrainJob, last_valid_checkpoint

    rewards = ()
    if method == "grpo":
        from tenet.runtime.train.rewards import rule_rewards

        rewards = tuple(rule_rewards(rules))
    # A cycle of the same policy that was interrupted left checkpoints here: continue from the
    # newest complete one instead of starting over.
    resume = last_valid_checkpoint(out)
    return TrainJob(method=method, model_path=start_path, pairs_path=str(data / "pairs.parquet"),
                    unpaired_path=str(data / "unpaired.parquet"), output_dir=str(out),
                    hyperparameters=settings, report_to=("mlflow",), reward_functions=rewards,
                    resume_from=resume, progress=progress,
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
    from tenet.runtime.redact import redacted_stage

    (work / "artifact.json").write_text(to_json(artifact), encoding="utf-8")
    tracker.mlflow.log_artifact(str(work / "artifact.json"), "policy")
    for source in artifact.sources:
        if Path(source.path).is_file():
            tracker.mlflow.log_artifact(source.path, "policy/sources")
    plan = "\n".join(describe_stage(redacted_stage(s, tracker.work_dir)) for s in artifact.plan.stages)
    tracker.mlflow.log_text(plan, "policy/plan.txt")


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
                             "overall": result.overall, "votes": result.votes, "in_scope": result.in_scope,
                             "truncated": result.truncated,
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
