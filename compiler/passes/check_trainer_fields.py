"""Check `trainer.<field>` and `lora.<field>` settings against tenet's allow-list and the TRL and peft configs.

A policy may set only the fields of compiler/trainer_allow.py, within tenet's bounds; any other
field is refused with its reason (E169). The method (after `auto` and `--method` are resolved)
picks the TRL config(s) a `trainer.` field must belong to (`tenet.compiler.settings.TRAINER_CONFIGS`);
a `lora.` field belongs to peft's `LoraConfig`. Field names and types come from
compiler/trainer_fields.json, generated from the installed packages by
`python -m tenet.runtime.train.fields`, so the compiler never imports them.
Each value is converted to its field's type and stored in `training.overrides`, which the
runtime applies last when it builds each config: a bad field fails here, before any run opens.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
from pathlib import Path
from typing import Any

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, error, warning
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.passes.check_training import is_override
from tenet.compiler.plan import resolve_method
from tenet.compiler.settings import LORA_CONFIG, TRAINER_CONFIGS
from tenet.compiler.trainer_allow import (ALL_LINEAR, ALLOWED, MAX_MODULE_NAMES, AllowedField, bounded, range_text,
                                    refusal)

FIELDS_FILE = Path(__file__).resolve().parent.parent / "trainer_fields.json"
_KIND_TEXT = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a string",
              "list[str]": "a quoted, comma-separated list", "list[int]": "a comma-separated list of whole numbers",
              "list[float]": "a comma-separated list of numbers", "none": "none"}


@functools.lru_cache(maxsize=1)
def config_fields() -> dict[str, dict[str, dict[str, Any]]]:
    """`{config class: {field: {"types": [...], "choices": [...]}}}` from trainer_fields.json."""
    return json.loads(FIELDS_FILE.read_text(encoding="utf-8"))["configs"]


def check_trainer_fields(policy: LinkedPolicy, policy_ir: ir.PolicyIR) -> tuple[ir.PolicyIR, list[Diagnostic]]:
    """Report refused or unknown fields and bad values; return the IR with `training.overrides` filled in."""
    method = resolve_method(policy_ir.training)
    found: list[Diagnostic] = []
    overrides: list[tuple[str, ir.OverrideValue]] = []
    for setting in policy.settings:
        if not is_override(setting.key.text):
            continue
        value, problem = _check_setting(setting, method)
        if problem is not None:
            found.append(problem)
        else:
            overrides.append((setting.key.text, value))
    lora_settings = [s for s in policy.settings if s.key.text.startswith("lora.") and is_override(s.key.text)]
    if lora_settings and not policy_ir.training.lora:
        found.append(warning("W168", "`lora.*` settings apply only when the model trains a LoRA adapter",
                             lora_settings[0].key.span, "add `lora = true`, or remove the `lora.*` settings"))
    training = policy_ir.training.model_copy(update={"overrides": tuple(overrides)})
    return policy_ir.model_copy(update={"training": training}), found


def _check_setting(setting: ast.Setting, method: str) -> tuple[ir.OverrideValue, Diagnostic | None]:
    """One `trainer.`/`lora.` setting: its typed value, or the diagnostic that refuses it.

    Refused fields (E169) come first, so a field that loads code or uploads is named as such
    whichever method runs; then fields the method's config lacks (E166); then values (E167).
    """
    key = setting.key.text
    section, field = key.split(".", 1)
    classes = config_names(section, method)
    spec = _field_spec(field, classes)
    anywhere = _field_spec(field, section_configs(section))
    refused = refusal(section, field, parsed_as_dict=bool((spec or anywhere or {}).get("dict")))
    if refused is not None and (anywhere is not None or refused.reason != "unlisted"):
        return None, error("E169", f"`{key}` is refused: {refused.message}", setting.key.span, refused.hint)
    if refused is not None or spec is None:
        return None, _unknown_field(setting, section, field, classes, method)
    allowed = ALLOWED[section][field]
    if allowed.methods and method not in allowed.methods:
        return None, error("E169", f"`{key}` is refused for method {method}: tenet allows it only for "
                                   f"{', '.join(allowed.methods)}", setting.key.span,
                           f"method {method} sets it from tenet's own settings; set `method` to use it")
    # `none` only where tenet allows it, whatever the installed field takes.
    spec = {**spec, "types": [t for t in spec["types"] if t != "none" or allowed.none]}
    value, problem = convert(setting.value, setting.value_kind, spec)
    if problem is None:
        value, problem = bounded(allowed, value, method)
    if problem is not None:
        return None, error("E167", f"`{key}`: {problem}", setting.span, _takes(key, allowed, spec, method))
    return value, None


def _takes(key: str, allowed: AllowedField, spec: dict[str, Any], method: str) -> str:
    """The hint of E167: what the field takes, within tenet's bounds."""
    choices = allowed.choices_for(method) or tuple(spec.get("choices", ()))
    if choices:
        takes = f"one of {', '.join(choices)}"
    elif allowed.module_names:
        takes = f"plain module names, comma-separated (at most {MAX_MODULE_NAMES}), or \"{ALL_LINEAR}\""
    else:
        takes = describe_types(spec["types"])
    if allowed.low is not None:
        takes += f" in {range_text(allowed)}"
    return f"`{key}` takes {takes}: {allowed.help}"


def section_configs(section: str) -> tuple[str, ...]:
    """Every config class a `<section>.` field may belong to, over all methods."""
    if section == "lora":
        return (LORA_CONFIG,)
    return tuple(dict.fromkeys(name for names in TRAINER_CONFIGS.values() for name in names))


def convert(raw: str | float, kind: str, spec: dict[str, Any]) -> tuple[ir.OverrideValue, str | None]:
    """A policy value converted to a field's type, or None and what is wrong with it.

    Bare `none` is None for an optional field (quoted, it is the string "none"); bare
    `true`/`false` are booleans for a boolean field. A quoted string with commas is a list
    for a field that takes a list, so `"q_proj, v_proj"` is two target modules while
    `"all-linear"` stays a string.
    """
    types = set(spec["types"])
    if not types:
        return None, "this field takes a nested object, which a policy cannot write"
    if kind == "name" and raw == "none" and "none" in types:
        return None, None
    if kind == "name" and raw in ("true", "false") and "bool" in types:
        return raw == "true", None
    if kind == "number":
        return _number(float(raw), types)
    return _text(str(raw), types, spec.get("choices", ()))


def describe_types(types: list[str]) -> str:
    """The kinds of value a field takes, in words: `a number or none`."""
    return " or ".join(_KIND_TEXT[t] for t in sorted(types)) or "a nested object (not settable from a policy)"


def _number(value: float, types: set[str]) -> tuple[ir.OverrideValue, str | None]:
    if not math.isfinite(value):
        return None, f"expected a finite number, got {value:g}"
    whole = value == int(value)
    if "int" in types and whole:
        return int(value), None
    if "float" in types:
        return value, None
    if "list[int]" in types and whole:
        return (int(value),), None
    if "list[float]" in types:
        return (value,), None
    return None, f"expected {describe_types(sorted(types))}, got {value:g}"


def _text(text: str, types: set[str], choices: tuple[str, ...] | list[str]) -> tuple[ir.OverrideValue, str | None]:
    lists = sorted(t for t in types if t.startswith("list["))
    if "str" in types and not ("," in text and lists):
        if choices and text not in choices:
            close = difflib.get_close_matches(text, choices, n=1, cutoff=0.6)
            return None, f"unknown value {text!r}" + (f"; did you mean {close[0]!r}?" if close else "")
        return text, None
    if not lists:
        return None, f"expected {describe_types(sorted(types))}, got {text!r}"
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return None, "expected at least one item"
    if "list[str]" in lists:
        return tuple(parts), None
    number = int if lists[0] == "list[int]" else float
    try:
        return tuple(number(part) for part in parts), None
    except ValueError:
        return None, f"expected {describe_types(lists)}, got {text!r}"


def _field_spec(field: str, classes: tuple[str, ...]) -> dict[str, Any] | None:
    """The field's entry in the first of `classes` that has it (rlhf builds two configs)."""
    for name in classes:
        spec = config_fields()[name].get(field)
        if spec is not None:
            return spec
    return None


def _unknown_field(setting: ast.Setting, section: str, field: str, classes: tuple[str, ...],
                   method: str) -> Diagnostic:
    """E166 for a field the method's config lacks, with the closest allowed fields as the hint."""
    owner = "/".join(classes)
    allowed = ALLOWED[section]
    where = f"{owner} (method {method})" if section == "trainer" else owner
    elsewhere = sorted(m for m, names in TRAINER_CONFIGS.items()
                       if section == "trainer" and field in allowed
                       and any(field in config_fields()[n] for n in names)
                       and (not allowed[field].methods or m in allowed[field].methods))
    known = sorted(f for f in allowed if any(f in config_fields()[name] for name in classes))
    close = difflib.get_close_matches(field, known, n=3, cutoff=0.6)
    if elsewhere:
        hint = f"`{field}` is a field of the config of method {', '.join(elsewhere)}; set `method` to use it"
    elif close:
        hint = "did you mean " + " or ".join(f"`{section}.{c}`" for c in close) + "?"
    else:
        hint = "see docs/language.md#trainer-and-lora-fields for the fields a policy may set"
    return error("E166", f"`{setting.key.text}` is not a field of {where}", setting.key.span, hint)


def allowed_field_methods() -> dict[str, dict[str, tuple[str, ...]]]:
    """`{section: {allowed field: methods whose config has it}}`, for the docs' table."""
    return {section: {field: tuple(m for m, names in TRAINER_CONFIGS.items()
                                   if any(field in config_fields()[n] for n in config_names(section, m)))
                      for field in fields}
            for section, fields in ALLOWED.items()}


def config_names(section: str, method: str) -> tuple[str, ...]:
    """The config classes a `<section>.` field of `method` goes to."""
    return TRAINER_CONFIGS[method] if section == "trainer" else (LORA_CONFIG,)
