"""Each closed list has one source; every other place that spells it must agree with it.

The compiler owns the lists (`compiler/settings.py`, `compiler/ast.py`, `compiler/semantics.py`)
because it must not import the runtime; the runtime's tables that map names to code, the
grammar and the CLI's choices are checked against them here.
"""

from __future__ import annotations

import ast
import importlib
import re
from typing import get_args

from helpers import REPO

from tenet.compiler import ir, plan, semantics, settings
from tenet.compiler.ast import SEVERITIES


def _cli_choices(command: str, option: str) -> tuple:
    from tenet.runtime.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return tuple(next(a for a in sub._actions if option in a.option_strings).choices)


def _grammar_alternatives(rule: str) -> list[str]:
    grammar = (REPO / "compiler" / "policy.lark").read_text(encoding="utf-8")
    body = re.search(rf"^!{rule}: (.*)$", grammar, re.M).group(1)
    return re.findall(r'"([^"]+)"', body)


def test_methods_have_one_source():
    assert settings.METHODS == ("auto", *settings.TRAIN_METHODS)
    assert get_args(ir.TrainingIR.model_fields["method"].annotation) == settings.METHODS
    assert get_args(plan.TrainStage.model_fields["method"].annotation) == settings.TRAIN_METHODS
    assert settings.SETTINGS["method"].choices == settings.METHODS
    assert _cli_choices("compile-and-train", "--method") == settings.METHODS


def test_every_training_method_has_a_runtime_module():
    from tenet.runtime.train.jobs import METHOD_MODULES

    assert sorted(METHOD_MODULES) == sorted(settings.TRAIN_METHODS)
    for method, module in METHOD_MODULES.items():
        assert module == f"tenet.runtime.train.{method}"
        assert callable(importlib.import_module(module).train), module


def test_every_strategy_name_has_a_strategy_function():
    from tenet.compiler import strategies
    from tenet.runtime.synthesize.strategies import STRATEGIES

    assert tuple(STRATEGIES) == settings.STRATEGIES == tuple(s.name for s in strategies.KINDS)
    assert all(callable(fn) for fn in STRATEGIES.values())
    assert settings.SETTINGS["strategies"].choices == settings.STRATEGIES
    assert sorted(strategies.BY_RANK) == sorted(settings.STRATEGIES)


def test_precision_and_device_have_one_source():
    assert get_args(ir.TrainingIR.model_fields["precision"].annotation) == settings.PRECISIONS
    assert get_args(ir.TrainingIR.model_fields["device"].annotation) == settings.DEVICES
    assert settings.SETTINGS["precision"].choices == settings.PRECISIONS
    assert settings.SETTINGS["device"].choices == settings.DEVICES
    assert _cli_choices("compile-and-train", "--device") == settings.DEVICES


def test_severities_have_one_source():
    from tenet.runtime.evaluate import SEVERITIES as EVALUATED

    assert _grammar_alternatives("severity") == list(SEVERITIES)
    assert get_args(ir.RuleIR.model_fields["severity"].annotation) == SEVERITIES
    assert tuple(ir.SEVERITY_WEIGHT) == tuple(ir.SEVERITY_RANK) == SEVERITIES
    assert sorted(SEVERITIES, key=ir.SEVERITY_WEIGHT.get, reverse=True) == list(SEVERITIES)
    assert EVALUATED == SEVERITIES


def test_gate_targets_have_one_source():
    # The grammar's `gate_target` is `severity | "overall" | ... | ID`: the quoted words are targets,
    # and the targets that are no keyword (so policies may still use the word as a name) parse as ID.
    keywords = [*SEVERITIES, *_grammar_alternatives("gate_target")]
    assert set(keywords) <= set(settings.GATE_TARGETS)
    assert [t for t in settings.GATE_TARGETS if t not in keywords] == ["helpfulness"]
    assert get_args(ir.GateIR.model_fields["target"].annotation) == settings.GATE_TARGETS


def test_span_kinds_are_atom_kinds():
    atom_kinds = {get_args(m.model_fields["kind"].annotation)[0] for m in get_args(get_args(ir.PredIR)[0])}
    assert set(semantics.SPAN_KINDS) <= atom_kinds


def test_mlflow_tag_names_are_spelled_only_in_runtime_tags():
    from tenet.runtime import tags

    spelled = [v for k, v in vars(tags).items() if k.isupper() and isinstance(v, str) and "." in v]
    names = set(spelled)
    assert len(names) == len(spelled), "two constants name the same tag"
    offenders = []
    for path in sorted((REPO / "runtime").rglob("*.py")):
        if path.name == "tags.py" and path.parent.name == "runtime":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert offenders == []
