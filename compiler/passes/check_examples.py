"""Run every rule on its own examples at compile time; a rule its example contradicts is an error.

Only text predicates are evaluated here. Where the outcome depends on a model-backed score
(sentiment, similarity, classifier, judge), the example is left for the runtime to check.
"""

from __future__ import annotations

from compiler import ast, ir
from compiler.diagnostics import Diagnostic, error
from compiler.link import LinkedPolicy
from compiler.semantics import Sample, in_scope, rule_vote

_NAMES = {ir.GOOD: "GOOD", ir.BAD: "BAD", ir.ABSTAIN: "ABSTAIN"}


def check_examples(linked: LinkedPolicy, policy: ir.PolicyIR) -> tuple[ir.PolicyIR, list[Diagnostic]]:
    """Report examples that fall outside their rule's scope or get the opposite vote."""
    found: list[Diagnostic] = []
    for linked_rule, rule in zip(linked.rules, policy.rules):
        for example in linked_rule.rule.examples:
            found.extend(_check_example(rule, example))
    return policy, found


def expected_ok(verdict: str, role: str, vote: int) -> bool:
    """Whether a vote agrees with an example's role for a verdict kind."""
    if role == "good":
        return vote == ir.GOOD if verdict in ("require", "forbid", "prefer") else vote != ir.BAD
    return vote == ir.BAD if verdict in ("require", "forbid", "avoid") else vote != ir.GOOD


def _check_example(rule: ir.RuleIR, example: ast.Example) -> list[Diagnostic]:
    context = tuple((i.role, i.text) for i in example.items if i.role in ("user", "assistant"))
    prompt = next((i.text for i in example.items if i.role == "prompt"), "")
    found = []
    for item in example.items:
        if item.role not in ("good", "bad"):
            continue
        sample = Sample(prompt=prompt, response=item.text, context=context)
        if in_scope(rule, sample) is False:
            found.append(error("E141", f"example is outside rule `{rule.id}`'s scope, so it tests "
                                       "nothing", item.span,
                               "change the example's prompt so the rule's `when` holds and no `unless` does"))
            continue
        vote = rule_vote(rule, sample)
        if vote is None or expected_ok(rule.verdict, item.role, vote):
            continue
        found.append(error("E140", f"rule `{rule.id}` contradicts its own example: the {item.role} "
                                   f"response is voted {_NAMES[vote]}", item.span,
                           "fix the example or the rule's condition"))
    return found
