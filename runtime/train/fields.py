"""Generate `compiler/trainer_fields.json`: every field a policy may set as `trainer.*` or `lora.*`.

The compiler checks a policy's `trainer.<field>` and `lora.<field>` settings against the
installed TRL configs and peft's `LoraConfig` without importing either (it must stay free of
ML libraries), so this module reads them once and writes their fields and value types to a
committed data file. Rerun it after upgrading TRL, transformers or peft:

    python -m tenet.runtime.train.fields            # rewrite the file
    python -m tenet.runtime.train.fields --check    # exit 1 when the file is out of date

tests/test_trainer_fields.py regenerates the table and fails when it differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import json
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "compiler" / "trainer_fields.json"

# Every config class a method builds (tenet.compiler.settings.TRAINER_CONFIGS) and where it lives.
CONFIG_CLASSES: dict[str, tuple[str, str]] = {
    "DPOConfig": ("trl", "DPOConfig"),
    "KTOConfig": ("trl", "KTOConfig"),
    "ORPOConfig": ("trl.experimental.orpo", "ORPOConfig"),
    "GRPOConfig": ("trl", "GRPOConfig"),
    "RewardConfig": ("trl", "RewardConfig"),
    "LoraConfig": ("peft", "LoraConfig"),
}
_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}


def field_table() -> dict[str, Any]:
    """The table as written to the JSON file: package versions and each class's fields."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # ORPOConfig lives in trl.experimental
    from importlib.metadata import version

    configs = {name: class_fields(getattr(importlib.import_module(module), attr))
               for name, (module, attr) in CONFIG_CLASSES.items()}
    return {"generated_by": "python -m tenet.runtime.train.fields",
            "versions": {pkg: version(pkg) for pkg in ("trl", "transformers", "peft")},
            "configs": configs}


def class_fields(cls: type) -> dict[str, dict[str, Any]]:
    """`{field: {"types": [...], "choices": [...], "dict": true}}` for the fields a constructor accepts.

    `dict` marks a field transformers parses from a string into a dictionary (`_VALID_DICT_FIELDS`).
    """
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - a hint naming an optional dependency; fall back per field
        hints = {}
    # Fields transformers parses from a JSON string (or a file path) into a dictionary.
    parsed_as_dict = set(getattr(cls, "_VALID_DICT_FIELDS", ()))
    table: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        kinds, choices = describe_type(hints.get(f.name, f.type))
        meta_choices = f.metadata.get("choices") if f.metadata else None
        if meta_choices:
            choices = [str(c) for c in meta_choices]
        entry: dict[str, Any] = {"types": sorted(kinds)}
        if f.name in parsed_as_dict:
            entry["dict"] = True
        if choices and not any("[" in c for c in choices):  # `pissa_niter_[n]` is a pattern, not a value
            entry["choices"] = sorted(set(choices))
        table[f.name] = entry
    return dict(sorted(table.items()))


def describe_type(tp: Any) -> tuple[set[str], list[str]]:
    """The value kinds a policy can write for a type annotation, and the allowed strings.

    Kinds are `bool`, `int`, `float`, `str`, `list[str]`, `list[int]`, `list[float]` and
    `none`; anything else (dicts, nested config objects) is left out, so a field of only
    such types cannot be set from a policy. An `Enum | str` field (transformers' spelling
    for "a name of this enum") allows only the enum's values, as its `__post_init__` does.
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        kinds: set[str] = set()
        enum_choices: list[str] = []
        literal_choices: list[str] = []
        plain_str = False
        for arg in typing.get_args(tp):
            sub_kinds, sub_choices = describe_type(arg)
            kinds |= sub_kinds
            if isinstance(arg, type) and issubclass(arg, enum.Enum):
                enum_choices += sub_choices
            elif typing.get_origin(arg) is typing.Literal:
                literal_choices += sub_choices
            elif arg is str:
                plain_str = True
        return kinds, enum_choices or ([] if plain_str else literal_choices)
    if tp is type(None) or tp is None:
        return {"none"}, []
    if origin is typing.Literal:
        values = typing.get_args(tp)
        kinds = {_SCALARS[type(v)] for v in values if type(v) in _SCALARS}
        return kinds, [v for v in values if isinstance(v, str)]
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if isinstance(item, type) and issubclass(item, enum.Enum):
            return {"list[str]"}, []
        return ({f"list[{_SCALARS[item]}]"} if item in (str, int, float) else set()), []
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"str"}, [str(m.value) for m in tp]
    if tp in _SCALARS:
        return {_SCALARS[tp]}, []
    return set(), []


def render(table: dict[str, Any]) -> str:
    """The file's text: one field per line, so an upgrade's diff reads field by field."""
    lines = ["{", f'  "generated_by": {json.dumps(table["generated_by"])},',
             f'  "versions": {json.dumps(table["versions"], sort_keys=True)},', '  "configs": {']
    names = sorted(table["configs"])
    for i, name in enumerate(names):
        fields = table["configs"][name]
        lines.append(f"    {json.dumps(name)}: {{")
        items = [f"      {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in fields.items()]
        lines.append(",\n".join(items))
        lines.append("    }" + ("," if i < len(names) - 1 else ""))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the table, or with `--check` report whether the committed one is current."""
    parser = argparse.ArgumentParser(prog="python -m tenet.runtime.train.fields", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the installed packages")
    args = parser.parse_args(argv)
    text = render(field_table())
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date; run python -m tenet.runtime.train.fields", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
