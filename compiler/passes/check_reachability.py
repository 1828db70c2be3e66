"""Find rules that can never fire: contradictory scopes and carve-outs that cover the scope."""

from __future__ import annotations

from typing import NamedTuple

from tenet.compiler import ir
from tenet.compiler.diagnostics import Diagnostic, Span, error
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.walk import canonical_json, conjuncts


class Unreachable(NamedTuple):
    """Why a rule can never fire, the condition at fault, and how to fix it."""

    reason: str
    span: Span
    hint: str


def check_reachability(linked: LinkedPolicy, policy: ir.PolicyIR) -> tuple[ir.PolicyIR, list[Diagnostic]]:
    """Report rules whose `when` is unsatisfiable or whose `unless` always holds in scope."""
    found: list[Diagnostic] = []
    for rule in policy.rules:
        unreachable = never_fires(rule)
        if unreachable:
            found.append(error("E130", f"rule `{rule.id}` can never fire: {unreachable.reason}",
                               unreachable.span, unreachable.hint))
    return policy, found


def never_fires(rule: ir.RuleIR) -> Unreachable | None:
    """Explain why a rule can never apply, pointing at the condition at fault, or return None."""
    if rule.when is None:
        return None
    scope = conjuncts(rule.when)
    keys = {canonical_json(p) for p in scope}
    for pred in scope:
        if isinstance(pred, ir.NotPred) and canonical_json(pred.operand) in keys:
            return Unreachable("its `when` requires a condition and its opposite", rule.when.span,
                               "remove the condition or its `not` copy; to cover both cases, drop the `when`")
    for (subject, unit), (low, high) in _count_bounds(scope).items():
        if low > high:
            return Unreachable(f"its `when` asks for an impossible number of {unit} in the {subject}",
                               rule.when.span, f"no text has that many {unit}: make the counts overlap, "
                               f"e.g. `{subject.replace('_', ' ')} has between 5 and 10 {unit}`")
    for carve_out in rule.unless:
        if canonical_json(carve_out) in keys or canonical_json(carve_out) == canonical_json(rule.when):
            return Unreachable("its `unless` holds whenever its `when` does", carve_out.span,
                               "the `unless` repeats the `when`: narrow it to the exceptions, or remove it")
    return None


def _count_bounds(preds: list[ir.PredIR]) -> dict[tuple[str, str], tuple[float, float]]:
    bounds: dict[tuple[str, str], tuple[float, float]] = {}
    for pred in preds:
        if not isinstance(pred, ir.CountPred):
            continue
        low, high = {
            "at_most": (0, pred.value), "at_least": (pred.value, float("inf")),
            "exactly": (pred.value, pred.value), "more_than": (pred.value + 1, float("inf")),
            "fewer_than": (0, pred.value - 1), "between": (pred.value, pred.high),
        }[pred.op]
        old_low, old_high = bounds.get((pred.subject, pred.unit), (0, float("inf")))
        bounds[(pred.subject, pred.unit)] = (max(old_low, low), min(old_high, high))
    return bounds
