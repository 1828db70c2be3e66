"""RLHF: a Bradley-Terry reward model on the preference pairs, then GRPO against it.

Stage 1 trains `AutoModelForSequenceClassification(num_labels=1)` initialized from the policy
model (`job.model_path`) with TRL's RewardTrainer on `job.pairs_path`, saved with its
tokenizer to `output_dir/reward_model`. Stage 2 runs `grpo.train` with that saved path as the
only reward function (TRL loads it as a sequence classifier and re-templates the texts with
its tokenizer) and writes to `output_dir/grpo`; the final policy is `output_dir/grpo/final`.
Settings `reward_max_steps` / `reward_learning_rate` override the stage-1 values of
`max_steps` / `learning_rate`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from tenet.runtime.train import grpo
from tenet.runtime.train.common import (PAIR_COLUMNS, TrainJob, TrainResult, load_dataset_columns, save_final,
                                  trainer_config, job_callbacks)
from tenet.runtime.train.guard import stay_offline


def train_reward_model(job: TrainJob) -> tuple[str, dict[str, float], int]:
    """Train and save the reward model; return (its path, its metrics, its steps)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    hp = job.hyperparameters
    out = Path(job.output_dir) / "reward_model"
    settings = dict(output_dir=str(out / "checkpoints"),
                    max_steps=hp.max_steps if hp.reward_max_steps is None else hp.reward_max_steps,
                    learning_rate=hp.learning_rate if hp.reward_learning_rate is None else hp.reward_learning_rate,
                    max_length=hp.max_length)
    args = trainer_config(RewardConfig, job, **settings)  # checked before anything loads
    dataset = load_dataset_columns(job.pairs_path, PAIR_COLUMNS)
    stay_offline()
    tokenizer = AutoTokenizer.from_pretrained(job.model_path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(job.model_path, num_labels=1,
                                                               trust_remote_code=False)
    # Sequence classifiers pool the last non-pad token: they need the pad id in their config.
    model.config.pad_token_id = tokenizer.pad_token_id
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset,
                            processing_class=tokenizer, callbacks=job_callbacks(job))
    output = trainer.train()
    # GRPO loads the reward model from here, in every process of a launch.
    save_final(trainer, tokenizer, str(out))
    metrics: dict[str, float] = {}
    for entry in trainer.state.log_history:
        metrics.update({k: float(v) for k, v in entry.items() if isinstance(v, (int, float))})
    metrics.update({k: float(v) for k, v in output.metrics.items() if isinstance(v, (int, float))})
    return str(out), metrics, int(trainer.state.global_step)


def train(job: TrainJob) -> TrainResult:
    """Reward model on the pairs, then GRPO on the prompts with it; the GRPO stage's result."""
    start = time.monotonic()
    reward_path, reward_metrics, reward_steps = train_reward_model(job)
    stage = dataclasses.replace(job, output_dir=str(Path(job.output_dir) / "grpo"),
                                reward_functions=(reward_path,))
    result = grpo.train(stage)
    result.metrics.update({f"reward/{k}": v for k, v in reward_metrics.items()})
    result.metrics["reward/global_step"] = float(reward_steps)
    result.seconds = time.monotonic() - start
    return result
