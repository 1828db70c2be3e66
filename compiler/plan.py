"""Build the training plan: an ordered list of typed stages that `plan` prints and the runtime runs."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from compiler import ir
from compiler.settings import TRAIN_METHODS


class Stage(BaseModel):
    """Base of plan stages."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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


class EvaluateStage(Stage):
    """Generate on held-out prompts and measure compliance per rule and per severity."""

    kind: Literal["evaluate"] = "evaluate"
    phase: Literal["before", "after"]
    model: Literal["base", "trained"]
    prompts: int
    max_new_tokens: int
    capability_guard: Literal["kl"] = "kl"


class TrainStage(Stage):
    """Train with one TRL method."""

    kind: Literal["train"] = "train"
    method: Literal[TRAIN_METHODS]
    requested_method: str
    base_model: str
    # The plan's settings, then the policy's `trainer.*` / `lora.*` overrides.
    hyperparameters: tuple[tuple[str, ir.OverrideValue], ...]


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
    Union[LabelStage, SynthesizeStage, EvaluateStage, TrainStage, GateStage, RegisterStage],
    Field(discriminator="kind"),
]


class TrainingPlan(BaseModel):
    """The ordered stages of one update cycle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: str
    stages: tuple[PlanStage, ...]


_HYPERPARAMETERS = ("revision", "learning_rate", "epochs", "max_steps", "batch_size", "grad_accum", "beta",
                    "sft_weight", "sft_epochs", "lora", "lora_r", "lora_alpha", "max_length", "precision",
                    "device", "seed", "save_steps", "replay")


def resolve_method(training: ir.TrainingIR) -> str:
    """Pick the concrete method for `auto`: KTO for unpaired feedback alone, else DPO."""
    if training.method != "auto":
        return training.method
    return "kto" if set(training.strategies) == {"feedback"} else "dpo"


def build_plan(policy: ir.PolicyIR) -> TrainingPlan:
    """Build the stages of an update cycle from the IR."""
    t = policy.training
    sources = tuple(_describe_source(s) for s in policy.prompts) + ("rule examples",)
    stages: list[Stage] = [
        LabelStage(rules=tuple(r.id for r in policy.rules), sources=sources),
        SynthesizeStage(strategies=t.strategies, budget=t.pairs,
                        per_rule=tuple((s.rule, s.budget) for s in policy.pair_specs),
                        eval_split=t.eval_split, length_ratio_max=t.length_ratio_max, seed=t.seed),
        EvaluateStage(phase="before", model="base", prompts=t.eval_prompts, max_new_tokens=t.eval_max_new_tokens),
        TrainStage(method=resolve_method(t), requested_method=t.method, base_model=t.base_model,
                   hyperparameters=tuple((k, getattr(t, k)) for k in _HYPERPARAMETERS) + t.overrides),
        EvaluateStage(phase="after", model="trained", prompts=t.eval_prompts, max_new_tokens=t.eval_max_new_tokens),
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
        return (f"evaluate    {stage.model} model {stage.phase} training on {stage.prompts} held-out prompts "
                f"(answers up to {stage.max_new_tokens} tokens, capability guard: {stage.capability_guard})")
    if isinstance(stage, TrainStage):
        hp = dict(stage.hyperparameters)
        method = stage.method if stage.requested_method == stage.method else f"{stage.method} (auto)"
        return (f"train       {method} on {stage.base_model}: lr {hp['learning_rate']:g}, "
                f"beta {hp['beta']:g}, batch {hp['batch_size']}, "
                f"{'LoRA r' + str(hp['lora_r']) if hp['lora'] else 'full fine-tune'}"
                + (f", after {hp['sft_epochs']:g} epochs of SFT warm-up" if hp.get("sft_epochs") else "")
                + "".join(f", {k} = {_override_text(v)}" for k, v in stage.hyperparameters if "." in k))
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
