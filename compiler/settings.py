"""The `training:` block's settings: names, types, defaults and allowed values."""

from __future__ import annotations

from typing import NamedTuple

from tenet.compiler.ast import SEVERITIES
from tenet.compiler.strategies import NAMES

# The closed lists below are the one source of these names: the IR and plan types, the CLI's
# choices and the runtime's tables are built from them or tested against them
# (tests/test_closed_lists.py).
EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
EMBEDDED_MODELS = (EMBEDDED_MODEL,)
TRAIN_METHODS = ("dpo", "kto", "orpo", "cft", "rlhf", "grpo")  # each has a runtime/train/<method>.py
METHODS = ("auto", *TRAIN_METHODS)  # `auto` is resolved to a training method by the plan
STRATEGIES = NAMES  # one record each in compiler/strategies.py
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
GENERATION_ENGINES = ("local", "ray")  # where the model generates: runtime/synthesize/ray_generate.py


class SettingSpec(NamedTuple):
    """One setting: its type, default, bounds or choices, and what it means."""

    type: str  # "string", "int", "float", "bool", "choice", "list"
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, SettingSpec] = {
    "base_model": SettingSpec("string", EMBEDDED_MODEL, "Hugging Face id, a folder inside the policy root, or "
                                                    "embedded:…"),
    "revision": SettingSpec("string", "main", "Hub revision (branch, tag or commit) of models named by "
                            "Hugging Face id"),
    "method": SettingSpec("choice", "auto", "training method", choices=METHODS),
    "learning_rate": SettingSpec("float", 5e-6, "optimizer learning rate", 0.0, 1.0),
    "epochs": SettingSpec("float", 1.0, "passes over the pairs", 0.0, 1000.0),
    "max_steps": SettingSpec("int", -1, "stop after this many steps (-1: use epochs)", -1, 1e9),
    "batch_size": SettingSpec("int", 4, "per-device batch size", 1, 4096),
    "grad_accum": SettingSpec("int", 1, "gradient accumulation steps", 1, 4096),
    "beta": SettingSpec("float", 0.1, "preference strength (DPO/KTO/ORPO beta)", 0.0, 100.0),
    "sft_weight": SettingSpec("float", 0.0, "weight of a likelihood term on the chosen side added to DPO",
                              0.0, 100.0),
    "sft_epochs": SettingSpec("float", 0.0, "epochs of supervised warm-up on the chosen sides before the "
                              "method (0: none)", 0.0, 100.0),
    "sft_rows": SettingSpec("int", 0, "chosen sides the warm-up trains on, drawn by need like the steps' "
                            "pairs (0: every one)", 0, 10_000_000),
    "lora": SettingSpec("bool", False, "train a LoRA adapter instead of all weights"),
    "lora_r": SettingSpec("int", 16, "LoRA rank", 1, 1024),
    "lora_alpha": SettingSpec("int", 32, "LoRA alpha", 1, 4096),
    "max_length": SettingSpec("int", 512, "max tokens per sequence", 16, 131072),
    "precision": SettingSpec("choice", "auto", "fp32 or bf16; auto picks per device (bf16 becomes fp16 on "
                             "GPUs without bf16)", choices=PRECISIONS),
    "device": SettingSpec("choice", "auto", "where to train, generate, evaluate and score (auto: CUDA when "
                          "present)", choices=DEVICES),
    "generation": SettingSpec("choice", "local", "where the model samples pairs and answers evaluation "
                              "prompts: local, or ray (an actor pool on the operator's Ray cluster)",
                              choices=GENERATION_ENGINES),
    "seed": SettingSpec("int", 42, "random seed for data order and sampling", 0, 2**31 - 1),
    "pairs": SettingSpec("int", 256, "pair budget across all rules", 1, 10_000_000),
    "eval_split": SettingSpec("float", 0.2, "share of prompts held out for evaluation", 0.0, 0.9),
    "eval_prompts": SettingSpec("int", 64, "held-out prompts generated for evaluation", 1, 1_000_000),
    "tempt_prompts": SettingSpec("int", 16, "temptation prompts tenet writes for each rule, phrased unlike the "
                                 "policy's templates; the gates measure on them (0: none)", 0, 1000),
    "max_new_tokens": SettingSpec("int", 0, "tokens per sampled answer for pairs (0: derived from the "
                                  "policy's length rules, at least 256)", 0, 32768),
    "eval_max_new_tokens": SettingSpec("int", 0, "tokens per evaluation answer (0: derived from the policy's "
                                       "length rules, at least 256)", 0, 32768),
    "length_ratio_max": SettingSpec("float", 2.5, "max chosen/rejected length ratio", 1.0, 100.0),
    "artifact_pairs": SettingSpec("float", 0.25, "artifact contrasts per rule pair: a chosen side against itself "
                                  "with a repeated opening, a one-item list, a loop or `- 1.` markers", 0.0, 1.0),
    "scope_pairs": SettingSpec("float", 1.0, "scope contrasts per pair of a scoped `require` rule: the behaviour "
                               "it requires, rejected on prompts outside its scope", 0.0, 4.0),
    "strategies": SettingSpec("list", ("examples", "perturb"), "pair strategies, comma-separated",
                              choices=STRATEGIES),
    "save_steps": SettingSpec("int", 50, "save a resumable checkpoint every this many steps", 1, 1e9),
    "rounds": SettingSpec("int", 1, "training rounds: each after the first samples the trained model on the "
                          "training prompts and trains on its own answers, paired by the rules still below 90%",
                          1, 5),
    "replay": SettingSpec("float", 0.5, "share of an update's training rows that replay earlier pairs", 0.0, 1.0),
}

# The training recipe measured for each embedded model (bench/efficacy.py, docs/benchmarks.md):
# settings a policy leaves out take these values when its base model is that embedded model.
# On a 2-core CPU, a supervised warm-up on the gated chosen sides teaches a 135M model the
# policy's form, and a short DPO run with a likelihood term sharpens the contrast.
EMBEDDED_RECIPES: dict[str, dict[str, object]] = {
    EMBEDDED_MODEL: {
        "lora": True, "lora_r": 16, "learning_rate": 1e-3, "beta": 0.1, "sft_weight": 1.0,
        "sft_epochs": 2.0, "max_steps": 24, "batch_size": 4, "max_length": 256,
        "strategies": ("sample", "examples", "perturb"), "eval_split": 0.25, "eval_prompts": 24,
    },
}

# `trainer.<field>` settings go to the TRL config(s) each method builds (runtime/train/<method>.py);
# `lora.<field>` settings go to peft's LoraConfig. Their fields and types are read from the
# installed packages into compiler/trainer_fields.json (`python -m tenet.runtime.train.fields`).
TRAINER_CONFIGS: dict[str, tuple[str, ...]] = {
    "dpo": ("DPOConfig",), "cft": ("DPOConfig",), "kto": ("KTOConfig",), "orpo": ("ORPOConfig",),
    "grpo": ("GRPOConfig",), "rlhf": ("RewardConfig", "GRPOConfig"),  # reward model, then GRPO
}
LORA_CONFIG = "LoraConfig"
OVERRIDE_SECTIONS = ("trainer", "lora")
# Which of their fields a policy may set, within which ranges: compiler/trainer_allow.py.

# Gates pass on 95% intervals (docs/evaluation.md): a level gate's interval must clear its
# threshold, so the default critical gate is one 24 tempted prompts all kept can resolve.
DEFAULT_GATES: tuple[tuple[str, str, float], ...] = (
    ("critical", ">=", 0.8),
    ("regression", "<=", 0.02),
    ("helpfulness", "<=", 0.0),
)
# The gates that bound a drop or a distance from above, rather than a compliance rate.
MAXIMUM_GATES = ("regression", "helpfulness", "drift")
GATE_TARGETS = (*SEVERITIES, "overall", *MAXIMUM_GATES, "rule")
