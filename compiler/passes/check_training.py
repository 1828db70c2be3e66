"""Check the `training:` settings against their schema and the gates' thresholds."""

from __future__ import annotations

import math
import re

from tenet.compiler import ast
from tenet.compiler.diagnostics import Diagnostic, did_you_mean, error
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.setting_names import setting_hint
from tenet.compiler.settings import EMBEDDED_MODELS, GATE_TARGETS, MAXIMUM_GATES, OVERRIDE_SECTIONS, SETTINGS, SettingSpec

# A typical bound for each gate that is a maximum (docs/language.md#gates).
MAXIMUM_EXAMPLES = {"regression": "0.02", "helpfulness": "0", "drift": "0.5"}

# A branch, a tag or a 40-hex commit, as the Hub names revisions (with `fullmatch`).
GIT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


def check_training(policy: LinkedPolicy) -> list[Diagnostic]:
    """Report unknown settings, values of the wrong type or range, and impossible gates.

    `trainer.*` and `lora.*` settings are checked later, by `check_trainer_fields`, once the
    method (which picks the TRL config) is known.
    """
    found: list[Diagnostic] = []
    for setting in policy.settings:
        if is_override(setting.key.text):
            continue
        if "." in setting.key.text:
            found.append(error("E160", f"unknown training setting `{setting.key.text}`", setting.key.span,
                               "a dotted setting starts with `trainer.` (a field of the method's TRL "
                               "config) or `lora.` (a field of peft's LoraConfig)"))
            continue
        spec = SETTINGS.get(setting.key.text)
        if spec is None:
            found.append(error("E160", f"unknown training setting `{setting.key.text}`",
                               setting.key.span, setting_hint(setting.key.text)
                               or "see docs/language.md#training for the settings"))
            continue
        problem = setting_problem(setting, spec)
        if problem:
            found.append(error("E161", f"`{setting.key.text}`: {problem}", setting.span,
                               f"`{setting.key.text}`: {spec.help}"))
    for gate in policy.gates:
        if gate.target not in GATE_TARGETS:
            found.append(error("E165", f"unknown gate target `{gate.target}`", gate.span,
                               did_you_mean(gate.target, GATE_TARGETS)
                               or "a gate names a severity, `overall`, `rule ID`, " + ", ".join(MAXIMUM_GATES)))
        elif not math.isfinite(gate.threshold):
            found.append(error("E165", f"gate `{gate.target}` needs a finite threshold", gate.span,
                               "write a number such as 0.99"))
        elif gate.target in MAXIMUM_GATES:
            if gate.op not in ("<=", "<") or gate.threshold < 0:
                found.append(error("E165", f"gate `{gate.target}` is a maximum: write "
                                           f"`gate {gate.target} <= N` with N >= 0", gate.span,
                                   f"e.g. `gate {gate.target} <= {MAXIMUM_EXAMPLES[gate.target]}`"))
        elif not 0.0 <= gate.threshold <= 1.0:
            found.append(error("E165", f"compliance gates compare rates in [0, 1], got {gate.threshold:g}",
                               gate.span, "write 0.99 for 99%"))
    return found


def is_override(key: str) -> bool:
    """True for `trainer.<field>` and `lora.<field>`: a setting passed through to TRL or peft."""
    section, dot, field = key.partition(".")
    return bool(dot) and section in OVERRIDE_SECTIONS and "." not in field


def setting_value(setting: ast.Setting, spec: SettingSpec) -> object:
    """Convert a checked setting to its Python value."""
    raw = setting.value
    if spec.type == "bool":
        return raw == "true"
    if spec.type == "int":
        return int(raw)
    if spec.type == "float":
        return float(raw)
    if spec.type == "list":
        return tuple(part.strip() for part in str(raw).split(",") if part.strip())
    return str(raw)


def setting_problem(setting: ast.Setting, spec: SettingSpec) -> str | None:
    """Describe what is wrong with a setting's value, or return None."""
    raw, kind = setting.value, setting.value_kind
    if spec.type == "bool":
        return None if kind == "name" and raw in ("true", "false") else "expected true or false"
    if spec.type in ("int", "float"):
        if kind != "number":
            return f"expected a number, got {raw!r}"
        if not math.isfinite(float(raw)):
            return f"expected a finite number, got {raw:g}"
        if spec.type == "int" and float(raw) != int(float(raw)):
            return f"expected a whole number, got {raw:g}"
        if spec.low is not None and not spec.low <= float(raw) <= spec.high:
            return f"{raw:g} is outside [{spec.low:g}, {spec.high:g}]"
        return None
    if spec.type == "choice":
        if str(raw) not in spec.choices:
            hint = did_you_mean(str(raw), spec.choices)
            return f"unknown value {raw!r}; expected one of {', '.join(spec.choices)}" + (
                f" ({hint})" if hint else "")
        return None
    if spec.type == "list":
        if kind != "string":
            return 'expected a quoted, comma-separated list, e.g. "examples, perturb"'
        unknown = [p.strip() for p in str(raw).split(",") if p.strip() not in spec.choices]
        if unknown:
            return f"unknown {unknown[0]!r}; expected some of {', '.join(spec.choices)}"
        return None
    if kind != "string":
        return f'expected a quoted string, e.g. {setting.key.text} = "..."'
    if str(raw).startswith("embedded:") and raw not in EMBEDDED_MODELS:
        return f"unknown embedded model {raw!r}; the embedded models are {', '.join(EMBEDDED_MODELS)}"
    if setting.key.text == "revision":
        return revision_problem(str(raw))
    return None


def revision_problem(text: str) -> str | None:
    """Why `text` is not a git ref (a branch, a tag or a commit sha) a Hub revision can name, or None."""
    if not GIT_REF.fullmatch(text):
        return (f"{text!r} is not a branch, tag or commit: use letters, digits, `.`, `_`, `-` and `/`, "
                "starting with a letter or digit, at most 128 characters")
    if ".." in text or "//" in text or text.endswith(("/", ".lock")):
        return f"{text!r} is not a valid git ref (no `..` or `//`, no trailing `/` or `.lock`)"
    return None
