"""Merge a loaded program into one `LinkedPolicy`: rules with origins, names, settings.

Dependencies (imported or extended) have base authority; the entry policy is local.
`override rule` replaces a rule of the same id defined earlier; any other repeated id
is an error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tenet.compiler import ast
from tenet.compiler.diagnostics import CompileError, Diagnostic, Span, did_you_mean, error
from tenet.compiler.load import Program

SUPPORTED_DSL_VERSIONS = (1.0,)
BASE_AUTHORITY, LOCAL_AUTHORITY = 0, 1


class LinkedRule(BaseModel):
    """A rule with where it came from and the authority of its module."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: ast.Rule
    module: str
    authority: int
    order: int
    overrides: str | None = None


class ModuleRef(BaseModel):
    """A source file of the policy, by path and content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    policy_id: str
    version: str
    sha256: str
    via: str | None


class LinkedPolicy(BaseModel):
    """The whole policy after imports: what the checks and lowering work on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: str
    version: str
    description: str | None
    root: str
    entry_path: str
    modules: tuple[ModuleRef, ...]
    rules: tuple[LinkedRule, ...]
    lets: tuple[ast.Let, ...]
    taxonomy: tuple[ast.Name, ...]
    prompts: tuple[ast.PromptSource, ...]
    settings: tuple[ast.Setting, ...]
    gates: tuple[ast.Gate, ...]
    policy_span: Span  # the entry's policy id: where a diagnostic about the whole policy points
    training_span: Span | None = None  # the entry's `training:` block, else the nearest inherited one

    def let(self, name: str) -> ast.Let | None:
        """Return the `let` bound to `name`, if any."""
        return next((let for let in self.lets if let.name.text == name), None)

    def rule(self, rule_id: str) -> LinkedRule | None:
        """Return the rule with this id, if any."""
        return next((r for r in self.rules if r.rule.id.text == rule_id), None)


def link(program: Program) -> LinkedPolicy:
    """Merge the program's modules into one policy.

    Raises:
        CompileError: On repeated ids, overrides of unknown rules or an unsupported dsl.
    """
    diagnostics: list[Diagnostic] = []
    rules: dict[str, LinkedRule] = {}
    lets: dict[str, ast.Let] = {}
    taxonomy: list[ast.Name] = []
    inherited: list[ast.PolicyAst] = []
    order = 0
    for module in program.modules:
        tree = module.ast
        if tree.dsl_version not in SUPPORTED_DSL_VERSIONS:
            diagnostics.append(error("E180", f"unsupported dsl version {tree.dsl_version:g}",
                                     tree.span, "this compiler reads `dsl 1`"))
        authority = LOCAL_AUTHORITY if module.is_entry else BASE_AUTHORITY
        if module.is_entry or module.via == "extends":
            inherited.append(tree)
        for item in tree.items:
            if isinstance(item, ast.Rule):
                order += 1
                _add_rule(rules, item, tree.policy_id.text, authority, order, diagnostics)
            elif isinstance(item, ast.Let):
                first = lets.get(item.name.text)
                if first is not None:
                    diagnostics.append(error(
                        "E103", f"name `{item.name.text}` is already defined", item.name.span,
                        f"first defined at {first.span.file}:{first.span.line}"))
                else:
                    lets[item.name.text] = item
            elif isinstance(item, ast.Taxonomy):
                taxonomy.extend(item.tags)
    if diagnostics:
        raise CompileError(diagnostics)
    entry = program.entry.ast
    settings, gates = _merge_training(inherited)
    return LinkedPolicy(
        policy_id=entry.policy_id.text,
        version=entry.version,
        description=entry.description,
        root=program.root,
        entry_path=program.entry.path,
        modules=tuple(
            ModuleRef(path=m.path, policy_id=m.ast.policy_id.text, version=m.ast.version,
                      sha256=m.sha256, via=m.via)
            for m in program.modules
        ),
        rules=tuple(sorted(rules.values(), key=lambda r: r.order)),
        lets=tuple(lets.values()),
        taxonomy=tuple(taxonomy),
        prompts=tuple(s for tree in inherited for item in tree.items
                      if isinstance(item, ast.Prompts) for s in item.sources),
        settings=settings,
        gates=gates,
        policy_span=entry.policy_id.span,
        training_span=_training_span(inherited),
    )


def _add_rule(rules: dict[str, LinkedRule], rule: ast.Rule, module: str, authority: int,
              order: int, diagnostics: list[Diagnostic]) -> None:
    rule_id = rule.id.text
    existing = rules.get(rule_id)
    if rule.override:
        if existing is None:
            hint = did_you_mean(rule_id, rules) or "only rules from imported policies can be overridden"
            diagnostics.append(error("E102", f"`override rule {rule_id}` names no imported rule",
                                     rule.id.span, hint))
            return
        # The override takes the overridden rule's place in declaration order.
        rules[rule_id] = LinkedRule(rule=rule, module=module, authority=authority,
                                    order=existing.order, overrides=existing.module)
        return
    if existing is not None:
        where = existing.rule.id.span
        hint = f"first defined at {where.file}:{where.line}"
        if existing.module != module:
            hint += f"; to replace it write `override rule {rule_id}`"
        diagnostics.append(error("E101", f"duplicate rule id `{rule_id}`", rule.id.span, hint))
        return
    rules[rule_id] = LinkedRule(rule=rule, module=module, authority=authority, order=order)


def _training_span(trees: list[ast.PolicyAst]) -> Span | None:
    """The span of the last `training:` block in inheritance order (the entry's if it has one)."""
    blocks = [item.span for tree in trees for item in tree.items if isinstance(item, ast.Training)]
    return blocks[-1] if blocks else None


def _merge_training(trees: list[ast.PolicyAst]) -> tuple[tuple[ast.Setting, ...], tuple[ast.Gate, ...]]:
    """Later (child) policies override earlier (parent) settings key by key, gates by target."""
    settings: dict[str, ast.Setting] = {}
    gates: dict[tuple[str, str | None], ast.Gate] = {}
    for tree in trees:
        for item in tree.items:
            if isinstance(item, ast.Training):
                for setting in item.settings:
                    settings.pop(setting.key.text, None)
                    settings[setting.key.text] = setting
                for gate in item.gates:
                    key = (gate.target, gate.rule.text if gate.rule else None)
                    gates.pop(key, None)
                    gates[key] = gate
    return tuple(settings.values()), tuple(gates.values())
