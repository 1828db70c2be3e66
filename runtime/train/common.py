"""What every training method shares: settings from the plan, device and precision, datasets.

Methods take a `TrainJob` and return a `TrainResult`; they never read the policy or the
artifact themselves, so each can be tested with a tiny model and a handful of rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from tenet.compiler.plan import TrainSettings
from tenet.runtime.train.guard import build_config, check_overrides, stay_offline

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
UNPAIRED_COLUMNS = ("prompt", "completion", "label")
NEED_COLUMN = "need"  # a pair's weight in the step sample (runtime/synthesize/need.py)
TARGETS_COLUMN = "target_rules"  # empty for contrasts, which the warm-up leaves out


@dataclass(frozen=True)
class TrainJob:
    """One training run: which model, which data, where to write, with which settings.

    `hyperparameters` is the plan's train-stage settings, typed (`tenet.compiler.plan.TrainSettings`),
    so methods read `job.hyperparameters.beta` and never cast. A plain mapping is accepted for
    scripts and tests and validated into `TrainSettings` on construction. The policy's
    `trainer.<field>` / `lora.<field>` settings ride along in `overrides`.
    """

    method: str
    model_path: str
    pairs_path: str | None
    unpaired_path: str | None
    output_dir: str
    hyperparameters: TrainSettings
    report_to: tuple[str, ...] = ()
    callbacks: tuple[Any, ...] = ()
    resume_from: str | None = None
    reward_functions: tuple[Callable[..., list[float]], ...] = ()
    prompts_path: str | None = None  # prompt-only data for online methods (grpo, rlhf)
    progress: bool = False  # the trainer's step progress bar on stderr

    def __post_init__(self) -> None:
        # Frozen: validate a mapping once here, so every method reads typed values.
        object.__setattr__(self, "hyperparameters", TrainSettings.of(self.hyperparameters))


@dataclass
class TrainResult:
    """What a method produced and how the run went."""

    output_dir: str
    global_step: int
    metrics: dict[str, float] = field(default_factory=dict)
    train_tokens: int = 0
    seconds: float = 0.0
    world_size: int = 1  # the processes that trained it together (`accelerate launch`)


def device_and_precision(device: str, precision: str) -> dict[str, Any]:
    """TrainingArguments for the device and precision settings (see runtime/device.py)."""
    from tenet.runtime.device import training_arguments

    return training_arguments(device, precision)


def base_arguments(job: TrainJob) -> dict[str, Any]:
    """The TrainingArguments fields every TRL config shares, from the job's settings."""
    hp = job.hyperparameters
    args = {
        "output_dir": job.output_dir,
        "learning_rate": hp.learning_rate,
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps,
        "per_device_train_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.grad_accum,
        "seed": hp.seed,
        "data_seed": hp.seed,
        "logging_steps": 1,
        # transformers' own reporting is off: `job_callbacks` reports to MLflow with redaction.
        "report_to": [],
        # Checkpoints every few steps so an interrupted run resumes; keep two in case the
        # newest one was cut off mid-write.
        "save_strategy": "steps",
        "save_steps": hp.save_steps,
        "save_total_limit": 2,
        "gradient_checkpointing": False,  # ~20% faster; these models fit without it
        "disable_tqdm": not job.progress,
    }
    args.update(device_and_precision(hp.device, hp.precision))
    return args


def job_callbacks(job: TrainJob) -> list[Any]:
    """The trainer callbacks of a job: its own, then MLflow reporting when `report_to` asks for it."""
    from tenet.runtime.train.reporting import reporting_callbacks

    return [*job.callbacks, *reporting_callbacks(job.report_to)]


def policy_overrides(job: TrainJob, section: str) -> dict[str, Any]:
    """The policy's `<section>.<field>` settings (`trainer` or `lora`) as `{field: value}`.

    The compiler checked each field and typed each value (compiler/passes/check_trainer_fields.py);
    they are checked again against tenet's allow-list and the installed TRL and peft
    (`tenet.runtime.train.guard.check_overrides`), since an artifact can come from anywhere. Lists
    arrive as tuples and go back to lists, which TRL and peft compare against.

    Raises:
        OverrideError: For a field tenet refuses or the installed config class does not take.
    """
    return check_overrides(job.method, job.hyperparameters.overrides)[section]


def trainer_config(config_class, job: TrainJob, **arguments: Any):
    """Build a TRL config: `base_arguments`, the method's own `arguments`, then `trainer.*` last.

    The policy's overrides win over everything tenet derives. A field `config_class` lacks is
    skipped: an rlhf override may be meant for only one of its two configs. The config is
    built and checked by `tenet.runtime.train.guard.build_config`, before any trainer exists.
    """
    names = {f.name for f in dataclasses.fields(config_class)}
    overrides = {k: v for k, v in policy_overrides(job, "trainer").items() if k in names}
    return build_config(config_class, {**base_arguments(job), **arguments}, overrides)


def lora_config(job: TrainJob):
    """A PEFT LoRA config when the plan asks for LoRA (with the policy's `lora.*` last), else None."""
    hp = job.hyperparameters
    if not hp.lora:
        return None
    from peft import LoraConfig

    defaults = dict(r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=0.0,
                    target_modules="all-linear", task_type="CAUSAL_LM")
    return build_config(LoraConfig, defaults, policy_overrides(job, "lora"))


def rows_for_steps(dataset, settings: TrainSettings | Mapping[str, Any]):
    """Only the rows `max_steps` will reach (a seeded sample), so nothing unused is prepared.

    TRL tokenizes the whole dataset and, for DPO, computes reference log-probs for every row
    before the first step; with a step cap most of that work would be thrown away. Under
    `accelerate launch` each step takes `batch_size` rows in every process. When the rows
    carry a `need` column (pairs.parquet: how often the model broke the pair's rule,
    `runtime/synthesize/need.py`), the sample is drawn with `need` as each row's weight, so
    the few steps go to the rules the model breaks; the column is dropped either way.
    """
    from tenet.runtime.device import world_size

    hp = TrainSettings.of(settings)
    needed = hp.max_steps * hp.batch_size * hp.grad_accum * world_size()
    return draw_rows(dataset, needed if hp.max_steps > 0 else 0, hp.seed)


def rows_for_warm_up(dataset, settings: TrainSettings | Mapping[str, Any]):
    """At most `sft_rows` rows for the SFT warm-up, drawn by `need` as the steps' rows are.

    The warm-up is most of a CPU cycle's training time and grows with the pairs; with a cap
    its cost stays put as synthesis finds more pairs, and the rows it leaves out are mostly
    those of the rules the model already keeps.
    """
    hp = TrainSettings.of(settings)
    return draw_rows(dataset, hp.sft_rows, hp.seed)


def draw_rows(dataset, k: int, seed: int):
    """`k` rows of `dataset` (all of them when `k` is 0 or not smaller), seeded, weighted by the
    `need` column when there is one; the column is dropped either way."""
    weighted = NEED_COLUMN in dataset.column_names
    if k <= 0 or k >= len(dataset):
        picked = dataset
    elif weighted:
        picked = dataset.select(_weighted_sample(dataset[NEED_COLUMN], k, seed))
    else:
        picked = dataset.shuffle(seed=seed).select(range(k))
    return picked.remove_columns(NEED_COLUMN) if weighted else picked


def _weighted_sample(weights: list[float], k: int, seed: int) -> list[int]:
    """`k` distinct row indices, each drawn with probability proportional to its weight (seeded)."""
    import numpy as np

    w = np.clip(np.asarray(weights, dtype=float), 1e-6, None)
    return np.random.default_rng(seed).choice(len(w), size=k, replace=False, p=w / w.sum()).tolist()


def load_step_rows(path: str | None, columns: tuple[str, ...], settings: TrainSettings | Mapping[str, Any]):
    """The `columns` of the rows `max_steps` will reach (`rows_for_steps`), from a Parquet file."""
    dataset = load_dataset_columns(path, columns, optional=(NEED_COLUMN,))
    return rows_for_steps(dataset, settings)


def load_dataset_columns(path: str | None, columns: tuple[str, ...], optional: tuple[str, ...] = ()):
    """A Hugging Face dataset from a Parquet file, keeping only the columns a trainer reads
    (and those of `optional` the file has)."""
    if path is None or not Path(path).exists():
        raise FileNotFoundError(f"training data not found: {path}")
    import datasets

    dataset = datasets.load_dataset("parquet", data_files=str(path), split="train")
    return dataset.select_columns(list(columns) + [c for c in optional if c in dataset.column_names])


def load_model_and_tokenizer(job: TrainJob):
    """The policy model (float32, as TRL loads it by path) and its tokenizer, from `job.model_path`.

    Offline unless downloads are allowed, and never with the model folder's own code.
    """
    from transformers import AutoTokenizer

    stay_offline()
    tokenizer = AutoTokenizer.from_pretrained(job.model_path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return load_causal_lm(job.model_path), tokenizer


def load_causal_lm(path: str):
    """A causal LM from a local folder (float32), never with the folder's own code: the policy
    model, or a reference model tenet hands to TRL so TRL loads none itself."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, trust_remote_code=False)


def run_and_save(trainer, tokenizer, job: TrainJob) -> TrainResult:
    """Train (resuming from `job.resume_from` when set), save to `<output_dir>/final`, summarise.

    Metrics are the last per-step log entry merged with the end-of-run summary (`train_loss`,
    `train_runtime`, ...); `train_tokens` is the trainer's cumulative `num_tokens` when it logs one.
    """
    import time

    quiet(trainer)
    start = time.monotonic()
    trainer.train(resume_from_checkpoint=job.resume_from)
    seconds = time.monotonic() - start
    final = str(Path(job.output_dir) / "final")
    save_final(trainer, tokenizer, final)
    metrics: dict[str, float] = {}
    train_tokens = 0
    for entry in trainer.state.log_history:
        numeric = {k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics.update(numeric)
        if "num_tokens" in numeric:
            train_tokens = int(numeric["num_tokens"])
    return TrainResult(output_dir=final, global_step=int(trainer.state.global_step), metrics=metrics,
                       train_tokens=train_tokens, seconds=seconds,
                       world_size=trainer.accelerator.num_processes)


def save_final(trainer, tokenizer, folder: str) -> None:
    """Save the trained model (a PEFT model: its adapter) and tokenizer; return once they are on disk.

    Under `accelerate launch` only the main process writes (two writers would clash), and every
    process waits for it, so none reads the folder before it is complete.
    """
    trainer.save_model(folder)  # writes from the main process only
    if trainer.args.should_save:
        tokenizer.save_pretrained(folder)
    trainer.accelerator.wait_for_everyone()


def quiet(trainer) -> None:
    """Keep the trainer's per-step log dicts off stdout: they go to MLflow, and stdout is the CLI's."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


_WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def last_valid_checkpoint(output_dir: str | Path) -> str | None:
    """The newest `checkpoint-N` that is complete, or None.

    transformers writes checkpoints in place and `resume_from_checkpoint=True` takes the
    highest N without checking it; a run killed mid-save leaves a partial folder. A valid
    one has weights, optimizer and scheduler state, a readable `trainer_state.json`, and no
    `checkpoint-is-incomplete.txt` sentinel.
    """
    import json
    import re

    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = sorted(((int(m.group(1)), p) for p in folder.iterdir()
                    if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name))), reverse=True)
    for _, path in steps:
        if (path / "checkpoint-is-incomplete.txt").exists():
            continue
        if not any((path / w).exists() for w in _WEIGHTS):
            continue
        if not (path / "optimizer.pt").exists() or not (path / "scheduler.pt").exists():
            continue
        try:
            state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and "global_step" in state:
            return str(path)
    return None
