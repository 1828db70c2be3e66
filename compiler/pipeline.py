"""The compiler pipeline: parse → link → check → lower → IR passes → plan → artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict

from tenet.compiler.artifact import CompiledArtifact, build_artifact
from tenet.compiler.diagnostics import CompileError, Diagnostic, Span, error, has_errors, sort_key
from tenet.compiler.ir import PolicyIR
from tenet.compiler.link import LinkedPolicy, link
from tenet.compiler.load import Program, load_program
from tenet.compiler.lower import lower
from tenet.compiler.passes.check_examples import check_examples
from tenet.compiler.passes.check_heldout import check_heldout
from tenet.compiler.passes.check_resolution import check_resolution
from tenet.compiler.passes.check_model_refs import check_model_refs
from tenet.compiler.passes.check_names import check_names
from tenet.compiler.passes.check_prompts import check_prompts
from tenet.compiler.passes.check_reachability import check_reachability
from tenet.compiler.passes.check_regex import check_regex
from tenet.compiler.passes.check_rules import check_rules
from tenet.compiler.passes.check_text import check_text
from tenet.compiler.passes.check_trainer_fields import check_trainer_fields
from tenet.compiler.passes.check_training import check_training
from tenet.compiler.passes.resolve_precedence import resolve_precedence
from tenet.compiler.plan import build_plan

Check = Callable[[LinkedPolicy], list[Diagnostic]]
IrPass = Callable[[LinkedPolicy, PolicyIR], tuple[PolicyIR, list[Diagnostic]]]

CHECKS: tuple[Check, ...] = (check_names, check_regex, check_rules, check_training, check_prompts,
                             check_model_refs)
IR_PASSES: tuple[IrPass, ...] = (resolve_precedence, check_reachability, check_examples, check_trainer_fields)


class Compilation(BaseModel):
    """The outcome of compiling a policy: an artifact when there were no errors."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    artifact: CompiledArtifact | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]

    @property
    def ok(self) -> bool:
        """True when the policy compiled."""
        return self.artifact is not None


def compile_policy(path: str | Path, root: str | Path | None = None,
                   base_model: str | None = None, method: str | None = None,
                   for_training: bool = False, text: str | None = None) -> Compilation:
    """Compile a policy file; policy errors come back as diagnostics, never as exceptions.

    Args:
        path: The entry `.policy` file.
        root: The directory imports and prompt files must stay inside (default: the file's).
        base_model: A base model that replaces the policy's (`--base-model`), so the plan and
            the recipe defaults that depend on the model describe what will run.
        method: A training method that replaces the policy's (`--method`), so `trainer.*`
            settings are checked against the config that method builds.
        for_training: Compile for a training run (`tenet plan`, `compile-and-train`): no
            held-out prompts is an error (E173) even without a `training:` block.
        text: The entry's source, to compile instead of the file at `path` (an editor's unsaved
            buffer); spans still name `path`, and imports resolve relative to it.
    """
    sources: dict[str, str] = {}
    try:
        program = load_program(path, root, text)
        sources = program.sources()
        return _compile_program(program, sources, base_model, method, for_training)
    except CompileError as exc:
        return Compilation(artifact=None, diagnostics=tuple(sorted(exc.diagnostics, key=sort_key)),
                           sources=sources)
    except RecursionError:
        where = Span(file=str(path), line=1, col=1, end_line=1, end_col=2, start=0, end=1)
        too_deep = error("P004", "conditions are nested too deeply to compile", where,
                         "split the condition into several rules or `let` names")
        return Compilation(artifact=None, diagnostics=(too_deep,), sources=sources)


def _compile_program(program: Program, sources: dict[str, str], base_model: str | None,
                     method: str | None, for_training: bool = False) -> Compilation:
    found: list[Diagnostic] = check_text(program)  # the source text itself, every module
    try:
        linked = link(program)
    except CompileError as exc:
        raise CompileError([*found, *exc.diagnostics]) from None
    for check in CHECKS:
        found.extend(check(linked))
    if has_errors(found):
        raise CompileError(found)
    policy_ir = lower(linked, base_model, method)
    for ir_pass in IR_PASSES:
        policy_ir, more = ir_pass(linked, policy_ir)
        found.extend(more)
    if not has_errors(found):  # the plan-level check: only for an otherwise sound policy
        found.extend(check_heldout(linked, policy_ir, for_training))
        found.extend(check_resolution(linked, policy_ir, for_training))
    found.sort(key=sort_key)
    if has_errors(found):
        return Compilation(artifact=None, diagnostics=tuple(found), sources=sources)
    artifact = build_artifact(policy_ir, build_plan(policy_ir), linked.modules, tuple(found))
    return Compilation(artifact=artifact, diagnostics=tuple(found), sources=sources)
