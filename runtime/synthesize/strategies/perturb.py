"""`perturb`: rule-directed minimal pairs. A passing response gets a violating twin; a
failing one gets a repaired twin (see `perturb_ops`). Bases are the rule's examples and,
when a model is loaded, its samples for prompts in the rule's scope. A sample the token cap
cut off (cut back to a natural prefix) is a base only where it fails the rule and the repair
keeps none of its text (a refusal replacing a harmful answer), or where a length limit cuts
it before its last sentence or item (`fit_to_limits`): a chosen side never ends where the
cap fell."""

from __future__ import annotations

from typing import Iterator

from tenet.compiler import ir, semantics
from tenet.compiler.lengths import caps_length, response_counts
from tenet.compiler.predicates.count import count_units
from tenet.compiler.semantics import Sample
from tenet.runtime import naturalness
from tenet.runtime.predicates.count import HEADROOM
from tenet.runtime.synthesize.pairs import Pair, SynthesisContext, shares_text
from tenet.runtime.textedit.restructure import cut_points, shorten
from tenet.runtime.synthesize.perturb_ops import repair, repairs_with_advice, violate


def perturb(ctx: SynthesisContext) -> Iterator[Pair]:
    """Yield minimal pairs for every rule whose condition is text-only."""
    rng = ctx.rng("perturb")
    rules = [r for r in ctx.policy.rules if not r.runtime_only]
    answers = list(_model_answers(ctx, rules))
    bases = [(rule, base, source, cut) for rule in rules for base, source, cut in _bases(rule, answers)]
    # One column-engine pass gives every base's vote; only the edits run row by row.
    votes = base_votes([(rule, base) for rule, base, _, _ in bases])
    for (rule, base, source, cut), vote in zip(bases, votes):
        pair = minimal_pair(rule, base, source, rng, vote, cut=cut)
        if pair is not None:
            yield pair


def base_votes(items: list[tuple[ir.RuleIR, Sample]]) -> list[int]:
    """Each rule's vote on its base sample, computed column-wise per rule."""
    from tenet.runtime.synthesize.verify import vote_matrix

    by_rule: dict[str, list[int]] = {}
    for k, (rule, _) in enumerate(items):
        by_rule.setdefault(rule.id, []).append(k)
    votes = [0] * len(items)
    for positions in by_rule.values():
        rule = items[positions[0]][0]
        matrix = vote_matrix([rule], [(items[k][1].prompt, items[k][1].response, items[k][1].context)
                                      for k in positions])
        for k, vote in zip(positions, matrix[:, 0]):
            votes[k] = int(vote)
    return votes


def minimal_pair(rule: ir.RuleIR, base: Sample, source: str, rng, vote: int | None = None,
                 cut: bool = False) -> Pair | None:
    """Turn one base sample into a pair that differs on `rule`, or None.

    `cut`: the base is a capped answer cut back; it may only be the rejected side, against a
    repair that keeps none of its text or that cuts it to the rule's length limit before its
    last sentence or item (so the limit, not the cap, decides where the chosen side ends).
    """
    if vote is None:
        vote = semantics.rule_vote(rule, base)
    if vote is None or vote == ir.ABSTAIN and rule.verdict in ("require", "forbid"):
        return None
    passes = vote == ir.GOOD or (rule.verdict == "avoid" and vote == ir.ABSTAIN)
    if cut and passes:
        return None
    # In scope, the vote tells whether the condition holds: no need to evaluate it again.
    holds = None if vote == ir.ABSTAIN else (vote == ir.GOOD) == (rule.verdict in ("require", "prefer"))
    edited = violate(rule, base, rng, holds) if passes else repair(rule, base, rng, holds)
    if edited is None or cut and shares_text(edited, base.response) and not _cut_to_limit(rule, edited, base):
        return None
    chosen, rejected = (base.response, edited) if passes else (edited, base.response)
    # Against the answer with a dose added, the answer alone teaches "do not add that
    # sentence"; where a rule's repair closes with its good example, the chosen side says
    # that example where the violation would go (`perturb_ops.with_example_advice`).
    if passes and repairs_with_advice(rule):
        chosen = repair(rule, base._replace(response=edited), rng) or chosen
    if not passes and caps_length(rule):
        rejected = just_over(rule, base, chosen) or rejected
    return Pair(prompt=base.prompt, chosen=chosen, rejected=rejected, strategy="perturb",
                target_rules=(rule.id,), source=source, context=base.context)


def just_over(rule: ir.RuleIR, base: Sample, chosen: str) -> str | None:
    """The shortest natural prefix of a too-long answer that still breaks the length rule.

    Cut to fit, an answer is the chosen side; what it is contrasted with decides what the
    model learns. Against the whole 200-word answer, it learns "do not ramble" and still
    runs a sentence or item past the limit. Against the same answer cut one unit past the
    limit, the pair shows where to stop. None if no such prefix is longer than `chosen`.
    """
    text = base.response.strip()
    for point in cut_points(text):
        prefix = text[:point].rstrip()
        if prefix == text:
            return None
        if (len(prefix) > len(chosen) and not prefix.endswith(":") and naturalness.is_natural(prefix)
                and semantics.rule_vote(rule, base._replace(response=prefix)) == ir.BAD):
            return prefix
    return None


def _bases(rule: ir.RuleIR, answers: list[tuple[Sample, str, bool]]) -> Iterator[tuple[Sample, str, bool]]:
    """(sample, source, cut) for every base: the rule's examples, then the model's answers in its scope."""
    for example in rule.examples:
        for text in (*example.good, *example.bad):
            yield Sample(example.prompt, text, tuple(example.context)), f"example:{rule.id}", False
    for sample, source, cut in answers:
        if semantics.in_scope(rule, sample) is True:
            yield sample, source, cut


def _model_answers(ctx: SynthesisContext, rules: list[ir.RuleIR]) -> Iterator[tuple[Sample, str, bool]]:
    """(sample, source, cut) for the model's answers: finished, cut back, and cut back then fitted."""
    limits = [rule for rule in rules if caps_length(rule)]
    for candidate in ctx.candidates():
        prompt = candidate.prompt
        for text, cut in [(t, False) for t in candidate.responses] + [(t, True) for t in candidate.cut]:
            if text.strip():
                yield Sample(prompt.text, text, prompt.context), prompt.source, cut
        for text in candidate.cut:
            fitted = fit_to_limits(Sample(prompt.text, text, prompt.context), limits)
            if fitted is not None:
                yield Sample(prompt.text, fitted, prompt.context), prompt.source, False


def fit_to_limits(sample: Sample, limits: list[ir.RuleIR]) -> str | None:
    """A cut answer shortened to every length limit in its scope: cut earlier, or its items condensed.

    The token cap decided where a cut answer ends, so it is never a chosen side as it is. But
    where a length limit shortens it (cut at a sentence or item boundary, or each list item
    condensed to its first sentence or headline), the limit decides: the result is what the
    length repair makes of the whole answer, and may be a base like a finished answer.
    Without these, a policy's long-form prompts ("What are the steps to…"), which a small
    model answers past the cap, would give almost no pairs. Like a length repair, the cut keeps headroom below
    each limit where it can (`HEADROOM`): bases that all end just under a limit teach a model
    to land on either side of it. None when no limit applies, when the answer already fits
    them, or when no natural prefix of two or more units fits them all.
    """
    in_scope = [rule for rule in limits if semantics.in_scope(rule, sample) is True]
    ceilings = [c for rule in in_scope for c in response_counts(rule.check) if c.op in ("at_most", "fewer_than")]

    def within(text: str) -> bool:
        return all(semantics.rule_vote(rule, sample._replace(response=text)) == ir.GOOD for rule in in_scope)

    def roomy(text: str) -> bool:
        return within(text) and all(count_units(text, c.unit) <= c.value * HEADROOM for c in ceilings)

    if not in_scope or within(sample.response):
        return None  # the cap, not a limit, would decide where it ends
    for accept in (roomy, within):
        fitted = shorten(sample.response, accept, min_units=2)
        if fitted is not None:
            return fitted
    return None


def _cut_to_limit(rule: ir.RuleIR, edited: str, base: Sample) -> bool:
    """`edited` is the cut answer cut to `rule`'s length limit before the answer's last unit."""
    return caps_length(rule) and len(cut_points(edited)) < len(cut_points(base.response))
