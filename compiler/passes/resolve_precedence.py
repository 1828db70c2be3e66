"""Order rules deterministically and settle conflicts between opposite verdicts.

Precedence: severity (critical first), then authority (imported base policy before the
local one), then specificity (rules with a `when` first), then declaration order.
Two rules that judge the same condition in opposite directions, with no `unless` on
either, conflict: the lower-precedence one is shadowed (it abstains wherever the other
votes). If neither outranks the other by severity or authority, that is an error.
"""

from __future__ import annotations

from tenet.compiler import ir
from tenet.compiler.diagnostics import Diagnostic, error, note
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.walk import canonical_json


def resolve_precedence(linked: LinkedPolicy, policy: ir.PolicyIR) -> tuple[ir.PolicyIR, list[Diagnostic]]:
    """Set each rule's precedence and `shadowed_by`; report unresolvable conflicts."""
    ordered = sorted(enumerate(policy.rules), key=lambda p: precedence_key(p[1], p[0]))
    rank = {rule.id: i for i, (_, rule) in enumerate(ordered)}
    shadows: dict[str, list[str]] = {r.id: [] for r in policy.rules}
    found: list[Diagnostic] = []
    by_rank = [rule for _, rule in ordered]
    for i, high in enumerate(by_rank):
        for low in by_rank[i + 1:]:
            if not opposite(high, low):
                continue
            if (high.severity, high.authority) == (low.severity, low.authority):
                found.append(error(
                    "E131", f"rules `{high.id}` and `{low.id}` give opposite verdicts on the same "
                            "condition and neither takes precedence", low.span,
                    f"add `unless` to one of them, or give them different severities "
                    f"(`{high.id}` is at {high.span.file}:{high.span.line})"))
            else:
                shadows[low.id].append(high.id)
                found.append(note(
                    "N132", f"rule `{low.id}` is shadowed by `{high.id}` where both apply", low.span,
                    f"`{high.id}` wins by {_why(high, low)}"))
    rules = tuple(r.model_copy(update={"precedence": rank[r.id], "shadowed_by": tuple(shadows[r.id])})
                  for r in policy.rules)
    return policy.model_copy(update={"rules": rules}), found


def precedence_key(rule: ir.RuleIR, order: int) -> tuple:
    """Sort key: lower sorts first and wins."""
    return (ir.SEVERITY_RANK[rule.severity], rule.authority, 0 if rule.when else 1, order)


def polarity(rule: ir.RuleIR) -> tuple[str, bool]:
    """The checked condition without outer `not`s, and whether holding it is GOOD."""
    pred, positive = rule.check, rule.verdict in ("require", "prefer")
    while isinstance(pred, ir.NotPred):
        pred, positive = pred.operand, not positive
    return canonical_json(pred), positive


def opposite(a: ir.RuleIR, b: ir.RuleIR) -> bool:
    """True when two rules judge the same condition in opposite directions on overlapping scope."""
    if a.unless or b.unless:
        return False
    (pa, sa), (pb, sb) = polarity(a), polarity(b)
    if pa != pb or sa == sb:
        return False
    return not _complementary(a.when, b.when)


def _complementary(x: ir.PredIR | None, y: ir.PredIR | None) -> bool:
    if x is None or y is None:
        return False
    return (isinstance(x, ir.NotPred) and canonical_json(x.operand) == canonical_json(y)) or (
        isinstance(y, ir.NotPred) and canonical_json(y.operand) == canonical_json(x))


def _why(high: ir.RuleIR, low: ir.RuleIR) -> str:
    if high.severity != low.severity:
        return f"severity ({high.severity} over {low.severity})"
    return "authority (the imported base policy outranks the local one)"
