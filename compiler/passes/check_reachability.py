"""Find rules that can never fire: contradictory scopes and carve-outs that cover the scope."""

from __future__ import annotations

from tenet.compiler import ir
from tenet.compiler.diagnostics import Diagnostic, error
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.walk import canonical_json, conjuncts


def check_reachability(linked: LinkedPolicy, policy: ir.PolicyIR) -> tuple[ir.PolicyIR, list[Diagnostic]]:
    """Report rules whose `when` is unsatisfiable or whose `unless` always holds in scope."""
    found: list[Diagnostic] = []
    for rule in policy.rules:
        reason = never_fires(rule)
        if reason:
            found.append(error("E130", f"rule `{rule.id}` can never fire: {reason}", rule.span,
                               "fix the `when`/`unless` conditions or remove the rule"))
    return policy, found


def never_fires(rule: ir.RuleIR) -> str | None:
    """Explain why a rule can never apply, or return None."""
    scope = conjuncts(rule.when) if rule.when else []
    keys = {canonical_json(p) for p in scope}
    for pred in scope:
        if isinstance(pred, ir.NotPred) and canonical_json(pred.operand) in keys:
            return "its `when` requires a condition and its opposite"
    bounds = _count_bounds(scope)
    for (subject, unit), (low, high) in bounds.items():
        if low > high:
            return f"its `when` asks for an impossible number of {unit} in the {subject}"
    for carve_out in rule.unless:
        if canonical_json(carve_out) in keys or (rule.when and canonical_json(carve_out) == canonical_json(rule.when)):
            return "its `unless` holds whenever its `when` does"
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
