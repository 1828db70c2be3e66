"""Resolve names: `let` references of the right kind, tags, count units, gate rules."""

from __future__ import annotations

from tenet.compiler import ast
from tenet.compiler.diagnostics import Diagnostic, did_you_mean, error
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.predicates.count import check_unit
from tenet.compiler.walk import atoms, rule_preds

LLAMA_GUARD_TAGS = tuple(f"S{i}" for i in range(1, 15))
_WANTED = {"regex": "a /regex/", "words": "words(...)", "exemplars": "exemplars(...)"}


def check_names(policy: LinkedPolicy) -> list[Diagnostic]:
    """Report unknown or mistyped names, unknown tags and unknown count units."""
    found: list[Diagnostic] = []
    let_names = [let.name.text for let in policy.lets]
    known_tags = set(LLAMA_GUARD_TAGS) | {t.text for t in policy.taxonomy}
    for linked in policy.rules:
        rule = linked.rule
        for pred in rule_preds(rule):
            for atom in atoms(pred):
                found.extend(_check_atom(atom, policy, let_names))
        for tag in rule.tags:
            if tag.text not in known_tags:
                hint = did_you_mean(tag.text, known_tags) or (
                    "tags are Llama Guard codes S1–S14 or names declared with `taxonomy`")
                found.append(error("E106", f"unknown tag `{tag.text}`", tag.span, hint))
    rule_ids = [r.rule.id.text for r in policy.rules]
    for gate in policy.gates:
        if gate.rule is not None and gate.rule.text not in rule_ids:
            found.append(error("E163", f"gate names unknown rule `{gate.rule.text}`", gate.rule.span,
                               did_you_mean(gate.rule.text, rule_ids)))
    return found


def _check_atom(atom: ast.Pred, policy: LinkedPolicy, let_names: list[str]) -> list[Diagnostic]:
    if isinstance(atom, ast.Matches) and isinstance(atom.regex, ast.Name):
        return _check_ref(atom.regex, "regex", policy, let_names)
    if isinstance(atom, ast.Mentions) and isinstance(atom.terms, ast.Name):
        return _check_ref(atom.terms, "words", policy, let_names)
    if isinstance(atom, (ast.ScoreCmp, ast.ScoreBare)):
        score = atom.score
        if isinstance(score, ast.Similarity) and isinstance(score.exemplars, ast.Name):
            return _check_ref(score.exemplars, "exemplars", policy, let_names)
    if isinstance(atom, ast.Count):
        return check_unit(atom)
    return []


def _check_ref(name: ast.Name, wanted: str, policy: LinkedPolicy, let_names: list[str]) -> list[Diagnostic]:
    let = policy.let(name.text)
    if let is None:
        hint = did_you_mean(name.text, let_names) or f"define it first: let {name.text} = ..."
        return [error("E104", f"unknown name `{name.text}`", name.span, hint)]
    if let.value.kind != wanted:
        return [error("E105", f"`{name.text}` is {_WANTED[let.value.kind]}, but {_WANTED[wanted]} is needed here",
                      name.span, f"`{name.text}` is defined at {let.span.file}:{let.span.line}")]
    return []
