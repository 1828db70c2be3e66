"""The runtime walks the plan: one handler per stage type, typed train settings, CLI overrides on stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from tenet.compiler import ir, plan
from tenet.compiler.artifact import read_artifact, to_json
from tenet.compiler.plan import EvaluateStage, SynthesizeStage, TrainSettings, TrainStage
from helpers import FIXTURES, compile_rel
from tenet.runtime.cycle import HANDLERS, CycleOptions, apply_overrides, stage_of

TRAINING = FIXTURES / "passes" / "training.policy"


def test_every_stage_type_has_one_handler() -> None:
    stage_types = get_args(get_args(plan.PlanStage)[0])
    assert set(HANDLERS) == set(stage_types)
    assert all(callable(handler) for handler in HANDLERS.values())


def test_stage_names_are_the_cycle_run_names(in_repo: Path) -> None:
    stages = compile_rel(TRAINING).artifact.plan.stages
    assert [s.name for s in stages] == ["label", "synthesize", "evaluate-before", "train", "evaluate-after",
                                       "gate", "register"]


def test_train_settings_mirror_the_training_ir() -> None:
    for name in plan._HYPERPARAMETERS:
        assert TrainSettings.model_fields[name].annotation == ir.TrainingIR.model_fields[name].annotation, name


def test_train_stage_settings_are_typed(in_repo: Path) -> None:
    train = stage_of(compile_rel(TRAINING).artifact.plan, TrainStage)
    settings = train.settings
    assert (settings.learning_rate, settings.max_steps, settings.lora, settings.precision) == (1e-5, 100, True, "bf16")
    assert isinstance(settings.epochs, float) and isinstance(settings.batch_size, int)
    assert settings.num_generations == 4  # a method-only knob keeps its default


def test_train_job_validates_a_mapping_into_settings(tmp_path: Path) -> None:
    from tenet.runtime.train.common import TrainJob

    job = TrainJob(method="dpo", model_path="m", pairs_path=None, unpaired_path=None, output_dir=str(tmp_path),
                   hyperparameters={"epochs": 1, "max_steps": "3", "batch_size": 2})
    assert isinstance(job.hyperparameters, TrainSettings)
    assert (job.hyperparameters.epochs, job.hyperparameters.max_steps) == (1.0, 3)
    with pytest.raises(ValidationError):
        TrainJob(method="dpo", model_path="m", pairs_path=None, unpaired_path=None, output_dir=str(tmp_path),
                 hyperparameters={"learning_rte": 1e-3})


def test_no_options_leave_the_plan_as_compiled(in_repo: Path) -> None:
    compiled = compile_rel(TRAINING).artifact.plan
    assert apply_overrides(compiled, CycleOptions()) == compiled


def test_cli_overrides_change_the_stages_they_belong_to(in_repo: Path) -> None:
    compiled = compile_rel(TRAINING).artifact.plan
    options = CycleOptions(max_steps=3, device="cuda", method="orpo", base_model="org/other", eval_prompts=5)
    overridden = apply_overrides(compiled, options)
    train = stage_of(overridden, TrainStage)
    assert (train.method, train.base_model, train.settings.max_steps, train.settings.device) == (
        "orpo", "org/other", 3, "cuda")
    assert [k for k, _ in train.hyperparameters] == [k for k, _ in stage_of(compiled, TrainStage).hyperparameters]
    assert [s.prompts for s in overridden.stages if isinstance(s, EvaluateStage)] == [5, 5]
    untouched = [s for s in overridden.stages if not isinstance(s, (TrainStage, EvaluateStage))]
    assert untouched == [s for s in compiled.stages if not isinstance(s, (TrainStage, EvaluateStage))]


def test_method_auto_resolves_against_the_synthesize_strategies(in_repo: Path) -> None:
    compiled = compile_rel(TRAINING).artifact.plan
    stages = tuple(s.model_copy(update={"strategies": ("feedback",)}) if isinstance(s, SynthesizeStage) else s
                   for s in compiled.stages)
    feedback_only = compiled.model_copy(update={"stages": stages})
    assert stage_of(apply_overrides(feedback_only, CycleOptions(method="auto")), TrainStage).method == "kto"
    assert stage_of(apply_overrides(compiled, CycleOptions(method="auto")), TrainStage).method == "dpo"


def test_an_artifact_from_before_the_stage_fields_still_loads(in_repo: Path, tmp_path: Path) -> None:
    data = json.loads(to_json(compile_rel(TRAINING).artifact))
    for stage in data["plan"]["stages"]:
        stage.pop("max_new_tokens" if stage["kind"] == "synthesize" else "seed" if stage["kind"] == "evaluate"
                  else "", None)
    path = tmp_path / "artifact.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = read_artifact(path).plan
    assert stage_of(loaded, SynthesizeStage).max_new_tokens == 256
    assert stage_of(loaded, EvaluateStage).seed == 42
