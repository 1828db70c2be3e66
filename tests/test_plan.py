"""The training plan: stage kinds, order and contents; method resolution; default gates; pair budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.compiler import ir
from tenet.compiler.plan import (
    EvaluateStage,
    GateStage,
    LabelStage,
    RegisterStage,
    SynthesizeStage,
    TrainStage,
    TrainingPlan,
    describe_gate,
)
from tenet.compiler.pipeline import compile_policy
from helpers import FIXTURES, PROMPTS, compile_rel, write_policy

PASSES = FIXTURES / "passes"
STAGE_ORDER = [("label", None), ("synthesize", None), ("evaluate", "before"), ("train", None),
               ("evaluate", "after"), ("gate", None), ("register", None)]

RULE = """
rule no-todo (high):
  forbid response contains "TODO"
  example:
    prompt "Draft it."
    good "Done."
    bad "TODO"
"""


def plan_of(tmp_path: Path, body: str) -> TrainingPlan:
    """The plan of a policy made of `body` and a prompts block (a training run needs held-out prompts)."""
    result = compile_policy(write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n' + PROMPTS + body))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.plan


def kinds(plan: TrainingPlan) -> list[tuple[str, str | None]]:
    return [(s.kind, getattr(s, "phase", None)) for s in plan.stages]


def gates(plan: TrainingPlan) -> list[str]:
    (stage,) = [s for s in plan.stages if isinstance(s, GateStage)]
    return [describe_gate(g) for g in stage.gates]


@pytest.mark.parametrize("name", ["defaults", "support", "training", "predicates", "precedence"])
def test_stage_kinds_and_order(name: str, in_repo: Path) -> None:
    assert kinds(compile_rel(PASSES / f"{name}.policy").artifact.plan) == STAGE_ORDER


def test_training_fixture_plan_in_full(in_repo: Path) -> None:
    """Every stage of the plan for tests/fixtures/passes/training.policy, field by field."""
    plan = compile_rel(PASSES / "training.policy").artifact.plan
    assert plan.policy_id == "training-demo"
    assert plan.stages == (
        LabelStage(rules=("no-pii",), sources=(
            "template 'How do I {action} my {product}?' (6 prompts)",
            "file prompts/traffic.jsonl (column 'text')",
            "file prompts/later.csv (column 'prompt')",
            "prompt 'Tell me about your refund policy.'",
            "rule examples",
        )),
        SynthesizeStage(strategies=("examples", "perturb", "sample", "revise", "contrast", "feedback"),
                        budget=100, per_rule=(("no-pii", 100),), eval_split=0.25, length_ratio_max=2.0, seed=7,
                        max_new_tokens=64, artifact_pairs=0.25, scope_pairs=1.0),
        EvaluateStage(phase="before", model="base", prompts=32, max_new_tokens=128, seed=7, tempt_prompts=16,
                      probes=16),
        TrainStage(method="kto", requested_method="kto", base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
                   hyperparameters=(("revision", "main"), ("learning_rate", 1e-5), ("epochs", 2.0), ("max_steps", 100),
                                    ("batch_size", 8), ("grad_accum", 2), ("beta", 0.25), ("sft_weight", 0.0),
                                    ("sft_epochs", 0.0), ("sft_rows", 0),
                                    ("lora", True), ("lora_r", 8), ("lora_alpha", 16), ("max_length", 1024),
                                    ("precision", "bf16"), ("device", "cpu"), ("seed", 7), ("save_steps", 50),
                                    ("replay", 0.5))),
        EvaluateStage(phase="after", model="trained", prompts=32, max_new_tokens=128, seed=7, tempt_prompts=16,
                      probes=16),
        GateStage(gates=(
            ir.GateIR(target="critical", op=">=", threshold=0.99),
            ir.GateIR(target="high", op=">=", threshold=0.95),
            ir.GateIR(target="medium", op=">=", threshold=0.9),
            ir.GateIR(target="low", op=">=", threshold=0.8),
            ir.GateIR(target="overall", op=">=", threshold=0.9),
            ir.GateIR(target="regression", op="<=", threshold=0.02),
            ir.GateIR(target="drift", op="<", threshold=0.1),
            ir.GateIR(target="rule", rule="no-pii", op=">=", threshold=1.0),
            ir.GateIR(target="helpfulness", op="<=", threshold=0.0, default=True),
        )),
        RegisterStage(model_name="training-demo", alias="champion"),
    )


def test_defaults_fixture_plan(in_repo: Path) -> None:
    plan = compile_rel(PASSES / "defaults.policy").artifact.plan
    label, synth, before, train, after, gate, register = plan.stages
    assert label.rules == ("be-polite",) and label.sources == ("rule examples",)
    # The embedded base model brings its measured recipe (tenet.compiler.settings.EMBEDDED_RECIPES).
    assert (synth.budget, synth.per_rule, synth.strategies) == (256, (("be-polite", 256),),
                                                               ("sample", "examples", "perturb"))
    # No count rule: the evaluation cap is the 256-token floor. No prompts: nothing is held out.
    assert (before.model, after.model, before.prompts, before.max_new_tokens) == ("base", "trained", 24, 256)
    assert (before.heldout, before.answered) == (0, 0)
    assert (train.method, train.requested_method, train.base_model) == ("dpo", "auto", "embedded:smollm2-135m-instruct")
    hp = dict(train.hyperparameters)
    assert (hp["lora"], hp["sft_epochs"], hp["max_steps"], hp["learning_rate"]) == (True, 2.0, 24, 1e-3)
    # Its one rule is high: no default critical gate, which no vote could ever measure.
    assert gate.gates == (ir.GateIR(target="regression", op="<=", threshold=0.02, default=True),
                          ir.GateIR(target="helpfulness", op="<=", threshold=0.0, default=True))
    assert register.model_name == "minimal"


def test_settings_a_policy_writes_win_over_the_embedded_recipe(tmp_path) -> None:
    from tenet.compiler.pipeline import compile_policy
    from helpers import write_policy

    body = 'dsl 1\npolicy p version "1"\n' + PROMPTS + '\nrule r (low):\n  forbid response mentions "x"\n\ntraining:\n'
    mine = compile_policy(str(write_policy(tmp_path, "a.policy", body + "  lora = false\n  max_steps = 3\n")))
    hp = dict(next(s for s in mine.artifact.plan.stages if s.kind == "train").hyperparameters)
    assert (hp["lora"], hp["max_steps"], hp["sft_epochs"]) == (False, 3, 2.0)
    hub = compile_policy(str(write_policy(tmp_path, "b.policy", body + '  base_model = "org/model"\n')))
    hp = dict(next(s for s in hub.artifact.plan.stages if s.kind == "train").hyperparameters)
    assert (hp["lora"], hp["sft_epochs"], hp["learning_rate"]) == (False, 0.0, 5e-6)  # the generic defaults


def test_inherited_training_settings_merge_key_by_key(in_repo: Path) -> None:
    plan = compile_rel(PASSES / "support.policy").artifact.plan
    train = next(s for s in plan.stages if isinstance(s, TrainStage))
    synth = next(s for s in plan.stages if isinstance(s, SynthesizeStage))
    assert train.method == "dpo"  # from base.policy
    assert dict(train.hyperparameters)["beta"] == 0.2  # from base.policy
    assert synth.budget == 128  # support.policy overrides base's 64
    assert gates(plan) == ["critical >= 0.98", "high >= 0.9", "regression <= 0.02 (default)", "helpfulness <= 0 (default)"]


# --- method resolution ----------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "method", "requested"), [
    ("", "dpo", "auto"),
    ("  method = auto\n", "dpo", "auto"),
    ('  method = auto\n  strategies = "feedback"\n', "kto", "auto"),
    ('  method = auto\n  strategies = "examples, feedback"\n', "dpo", "auto"),
    ("  method = orpo\n", "orpo", "orpo"),
    ("  method = grpo\n", "grpo", "grpo"),
    ('  method = "cft"\n', "cft", "cft"),
])
def test_method_resolution(tmp_path: Path, settings: str, method: str, requested: str) -> None:
    body = RULE + ("\ntraining:\n" + settings if settings else "")
    train = next(s for s in plan_of(tmp_path, body).stages if isinstance(s, TrainStage))
    assert (train.method, train.requested_method) == (method, requested)


# --- gates ----------------------------------------------------------------------------------


CRITICAL_RULE = RULE.replace("no-todo (high)", "no-secret (critical)").replace('"TODO"', '"SECRET"')


def test_default_gates_without_training_block(tmp_path: Path) -> None:
    assert gates(plan_of(tmp_path, CRITICAL_RULE)) == ["critical >= 0.8 (default)", "regression <= 0.02 (default)", "helpfulness <= 0 (default)"]


def test_default_gates_with_training_block_but_no_gates(tmp_path: Path) -> None:
    assert gates(plan_of(tmp_path, CRITICAL_RULE + "\ntraining:\n  pairs = 10\n")) == [
        "critical >= 0.8 (default)", "regression <= 0.02 (default)", "helpfulness <= 0 (default)"]


def test_no_default_critical_gate_without_critical_rules(tmp_path: Path) -> None:
    """Gates fail closed, and a gate over no rules could never be measured."""
    assert gates(plan_of(tmp_path, RULE)) == ["regression <= 0.02 (default)", "helpfulness <= 0 (default)"]


def test_a_given_gate_replaces_only_its_default(tmp_path: Path) -> None:
    assert gates(plan_of(tmp_path, CRITICAL_RULE + "\ntraining:\n  gate critical >= 0.95\n")) == [
        "critical >= 0.95", "regression <= 0.02 (default)", "helpfulness <= 0 (default)"]
    assert gates(plan_of(tmp_path, RULE + CRITICAL_RULE + "\ntraining:\n  gate rule no-todo >= 0.9\n")) == [
        "rule no-todo >= 0.9", "critical >= 0.8 (default)", "regression <= 0.02 (default)", "helpfulness <= 0 (default)"]


def test_a_repeated_gate_keeps_the_last(tmp_path: Path) -> None:
    assert gates(plan_of(tmp_path, RULE + "\ntraining:\n  gate high >= 0.5\n  gate high >= 0.7\n")) == [
        "high >= 0.7", "regression <= 0.02 (default)", "helpfulness <= 0 (default)"]


# --- pair budget ------------------------------------------------------------------------------


def many_rules(severities: list[str]) -> str:
    return "".join(RULE.replace("no-todo", f"r{i}").replace("(high)", f"({sev})").replace('"TODO"', f'"T{i}"')
                   for i, sev in enumerate(severities))


@pytest.mark.parametrize(("severities", "pairs"), [
    (["high"], 256),
    (["critical", "high", "medium", "low"], 100),
    (["medium"] * 7, 50),
    (["low", "low", "high"], 9),
])
def test_pair_budget_is_spent_exactly(tmp_path: Path, severities: list[str], pairs: int) -> None:
    plan = plan_of(tmp_path, many_rules(severities) + f"\ntraining:\n  pairs = {pairs}\n")
    synth = next(s for s in plan.stages if isinstance(s, SynthesizeStage))
    assert synth.budget == pairs
    assert sum(n for _, n in synth.per_rule) == pairs
    assert all(n >= 1 for _, n in synth.per_rule)


def test_pair_budget_follows_severity_weight(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, many_rules(["critical", "high", "medium", "low"]) + "\ntraining:\n  pairs = 150\n")
    synth = next(s for s in plan.stages if isinstance(s, SynthesizeStage))
    assert dict(synth.per_rule) == {"r0": 80, "r1": 40, "r2": 20, "r3": 10}


def test_pair_budget_is_never_exceeded_with_several_critical_rules(in_repo: Path) -> None:
    plan = compile_rel(PASSES / "support.policy").artifact.plan
    synth = next(s for s in plan.stages if isinstance(s, SynthesizeStage))
    assert sum(n for _, n in synth.per_rule) <= synth.budget


# --- held-out prompts: what the evaluation will answer ------------------------------------------


def diagnostics_of(tmp_path: Path, body: str, for_training: bool = False) -> list[str]:
    path = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n' + body)
    return [d.code for d in compile_policy(path, for_training=for_training).diagnostics]


def test_the_evaluate_stages_carry_the_held_out_count(tmp_path: Path) -> None:
    from tenet.compiler.heldout import heldout_prompts

    result = compile_policy(write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\n' + PROMPTS + RULE))
    before, after = [s for s in result.artifact.plan.stages if isinstance(s, EvaluateStage)]
    count = len(heldout_prompts(result.artifact.ir).prompts)
    assert 0 < count < 20 and before.heldout == after.heldout == count
    assert before.answered == min(count, before.prompts)


def test_no_held_out_prompts_is_an_error_only_for_a_training_run(tmp_path: Path) -> None:
    assert diagnostics_of(tmp_path, RULE) == []  # a labeling-only policy
    assert diagnostics_of(tmp_path, RULE, for_training=True) == ["E173"]  # `tenet plan`, compile-and-train
    assert diagnostics_of(tmp_path, RULE + "\ntraining:\n  pairs = 8\n") == ["E173"]  # `tenet check`
    assert diagnostics_of(tmp_path, PROMPTS + RULE + "\ntraining:\n  pairs = 8\n") == []
    assert diagnostics_of(tmp_path, PROMPTS + RULE + "\ntraining:\n  eval_split = 0\n") == ["E173"]


def test_the_held_out_check_runs_only_on_an_otherwise_sound_policy(tmp_path: Path) -> None:
    """An error of an IR pass (here an example the rule contradicts) is not joined by E173."""
    broken = RULE.replace('bad "TODO"', 'bad "All done."')
    assert diagnostics_of(tmp_path, broken + "\ntraining:\n  pairs = 8\n") == ["E140"]


SCOPED = """
rule refund-form (high):
  when {subject} mentions "refund"
  require response mentions "refund form"
"""


def test_a_gated_rule_no_held_out_prompt_reaches_is_a_warning(tmp_path: Path) -> None:
    # No temptation prompts: only the held-out prompts could reach the rule.
    gated = "\ntraining:\n  tempt_prompts = 0\n  gate rule refund-form >= 0.9\n"
    assert diagnostics_of(tmp_path, PROMPTS + SCOPED.format(subject="prompt") + gated) == ["W150", "W164"]
    # The answer is not known before generation: a scope on the response is given the benefit of the doubt.
    assert diagnostics_of(tmp_path, PROMPTS + SCOPED.format(subject="response") + gated) == ["W150"]
    reached = PROMPTS.replace('"sell"', '"refund"') + SCOPED.format(subject="prompt") + gated
    assert "W164" not in diagnostics_of(tmp_path, reached)
