"""ORPO on conversational pairs with TRL's experimental ORPOTrainer (no reference model).

`beta` is the paper's lambda (weight of the odds-ratio term next to the NLL on chosen).
"""

from __future__ import annotations

import os

from tenet.runtime.train.common import (PAIR_COLUMNS, TrainJob, TrainResult, lora_config, load_step_rows,
                                  load_model_and_tokenizer, run_and_save, trainer_config, job_callbacks)


def train(job: TrainJob) -> TrainResult:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    hp = job.hyperparameters
    args = trainer_config(ORPOConfig, job, beta=hp.beta, max_length=hp.max_length,
                          remove_unused_columns=False)  # its collator needs the raw columns; TRL warns otherwise
    model, tokenizer = load_model_and_tokenizer(job)
    trainer = ORPOTrainer(model=model, args=args,
                          train_dataset=load_step_rows(job.pairs_path, PAIR_COLUMNS, job.hyperparameters),
                          processing_class=tokenizer, peft_config=lora_config(job), callbacks=job_callbacks(job))
    return run_and_save(trainer, tokenizer, job)
