"""KTO on unpaired `prompt/completion/label` rows with TRL's KTOTrainer.

KTO's KL term pairs each completion with another one from the same batch and samples the data
sequentially, so the dataset order is part of the run: it is shuffled here with the job's seed.
With the default `kto` loss the batch size must be > 1 (TRL raises otherwise).
"""

from __future__ import annotations

from tenet.runtime.train.common import (UNPAIRED_COLUMNS, TrainJob, TrainResult, load_causal_lm, lora_config,
                                  load_dataset_columns, rows_for_steps, load_model_and_tokenizer, run_and_save,
                                  trainer_config, job_callbacks)


def train(job: TrainJob) -> TrainResult:
    from trl import KTOConfig, KTOTrainer

    hp = job.hyperparameters
    args = trainer_config(KTOConfig, job, beta=hp.beta, max_length=hp.max_length)
    peft = lora_config(job)
    dataset = rows_for_steps(load_dataset_columns(job.unpaired_path, UNPAIRED_COLUMNS), hp).shuffle(seed=hp.seed)
    model, tokenizer = load_model_and_tokenizer(job)
    # Without LoRA or precomputed log-probs KTO needs a reference model; tenet loads it, so TRL
    # loads none by the model's path itself.
    ref_model = load_causal_lm(job.model_path) if peft is None and not args.precompute_ref_log_probs else None
    trainer = KTOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=dataset,
                         processing_class=tokenizer, peft_config=peft, callbacks=job_callbacks(job))
    return run_and_save(trainer, tokenizer, job)
