"""The `training:` setting an author most likely meant by a name that is not one.

Spelling distance alone guesses badly for the short names people actually type (`lr` is
closest to `lora`), so common abbreviations and synonyms are looked up first, then the names
TRL and peft use for tenet's own settings, then the `trainer.*`/`lora.*` fields written
without their section, and only then the closest spelling.
"""

from __future__ import annotations

import difflib

from tenet.compiler.settings import SETTINGS
from tenet.compiler.trainer_allow import LORA_FIELDS, SETTING_FIELDS, TRAINER_FIELDS

# Abbreviations and everyday words for a setting, keyed by the lower-case name with `-` as `_`.
SETTING_SYNONYMS: dict[str, str] = {
    # learning_rate
    "lr": "learning_rate", "learn_rate": "learning_rate", "learningrate": "learning_rate",
    "rate": "learning_rate", "step_size": "learning_rate",
    # epochs
    "epoch": "epochs", "num_epochs": "epochs", "n_epochs": "epochs", "passes": "epochs",
    # max_steps
    "steps": "max_steps", "step": "max_steps", "num_steps": "max_steps", "n_steps": "max_steps",
    "train_steps": "max_steps", "training_steps": "max_steps", "iterations": "max_steps",
    "iters": "max_steps",
    # batch_size
    "bs": "batch_size", "batch": "batch_size", "batchsize": "batch_size", "batch_sz": "batch_size",
    "train_batch_size": "batch_size",
    # grad_accum
    "accumulation": "grad_accum", "grad_accumulation": "grad_accum", "gradient_accumulation": "grad_accum",
    "accum": "grad_accum", "accumulate": "grad_accum",
    # base_model
    "model": "base_model", "base": "base_model", "model_name": "base_model", "model_id": "base_model",
    "base_model_name": "base_model", "pretrained": "base_model",
    "hf_model": "base_model", "llm": "base_model",
    # revision
    "branch": "revision", "commit": "revision", "tag": "revision", "model_revision": "revision",
    # method
    "algorithm": "method", "algo": "method", "objective": "method", "trainer": "method",
    "training_method": "method",
    # lora and its sizes
    "peft": "lora", "use_lora": "lora", "adapter": "lora", "use_peft": "lora",
    "rank": "lora_r", "r": "lora_r", "lora_rank": "lora_r", "alpha": "lora_alpha",
    # sequence and generation lengths
    "max_len": "max_length", "max_seq_len": "max_length", "max_seq_length": "max_length",
    "seq_len": "max_length", "sequence_length": "max_length", "context_length": "max_length",
    "max_tokens": "max_new_tokens", "new_tokens": "max_new_tokens", "generation_length": "max_new_tokens",
    # precision and device
    "dtype": "precision", "torch_dtype": "precision", "fp16": "precision", "bf16": "precision",
    "fp32": "precision", "half": "precision", "mixed_precision": "precision",
    "gpu": "device", "cuda": "device", "cpu": "device", "accelerator": "device",
    # seed
    "random_seed": "seed", "rng_seed": "seed",
    # pairs and evaluation
    "num_pairs": "pairs", "n_pairs": "pairs", "pair_budget": "pairs", "budget": "pairs",
    "eval": "eval_split", "test_split": "eval_split", "holdout": "eval_split", "held_out": "eval_split",
    "validation_split": "eval_split", "val_split": "eval_split", "test_size": "eval_split",
    "num_eval_prompts": "eval_prompts",
    "strategy": "strategies", "pair_strategies": "strategies",
    # checkpoints
    "checkpoint_steps": "save_steps", "save_every": "save_steps", "checkpoint_every": "save_steps",
    # trainer.* fields people write bare
    "warmup": "trainer.warmup_steps", "warmup_ratio": "trainer.warmup_steps",
    "scheduler": "trainer.lr_scheduler_type", "lr_scheduler": "trainer.lr_scheduler_type",
    "schedule": "trainer.lr_scheduler_type", "optimizer": "trainer.optim",
    "grad_clip": "trainer.max_grad_norm", "clip": "trainer.max_grad_norm", "dropout": "lora.lora_dropout",
}


def setting_key(name: str) -> str:
    """`name` as settings are keyed: lower case, `-` written as `_`."""
    return name.lower().replace("-", "_")


def suggest_setting(name: str) -> str | None:
    """The setting (`learning_rate`, or `trainer.warmup_steps`) an unknown `name` most likely means."""
    key = setting_key(name)
    if key in SETTINGS:
        return key
    if key in SETTING_SYNONYMS:
        return SETTING_SYNONYMS[key]
    for section in ("trainer", "lora"):
        if key in SETTING_FIELDS[section]:
            return SETTING_FIELDS[section][key]
    if key in TRAINER_FIELDS:
        return f"trainer.{key}"
    if key in LORA_FIELDS:
        return f"lora.{key}"
    close = difflib.get_close_matches(key, sorted(SETTINGS), n=1, cutoff=0.7)
    return close[0] if close else None


def setting_hint(name: str) -> str | None:
    """A "did you mean" hint naming the setting `name` most likely means and what it sets, or None."""
    meant = suggest_setting(name)
    if meant is None:
        return None
    section, _, field = meant.partition(".")
    if field:
        meaning = (TRAINER_FIELDS if section == "trainer" else LORA_FIELDS)[field].help
    else:
        meaning = SETTINGS[meant].help
    return f"did you mean `{meant}`? `{meant}`: {meaning}"
