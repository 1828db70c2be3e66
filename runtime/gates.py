"""Promotion gates: compare the after-training evaluation (and the change from before) with
the policy's thresholds. A model that fails any gate is recorded, never promoted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

from compiler import ir
from compiler.semantics import compare_score
from runtime.evaluate import Compliance


@dataclass(frozen=True)
class GateResult:
    """One gate, the value it saw, and whether it passed."""

    gate: ir.GateIR
    value: float | None
    passed: bool
    detail: str


def check_gates(gates: Sequence[ir.GateIR], before: Compliance, after: Compliance,
                drift: float | None, regression_rules: Collection[str] | None = None) -> list[GateResult]:
    """Evaluate every gate; a gate whose value cannot be measured passes only if nothing to judge.

    `regression_rules` limits the regression gate to those rules (an update cycle's unchanged
    rules); None checks every rule.
    """
    return [_check(g, before, after, drift, regression_rules) for g in gates]


def _check(gate: ir.GateIR, before: Compliance, after: Compliance, drift: float | None,
           regression_rules: Collection[str] | None = None) -> GateResult:
    if gate.target == "regression":
        drops = {rid: before.per_rule[rid] - after.per_rule[rid] for rid in after.per_rule
                 if before.per_rule.get(rid) is not None and after.per_rule[rid] is not None
                 and (regression_rules is None or rid in regression_rules)}
        worst = max(drops.items(), key=lambda kv: kv[1], default=(None, 0.0))
        value = max(0.0, worst[1])
        detail = f"largest drop {value:.3f}" + (f" ({worst[0]})" if worst[0] and value > 0 else "")
        return GateResult(gate, value, compare_score(value, gate.op, gate.threshold), detail)
    if gate.target == "drift":
        if drift is None:
            return GateResult(gate, None, False, "drift was not measured")
        return GateResult(gate, drift, compare_score(drift, gate.op, gate.threshold), f"KL {drift:.4f}")
    if gate.target == "rule":
        value = after.per_rule.get(gate.rule or "")
        label = f"rule {gate.rule}"
    elif gate.target == "overall":
        value, label = after.overall, "overall"
    else:
        value, label = after.per_severity.get(gate.target), f"{gate.target} rules"
    if value is None:  # no votes at all: nothing violated, nothing shown either
        return GateResult(gate, None, True, f"{label}: no votes on the held-out prompts")
    return GateResult(gate, value, compare_score(value, gate.op, gate.threshold), f"{label} {value:.3f}")
