"""Lower a checked `LinkedPolicy` into the IR: resolved rules, prompts, pair specs, training."""

from __future__ import annotations

import math

from tenet.compiler import ast, ir, predicates
from tenet.compiler.lengths import generation_cap
from tenet.compiler.link import LinkedPolicy, LinkedRule
from tenet.compiler.passes.check_training import is_override, setting_value
from tenet.compiler.settings import DEFAULT_GATES, EMBEDDED_RECIPES, GATE_TARGETS, SETTINGS
from tenet.compiler.walk import atoms, content_hash, fold


def lower(policy: LinkedPolicy, base_model: str | None = None, method: str | None = None) -> ir.PolicyIR:
    """Build the IR for a policy that passed every check; `base_model` and `method` replace the policy's.

    `trainer.*` / `lora.*` settings are left for `check_trainer_fields`, which types them
    against the method's TRL config.
    """
    rules = tuple(_lower_rule(linked, policy) for linked in policy.rules)
    training = _lower_training(policy, rules, base_model, method)
    return ir.PolicyIR(
        policy_id=policy.policy_id,
        version=policy.version,
        description=policy.description,
        rules=rules,
        prompts=tuple(_lower_prompt(source) for source in policy.prompts),
        pair_specs=allocate_pairs(rules, training.pairs, training.strategies),
        training=training,
    )


# --- predicates -----------------------------------------------------------------


# The connectives lower to their IR twins; `fold` hands each one its lowered operands.
_LOWERED = {
    "and": lambda pred, left, right: ir.AndPred(span=pred.span, left=left(), right=right()),
    "or": lambda pred, left, right: ir.OrPred(span=pred.span, left=left(), right=right()),
    "not": lambda pred, operand: ir.NotPred(span=pred.span, operand=operand()),
}


def lower_pred(pred: ast.Pred, policy: LinkedPolicy) -> ir.PredIR:
    """Lower one AST predicate, resolving `let` names; each atom's kind lowers it."""
    return fold(pred, lambda atom: predicates.of(atom).lower(atom, lambda node: _resolve(node, policy)), _LOWERED)


def _resolve(node, policy: LinkedPolicy):
    if isinstance(node, ast.Name):
        let = policy.let(node.text)
        assert let is not None, node.text  # check_names guarantees it
        return let.value
    return node


# --- rules ------------------------------------------------------------------------


def _lower_rule(linked: LinkedRule, policy: LinkedPolicy) -> ir.RuleIR:
    rule = linked.rule
    verdict = rule.verdicts[0]
    check = lower_pred(verdict.pred, policy)
    when = lower_pred(rule.whens[0], policy) if rule.whens else None
    unless = tuple(lower_pred(p, policy) for p in rule.unlesses)
    examples = tuple(_lower_example(e) for e in rule.examples)
    tags = tuple(t.text for t in rule.tags)
    because = rule.becauses[0] if rule.becauses else None
    preds = [check, *([when] if when else []), *unless]
    fingerprint = ir.Fingerprint(
        semantic=content_hash({"verdict": verdict.verdict, "check": check.model_dump(mode="json"),
                               "when": when.model_dump(mode="json") if when else None,
                               "unless": [u.model_dump(mode="json") for u in unless]}),
        examples=content_hash([e.model_dump(mode="json") for e in examples]),
        metadata=content_hash({"severity": rule.severity, "description": rule.description,
                               "because": because, "tags": list(tags)}),
    )
    return ir.RuleIR(
        id=rule.id.text, module=linked.module, span=rule.span, severity=rule.severity,
        verdict=verdict.verdict, check=check, when=when, unless=unless,
        description=rule.description, because=because, tags=tags, examples=examples,
        authority=linked.authority, precedence=0,
        runtime_only=any(a.kind == "score" for p in preds for a in atoms(p)),
        fingerprint=fingerprint,
    )


def _lower_example(example: ast.Example) -> ir.ExampleIR:
    context = tuple((item.role, item.text) for item in example.items if item.role in ("user", "assistant"))
    prompt = next((item.text for item in example.items if item.role == "prompt"), "")
    return ir.ExampleIR(
        span=example.span, context=context, prompt=prompt,
        good=tuple(item.text for item in example.items if item.role == "good"),
        bad=tuple(item.text for item in example.items if item.role == "bad"),
    )


# --- prompts, pairs, training -------------------------------------------------------


def _lower_prompt(source: ast.PromptSource) -> ir.PromptSourceIR:
    if isinstance(source, ast.Template):
        return ir.TemplateIR(span=source.span, text=source.text,
                             slots=tuple((s.name.text, s.values) for s in source.slots))
    if isinstance(source, ast.PromptFile):
        return ir.PromptFileIR(span=source.span, path=source.path, column=source.column)
    return ir.LiteralPromptIR(span=source.span, text=source.text)


def allocate_pairs(rules: tuple[ir.RuleIR, ...], budget: int, strategies: tuple[str, ...]) -> tuple[ir.PairSpec, ...]:
    """Split the pair budget across rules by severity weight.

    In order of priority: the parts sum to the budget; a critical rule gets at least its
    weighted share rounded up (when the critical shares fit); every rule gets at least one
    pair when the budget allows; the rest goes to the rule furthest below its share.
    """
    if not rules:
        return ()
    n = len(rules)
    total = sum(r.weight for r in rules)
    exact = [budget * r.weight / total for r in rules]
    critical = [r.severity == "critical" for r in rules]
    # The epsilon keeps float noise (2.0000000001) from rounding a whole share up.
    guaranteed = [math.ceil(x - 1e-9) if c else 0 for x, c in zip(exact, critical)]
    if sum(guaranteed) > budget:
        guaranteed = [0] * n
    alloc = list(guaranteed)
    if budget >= n:
        for j in range(n):
            if alloc[j] == 0 and sum(alloc) < budget:
                alloc[j] = 1
    while sum(alloc) < budget:  # the rule furthest below its share next; critical wins ties
        j = max(range(n), key=lambda j: (exact[j] - alloc[j], critical[j], -j))
        alloc[j] += 1
    return tuple(
        ir.PairSpec(rule=r.id, severity=r.severity, budget=alloc[j], strategies=strategies, seeds=len(r.examples))
        for j, r in enumerate(rules)
    )


def _lower_training(policy: LinkedPolicy, rules: tuple[ir.RuleIR, ...], base_model: str | None,
                    method: str | None) -> ir.TrainingIR:
    given = {setting.key.text: setting_value(setting, SETTINGS[setting.key.text]) for setting in policy.settings
             if not is_override(setting.key.text)}
    if base_model:
        given["base_model"] = base_model
    if method:
        given["method"] = method
    values = {key: spec.default for key, spec in SETTINGS.items()}
    # An embedded base model brings the recipe measured for it; what the policy says still wins.
    values.update(EMBEDDED_RECIPES.get(str(given.get("base_model", values["base_model"])), {}))
    values.update(given)
    # 0 means "long enough that no length rule is decided by the cap".
    # Sampling for pairs uses the same cap: a long answer must end by itself to be the
    # rejected side of a length rule (capped samples are never chosen sides).
    for key in ("max_new_tokens", "eval_max_new_tokens"):
        if values[key] == 0:
            values[key] = generation_cap(rules)
    gates = [ir.GateIR(target=g.target, rule=g.rule.text if g.rule else None, op=g.op,
                       threshold=g.threshold) for g in policy.gates]
    given = {g.target for g in gates}
    # A default severity gate only where the policy has rules of that severity: gates fail
    # closed, and one over no rules could never be measured.
    measurable = {r.severity for r in rules} | {t for t in GATE_TARGETS if t not in ir.SEVERITIES}
    gates += [ir.GateIR(target=t, op=op, threshold=th, default=True)
              for t, op, th in DEFAULT_GATES if t not in given and t in measurable]
    return ir.TrainingIR(**values, gates=tuple(gates))
