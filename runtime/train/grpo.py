"""GRPO: online training with the compiled rules (or a reward model) as reward functions.

The train set is prompt-only conversational rows (`prompt`: a message list; the synthesized
eval_prompts.parquet has that shape). Generation uses transformers `generate` (no vLLM), so
small models train on CPU. Settings read beyond `base_arguments` (`TrainSettings` fields):
`num_generations` (4), `max_new_tokens` (64, the completion length), `beta` (0.0: no
reference model), `temperature` (1.0), `reward_weights` (None: functions summed), `loss_type`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from tenet.runtime.train.common import (TrainJob, TrainResult, load_dataset_columns, load_model_and_tokenizer,
                                  lora_config, policy_overrides, save_final, trainer_config, job_callbacks)


def grpo_config(job: TrainJob):
    """The GRPOConfig for a job."""
    from trl import GRPOConfig

    hp = job.hyperparameters
    extra: dict[str, object] = {}
    if hp.reward_weights is not None:
        extra["reward_weights"] = list(hp.reward_weights)
    if hp.loss_type:
        extra["loss_type"] = hp.loss_type
    # A policy's `trainer.num_generations` must also size the generation batch below.
    generations = int(policy_overrides(job, "trainer").get("num_generations") or hp.num_generations)
    # TRL needs the completions generated per step to split evenly into groups of
    # `num_generations` and into per-device batches; the plan's batch size need not be either.
    per_step = hp.batch_size * hp.grad_accum
    return trainer_config(
        GRPOConfig, job,
        generation_batch_size=math.lcm(per_step, generations),
        num_generations=generations,
        max_completion_length=hp.max_new_tokens,
        beta=hp.beta,
        temperature=hp.temperature,
        **extra,
    )


def train(job: TrainJob) -> TrainResult:
    """Train `job.model_path` with GRPO on `job.prompts_path`; the model lands in `output_dir/final`."""
    from trl import GRPOTrainer

    if not job.reward_functions:
        raise ValueError("grpo needs at least one reward function (the compiled rules or a reward model)")
    # Checked before anything loads. With beta > 0 and no LoRA, TRL loads the reference model
    # itself, by the policy model's path and with the config's trust_remote_code, which
    # `grpo_config` guarantees is False (runtime/train/guard.py); a reward model named by
    # path (rlhf) is loaded the same way.
    args, peft = grpo_config(job), lora_config(job)
    dataset = load_dataset_columns(job.prompts_path, ("prompt",))
    model, tokenizer = load_model_and_tokenizer(job)
    trainer = GRPOTrainer(
        model=model, reward_funcs=list(job.reward_functions), args=args, train_dataset=dataset,
        processing_class=tokenizer, callbacks=job_callbacks(job), peft_config=peft,
    )
    start = time.monotonic()
    output = trainer.train(resume_from_checkpoint=job.resume_from)
    seconds = time.monotonic() - start
    final = Path(job.output_dir) / "final"
    save_final(trainer, tokenizer, str(final))
    metrics: dict[str, float] = {}
    tokens = 0
    for entry in trainer.state.log_history:  # the last logged value of each key
        metrics.update({k: float(v) for k, v in entry.items() if isinstance(v, (int, float))})
        tokens = int(entry.get("num_tokens", tokens))
    metrics.update({k: float(v) for k, v in output.metrics.items() if isinstance(v, (int, float))})
    return TrainResult(output_dir=str(final), global_step=int(trainer.state.global_step), metrics=metrics,
                       train_tokens=tokens, seconds=seconds, world_size=trainer.accelerator.num_processes)
