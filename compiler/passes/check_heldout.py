"""Check that a training run has held-out prompts to evaluate on, and that each gated rule meets one.

A model is promoted on its held-out evaluation, and rule examples always train, so a policy
whose prompt sources give no held-out prompt could only ever be promoted unmeasured: that is
E173 when the policy declares a `training:` block, or when the caller compiles for a training
run (`tenet plan`, `compile-and-train`). A labeling-only policy or a library module compiles.
Prompt files are read only at run time, so a policy with one passes here and the cycle counts
its rows (`tenet.runtime.cycle.require_heldout`).

A `gate rule ID` whose rule's scope holds on none of the held-out and temptation prompts the
evaluation answers can never be measured: W164. Only the prompt decides here (the answer is not known
yet), so a scope that depends on the response or on a model score is given the benefit of
the doubt.
"""

from __future__ import annotations

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, Span, error, warning
from tenet.compiler.heldout import MAX_WRITTEN_PROMPTS, distinct_prompts, heldout_prompts, written_count
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.passes.check_examples import EXAMPLE_SECONDS, within_time
from tenet.compiler.probes import probes
from tenet.compiler.semantics import UNANSWERED, Sample, in_scope


def check_heldout(linked: LinkedPolicy, policy: ir.PolicyIR, for_training: bool = False) -> list[Diagnostic]:
    """E173: no held-out prompt, and training is declared or `for_training`; W164: a gate no prompt reaches."""
    limited = _written_over_limit(policy)
    held = heldout_prompts(policy)
    if not held.known:
        return limited
    if not held.prompts:
        if linked.training_span is None and not for_training:
            return limited
        return [*limited, no_heldout_prompts(policy, linked.training_span or linked.policy_span)]
    training = policy.training
    written = tuple(p.text for p in probes(policy, training.tempt_prompts, training.seed))
    used = held.used(training.eval_prompts) + written
    rules = {rule.id: rule for rule in policy.rules}
    found = []
    for gate in linked.gates:
        if gate.target == "rule" and gate.rule is not None and gate.rule.text in rules:
            found.extend(_unreached_gate(gate, rules[gate.rule.text], used))
    return [*limited, *found]


def _written_over_limit(policy: ir.PolicyIR) -> list[Diagnostic]:
    """W176 when templates and literal prompts ask for more prompts than tenet expands."""
    asked = written_count(policy)
    if asked <= MAX_WRITTEN_PROMPTS:
        return []
    where = next(s.span for s in policy.prompts if isinstance(s, ir.TemplateIR))
    return [warning("W176", f"the policy's templates and prompts make {asked:,} prompts; only the first "
                    f"{MAX_WRITTEN_PROMPTS:,} are used", where,
                    "fewer slot values, or real traffic in a prompt file, keep the pool to what is used")]


def no_heldout_prompts(policy: ir.PolicyIR, span: Span | None) -> Diagnostic:
    """E173: the policy's prompt sources give no held-out prompt, so no model could be evaluated."""
    why, hint = _why_none_held_out(policy)
    message = f"policy `{policy.policy_id}` has no held-out prompts to evaluate a trained model on: {why}"
    return error("E173", message, span, f"{hint}; a model nobody evaluated is never promoted")


def _why_none_held_out(policy: ir.PolicyIR) -> tuple[str, str]:
    """Why the held-out set is empty, and what to do about it."""
    training = policy.training
    written = distinct_prompts(policy)
    if any(isinstance(s, ir.PromptFileIR) for s in policy.prompts):
        return ("the seeded split holds out none of the rows of its prompt files and prompts",
                "check that the prompt files have rows, add prompts, or raise `eval_split`")
    if written:
        return (f"the seeded split (eval_split {training.eval_split:g}, seed {training.seed}) holds out "
                f"none of its {len(written)} prompt{'' if len(written) == 1 else 's'}",
                "add more prompts (a template with slots makes many) or raise `eval_split`")
    if policy.prompts:
        return ("its prompts are all rule example prompts, which always train",
                "add prompts like your users' that are not rule example prompts")
    return ("it has no prompts besides its rule examples, which always train",
            "add a `prompts:` block with prompts like your users' (a template with slots, "
            "`prompt \"…\"` lines or a prompt file)")


def _unreached_gate(gate: ast.Gate, rule: ir.RuleIR, prompts: tuple[str, ...]) -> list[Diagnostic]:
    """W164 when the rule's scope holds on none of the held-out prompts."""
    def applies(text: str) -> bool:
        return in_scope(rule, Sample(prompt=text, response=""), unknown=UNANSWERED) is not False

    reached = within_time(EXAMPLE_SECONDS, lambda: any(applies(text) for text in prompts))
    if reached is not False:  # reached, or too slow to tell (a regex that backtracks badly)
        return []
    return [warning("W164", f"gate on rule `{rule.id}` can never be measured: none of the {len(prompts)} "
                            "held-out prompts is in the rule's scope, so the gate will fail", gate.span,
                    "add prompts where the rule's `when` holds (and no `unless` does), "
                    "or gate on another target")]
