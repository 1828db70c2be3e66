"""The last check before a trainer exists: the TRL and peft configs hold only what tenet allows.

The compiler already refuses a policy's `trainer.*` / `lora.*` field that is not on tenet's
allow-list (compiler/trainer_allow.py). An artifact is a file anyone can hand over, and the
installed TRL may differ from the one the compiler read, so the runtime checks again, here,
before any config is built:

- each override is on the allow-list, within tenet's bounds, and a field of the installed
  config class with a value of its type (`check_overrides`), else `OverrideError` names the
  field and the installed version;
- a config gets only the fields tenet's own code sets (`TENET_FIELDS`) plus allowed overrides;
- the built config uploads nothing, loads no remote code and names no remote (`SAFE_VALUES`).

Training also keeps the Hugging Face libraries offline unless downloads are allowed (`stay_offline`).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from importlib.metadata import version
from typing import Any, Iterable, Mapping

from tenet.compiler.errors import ExitCode, TenetError
from tenet.compiler.ir import OverrideValue
from tenet.compiler.passes.check_trainer_fields import FIELDS_FILE, config_names
from tenet.compiler.settings import LORA_CONFIG, OVERRIDE_SECTIONS
from tenet.compiler.trainer_allow import ALL_LINEAR, ALLOWED, bounded, refusal

# Every field tenet's runtime/train code passes to a TRL config: `base_arguments` and the
# device fields (runtime/train/common.py), then each method's own (dpo, cft, kto, orpo, grpo,
# rlhf, warmup). tests/test_policy_is_data.py checks `base_arguments` against it.
TENET_FIELDS = frozenset({
    "output_dir", "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "seed", "data_seed", "logging_steps", "report_to", "save_strategy",
    "save_steps", "save_total_limit", "gradient_checkpointing", "disable_tqdm", "use_cpu", "bf16", "fp16",
    "beta", "max_length", "precompute_ref_log_probs", "loss_type", "loss_weights", "remove_unused_columns",
    "generation_batch_size", "num_generations", "max_completion_length", "temperature", "reward_weights",
})
# What tenet's LoraConfig gets besides the policy's allowed `lora.*` fields.
TENET_LORA_FIELDS = frozenset({"r", "lora_alpha", "lora_dropout", "target_modules", "task_type"})

# Values a built config must hold, whatever set them: nothing uploads, loads remote code,
# names a remote or starts worker processes. A field the installed class lacks is skipped.
SAFE_VALUES: dict[str, object] = {
    "push_to_hub": False, "hub_token": None, "hub_model_id": None, "hub_always_push": False,
    "hub_revision": None, "trust_remote_code": False, "model_init_kwargs": None, "deepspeed": None,
    "fsdp_config": None, "parallelism_config": None, "use_liger_kernel": False, "use_vllm": False,
    "vllm_server_base_url": None, "log_completions_hub_repo": None, "resume_from_checkpoint": None,
    "torch_compile_backend": None, "trackio_space_id": None, "trackio_bucket_id": None,
    "lr_scheduler_kwargs": None, "optim_args": None, "generation_kwargs": None, "chat_template_kwargs": None,
    "chat_template_path": None, "dataloader_num_workers": 0, "run_name": None,
}
SAFE_LORA_VALUES: dict[str, object] = {
    "layers_pattern": None, "exclude_modules": None, "modules_to_save": None, "megatron_config": None,
    "megatron_core": "megatron.core", "base_model_name_or_path": None, "revision": None,
}
REPORT_TO = frozenset({"mlflow"})
_PACKAGE = {"LoraConfig": "peft"}  # every other config class is TRL's


class OverrideError(TenetError):
    """A `trainer.*` / `lora.*` setting or a built config that tenet refuses to train with."""

    exit_code = ExitCode.POLICY


class InstalledMismatch(OverrideError):
    """An allowed override the installed TRL or peft does not take (another version than the compiler read)."""

    exit_code = ExitCode.USAGE


def check_overrides(method: str, overrides: Iterable[tuple[str, OverrideValue]]) -> dict[str, dict[str, Any]]:
    """The overrides as `{section: {field: value}}`, checked against tenet's allow-list and the installed configs.

    Raises:
        OverrideError: For a field tenet refuses or a value outside tenet's bounds.
        InstalledMismatch: For a field the installed config class lacks, or a value of a type it does not take.
    """
    checked: dict[str, dict[str, Any]] = {section: {} for section in OVERRIDE_SECTIONS}
    for key, value in overrides:
        section, _, field = key.partition(".")
        if section not in OVERRIDE_SECTIONS or not field or "." in field:
            raise OverrideError(f"`{key}` is not a `trainer.` or `lora.` setting")
        refused = refusal(section, field)
        if refused is not None:
            raise OverrideError(f"`{key}` is refused: {refused.message}; {refused.hint}")
        allowed = ALLOWED[section][field]
        if allowed.methods and method not in allowed.methods:
            raise OverrideError(f"`{key}` is refused for method {method}: tenet allows it only for "
                                f"{', '.join(allowed.methods)}")
        value, problem = bounded(allowed, value, method)
        if problem is not None:
            raise OverrideError(f"`{key}`: {problem}")
        _check_installed(key, field, value, config_names(section, method))
        checked[section][field] = list(value) if isinstance(value, tuple) else value
    return checked


def build_config(config_class: type, tenet: Mapping[str, Any], overrides: Mapping[str, Any]):
    """`config_class(**tenet, **overrides)`, refused unless every field is tenet's or an allowed override
    and the result is safe (`SAFE_VALUES`); the overrides win.

    Raises:
        OverrideError: For a field neither tenet nor the allow-list sets, an unsafe value, or a
            config the installed TRL refuses to build from the overrides.
    """
    lora = config_class.__name__ == LORA_CONFIG
    own, allowed = (TENET_LORA_FIELDS, ALLOWED["lora"]) if lora else (TENET_FIELDS, ALLOWED["trainer"])
    unknown = sorted((set(tenet) - own) | (set(overrides) - set(allowed)))
    if unknown:
        raise OverrideError(f"{config_class.__name__} would get {', '.join(unknown)}, which neither tenet's "
                            "training code nor its allow-list sets")
    try:
        config = config_class(**{**tenet, **overrides})
    except (TypeError, ValueError) as exc:
        if not overrides:
            raise
        raise InstalledMismatch(
            f"{_package_text(config_class.__name__)} refused {config_class.__name__} with the policy's settings "
            f"{', '.join(sorted(overrides))}: {exc}") from exc
    check_safe(config)
    return config


def check_safe(config: object) -> None:
    """Refuse a built config that uploads, loads remote code, names a remote or reports elsewhere.

    Raises:
        OverrideError: Naming every unsafe field and its value.
    """
    lora = type(config).__name__ == LORA_CONFIG
    wanted = SAFE_LORA_VALUES if lora else SAFE_VALUES
    unsafe = [f"{name}={getattr(config, name)!r}" for name, expected in wanted.items()
              if hasattr(config, name) and getattr(config, name) != expected]
    if lora:
        modules = getattr(config, "target_modules", None)
        if isinstance(modules, str) and modules != ALL_LINEAR:  # peft reads a string as a regular expression
            unsafe.append(f"target_modules={modules!r}")
    else:
        if getattr(config, "fsdp", None):
            unsafe.append(f"fsdp={config.fsdp!r}")
        reports = set(getattr(config, "report_to", None) or ())
        if not reports <= REPORT_TO:
            unsafe.append(f"report_to={sorted(reports)!r}")
    if unsafe:
        raise OverrideError(f"tenet refuses to train with {type(config).__name__}: {', '.join(unsafe)} "
                            "(a config may not upload, load remote code, name a remote or start workers)")


def stay_offline() -> None:
    """Keep the Hugging Face libraries offline unless downloads are allowed (TENET_ALLOW_DOWNLOADS=1).

    The libraries read `HF_HUB_OFFLINE` once, at import, so the flag is also set on those already imported.
    """
    from tenet.runtime.hub import downloads_allowed

    if downloads_allowed():
        return
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    for module in ("huggingface_hub.constants", "datasets.config"):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, "HF_HUB_OFFLINE"):
            loaded.HF_HUB_OFFLINE = True


def _check_installed(key: str, field: str, value: object, names: tuple[str, ...]) -> None:
    """Raise `InstalledMismatch` unless one of the installed classes `names` has `field` taking `value`."""
    specs = [installed_fields(name).get(field) for name in names]
    present = [(name, spec) for name, spec in zip(names, specs) if spec is not None]
    if not present:
        raise InstalledMismatch(
            f"`{key}`: the installed {_package_text(names[0])} has no field `{field}` in {'/'.join(names)}; this "
            f"policy was checked against {_checked_text(names[0])} (compiler/trainer_fields.json). Install the "
            "locked versions, or run `python -m tenet.runtime.train.fields` and compile again")
    for name, spec in present:
        if _takes(spec, value):
            return
    name, spec = present[0]
    raise InstalledMismatch(
        f"`{key}`: {name}.{field} of the installed {_package_text(name)} takes {' or '.join(spec['types'])}"
        f"{' (' + ', '.join(spec['choices']) + ')' if spec.get('choices') else ''}, not {value!r}; this policy "
        f"was checked against {_checked_text(name)}")


def _takes(spec: Mapping[str, Any], value: object) -> bool:
    """Whether an installed field (`tenet.runtime.train.fields.class_fields` entry) takes a policy value."""
    types = set(spec["types"])
    if isinstance(value, str) and spec.get("choices") and value not in spec["choices"]:
        return False
    return bool(types & _kinds(value))


def _kinds(value: object) -> set[str]:
    """The field kinds (as `tenet.runtime.train.fields` names them) a Python value fits."""
    if value is None:
        return {"none"}
    if isinstance(value, bool):
        return {"bool"}
    if isinstance(value, int):
        return {"int", "float"}
    if isinstance(value, float):
        return {"float"}
    if isinstance(value, str):
        return {"str"}
    if isinstance(value, (tuple, list)):
        items = [_kinds(item) for item in value]
        return {f"list[{kind}]" for kind in ("str", "int", "float") if all(kind in k for k in items)}
    return set()


@functools.lru_cache(maxsize=None)
def installed_fields(name: str) -> dict[str, dict[str, Any]]:
    """The fields of the installed config class `name`, as `python -m tenet.runtime.train.fields` reads them."""
    from tenet.runtime.train.fields import CONFIG_CLASSES, class_fields

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # ORPOConfig lives in trl.experimental
    module, attr = CONFIG_CLASSES[name]
    return class_fields(getattr(importlib.import_module(module), attr))


def _package_text(config: str) -> str:
    """`TRL 1.16.0` or `peft 0.21.2`: the installed package a config class comes from."""
    package = _PACKAGE.get(config, "trl")
    return f"{'TRL' if package == 'trl' else package} {version(package)}"


def _checked_text(config: str) -> str:
    """The package version compiler/trainer_fields.json was generated from."""
    package = _PACKAGE.get(config, "trl")
    checked = json.loads(FIELDS_FILE.read_text(encoding="utf-8"))["versions"].get(package, "?")
    return f"{'TRL' if package == 'trl' else package} {checked}"

