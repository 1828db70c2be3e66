"""Quality gates for candidate pairs, budget selection, and the pair QA report.

A pair is kept only if: the chosen side passes and the rejected side fails every target
rule; the chosen side breaks no rule it can be checked against; for minimal pairs (perturb) no
other rule changed its vote; the sides differ; it is not a duplicate; the length ratio is
inside the band (length is a known DPO shortcut; pairs whose target bounds the length are
exempt, their lengths must differ); its prompt is not a
held-out evaluation prompt; and both sides read as whole answers (`tenet.runtime.naturalness`: no
loop, no hybrid list marker, no mid-sentence ending, no leftover), except the policy
authors' own examples. A fluency check under the base model (`fluency.py`) runs on the
selected pairs when a model is loaded.

Within a rule's budget, the model's own answers come first (`BY_RANK`, compiler/strategies.py): edits
fill only what sampling could not.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from tenet.compiler import ir
from tenet.compiler.lengths import caps_length
from tenet.compiler.strategies import BY_RANK, TRUSTED
from tenet.compiler.walk import atoms
from tenet.runtime import naturalness
from tenet.runtime.label.engine import Labeler
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.perturb_ops import repairs_with_advice
from tenet.runtime.synthesize.prompts import normalize
from tenet.runtime.synthesize.verify import fails, passes, vote_matrix

NATURALNESS_REASONS = tuple(f"unnatural_{p}" for p in naturalness.PROBLEMS)
DROP_REASONS = ("identical", "duplicate", "eval_overlap", "length_ratio", *NATURALNESS_REASONS,
                "chosen_declines", "chosen_fails_target", "chosen_breaks_rule", "rejected_passes_target",
                "other_rule_flipped", "unknown_rule",
                "not_fluent", "over_budget")


@dataclass
class QaReport:
    """Counts of what was kept and dropped, and why."""

    candidates: Counter = field(default_factory=Counter)   # by strategy
    kept: Counter = field(default_factory=Counter)         # by strategy
    dropped: Counter = field(default_factory=Counter)      # by reason
    dropped_by_strategy: dict = field(default_factory=lambda: defaultdict(Counter))
    per_rule: dict = field(default_factory=lambda: defaultdict(Counter))
    shortfall: dict = field(default_factory=dict)
    lengths: list = field(default_factory=list)
    unpaired_dropped: Counter = field(default_factory=Counter)  # feedback rows, by reason
    reused_rules: list = field(default_factory=list)  # rules whose candidates came from the cache
    filled_by: dict = field(default_factory=lambda: defaultdict(Counter))  # rule -> strategy -> kept
    capped_samples: int = 0  # model answers the token cap cut off (cut back, rejected sides only)
    artifact_pairs: Counter = field(default_factory=Counter)  # artifact contrasts, by the problem added
    scope_pairs: Counter = field(default_factory=Counter)  # scope contrasts, by the scoped rule
    model_breaks: dict = field(default_factory=dict)  # rule -> {judged, broken} in the model's samples
    needs: dict = field(default_factory=dict)  # rule -> how often the model broke it (coupled)
    weights: dict = field(default_factory=dict)  # rule -> its pairs' weight in the step sample

    def drop(self, pair: Pair, reason: str) -> None:
        """Record a dropped pair."""
        self.dropped[reason] += 1
        self.dropped_by_strategy[pair.strategy][reason] += 1
        for rule in pair.target_rules or ("(feedback)",):
            self.per_rule[rule]["dropped"] += 1

    def to_dict(self) -> dict:
        """JSON-ready report."""
        chosen = [c for c, _ in self.lengths]
        rejected = [r for _, r in self.lengths]
        ratios = [max(c, r) / max(1, min(c, r)) for c, r in self.lengths]
        return {
            "candidates": sum(self.candidates.values()), "kept": sum(self.kept.values()),
            "dropped": sum(self.dropped.values()),
            "dropped_by_reason": {r: self.dropped.get(r, 0) for r in DROP_REASONS},
            "per_strategy": {s: {"candidates": self.candidates[s], "kept": self.kept[s],
                                 "dropped": dict(self.dropped_by_strategy.get(s, {}))}
                             for s in sorted(self.candidates)},
            "per_rule": {r: {**dict(c), "filled_by": dict(self.filled_by.get(r, {}))}
                         for r, c in sorted(self.per_rule.items())},
            "capped_samples": self.capped_samples,
            "artifact_pairs": dict(sorted(self.artifact_pairs.items())),
            "scope_pairs": dict(sorted(self.scope_pairs.items())),
            "model_breaks": {r: {**c, "need": round(self.needs[r], 3),
                                                     "weight": round(self.weights.get(r, self.needs[r]), 3)} for r, c in sorted(self.model_breaks.items())},
            "shortfall": self.shortfall,
            "unpaired_dropped_by_reason": dict(self.unpaired_dropped),
            "reused_rules": list(self.reused_rules),
            "length_chars": {
                "chosen_mean": round(statistics.fmean(chosen), 1) if chosen else None,
                "rejected_mean": round(statistics.fmean(rejected), 1) if rejected else None,
                "ratio_mean": round(statistics.fmean(ratios), 3) if ratios else None,
                "ratio_max": round(max(ratios), 3) if ratios else None,
            },
        }


def gate(pairs: Sequence[Pair], rules: Sequence[ir.RuleIR], eval_prompts: set[str],
         length_ratio_max: float, labeler: Labeler | None = None, report: QaReport | None = None) -> tuple[list[Pair], QaReport]:
    """Apply every quality gate; return the surviving pairs and the report."""
    report = report or QaReport()
    for pair in pairs:
        report.candidates[pair.strategy] += 1
    refusal_rules = {r.id for r in rules if mentions_refusal(r)}
    # The length band keeps edits minimal; a length limit or a refusal changes the length by
    # nature (a refusal is a sentence or two where the answer was a page), and so does a
    # repair that ends the answer where the forbidden text began (a long answer against its
    # first sentences and a referral), so pairs that target one are exempt.
    unbanded = {r.id for r in rules if caps_length(r) or repairs_with_advice(r)} | refusal_rules
    keys = [(normalize(p.prompt), normalize(p.chosen), normalize(p.rejected)) for p in pairs]
    survivors = [(p, k) for p, k in zip(pairs, keys)
                 if _cheap_ok(p, k, eval_prompts, length_ratio_max, unbanded, report)
                 and not _declines(p, refusal_rules, report)]
    survivors = _dedupe(survivors, report)
    kept = _verify(survivors, rules, labeler, report)
    return kept, report


def _cheap_ok(pair: Pair, key: tuple[str, str, str], eval_prompts: set[str], band: float,
              unbanded: set[str], report: QaReport) -> bool:
    prompt, chosen, rejected = key
    if chosen == rejected:
        report.drop(pair, "identical")
        return False
    if prompt in eval_prompts:
        report.drop(pair, "eval_overlap")
        return False
    shorter, longer = sorted((len(pair.chosen.strip()), len(pair.rejected.strip())))
    if longer / max(1, shorter) > band and not unbanded.intersection(pair.target_rules[:1]):
        report.drop(pair, "length_ratio")
        return False
    problem = unnatural(pair)
    if problem:
        report.drop(pair, f"unnatural_{problem}")
        return False
    return True


def _declines(pair: Pair, refusal_rules: set[str], report: QaReport) -> bool:
    """A chosen side that declines teaches declining as the way to comply (short, and offends
    no rule), unless the pair is about a rule on refusals."""
    if pair.strategy in TRUSTED or refusal_rules.intersection(pair.target_rules):
        return False
    if naturalness.declines(pair.chosen):
        report.drop(pair, "chosen_declines")
        return True
    return False


def mentions_refusal(rule: ir.RuleIR) -> bool:
    """The rule's condition or scope looks at refusals."""
    return any(isinstance(atom, ir.RefusalPred) for pred in (rule.check, rule.when, *rule.unless)
               if pred is not None for atom in atoms(pred))


def unnatural(pair: Pair) -> str | None:
    """The first naturalness problem of the chosen, then the rejected side; None if both read whole."""
    if pair.strategy in TRUSTED:
        return None
    for side in (pair.chosen, pair.rejected):
        found = naturalness.problems(side)
        if found:
            return found[0]
    return None


def _dedupe(pairs: Sequence[tuple[Pair, tuple[str, str, str]]], report: QaReport) -> list[Pair]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for pair, key in pairs:
        if key in seen:
            report.drop(pair, "duplicate")
            continue
        seen.add(key)
        out.append(pair)
    return out


def _verify(pairs: Sequence[Pair], rules: Sequence[ir.RuleIR], labeler: Labeler | None,
            report: QaReport) -> list[Pair]:
    index = {r.id: j for j, r in enumerate(rules)}
    samples = [(p.prompt, side, p.context) for p in pairs for side in (p.chosen, p.rejected)]
    votes = vote_matrix(rules, samples, labeler)
    chosen_votes, rejected_votes = votes[0::2], votes[1::2]
    checkable = np.array([labeler is not None and labeler.score is not None or not r.runtime_only for r in rules])
    # Rules (that can be checked here) whose vote differs between the two sides, per pair.
    flips = ((chosen_votes != rejected_votes) & checkable).tolist()
    chosen_rows, rejected_rows = chosen_votes.tolist(), rejected_votes.tolist()
    verdicts = [r.verdict for r in rules]
    checked = [j for j, ok in enumerate(checkable) if ok]
    kept = []
    for k, pair in enumerate(pairs):
        reason = _reject_reason(pair, chosen_rows[k], rejected_rows[k], flips[k], verdicts, index, checked)
        if reason:
            report.drop(pair, reason)
            continue
        kept.append(pair)
    return kept


def _reject_reason(pair: Pair, chosen: list[int], rejected: list[int], flips: list[bool],
                   verdicts: list[str], index: dict[str, int], checked: list[int]) -> str | None:
    targets = []
    for rule_id in pair.target_rules:
        j = index.get(rule_id)
        if j is None:
            return "unknown_rule"
        if not passes(chosen[j], verdicts[j]):
            return "chosen_fails_target"
        if not fails(rejected[j], verdicts[j]):
            return "rejected_passes_target"
        targets.append(j)
    # A chosen side is also an SFT target: it never demonstrates a violation of any rule (a
    # no-links pair whose chosen side gives a phone number; a no-email pair on a list request
    # whose chosen side lists in prose, which a model trained on it copies).
    if any(chosen[j] == ir.BAD for j in checked):
        return "chosen_breaks_rule"
    if pair.strategy == "perturb" and sum(flips) > sum(flips[j] for j in targets):
        return "other_rule_flipped"
    return None


Accept = Callable[[list[Pair]], list[bool]]


def select_within_budget(pairs: Sequence[Pair], specs: Sequence[ir.PairSpec], seed: int,
                         report: QaReport, accept: Accept | None = None) -> list[Pair]:
    """Keep each rule's budget, strategies in `BY_RANK` order, deterministically.

    Budget a rule cannot fill (too few verified pairs) goes to the rules that have more,
    one pair each in turn, so the total reaches the policy's budget whenever enough pairs
    passed the gates; the shortfall is still reported per rule. `accept` is a last, costly
    check (fluency under the model) asked only about pairs the budget would take; a pair
    it rejects is dropped as `not_fluent` and the next in line takes its place.
    """
    budget = {s.rule: s.budget for s in specs}
    by_rule: dict[str, dict[str, list[Pair]]] = defaultdict(lambda: defaultdict(list))
    for pair in pairs:
        primary = pair.target_rules[0] if pair.target_rules else "(feedback)"
        by_rule[primary][pair.strategy].append(pair)
    rng = random.Random(f"{seed}:budget")
    taken: dict[str, list[Pair]] = {}
    overflow: dict[str, list[Pair]] = {}
    for rule_id in sorted(by_rule):
        groups = by_rule[rule_id]
        for strategy in sorted(groups):
            rng.shuffle(groups[strategy])
        ordered = [pair for s in sorted(groups, key=_priority) for pair in groups[s]]
        limit = budget.get(rule_id, len(ordered))
        taken[rule_id], overflow[rule_id] = _take(ordered, limit, accept, report)
    spare = sum(budget.values()) - sum(len(t) for t in taken.values()) if budget else 0
    for rule_id in _round_robin([[r] * len(overflow[r]) for r in sorted(overflow)])[:max(0, spare)]:
        extra, overflow[rule_id] = _take(overflow[rule_id], 1, accept, report)
        taken[rule_id] += extra
    selected: list[Pair] = []
    for rule_id in sorted(taken):
        for pair in overflow[rule_id]:
            report.drop(pair, "over_budget")
        for pair in taken[rule_id]:
            selected.append(pair)
            report.kept[pair.strategy] += 1
            report.per_rule[rule_id]["kept"] += 1
            report.filled_by[rule_id][pair.strategy] += 1
            report.lengths.append((len(pair.chosen), len(pair.rejected)))
    for spec in specs:
        got = report.per_rule[spec.rule]["kept"]
        report.per_rule[spec.rule]["budget"] = spec.budget
        if got < spec.budget:
            report.shortfall[spec.rule] = {"severity": spec.severity, "budget": spec.budget, "kept": got}
    return selected


def _take(ordered: list[Pair], limit: int, accept: Accept | None,
          report: QaReport) -> tuple[list[Pair], list[Pair]]:
    """The first `limit` pairs that `accept` takes, and the pairs not yet looked at."""
    taken: list[Pair] = []
    i = 0
    while len(taken) < limit and i < len(ordered):
        chunk = ordered[i:i + limit - len(taken)]
        i += len(chunk)
        for pair, ok in zip(chunk, accept(chunk) if accept else [True] * len(chunk)):
            if ok:
                taken.append(pair)
            else:
                report.drop(pair, "not_fluent")
    return taken, ordered[i:]


def _priority(strategy: str) -> tuple[int, str]:
    return (BY_RANK.index(strategy) if strategy in BY_RANK else len(BY_RANK), strategy)


def _round_robin(groups: list[list[Pair]]) -> list[Pair]:
    out: list[Pair] = []
    for i in range(max((len(g) for g in groups), default=0)):
        out.extend(g[i] for g in groups if i < len(g))
    return out
