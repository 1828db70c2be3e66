"""One error root: every error tenet raises derives from `TenetError`, and `main` alone maps it.

Each kind keeps its exit code (0 for an outcome such as `NothingToTrain`, 1 for policy
errors, 2 for usage and I/O) and its message; no command catches errors just to translate them.
"""

from __future__ import annotations

import ast

import pytest

from tenet.compiler.artifact import ArtifactError
from tenet.compiler.diagnostics import CompileError, error
from tenet.compiler.errors import ExitCode, NothingToDo, TenetError
from helpers import REPO, run_cli, write_policy
from tenet.runtime.cli import UsageError

CLEAN = 'dsl 1\npolicy clean version "1"\n\nrule no-todo (high):\n  forbid response contains "TODO"\n'


def _error_classes() -> dict[str, str]:
    """Every public exception class defined in compiler/ and runtime/, by name, with its file."""
    found = {}
    for path in sorted([*(REPO / "compiler").rglob("*.py"), *(REPO / "runtime").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])]
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and (
                    node.name.endswith(("Error", "Exception")) or "Exception" in bases):
                found[node.name] = str(path.relative_to(REPO))
    return found


def test_every_error_class_derives_from_the_root():
    import importlib

    classes = _error_classes()
    expected = {"CompileError", "ArtifactError", "UsageError", "DataError", "ModelError", "AuditError"}
    assert expected <= set(classes)
    for name, path in classes.items():
        module = importlib.import_module("tenet." + path[:-3].replace("/", "."))
        assert issubclass(getattr(module, name), TenetError), f"{path}: {name}"
    from tenet.runtime.cycle import NothingToTrain

    assert issubclass(NothingToTrain, NothingToDo)


@pytest.mark.parametrize("error_type, code", [
    (CompileError, ExitCode.POLICY), (ArtifactError, ExitCode.USAGE), (UsageError, ExitCode.USAGE),
    (NothingToDo, ExitCode.OK),
])
def test_each_kind_keeps_its_exit_code(error_type, code):
    assert error_type.exit_code == code
    assert (ExitCode.OK, ExitCode.POLICY, ExitCode.USAGE, ExitCode.INTERRUPTED) == (0, 1, 2, 130)


def _raising(monkeypatch, exc: BaseException) -> None:
    import tenet.runtime.policy

    def explode(*args, **kwargs):
        raise exc

    monkeypatch.setattr(tenet.runtime.policy, "compile_policy", explode)


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_tenet_error_is_one_line_and_exit_2_even_with_debug(monkeypatch, tmp_path, debug):
    from tenet.runtime.data import DataError

    _raising(monkeypatch, DataError("data not found: x.jsonl"))
    policy = write_policy(tmp_path, "p.policy", CLEAN)
    assert run_cli([*debug, "check", str(policy)]) == (2, "", "error: data not found: x.jsonl\n")


def test_an_outcome_is_printed_on_stdout_with_exit_0(monkeypatch, tmp_path):
    from tenet.runtime.cycle import NothingToTrain

    _raising(monkeypatch, NothingToTrain("no rule changed since champion version 1"))
    policy = write_policy(tmp_path, "p.policy", CLEAN)
    assert run_cli(["check", str(policy)]) == (0, "no rule changed since champion version 1\n", "")


def test_a_compile_error_prints_its_diagnostics_with_exit_1(monkeypatch, tmp_path):
    diagnostic = error("P001", "unexpected token", None, hint="end the header with a colon")
    _raising(monkeypatch, CompileError([diagnostic]))
    policy = write_policy(tmp_path, "p.policy", CLEAN)
    code, out, err = run_cli(["check", str(policy)])
    assert (code, out) == (1, "")
    assert err == "error[P001]: unexpected token\n  = hint: end the header with a colon\n"


def test_an_audit_error_keeps_its_hint(monkeypatch, tmp_path):
    from tenet.runtime.audit import AuditError

    _raising(monkeypatch, AuditError("no cycles recorded for policy p", "run compile-and-train first"))
    policy = write_policy(tmp_path, "p.policy", CLEAN)
    assert run_cli(["check", str(policy)]) == (
        2, "", "error: no cycles recorded for policy p\nhint: run compile-and-train first\n")


def test_interrupt_exits_130(monkeypatch, tmp_path):
    _raising(monkeypatch, KeyboardInterrupt())
    policy = write_policy(tmp_path, "p.policy", CLEAN)
    assert run_cli(["check", str(policy)]) == (130, "", "interrupted\n")


def test_no_command_translates_errors_itself():
    """`main` maps errors once: commands hold no `except` that only re-raises a UsageError."""
    files = [REPO / "runtime" / "cli.py", *sorted((REPO / "runtime" / "commands").glob("*.py"))]
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in files]
    commands = [f for tree in trees for f in tree.body
                if isinstance(f, ast.FunctionDef) and f.name.startswith("cmd_")]
    assert len(commands) >= 10
    handlers = [h for f in commands for h in ast.walk(f) if isinstance(h, ast.ExceptHandler)]
    assert handlers == []
