"""Semantic diff of two compiled policies: rules added, removed or changed, by category.

Categories follow SQLMesh's ordering by decreasing severity: a BREAKING change alters what
a rule checks (retrain), NON_BREAKING adds data or changes weight (new rule, new examples,
a new severity), METADATA only touches descriptions, rationale or tags.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.ir import RuleIR
from tenet.compiler.walk import content_hash


class ChangeCategory(str, Enum):
    """Kinds of change, ordered by decreasing severity (the order is relied upon)."""

    BREAKING = "breaking"
    NON_BREAKING = "non-breaking"
    METADATA = "metadata"


_ORDER = list(ChangeCategory)


class RuleChange(BaseModel):
    """One rule's change between two policies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    change: Literal["added", "removed", "changed"]
    category: ChangeCategory
    fields: tuple[str, ...] = ()


class PolicyDiff(BaseModel):
    """All changes between two compiled policies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old_version: str
    new_version: str
    rules: tuple[RuleChange, ...]
    training_changed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when anything but the version string differs."""
        return bool(self.rules or self.training_changed)

    def summary(self) -> str:
        """A one-line summary, e.g. `+1 rule, -0, ~2 (1 breaking)`."""
        added = sum(c.change == "added" for c in self.rules)
        removed = sum(c.change == "removed" for c in self.rules)
        changed = sum(c.change == "changed" for c in self.rules)
        breaking = sum(c.category is ChangeCategory.BREAKING for c in self.rules)
        text = f"+{added} -{removed} ~{changed} rules ({breaking} breaking)"
        if self.training_changed:
            text += f"; training: {', '.join(self.training_changed)}"
        return text


def diff_artifacts(old: CompiledArtifact, new: CompiledArtifact) -> PolicyDiff:
    """Compare two artifacts rule by rule (by id) and their training settings."""
    old_rules = {r.id: r for r in old.ir.rules}
    new_rules = {r.id: r for r in new.ir.rules}
    changes: list[RuleChange] = []
    for rule_id, rule in new_rules.items():
        if rule_id not in old_rules:
            changes.append(RuleChange(rule=rule_id, change="added", category=ChangeCategory.NON_BREAKING))
        else:
            change = classify_rule_change(old_rules[rule_id], rule)
            if change is not None:
                changes.append(change)
    for rule_id in old_rules:
        if rule_id not in new_rules:
            changes.append(RuleChange(rule=rule_id, change="removed", category=ChangeCategory.BREAKING))
    changes.sort(key=lambda c: (_ORDER.index(c.category), c.rule))
    old_t, new_t = old.ir.training.model_dump(), new.ir.training.model_dump()
    training = tuple(k for k in new_t if old_t.get(k) != new_t[k])
    if content_hash(list(old.ir.prompts)) != content_hash(list(new.ir.prompts)):
        training += ("prompts",)
    return PolicyDiff(old_version=old.version, new_version=new.version, rules=tuple(changes),
                      training_changed=training)


def classify_rule_change(old: RuleIR, new: RuleIR) -> RuleChange | None:
    """Classify how one rule changed, or return None when it did not."""
    fields = []
    if old.fingerprint.semantic != new.fingerprint.semantic:
        fields.append("condition")
    if old.severity != new.severity:
        fields.append("severity")
    if old.fingerprint.examples != new.fingerprint.examples:
        fields.append("examples")
    meta = [f for f in ("description", "because", "tags") if getattr(old, f) != getattr(new, f)]
    fields.extend(meta)
    if not fields:
        return None
    if "condition" in fields:
        category = ChangeCategory.BREAKING
    elif "severity" in fields or "examples" in fields:
        category = ChangeCategory.NON_BREAKING
    else:
        category = ChangeCategory.METADATA
    return RuleChange(rule=new.id, change="changed", category=category, fields=tuple(fields))
