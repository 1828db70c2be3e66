"""Training jobs: how a train stage's settings and data become a `TrainJob`, and how a job trains.

The cycle's train and round stages build jobs here (`build_job`) and train them
(`train_job`); under `accelerate launch`, every process trains the same job (runtime/scale.py).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenet.compiler.plan import TrainSettings
    from tenet.runtime.train.common import TrainJob, TrainResult

METHOD_MODULES = {"dpo": "tenet.runtime.train.dpo", "kto": "tenet.runtime.train.kto", "orpo": "tenet.runtime.train.orpo",
                  "cft": "tenet.runtime.train.cft", "grpo": "tenet.runtime.train.grpo", "rlhf": "tenet.runtime.train.rlhf"}


def build_job(method: str, start_path: str, out: Path, settings: TrainSettings, rules, data: Path,
         progress: bool):
    """The `TrainJob` for a training stage: typed settings, data paths, rewards for GRPO."""
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
                    prompts_path=train_prompts(data) if method in ("grpo", "rlhf") else None)


def train_prompts(data: Path) -> str:
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
