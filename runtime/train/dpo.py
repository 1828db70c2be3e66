"""DPO on conversational `prompt/chosen/rejected` pairs with TRL's DPOTrainer.

Reference log-probs are precomputed once before training by default (the plan's default); the
reference is then the initial model, also on resume. With `precompute_ref_log_probs=False` and no
LoRA the reference is loaded explicitly from `job.model_path` (TRL would otherwise re-load it from
`model.config._name_or_path`); with LoRA TRL uses the adapter-disabled base.
"""

from __future__ import annotations

from tenet.runtime.train.common import (PAIR_COLUMNS, TrainJob, TrainResult, load_causal_lm, load_model_and_tokenizer,
                                  load_step_rows, lora_config, run_and_save, trainer_config, job_callbacks)


def train(job: TrainJob) -> TrainResult:
    from trl import DPOConfig, DPOTrainer

    hp = job.hyperparameters
    precompute = hp.precompute_ref_log_probs
    # A likelihood term on the chosen side (RPO) keeps DPO from winning the margin only by
    # pushing the rejected side down, which can move mass onto neither response.
    losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, hp.sft_weight]} if hp.sft_weight > 0 else {}
    args = trainer_config(DPOConfig, job, beta=hp.beta, max_length=hp.max_length,
                          precompute_ref_log_probs=precompute, **losses)
    peft = lora_config(job)
    model, tokenizer = load_model_and_tokenizer(job)
    ref_model = None
    if not precompute and peft is None:
        ref_model = load_causal_lm(job.model_path)
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args,
                         train_dataset=load_step_rows(job.pairs_path, PAIR_COLUMNS, job.hyperparameters),
                         processing_class=tokenizer, peft_config=peft, callbacks=job_callbacks(job))
    return run_and_save(trainer, tokenizer, job)
