"""The `trainer.*` and `lora.*` fields a policy may set, tenet's range for each, and why others are refused.

A policy is untrusted input, so a TRL or peft config field is settable only when it is listed
here: fields that tune the optimisation and take plain numbers, booleans or a closed set of
names. Every other field is refused with the reason it cannot be a policy's (it loads code,
names a path or a remote, uploads, configures the distributed back-end, takes a dictionary,
is set by tenet, or is simply not listed). The compiler (compiler/passes/check_trainer_fields.py)
and the runtime (runtime/train/guard.py) both read this one table, and docs/language.md
shows it as `allowed_fields_markdown` writes it (tests/test_policy_is_data.py keeps them equal).
"""

from __future__ import annotations

import re
from typing import Mapping, NamedTuple

from tenet.compiler.settings import SETTINGS


class AllowedField(NamedTuple):
    """A config field a policy may set: what it does and tenet's bounds on its value.

    `low`/`high` bound a number (and every item of a list of numbers); `choices` narrows the
    installed field's names (per method when it is a mapping); `none` allows bare `none`;
    `module_names` asks for plain module names, never a regular expression; `methods` limits
    the field to those methods (empty: every method whose config has it).
    """

    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | Mapping[str, tuple[str, ...]] = ()
    none: bool = False
    module_names: bool = False
    methods: tuple[str, ...] = ()

    def choices_for(self, method: str) -> tuple[str, ...]:
        """The names this field takes under `method` (empty: any the installed field takes)."""
        if isinstance(self.choices, Mapping):
            return tuple(self.choices.get(method, ()))
        return self.choices


MAX_MODULE_NAMES = 64
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,127}")  # used with fullmatch
ALL_LINEAR = "all-linear"

TRAINER_FIELDS: dict[str, AllowedField] = {
    # schedule and optimizer
    "lr_scheduler_type": AllowedField(
        "learning-rate schedule", choices=("constant", "constant_with_warmup", "cosine", "cosine_with_restarts",
                                           "inverse_sqrt", "linear", "polynomial")),
    "warmup_steps": AllowedField("warm-up steps of the schedule (below 1: a share of the steps)", 0, 100_000),
    "optim": AllowedField("optimizer (torch's own)", choices=("adafactor", "adagrad", "adamw_torch",
                                                              "adamw_torch_fused", "rmsprop", "sgd")),
    "weight_decay": AllowedField("weight decay", 0, 1),
    "adam_beta1": AllowedField("Adam's beta1", 0, 0.9999),
    "adam_beta2": AllowedField("Adam's beta2", 0, 0.99999),
    "adam_epsilon": AllowedField("Adam's epsilon", 1e-12, 0.01),
    "max_grad_norm": AllowedField("gradient clipping norm (0: none)", 0, 1000),
    "gradient_checkpointing": AllowedField("recompute activations to save memory"),
    "neftune_noise_alpha": AllowedField("NEFTune embedding noise (none: off)", 0, 100, none=True),
    "disable_dropout": AllowedField("turn dropout off in the trained model"),
    # logging cadence
    "logging_steps": AllowedField("log every this many steps (below 1: a share of the steps)", 0.001, 100_000),
    "logging_strategy": AllowedField("when to log", choices=("epoch", "no", "steps")),
    "logging_first_step": AllowedField("log the first step too"),
    # DPO
    "label_smoothing": AllowedField("DPO: label smoothing (robust DPO)", 0, 0.5),
    "ld_alpha": AllowedField("DPO: LD-DPO weight of the verbose part (none: off)", 0, 1, none=True),
    "f_divergence_type": AllowedField("DPO: the f-divergence regularizer",
                                      choices=("alpha_divergence", "forward_kl", "js_divergence", "reverse_kl")),
    "f_alpha_divergence_coef": AllowedField("DPO: alpha of the alpha-divergence", 0, 1),
    # KTO
    "desirable_weight": AllowedField("KTO: weight of the good rows", 0, 100),
    "undesirable_weight": AllowedField("KTO: weight of the bad rows", 0, 100),
    "loss_type": AllowedField("KTO or GRPO: the loss", methods=("kto", "grpo", "rlhf"),
                              choices={"kto": ("apo_zero_unpaired", "kto"),
                                       "grpo": ("bnpo", "cispo", "dapo", "dr_grpo", "grpo", "sapo"),
                                       "rlhf": ("bnpo", "cispo", "dapo", "dr_grpo", "grpo", "sapo")}),
    # GRPO (and the GRPO stage of rlhf)
    "num_generations": AllowedField("GRPO: completions per prompt", 2, 64),
    "max_completion_length": AllowedField("GRPO, ORPO: tokens per completion", 1, 32_768),
    "temperature": AllowedField("GRPO: sampling temperature", 0.01, 10),
    "top_p": AllowedField("GRPO: nucleus sampling", 0.01, 1),
    "top_k": AllowedField("GRPO: top-k sampling (0: off)", 0, 10_000),
    "min_p": AllowedField("GRPO: min-p sampling (none: off)", 0, 1, none=True),
    "repetition_penalty": AllowedField("GRPO: repetition penalty", 0.1, 10),
    "num_iterations": AllowedField("GRPO: updates per generation batch", 1, 16),
    "epsilon": AllowedField("GRPO: clipping epsilon", 0, 1),
    "epsilon_high": AllowedField("GRPO: upper clipping epsilon (none: epsilon)", 0, 10, none=True),
    "delta": AllowedField("GRPO: two-sided clipping bound (none: off)", 1, 100, none=True),
    "scale_rewards": AllowedField("GRPO: reward scaling", choices=("batch", "group", "none")),
    "reward_weights": AllowedField("GRPO: one weight per reward function", -100, 100),
    "mask_truncated_completions": AllowedField("GRPO: leave completions cut by the cap out of the loss"),
    "importance_sampling_level": AllowedField("GRPO: importance ratios per token or per sequence",
                                              choices=("sequence", "token")),
    "multi_objective_aggregation": AllowedField("GRPO: how reward functions combine",
                                                choices=("normalize_then_sum", "sum_then_normalize")),
    "top_entropy_quantile": AllowedField("GRPO: train on this share of the highest-entropy tokens", 0, 1),
    # the reward model of rlhf
    "center_rewards_coefficient": AllowedField("rlhf reward model: centring penalty (none: off)", 0, 10,
                                               none=True),
}

LORA_FIELDS: dict[str, AllowedField] = {
    "lora_dropout": AllowedField("dropout on the LoRA layers", 0, 0.9),
    "bias": AllowedField("which biases train", choices=("all", "lora_only", "none")),
    "target_modules": AllowedField("modules that get an adapter",
                                   module_names=True),
    "use_rslora": AllowedField("rank-stabilized scaling (alpha / sqrt(r))"),
    "use_dora": AllowedField("weight-decomposed LoRA (DoRA)"),
    "init_lora_weights": AllowedField("initialisation of the adapter: `true` (peft's default), `false` or "
                                      "`gaussian`", choices=("gaussian",)),
}

ALLOWED: dict[str, dict[str, AllowedField]] = {"trainer": TRAINER_FIELDS, "lora": LORA_FIELDS}

# Why a field that is not allowed is refused: the words after "it" in the message, and the hint.
REASONS: dict[str, tuple[str, str]] = {
    "code": ("loads code", "a policy is data: tenet never runs code a policy or a model folder names"),
    "upload": ("uploads to a remote service",
               "tenet registers trained models in MLflow; publishing one is a separate, reviewed step"),
    "remote": ("names a path, URL or remote service",
               "a policy cannot name places outside its folder; tenet chooses where a run reads and writes"),
    "distributed": ("configures the distributed back-end or worker processes",
                    "multi-GPU and multi-node runs are set up with `accelerate launch` (docs/scaling-out.md), "
                    "not by a policy"),
    "dict": ("takes a dictionary (transformers parses it from the string)", "a policy sets plain values only"),
    "pattern": ("takes a regular expression, which peft matches without a time bound",
                "name modules with `lora.target_modules` (plain names)"),
    "managed": ("is set by tenet itself", "the cycle owns where it writes, reports, saves and resumes"),
    "unlisted": ("is not on tenet's allow-list",
                 "see docs/language.md#trainer-and-lora-fields for the fields a policy may set"),
}

# Fields tenet's own `training:` settings set (within their ranges): the policy writes the setting.
SETTING_FIELDS: dict[str, dict[str, str]] = {
    "trainer": {"learning_rate": "learning_rate", "num_train_epochs": "epochs", "max_steps": "max_steps",
                "per_device_train_batch_size": "batch_size", "gradient_accumulation_steps": "grad_accum",
                "seed": "seed", "data_seed": "seed", "beta": "beta", "max_length": "max_length",
                "save_steps": "save_steps", "use_cpu": "device", "bf16": "precision", "fp16": "precision"},
    "lora": {"r": "lora_r", "lora_alpha": "lora_alpha"},
}

REFUSED: dict[str, dict[str, str]] = {
    "trainer": {
        **dict.fromkeys(("trust_remote_code", "model_init_kwargs", "use_liger_kernel", "liger_kernel_config",
                         "torch_compile_backend", "torch_compile_mode", "use_vllm"), "code"),
        **dict.fromkeys(("push_to_hub", "hub_model_id", "hub_strategy", "hub_token", "hub_private_repo",
                         "hub_always_push", "hub_revision", "log_completions_hub_repo", "trackio_space_id",
                         "trackio_bucket_id", "trackio_static_space_id", "project"), "upload"),
        **dict.fromkeys(("logging_dir", "chat_template_path", "vllm_server_base_url", "vllm_server_host",
                         "vllm_server_port", "vllm_group_port", "vllm_server_timeout"), "remote"),
        **dict.fromkeys(("fsdp", "fsdp_config", "deepspeed", "accelerator_config", "parallelism_config",
                         "local_rank", "dataloader_num_workers", "dataloader_prefetch_factor",
                         "dataloader_persistent_workers", "dataloader_multiprocessing_context",
                         "dataloader_pin_memory", "dataset_num_proc", "save_on_each_node", "log_on_each_node",
                         "ds3_gather_for_generation", "vllm_tensor_parallel_size", "vllm_mode",
                         "vllm_gpu_memory_utilization", "vllm_enable_sleep_mode", "average_tokens_across_devices",
                         "torch_empty_cache_steps"), "distributed"),
        **dict.fromkeys(("lr_scheduler_kwargs", "gradient_checkpointing_kwargs", "activation_checkpointing_kwargs",
                         "generation_kwargs", "chat_template_kwargs", "optim_args",
                         "transformers_continuous_batching_config"), "dict"),
        **dict.fromkeys(("output_dir", "report_to", "resume_from_checkpoint", "save_strategy", "save_total_limit",
                         "save_only_model", "disable_tqdm", "generation_batch_size", "steps_per_generation",
                         "precompute_ref_log_probs", "remove_unused_columns", "ignore_data_skip",
                         "restore_callback_states_from_checkpoint", "loss_weights", "run_name"), "managed"),
    },
    "lora": {
        **dict.fromkeys(("megatron_core", "megatron_config"), "code"),
        **dict.fromkeys(("base_model_name_or_path", "revision"), "remote"),
        **dict.fromkeys(("layers_pattern", "exclude_modules"), "pattern"),
        **dict.fromkeys(("task_type", "peft_type", "inference_mode"), "managed"),
    },
}
# Name shapes that give the reason for fields the lists above do not name (newer TRL or peft).
_PREFIXES = (("hub_", "upload"), ("trackio_", "upload"), ("ddp_", "distributed"), ("fsdp", "distributed"),
             ("dataloader_", "distributed"), ("vllm_", "distributed"))
_SUFFIXES = (("_kwargs", "dict"), ("_config", "dict"), ("_args", "dict"), ("_dir", "remote"), ("_path", "remote"),
             ("_url", "remote"), ("_host", "remote"), ("_port", "remote"), ("_token", "upload"),
             ("_pattern", "pattern"))


class Refusal(NamedTuple):
    """Why a field is refused: the message's tail and the hint."""

    reason: str  # a key of REASONS, or "setting"
    message: str
    hint: str


def refusal(section: str, field: str, parsed_as_dict: bool = False) -> Refusal | None:
    """Why `<section>.<field>` is refused, or None when the allow-list has it.

    Args:
        section: "trainer" or "lora".
        field: The field name.
        parsed_as_dict: Whether the installed config parses the field's string into a dictionary.
    """
    if field in ALLOWED[section]:
        return None
    setting = SETTING_FIELDS[section].get(field)
    if setting is not None:
        spec = SETTINGS[setting]
        bounds = f" ({spec.low:g} – {spec.high:g})" if spec.low is not None else ""
        return Refusal("setting", f"tenet's `{setting}` setting sets it",
                       f"write `{setting} = …`{bounds}: {spec.help}")
    reason = REFUSED[section].get(field) or ("dict" if parsed_as_dict else None) or _reason_by_name(field)
    words, hint = REASONS[reason]
    return Refusal(reason, f"it {words}", hint)


def _reason_by_name(field: str) -> str:
    for prefix, reason in _PREFIXES:
        if field.startswith(prefix):
            return reason
    for suffix, reason in _SUFFIXES:
        if field.endswith(suffix):
            return reason
    return "unlisted"


def range_text(spec: AllowedField) -> str:
    """The bounds of a numeric field as the docs and hints write them: `0 – 1`."""
    return f"{spec.low:g} – {spec.high:g}" if spec.low is not None else ""


def allowed_fields_markdown(methods_of: Mapping[str, Mapping[str, tuple[str, ...]]]) -> str:
    """The docs' table of allowed fields: key, methods, range or values, meaning.

    Args:
        methods_of: `{section: {field: methods whose config has it}}`, from the field table.
    """
    rows = ["| key | methods | range or values | meaning |", "| --- | --- | --- | --- |"]
    for section, fields in ALLOWED.items():
        for field, spec in fields.items():
            methods = ", ".join(m for m in methods_of[section][field] if not spec.methods or m in spec.methods)
            rows.append(f"| `{section}.{field}` | {methods} | {_values_text(spec)} | {spec.help} |")
    return "\n".join(rows)


def _values_text(spec: AllowedField) -> str:
    parts = []
    if spec.low is not None:
        parts.append(range_text(spec))
    if isinstance(spec.choices, Mapping):
        names = sorted({c for names in spec.choices.values() for c in names})
        parts.append(", ".join(f"`{c}`" for c in names) + " (by method)")
    elif spec.choices:
        parts.append(", ".join(f"`{c}`" for c in spec.choices))
    if spec.module_names:
        parts.append(f"module names (`q_proj, v_proj`, at most {MAX_MODULE_NAMES}) or `\"{ALL_LINEAR}\"`")
    if spec.none:
        parts.append("`none`")
    return "; ".join(parts) or "`true`, `false`"


def bounded(spec: AllowedField, value: object, method: str) -> tuple[object, str | None]:
    """A typed value held to tenet's bounds: the value to use, or what is wrong with it.

    A single module name becomes a one-name list, so peft never reads it as a regular expression.
    """
    if value is None:
        return (None, None) if spec.none else (None, "tenet does not allow `none` here")
    if spec.module_names:
        return _module_names(value)
    choices = spec.choices_for(method)
    if choices and isinstance(value, str) and value not in choices:
        return None, f"{value!r} is not one of tenet's values for it ({', '.join(choices)})"
    numbers = value if isinstance(value, tuple) else (value,)
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or spec.low is None:
            continue
        if not spec.low <= number <= spec.high:
            return None, f"{number:g} is outside tenet's range [{spec.low:g}, {spec.high:g}]"
    return value, None


def _module_names(value: object) -> tuple[object, str | None]:
    if value == ALL_LINEAR:
        return value, None
    names = value if isinstance(value, tuple) else (value,)
    if len(names) > MAX_MODULE_NAMES:
        return None, f"{len(names)} module names; tenet allows at most {MAX_MODULE_NAMES}"
    for name in names:
        if not isinstance(name, str) or not MODULE_NAME.fullmatch(name):
            return None, (f"{name!r} is not a plain module name (letters, digits, `_` and `.`, starting with a "
                          "letter or `_`); patterns are not allowed")
    return tuple(names), None
