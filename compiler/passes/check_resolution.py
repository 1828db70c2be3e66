"""Check that the evaluation can tell what the policy's gates ask: enough tempting prompts per rule.

Gates pass on 95% intervals (docs/evaluation.md#gates), measured on the out-of-template
prompts that tempt each rule: the temptation prompts tenet writes (`tenet.compiler.probes`)
and the held-out prompts with wording of their own. A rule of the policy's own tempted by
fewer than `MIN_TEMPTED` of them reads "not tested", never "kept": W177. A level gate whose rules, all
kept, could not clear its threshold with the prompts that tempt them fails every time: W178
says how many prompts it needs. Prompt files add rows the compiler cannot see, so a policy
with one is checked only for the prompts it can.
"""

from __future__ import annotations

from tenet.compiler import ir
from tenet.compiler.diagnostics import Diagnostic, warning
from tenet.compiler.heldout import heldout_prompts
from tenet.compiler.intervals import needed_for
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.probes import tempting_counts
from tenet.compiler.settings import MAXIMUM_GATES

MIN_TEMPTED = 8  # tempting prompts a rule needs to read "kept" or "broken" rather than "not tested"
LEVEL_OPS = (">=", ">")


def check_resolution(linked: LinkedPolicy, policy: ir.PolicyIR, for_training: bool = False) -> list[Diagnostic]:
    """W177: a rule too few prompts tempt; W178: a gate its tempting prompts cannot resolve."""
    if linked.training_span is None and not for_training:
        return []
    training = policy.training
    held = heldout_prompts(policy)
    untemplated = [text for text in held.used(training.eval_prompts) if text not in held.worded]
    counts = tempting_counts(policy, untemplated, training.tempt_prompts, training.seed)
    # A gated rule no prompt reaches at all is W164's ("can never be measured"), said once.
    unreached = {g.rule for g in training.gates if g.target == "rule" and not counts.get(g.rule or "")}
    # Only the policy's own rules: an imported library's rules are not the author's to widen (the
    # cycle's table still reads "not tested" for them).
    own = linked.policy_span.file
    found = [_untested(rule, counts[rule.id]) for rule in policy.rules
             if counts[rule.id] < MIN_TEMPTED and not held.files and rule.id not in unreached
             and rule.span.file == own]
    spans = {(g.target, g.rule.text if g.rule else None): g.span for g in linked.gates}
    for gate in training.gates:
        if gate.op in LEVEL_OPS and gate.target not in MAXIMUM_GATES and gate.rule not in unreached:
            problem = _unresolvable(gate, policy.rules, counts, bool(held.files))
            if problem:
                span = spans.get((gate.target, gate.rule), linked.training_span or linked.policy_span)
                found.append(warning("W178", problem, span,
                                     "lower the threshold, raise `tempt_prompts`, or add held-out prompts "
                                     "in the rules' scope (docs/evaluation.md#resolution)"))
    return found


def _untested(rule: ir.RuleIR, count: int) -> Diagnostic:
    return warning("W177", f"rule `{rule.id}` is tempted by {count} held-out prompt{'' if count == 1 else 's'}, "
                           f"fewer than {MIN_TEMPTED}: its compliance will read \"not tested\"", rule.span,
                   "add prompts in the rule's scope as `prompt \"…\"` lines (they are phrased unlike the "
                   "templates), or widen what its `when` names")


def _unresolvable(gate: ir.GateIR, rules: tuple[ir.RuleIR, ...], counts: dict[str, int], files: bool) -> str | None:
    """Why a level gate cannot pass with the prompts that tempt its rules; None when it can."""
    if gate.target == "rule":
        members = [r.id for r in rules if r.id == gate.rule]
    elif gate.target == "overall":
        members = [r.id for r in rules]
    else:
        members = [r.id for r in rules if r.severity == gate.target]
    available = sum(counts.get(rule, 0) for rule in members)
    needed = needed_for(gate.threshold if gate.op == ">=" else min(1.0, gate.threshold + 1e-9))
    label = f"rule {gate.rule}" if gate.target == "rule" else gate.target
    if needed is None:
        return (f"gate `{label} {gate.op} {gate.threshold:g}` can never pass: a 95% interval never "
                "reaches 1 on a finite number of prompts")
    if available >= needed or files:
        return None
    return (f"gate `{label} {gate.op} {gate.threshold:g}` cannot pass: {available} held-out prompt"
            f"{'' if available == 1 else 's'} tempt its rules, and a 95% interval clears {gate.threshold:g} "
            f"only with at least {needed}, all kept")
