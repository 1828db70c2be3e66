"""`trainer.<field>` / `lora.<field>` settings: the field table, their typing, and the configs they build.

The diagnostics for bad fields and values are goldens in tests/fixtures/errors/ (E166, E167,
W168); tests/test_ci.py trains a tiny model with overrides and reads them back from MLflow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.compiler.pipeline import compile_policy
from tenet.compiler.settings import LORA_CONFIG, TRAIN_METHODS, TRAINER_CONFIGS
from helpers import CLEAN, PROMPTS, write_policy

HEAD = CLEAN + PROMPTS + '''
training:
  base_model = "some/model"
'''


def _compile(tmp_path: Path, settings: str, method: str | None = None):
    return compile_policy(write_policy(tmp_path, "p.policy", HEAD + settings), method=method)


def test_table_has_every_config_a_method_builds() -> None:
    from tenet.runtime.train.fields import CONFIG_CLASSES

    assert set(TRAINER_CONFIGS) == set(TRAIN_METHODS)
    assert set(CONFIG_CLASSES) == {c for names in TRAINER_CONFIGS.values() for c in names} | {LORA_CONFIG}


def test_values_are_typed_by_their_field(tmp_path: Path) -> None:
    result = _compile(tmp_path, '''  method = grpo
  lora = true
  trainer.num_generations = 8
  trainer.warmup_steps = 0.1
  trainer.lr_scheduler_type = cosine
  trainer.gradient_checkpointing = true
  trainer.min_p = none
  trainer.reward_weights = "1, 0.5"
  lora.target_modules = "q_proj, v_proj"
  lora.bias = none
  lora.init_lora_weights = "gaussian"
''')
    assert result.ok, result.diagnostics
    overrides = dict(result.artifact.ir.training.overrides)
    assert overrides == {
        "trainer.num_generations": 8, "trainer.warmup_steps": 0.1, "trainer.lr_scheduler_type": "cosine",
        "trainer.gradient_checkpointing": True, "trainer.min_p": None,
        "trainer.reward_weights": (1.0, 0.5), "lora.target_modules": ("q_proj", "v_proj"),
        "lora.bias": "none",  # `bias` is not optional, so bare `none` is the string
        "lora.init_lora_weights": "gaussian",
    }
    assert type(overrides["trainer.num_generations"]) is int
    train = next(s for s in result.artifact.plan.stages if s.kind == "train")
    assert dict(train.hyperparameters)["trainer.num_generations"] == 8


def test_a_string_without_commas_stays_a_string(tmp_path: Path) -> None:
    result = _compile(tmp_path, '  lora = true\n  lora.target_modules = "all-linear"\n')
    assert dict(result.artifact.ir.training.overrides) == {"lora.target_modules": "all-linear"}


def test_method_option_picks_the_config_checked(tmp_path: Path) -> None:
    settings = "  trainer.num_generations = 8\n"
    assert [d.code for d in _compile(tmp_path, settings).diagnostics] == ["E166"]
    assert _compile(tmp_path, settings, method="grpo").ok


def test_rlhf_accepts_fields_of_either_of_its_configs(tmp_path: Path) -> None:
    # `center_rewards_coefficient` is RewardConfig's, `num_generations` GRPOConfig's.
    result = _compile(tmp_path, "  method = rlhf\n  trainer.center_rewards_coefficient = 0.01\n"
                                "  trainer.num_generations = 2\n")
    assert result.ok, result.diagnostics


def _job(tmp_path: Path, **hp):
    from tenet.runtime.train.common import TrainJob

    base = {"learning_rate": 1e-3, "epochs": 1, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "beta": 0.1,
            "lora": True, "lora_r": 4, "lora_alpha": 8, "max_length": 64, "precision": "fp32", "device": "cpu",
            "seed": 7}
    return TrainJob(method="dpo", model_path="unused", pairs_path=None, unpaired_path=None,
                    output_dir=str(tmp_path), hyperparameters={**base, **hp})


def test_overrides_are_applied_last(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from transformers.trainer_utils import SchedulerType
    from trl import DPOConfig

    from tenet.runtime.train.common import lora_config, trainer_config

    job = _job(tmp_path, **{"trainer.lr_scheduler_type": "cosine", "trainer.gradient_checkpointing": True,
                            "trainer.warmup_steps": 0.1, "lora.target_modules": ("q_proj", "v_proj"),
                            "lora.lora_dropout": 0.05})
    args = trainer_config(DPOConfig, job, beta=0.1)
    assert args.lr_scheduler_type == SchedulerType.COSINE and args.warmup_steps == 0.1
    assert args.gradient_checkpointing is True  # the policy's field wins over tenet's `False`
    lora = lora_config(job)
    assert lora.target_modules == {"q_proj", "v_proj"} and lora.lora_dropout == 0.05 and lora.r == 4


def test_grpo_sizes_its_generation_batch_by_the_override(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from dataclasses import replace

    from tenet.runtime.train.grpo import grpo_config

    job = replace(_job(tmp_path, **{"trainer.num_generations": 8}), method="grpo")
    args = grpo_config(job)
    assert args.num_generations == 8 and args.generation_batch_size % 8 == 0
