"""Per-rule reuse of strategy output across cycles, through the content-addressed cache.

A rule's candidates (pairs and unpaired rows before the quality gates) depend on the rule's
semantics and examples, the prompt pool, the strategies and their settings, and the model
that sampled. Those go into the rule's key, so an unchanged rule in a new policy version finds
its candidates and only changed or new rules run the strategies. Strategies that compare
rules with each other (sample, revise, contrast, feedback) make every key depend on every
rule, so any change reruns them all. The gates and the budget always run on the union.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Sequence

from tenet.compiler import ir
from tenet.compiler.strategies import CROSS_RULE
from tenet.runtime.cache import Cache, key_of
from tenet.runtime.synthesize.pairs import Completion, Pair
from tenet.runtime.synthesize.prompts import PromptPool

POLICY_GROUP = "__policy__"  # items that target no single rule
# Part of every key: bump it when what a strategy yields for the same inputs changes (new
# edits, new gates on candidates), so no cycle reuses candidates the old code made.
CANDIDATES_VERSION = "candidates-v25"


def rule_keys(policy: ir.PolicyIR, pool: PromptPool, strategies: Sequence[str], settings: dict) -> dict[str, str]:
    """The cache key of every rule's candidates, plus one for items that target no rule."""
    pool_part = [[p.text, p.source, list(map(list, p.context)), p.rule] for p in pool.train + pool.eval]
    shared = [list(strategies), pool_part, settings, policy.training.seed]
    everyone = sorted((r.id, r.fingerprint.semantic, r.fingerprint.examples) for r in policy.rules)
    cross = everyone if any(s in CROSS_RULE for s in strategies) else None
    keys = {r.id: key_of(CANDIDATES_VERSION, r.id, r.fingerprint.semantic, r.fingerprint.examples, cross, shared)
            for r in policy.rules}
    keys[POLICY_GROUP] = key_of(CANDIDATES_VERSION, POLICY_GROUP, everyone, shared)
    return keys


def load(cache: Cache, keys: dict[str, str]) -> dict[str, list[Pair | Completion]]:
    """The cached candidates of every group that has an entry."""
    found = {}
    for group, key in keys.items():
        entry = cache.get("candidates", key)
        if entry is not None:
            found[group] = [_decode(item) for item in entry]
    return found


def store(cache: Cache, keys: dict[str, str], groups: Sequence[str], items: Sequence[Pair | Completion]) -> None:
    """Cache the new items of each group that ran (an empty list too: nothing to redo)."""
    by_group: dict[str, list[dict]] = {g: [] for g in groups}
    for item in items:
        group = item.target_rules[0] if item.target_rules else POLICY_GROUP
        if group in by_group:
            by_group[group].append(_encode(item))
    for group, encoded in by_group.items():
        cache.put("candidates", keys[group], encoded)


def _encode(item: Pair | Completion) -> dict:
    return {"type": type(item).__name__, **asdict(item)}


def _decode(data: dict) -> Pair | Completion:
    fields = {k: v for k, v in data.items() if k != "type"}
    fields["target_rules"] = tuple(fields["target_rules"])
    fields["context"] = tuple(tuple(turn) for turn in fields["context"])
    return (Pair if data["type"] == "Pair" else Completion)(**fields)
