"""Contrastive fine-tuning (CFT): likelihood on chosen, unlikelihood on rejected.

    loss = -mean_t log p_t(chosen) - λ · mean_t log(1 - p_t(rejected)),   λ = hyperparameters.beta

Built on TRL's DPOTrainer with `loss_type=["sft"]`, which already gives the first term (mean NLL
over the chosen completion tokens). The trainer's single policy forward over the [chosen; rejected]
batch returns per-token log-probs (`outputs.log_probs`, from TRL's fused LM head); a forward hook
captures them so the unlikelihood term costs no extra forward. Reference log-probs are precomputed
once (DPOTrainer always wants them; CFT only uses them for the logged `rewards/*` diagnostics).
"""

from __future__ import annotations

from tenet.runtime.train.common import (PAIR_COLUMNS, TrainJob, TrainResult, lora_config, load_step_rows,
                                  load_model_and_tokenizer, run_and_save, trainer_config, job_callbacks)


def unlikelihood(per_token_logps, mask):
    """-mean over masked tokens of log(1 - p), with p = exp(logp) kept below 1 for stability."""
    import torch

    p = per_token_logps.exp().clamp(max=1.0 - 1e-6)
    return -(torch.log1p(-p) * mask).sum() / mask.sum().clamp(min=1)


def _trainer_class():
    from trl import DPOTrainer

    class CFTTrainer(DPOTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            captured = []
            handle = model.register_forward_hook(lambda _m, _a, out: captured.append(out))
            try:
                result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            finally:
                handle.remove()
            loss = result[0] if return_outputs else result
            shift_mask = inputs["completion_mask"][..., 1:]
            per_token_logps = captured[0].log_probs[:, -shift_mask.size(1):]  # the policy forward comes first
            _, rejected_logps = per_token_logps.chunk(2, dim=0)  # batch is [chosen, rejected]
            _, rejected_mask = shift_mask.chunk(2, dim=0)
            ul = unlikelihood(rejected_logps, rejected_mask)
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["unlikelihood"].append(ul.item())
            loss = loss + self.beta * ul
            return (loss, result[1]) if return_outputs else loss

    return CFTTrainer


def train(job: TrainJob) -> TrainResult:
    from trl import DPOConfig

    hp = job.hyperparameters
    args = trainer_config(DPOConfig, job, beta=hp.beta, max_length=hp.max_length,
                          loss_type=["sft"], precompute_ref_log_probs=True)
    model, tokenizer = load_model_and_tokenizer(job)
    trainer = _trainer_class()(model=model, args=args,
                               train_dataset=load_step_rows(job.pairs_path, PAIR_COLUMNS, job.hyperparameters),
                               processing_class=tokenizer, peft_config=lora_config(job),
                               callbacks=job_callbacks(job))
    return run_and_save(trainer, tokenizer, job)
