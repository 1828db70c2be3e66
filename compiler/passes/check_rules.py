"""Check each rule's shape: one verdict, thresholds on scores, sane counts, examples present."""

from __future__ import annotations

from tenet.compiler import ast, predicates
from tenet.compiler.diagnostics import Diagnostic, error, warning
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.walk import atoms, rule_preds


def check_rules(policy: LinkedPolicy) -> list[Diagnostic]:
    """Report malformed rules: verdict count, thresholds, counts, empty terms, examples."""
    found: list[Diagnostic] = []
    for linked in policy.rules:
        rule = linked.rule
        found.extend(_check_clauses(rule))
        for pred in rule_preds(rule):
            for atom in atoms(pred):
                found.extend(_check_atom(atom))
        found.extend(_check_examples_shape(rule))
    for let in policy.lets:
        if isinstance(let.value, ast.WordsLit) and any(not t.strip() for t in let.value.terms):
            found.append(error("E113", "empty keyword", let.value.span, "remove the empty string"))
    return found


def _check_clauses(rule: ast.Rule) -> list[Diagnostic]:
    found = []
    if not rule.verdicts:
        found.append(error("E108", f"rule `{rule.id.text}` has no verdict", rule.id.span,
                           "add one of: require / forbid / prefer / avoid <condition>"))
    for extra in rule.verdicts[1:]:
        found.append(error("E108", f"rule `{rule.id.text}` has more than one verdict", extra.span,
                           "split it into two rules, or combine the conditions with `and`/`or`"))
    for extra in rule.whens[1:]:
        found.append(error("E109", f"rule `{rule.id.text}` has more than one `when`", extra.span,
                           "combine the conditions with `and`"))
    if len(rule.becauses) > 1:
        found.append(error("E109", f"rule `{rule.id.text}` has more than one `because`", rule.id.span,
                           "give one rationale"))
    return found


def _check_atom(atom: ast.Pred) -> list[Diagnostic]:
    """The atom's kind's own shape checks (`check` in `compiler/predicates/<kind>.py`)."""
    check = predicates.of(atom).check
    return check(atom) if check is not None else []


def _check_examples_shape(rule: ast.Rule) -> list[Diagnostic]:
    if not rule.examples:
        return [warning("W150", f"rule `{rule.id.text}` has no examples", rule.id.span,
                        "add an example: block with a prompt, a good and a bad response; "
                        "examples are the rule's tests and seed its training pairs")]
    found = []
    for example in rule.examples:
        roles = [item.role for item in example.items]
        if roles.count("prompt") != 1:
            found.append(error("E143", "an example needs exactly one `prompt`", example.span,
                               'give the example one `prompt "..."` line; start another `example:` '
                               "block for a second prompt"))
        if "good" not in roles and "bad" not in roles:
            found.append(error("E143", "an example needs a `good` or a `bad` response", example.span,
                               'add `good "..."` (a response the rule accepts) or `bad "..."` '
                               "(one it rejects)"))
        if "prompt" in roles and any(r in ("user", "assistant") for r in roles[roles.index("prompt"):]):
            found.append(error("E143", "context turns (`user`, `assistant`) go before the `prompt`",
                               example.span, "move the `user`/`assistant` lines above the `prompt` line: "
                               "they are the conversation so far"))
    return found
