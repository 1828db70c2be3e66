"""Supervised warm-up: fine-tune on the chosen sides before the preference method runs.

Every chosen side has passed the pair gates (it follows the rule it targets, the polish made it
follow every other rule it could, and it reads as a whole answer), so imitating them is the
most direct way to teach a small model the policy's form: an opener, a length, bullet items.
The preference method then starts from the warmed-up model, which is also its reference, as in
the SFT-then-DPO recipe. With LoRA, the warm-up adapter is merged into a full checkpoint so the
method can train its own adapter on top.

The merged model is written to a temporary folder and renamed into place, so an interrupted
cycle either finds a complete warm-up to continue from or runs it again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from tenet.runtime.train.common import TrainJob, base_arguments, lora_config, load_model_and_tokenizer, quiet
from tenet.runtime.train.guard import build_config

DONE = ".tenet-warmup-complete"


def warm_up(job: TrainJob, epochs: float) -> str:
    """Train `epochs` of SFT on the job's chosen sides; return the merged model's folder."""
    folder = Path(job.output_dir) / "warmup"
    if (folder / DONE).exists():
        return str(folder)  # an earlier, interrupted run of this cycle finished its warm-up
    from trl import SFTConfig, SFTTrainer

    hp = job.hyperparameters
    args = base_arguments(replace(job, output_dir=str(Path(job.output_dir) / "warmup-run")))
    args.update(num_train_epochs=epochs, max_steps=-1, save_strategy="no",
                per_device_train_batch_size=hp.batch_size * 2,
                # the method's trainer logs this run's params; a second trainer logging other
                # values for the same keys is an MLflow error, so the warm-up reports nothing
                report_to=[])
    config = build_config(SFTConfig, {**args, "max_length": hp.max_length}, {})
    model, tokenizer = load_model_and_tokenizer(job)
    trainer = SFTTrainer(model=model, args=config,
                         train_dataset=chosen_sides(job), processing_class=tokenizer,
                         peft_config=lora_config(job), callbacks=list(job.callbacks))
    quiet(trainer)
    trainer.train()
    trained = trainer.model.merge_and_unload() if lora_config(job) is not None else trainer.model
    # Under `accelerate launch` every process trained the warm-up together (DDP); the main
    # process writes it once, and the others wait to load it (runtime/scale.py).
    if trainer.args.should_save:
        _save_atomically(trained, tokenizer, folder)
    trainer.accelerator.wait_for_everyone()
    return str(folder)


def chosen_sides(job: TrainJob):
    """Prompt/completion rows: the rule pairs' chosen sides, or the good unpaired rows for KTO
    (at most `sft_rows` of them, drawn by need: `rows_for_warm_up`).

    Contrasts (no target rule) are left out: their chosen side is a rule pair's chosen side
    again (on the safety, brand and demo policies, every one of them), so in the warm-up they
    only train some answers twice. A contrast teaches by its rejected side, which only the
    preference steps see.
    """
    from tenet.runtime.train.common import (NEED_COLUMN, PAIR_COLUMNS, TARGETS_COLUMN, UNPAIRED_COLUMNS,
                                      load_dataset_columns, rows_for_warm_up)

    if job.method == "kto":
        rows = load_dataset_columns(job.unpaired_path, UNPAIRED_COLUMNS).filter(lambda r: bool(r["label"]))
        return rows_for_warm_up(rows.select_columns(["prompt", "completion"]), job.hyperparameters)
    pairs = load_dataset_columns(job.pairs_path, PAIR_COLUMNS, optional=(NEED_COLUMN, TARGETS_COLUMN))
    if TARGETS_COLUMN in pairs.column_names:
        rule_pairs = pairs.filter(lambda r: len(r[TARGETS_COLUMN]) > 0)
        pairs = (rule_pairs if len(rule_pairs) else pairs).remove_columns(TARGETS_COLUMN)
    pairs = rows_for_warm_up(pairs, job.hyperparameters)
    return pairs.map(lambda r: {"prompt": r["prompt"], "completion": r["chosen"]},
                     remove_columns=pairs.column_names)


def _save_atomically(model, tokenizer, folder: Path) -> None:
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / DONE).write_text("complete\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
