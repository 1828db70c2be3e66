"""Promotion gates: compare the after-training evaluation (and the change from before) with
the policy's thresholds. A model that fails any gate is recorded, never promoted.

Gates fail closed: what was not measured did not pass. A compliance gate whose rules cast no
vote on the held-out prompts, a regression gate with no rule voted on both before and after
training, and a drift gate without a drift measure all fail with a detail that starts
"not measured". A model whose evaluation saw no vote at all is never promoted (`promotable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

from tenet.compiler import ir
from tenet.compiler.semantics import compare_score
from tenet.runtime.evaluate import Compliance

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class GateResult:
    """One gate, the value it saw, and whether it passed."""

    gate: ir.GateIR
    value: float | None
    passed: bool
    detail: str


def check_gates(gates: Sequence[ir.GateIR], before: Compliance, after: Compliance,
                drift: float | None, regression_rules: Collection[str] | None = None) -> list[GateResult]:
    """Evaluate every gate; a gate whose value was not measured fails.

    `regression_rules` limits the regression gate to those rules (an update cycle's unchanged
    rules); None checks every rule.
    """
    return [_check(g, before, after, drift, regression_rules) for g in gates]


def promotable(results: Sequence[GateResult], after: Compliance | None) -> bool:
    """Whether a model may be promoted: its evaluation saw votes and every gate passed."""
    return after is not None and after.overall is not None and all(r.passed for r in results)


def unmeasured(gate: ir.GateIR, why: str) -> GateResult:
    """A failed gate that had nothing to measure, and why."""
    return GateResult(gate, None, False, f"{NOT_MEASURED}: {why}")


def _check(gate: ir.GateIR, before: Compliance, after: Compliance, drift: float | None,
           regression_rules: Collection[str] | None) -> GateResult:
    if gate.target == "regression":
        return _regression(gate, before, after, regression_rules)
    if gate.target == "drift":
        if drift is None:
            return unmeasured(gate, "drift was not computed")
        return GateResult(gate, drift, compare_score(drift, gate.op, gate.threshold), f"KL {drift:.4f}")
    if gate.target == "rule":
        return _rule(gate, after)
    if gate.target == "overall":
        value, label, voters = after.overall, "overall", "no rule"
    else:
        value = after.per_severity.get(gate.target)
        label, voters = f"{gate.target} rules", f"no {gate.target} rule"
    if value is None:
        return unmeasured(gate, f"{voters} voted on the held-out prompts")
    return GateResult(gate, value, compare_score(value, gate.op, gate.threshold), f"{label} {value:.3f}")


def _rule(gate: ir.GateIR, after: Compliance) -> GateResult:
    """A rule's compliance; unmeasured when it cast no vote (say so when no prompt was in its scope)."""
    rule = gate.rule or ""
    value = after.per_rule.get(rule)
    if value is None:
        if after.in_scope.get(rule) == 0:
            return unmeasured(gate, f"no held-out prompt is in the scope of rule {rule}")
        return unmeasured(gate, f"rule {rule} cast no vote on the held-out prompts")
    return GateResult(gate, value, compare_score(value, gate.op, gate.threshold), f"rule {rule} {value:.3f}")


def _regression(gate: ir.GateIR, before: Compliance, after: Compliance,
                regression_rules: Collection[str] | None) -> GateResult:
    """The largest drop of a rule's compliance among the rules measured both before and after."""
    drops = {rid: before.per_rule[rid] - after.per_rule[rid] for rid in after.per_rule
             if before.per_rule.get(rid) is not None and after.per_rule[rid] is not None
             and (regression_rules is None or rid in regression_rules)}
    if not drops:
        which = "no rule" if regression_rules is None else "no unchanged rule"
        return unmeasured(gate, f"{which} had votes both before and after training")
    worst_rule, worst = max(drops.items(), key=lambda kv: kv[1])
    value = max(0.0, worst)
    detail = f"largest drop {value:.3f}" + (f" ({worst_rule})" if value > 0 else "")
    return GateResult(gate, value, compare_score(value, gate.op, gate.threshold), detail)
