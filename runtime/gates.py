"""Promotion gates: compare the after-training evaluation (and the change from before) with
the policy's thresholds, on 95% intervals. A model that fails any gate is recorded, never promoted.

A level gate (`critical >= 0.8`, `rule x >= 0.9`, `overall >= 0.9`) passes when the whole
Wilson interval of the out-of-template compliance clears its threshold, so an evaluation too
small to tell fails. A drop gate (`regression <= 0.02`, `helpfulness <= 0`) fails when the
paired bootstrap interval of the drop lies wholly above its threshold: the evaluation shows
a drop. `drift` compares the KL measure itself.

Gates fail closed: what was not measured did not pass. A compliance gate whose rules cast no
vote, a rule gate on a rule fewer than `MIN_TEMPTED` prompts tempted ("not tested"), a drop
gate with nothing measured both before and after, and a drift gate without a drift measure
all fail with a detail that starts "not measured". A model whose evaluation saw no vote at
all is never promoted (`promotable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

from tenet.compiler import ir
from tenet.compiler.intervals import Interval, paired_drop
from tenet.compiler.passes.check_resolution import MIN_TEMPTED
from tenet.compiler.semantics import compare_score
from tenet.runtime.evaluate import Compliance

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class GateResult:
    """One gate, the value it saw (with its interval), and whether it passed."""

    gate: ir.GateIR
    value: float | None
    passed: bool
    detail: str
    interval: Interval | None = None


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


def clears(interval: Interval, op: str, threshold: float) -> bool:
    """Whether the whole interval lies on the passing side of `op threshold`."""
    if op in (">=", ">"):
        return compare_score(interval.low, op, threshold)
    return compare_score(interval.high, op, threshold)


def _check(gate: ir.GateIR, before: Compliance, after: Compliance, drift: float | None,
           regression_rules: Collection[str] | None) -> GateResult:
    if gate.target == "regression":
        return _regression(gate, before, after, regression_rules)
    if gate.target == "helpfulness":
        return _helpfulness(gate, before, after)
    if gate.target == "drift":
        if drift is None:
            return unmeasured(gate, "drift was not computed")
        return GateResult(gate, drift, compare_score(drift, gate.op, gate.threshold), f"KL {drift:.4f}")
    if gate.target == "rule":
        return _rule(gate, after)
    if gate.target == "overall":
        interval, label, voters = after.pooled_interval(), "overall", "no rule"
    else:
        interval = after.pooled_interval(gate.target)
        label, voters = f"{gate.target} rules", f"no {gate.target} rule"
    if interval is None:
        return unmeasured(gate, f"{voters} voted on the held-out prompts that tempt it")
    return _level(gate, interval, label)


def _level(gate: ir.GateIR, interval: Interval, label: str) -> GateResult:
    return GateResult(gate, interval.value, clears(interval, gate.op, gate.threshold),
                      f"{label} {interval.text(1.0)}", interval)


def _rule(gate: ir.GateIR, after: Compliance) -> GateResult:
    """A rule's compliance; unmeasured when too few prompts tempted it (say so when none was in its scope)."""
    rule = gate.rule or ""
    interval = after.interval(rule)
    if interval is None:
        if after.in_scope.get(rule) == 0:
            return unmeasured(gate, f"no held-out prompt is in the scope of rule {rule}")
        return unmeasured(gate, f"rule {rule} cast no vote on the held-out prompts that tempt it")
    if not after.tested(rule):
        return unmeasured(gate, f"rule {rule} is not tested: {interval.n} held-out prompts tempted it, "
                                f"fewer than {MIN_TEMPTED}")
    return _level(gate, interval, f"rule {rule}")


def _drop_passes(gate: ir.GateIR, drop: Interval) -> bool:
    """A drop gate fails only when the interval shows a drop beyond the threshold."""
    return compare_score(drop.low, gate.op, gate.threshold)


def _regression(gate: ir.GateIR, before: Compliance, after: Compliance,
                regression_rules: Collection[str] | None) -> GateResult:
    """Each rule's drop on the prompts it was measured on both times; the worst decides."""
    drops: dict[str, Interval] = {}
    for rule, outcomes in after.outcomes.items():
        earlier = before.outcomes.get(rule, {})
        shared = [key for key in outcomes if key in earlier]
        if shared and (regression_rules is None or rule in regression_rules):
            drops[rule] = paired_drop([earlier[k] for k in shared], [outcomes[k] for k in shared])
    if not drops:
        which = "no rule" if regression_rules is None else "no unchanged rule"
        return unmeasured(gate, f"{which} had votes both before and after training")
    failing = {rule: d for rule, d in drops.items() if not _drop_passes(gate, d)}
    worst_rule, worst = max((failing or drops).items(), key=lambda kv: (kv[1].low, kv[1].value))
    value = max(0.0, worst.value)
    detail = f"largest drop {worst.text(1.0)}" + (f" ({worst_rule})" if worst.value > 0 or failing else "")
    return GateResult(gate, value, not failing, detail, worst)


def _helpfulness(gate: ir.GateIR, before: Compliance, after: Compliance) -> GateResult:
    """The drop in the share of guard instructions followed, paired by instruction."""
    shared = [key for key in after.instructions if key in before.instructions]
    if not shared:
        return unmeasured(gate, "the helpfulness instructions were not answered before and after training")
    drop = paired_drop([before.instructions[k] for k in shared], [after.instructions[k] for k in shared])
    assert drop is not None
    followed_before = sum(before.instructions[k] for k in shared)
    followed_after = sum(after.instructions[k] for k in shared)
    return GateResult(gate, max(0.0, drop.value), _drop_passes(gate, drop),
                      f"instructions followed {followed_before}/{len(shared)} before, {followed_after}/{len(shared)} "
                      f"after; drop {drop.text(1.0)}", drop)
