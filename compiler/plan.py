"""Build the training plan: an ordered list of typed stages that `plan` prints and the runtime runs.

Each stage carries every value its runtime handler reads (runtime/cycle.py `HANDLERS`), so the
runtime never goes back to the IR's training block. New fields get defaults so an artifact
written before they existed (same schema version, e.g. a champion's) still loads.
"""

from __future__ import annotations

from typing import Annotated, Literal, Mapping, Sequence, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field

from tenet.compiler import ir
from tenet.compiler.heldout import heldout_prompts
from tenet.compiler.probes import probes
from tenet.compiler.settings import DEVICES, PRECISIONS, SETTINGS, TRAIN_METHODS


def _default(name: str):
    """The `training:` default of a setting, so the typed models below share compiler/settings.py's."""
    return SETTINGS[name].default


class TrainSettings(BaseModel):
    """The typed settings a trainer reads: the plan's hyperparameters, then method-only knobs.

    The first block mirrors `TrainingIR` field for field (tests/test_stages.py checks it); the
    second block holds knobs no policy sets, with the values the methods use when none is given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    revision: str = _default("revision")
    learning_rate: float = _default("learning_rate")
    epochs: float = _default("epochs")
    max_steps: int = _default("max_steps")
    batch_size: int = _default("batch_size")
    grad_accum: int = _default("grad_accum")
    beta: float = _default("beta")
    sft_weight: float = _default("sft_weight")
    sft_epochs: float = _default("sft_epochs")
    sft_rows: int = _default("sft_rows")
    lora: bool = _default("lora")
    lora_r: int = _default("lora_r")
    lora_alpha: int = _default("lora_alpha")
    max_length: int = _default("max_length")
    precision: Literal[PRECISIONS] = _default("precision")
    device: Literal[DEVICES] = _default("device")
    seed: int = _default("seed")
    save_steps: int = _default("save_steps")
    replay: float = _default("replay")
    # The policy's `trainer.*` / `lora.*` fields, checked and typed by the compiler; applied last.
    overrides: tuple[tuple[str, ir.OverrideValue], ...] = ()

    precompute_ref_log_probs: bool = True  # dpo: reference log-probs once, before training
    num_generations: int = 4  # grpo: completions per prompt
    max_new_tokens: int = 64  # grpo: completion length
    temperature: float = 1.0  # grpo: sampling temperature
    reward_weights: tuple[float, ...] | None = None  # grpo: None sums the reward functions
    loss_type: str | None = None  # grpo: None keeps TRL's default
    reward_max_steps: int | None = None  # rlhf reward model: None uses `max_steps`
    reward_learning_rate: float | None = None  # rlhf reward model: None uses `learning_rate`

    @classmethod
    def of(cls, values: "TrainSettings | Mapping[str, object]") -> "TrainSettings":
        """Validate a mapping into settings (a `TrainSettings` is returned as is)."""
        if isinstance(values, cls):
            return values
        plain = {k: v for k, v in dict(values).items() if "." not in k}
        dotted = tuple((k, v) for k, v in dict(values).items() if "." in k)
        return cls.model_validate({**plain, **({"overrides": dotted} if dotted else {})})

    def replace(self, **changes: object) -> "TrainSettings":
        """A copy with `changes` applied and validated (model_copy would skip validation)."""
        return TrainSettings.model_validate({**self.model_dump(), **changes})


class Stage(BaseModel):
    """Base of plan stages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def name(self) -> str:
        """The stage's name in progress output and as its MLflow run: its kind."""
        return self.kind


class LabelStage(Stage):
    """Label prompt sources and rule examples with the compiled rules; write the rule analysis."""

    kind: Literal["label"] = "label"
    rules: tuple[str, ...]
    sources: tuple[str, ...]


class SynthesizeStage(Stage):
    """Synthesize verified contrastive pairs within a per-rule budget."""

    kind: Literal["synthesize"] = "synthesize"
    strategies: tuple[str, ...]
    budget: int
    per_rule: tuple[tuple[str, int], ...]
    eval_split: float
    length_ratio_max: float
    seed: int
    max_new_tokens: int = 256  # tokens per sampled answer (the compiler's floor for older artifacts)
    artifact_pairs: float = 0.0  # artifact contrasts per rule pair (none in older artifacts)
    scope_pairs: float = 0.0  # scope contrasts per pair of a scoped rule (none in older artifacts)


class EvaluateStage(Stage):
    """Generate on held-out prompts and measure compliance per rule and per severity."""

    kind: Literal["evaluate"] = "evaluate"
    phase: Literal["before", "after"]
    model: Literal["base", "trained"]
    prompts: int  # the cap on held-out prompts answered (`eval_prompts`)
    max_new_tokens: int
    capability_guard: Literal["kl"] = "kl"
    seed: int = _default("seed")
    # Held-out prompts of the policy's templates and literal prompts (`tenet.compiler.heldout`); None
    # when a prompt file adds rows only the cycle reads (and in artifacts older than the field).
    heldout: int | None = None
    # Temptation prompts per rule (`tempt_prompts`, `tenet.compiler.probes`) and how many distinct
    # ones the evaluation answers beside the held-out prompts (none in older artifacts).
    tempt_prompts: int = 0
    probes: int = 0

    @property
    def name(self) -> str:
        """`evaluate-before` or `evaluate-after`: a plan has one evaluate stage per phase."""
        return f"evaluate-{self.phase}"

    @property
    def answered(self) -> int | None:
        """How many held-out prompts the stage answers, when the compiler knows them all."""
        return None if self.heldout is None else min(self.prompts, self.heldout)


class TrainStage(Stage):
    """Train with one TRL method."""

    kind: Literal["train"] = "train"
    method: Literal[TRAIN_METHODS]
    requested_method: str
    base_model: str
    # The plan's settings, then the policy's `trainer.*` / `lora.*` overrides.
    hyperparameters: tuple[tuple[str, ir.OverrideValue], ...]

    @property
    def settings(self) -> TrainSettings:
        """The hyperparameters, typed: what the runtime hands the trainer."""
        return TrainSettings.of(dict(self.hyperparameters))


class RoundStage(Stage):
    """Another training round on the trained model's own answers (iterative on-policy preference training).

    The trained model answers the training prompts (`samples_per_prompt` each, sampled); the
    rules its answers still break more often than `1 - target` get pairs of its own compliant
    against its own breaking answers, verified by the rules, and the model trains on them with
    the train stage's method and settings (no warm-up). A round that finds no such rule, or
    no pair, trains nothing.
    """

    kind: Literal["round"] = "round"
    round: int
    samples_per_prompt: int = 4
    target: float = 0.9

    @property
    def name(self) -> str:
        """`round-2`, `round-3`, …: a plan has one stage per round after the first."""
        return f"round-{self.round}"


class GateStage(Stage):
    """Decide promotion from the after-training evaluation."""

    kind: Literal["gate"] = "gate"
    gates: tuple[ir.GateIR, ...]


class RegisterStage(Stage):
    """Register the model under the policy id and move the alias if every gate passed."""

    kind: Literal["register"] = "register"
    model_name: str
    alias: str = "champion"


PlanStage = Annotated[
    Union[LabelStage, SynthesizeStage, EvaluateStage, TrainStage, RoundStage, GateStage, RegisterStage],
    Field(discriminator="kind"),
]


class TrainingPlan(BaseModel):
    """The ordered stages of one update cycle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: str
    stages: tuple[PlanStage, ...]


# The settings a train stage records, in plan order; each is a `TrainSettings` field.
_HYPERPARAMETERS = ("revision", "learning_rate", "epochs", "max_steps", "batch_size", "grad_accum", "beta",
                    "sft_weight", "sft_epochs", "sft_rows", "lora", "lora_r", "lora_alpha", "max_length", "precision",
                    "device", "seed", "save_steps", "replay")


S = TypeVar("S", bound=Stage)


def stage_of(plan: TrainingPlan, kind: type[S]) -> S:
    """The plan's first stage of a type."""
    return next(s for s in plan.stages if isinstance(s, kind))


def resolve_method(training: ir.TrainingIR) -> str:
    """Pick the concrete method for `auto`: KTO for unpaired feedback alone, else DPO."""
    return method_for(training.method, training.strategies)


def method_for(requested: str, strategies: Sequence[str]) -> str:
    """The concrete method for a requested one, given the pair strategies (`auto` depends on them)."""
    if requested != "auto":
        return requested
    return "kto" if set(strategies) == {"feedback"} else "dpo"


def build_plan(policy: ir.PolicyIR) -> TrainingPlan:
    """Build the stages of an update cycle from the IR."""
    t = policy.training
    sources = tuple(_describe_source(s) for s in policy.prompts) + ("rule examples",)
    held = heldout_prompts(policy)
    heldout = len(held.prompts) if held.known else None
    probe_texts = len({p.text for p in probes(policy, t.tempt_prompts, t.seed)})
    evaluate = dict(prompts=t.eval_prompts, max_new_tokens=t.eval_max_new_tokens, seed=t.seed, heldout=heldout,
                    tempt_prompts=t.tempt_prompts, probes=probe_texts)
    stages: list[Stage] = [
        LabelStage(rules=tuple(r.id for r in policy.rules), sources=sources),
        SynthesizeStage(strategies=t.strategies, budget=t.pairs,
                        per_rule=tuple((s.rule, s.budget) for s in policy.pair_specs),
                        eval_split=t.eval_split, length_ratio_max=t.length_ratio_max, seed=t.seed,
                        max_new_tokens=t.max_new_tokens, artifact_pairs=t.artifact_pairs,
                        scope_pairs=t.scope_pairs),
        EvaluateStage(phase="before", model="base", **evaluate),
        TrainStage(method=resolve_method(t), requested_method=t.method, base_model=t.base_model,
                   hyperparameters=tuple((k, getattr(t, k)) for k in _HYPERPARAMETERS) + t.overrides),
        *(RoundStage(round=k) for k in range(2, t.rounds + 1)),
        EvaluateStage(phase="after", model="trained", **evaluate),
        GateStage(gates=t.gates),
        RegisterStage(model_name=policy.policy_id),
    ]
    return TrainingPlan(policy_id=policy.policy_id, stages=tuple(stages))


def _describe_source(source: ir.PromptSourceIR) -> str:
    if isinstance(source, ir.TemplateIR):
        combos = 1
        for _, values in source.slots:
            combos *= len(values)
        return f"template {source.text!r} ({combos} prompts)"
    if isinstance(source, ir.PromptFileIR):
        return f"file {source.path} (column {source.column!r})"
    return f"prompt {source.text!r}"


def describe_stage(stage: Stage) -> str:
    """One line saying what a stage will do."""
    if isinstance(stage, LabelStage):
        return f"label       {len(stage.rules)} rules over {', '.join(stage.sources)}"
    if isinstance(stage, SynthesizeStage):
        return (f"synthesize  {stage.budget} pairs via {', '.join(stage.strategies)} "
                f"(eval split {stage.eval_split:g}, length ratio <= {stage.length_ratio_max:g}, seed {stage.seed})")
    if isinstance(stage, EvaluateStage):
        if stage.answered is None:
            count, note = f"up to {stage.prompts} held-out prompts", "prompt files are read when the cycle runs; "
        else:
            count, note = f"{stage.answered} held-out prompt{'' if stage.answered == 1 else 's'}", ""
        tempted = (f" and {stage.probes} temptation prompt{'' if stage.probes == 1 else 's'} "
                   f"(up to {stage.tempt_prompts} per rule)" if stage.probes else "")
        return (f"evaluate    {stage.model} model {stage.phase} training on {count}{tempted} "
                f"({note}answers up to {stage.max_new_tokens} tokens, capability guard: {stage.capability_guard})")
    if isinstance(stage, TrainStage):
        s = stage.settings
        method = stage.method if stage.requested_method == stage.method else f"{stage.method} (auto)"
        return (f"train       {method} on {stage.base_model}: lr {s.learning_rate:g}, "
                f"beta {s.beta:g}, batch {s.batch_size}, "
                f"{'LoRA r' + str(s.lora_r) if s.lora else 'full fine-tune'}"
                + (f", after {s.sft_epochs:g} epochs of SFT warm-up" if s.sft_epochs else "")
                + (f" on {s.sft_rows} chosen sides" if s.sft_epochs and s.sft_rows else "")
                + "".join(f", {k} = {_override_text(v)}" for k, v in s.overrides))
    if isinstance(stage, RoundStage):
        return (f"round {stage.round}     sample the trained model ({stage.samples_per_prompt} answers per training "
                f"prompt), pair its own answers on the rules below {stage.target:.0%}, train again")
    if isinstance(stage, GateStage):
        return "gate        " + "; ".join(describe_gate(g) for g in stage.gates)
    assert isinstance(stage, RegisterStage)
    return f"register    model {stage.model_name!r}, alias {stage.alias!r} if every gate passes"


def _override_text(value: ir.OverrideValue) -> str:
    if isinstance(value, tuple):
        return '"' + ", ".join(str(v) for v in value) + '"'
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_gate(gate: ir.GateIR) -> str:
    """Render a gate as written in a policy."""
    target = f"rule {gate.rule}" if gate.target == "rule" else gate.target
    return f"{target} {gate.op} {gate.threshold:g}" + (" (default)" if gate.default else "")
