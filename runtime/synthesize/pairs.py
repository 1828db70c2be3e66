"""The records synthesis produces, and the context every strategy works from."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from tenet.compiler import ir, semantics
from tenet.compiler.semantics import Sample
from tenet.runtime.synthesize.prompts import PoolPrompt, PromptPool
from tenet.runtime.textedit.restructure import BULLETED, NUMBERED, SENTENCE_BREAK, finished_items, shorten

# How much a prompt taken for one rule counts towards another rule's share (spread_over_rules).
OTHER_RULE_CREDIT = 0.25
# How many times the model-prompt cap a cycle may sample so that a rule scoped to some prompts
# has enough of them to fill its pair budget (spread_over_rules).
TOP_UP = 2


@dataclass(frozen=True)
class Pair:
    """A (prompt, chosen, rejected) triple with where it came from."""

    prompt: str
    chosen: str
    rejected: str
    strategy: str
    target_rules: tuple[str, ...]
    source: str
    context: tuple[tuple[str, str], ...] = ()

    def sample(self, side: str) -> Sample:
        """The chosen or rejected side as a labelable sample."""
        return Sample(self.prompt, self.chosen if side == "chosen" else self.rejected, self.context)


@dataclass(frozen=True)
class Completion:
    """An unpaired (prompt, completion, good?) row for KTO."""

    prompt: str
    completion: str
    label: bool
    strategy: str
    target_rules: tuple[str, ...]
    source: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class Candidate:
    """The model's answers to a pool prompt (shared by the model-based strategies).

    `responses` are the answers the model finished. An answer the token cap cut off is not
    an answer a model should give, but it is what the model says: cut back to its last whole
    sentence or item that reads naturally (`cut`), it may be a rejected side, never a chosen
    one, nor the text a chosen side is edited from, unless a length limit cuts it earlier
    (`perturb.fit_to_limits`). On dangerous prompts a small model's answers mostly run to
    the cap, so without them a refusal rule gets almost no pairs.
    """

    prompt: PoolPrompt
    responses: list[str]
    capped: int = 0
    cut: list[str] = field(default_factory=list)


@dataclass
class SynthesisContext:
    """What strategies read: the policy, prompts, a seeded RNG, an optional model."""

    policy: ir.PolicyIR
    pool: PromptPool
    seed: int
    generator: object | None = None  # tenet.runtime.synthesize.generate.Generator
    samples_per_prompt: int = 4
    feedback: list[dict] = field(default_factory=list)
    max_model_prompts: int | None = None
    _candidates: list[Candidate] | None = None

    def rng(self, name: str) -> random.Random:
        """A random stream per strategy, so adding one strategy does not shift another."""
        return random.Random(f"{self.seed}:{name}")

    def model_prompts(self) -> list[PoolPrompt]:
        """The training prompts the model answers: all, or `max_model_prompts` spread over the rules
        (more for rules scoped to few prompts, up to `TOP_UP` times as many; `spread_over_rules`)."""
        prompts = list(self.pool.train)
        if self.max_model_prompts is not None and len(prompts) > self.max_model_prompts:
            prompts = spread_over_rules(prompts, self.policy, self.max_model_prompts, self.rng("model-prompts"),
                                        self.samples_per_prompt)
        return prompts

    def candidates(self) -> list[Candidate]:
        """Model samples for the model prompts, generated once and shared."""
        if self._candidates is None:
            if self.generator is None:
                self._candidates = []
            else:
                prompts = self.model_prompts()
                conversations = [_messages(p) for p in prompts]
                outputs = self.generator.generate_ended(conversations, n=self.samples_per_prompt, seed=self.seed)
                self._candidates = [Candidate(p, [g.text for g in row if not g.capped],
                                              sum(g.capped for g in row), _cut_back([g for g in row if g.capped]))
                                    for p, row in zip(prompts, outputs)]
        return self._candidates

    def complete_answers(self, conversations: list[list[dict[str, str]]], **settings) -> list[str | None]:
        """One answer per conversation from the model; None where the token cap cut it off."""
        rows = self.generator.generate_ended(conversations, n=1, seed=self.seed, **settings)
        return [None if row[0].capped else row[0].text for row in rows]


def spread_over_rules(prompts: list[PoolPrompt], policy: ir.PolicyIR, limit: int,
                      rng: random.Random, samples_per_prompt: int = 3) -> list[PoolPrompt]:
    """`limit` prompts or more, each rule getting in-scope prompts in proportion to its pair budget.

    A uniform sample gives a rule whose scope is a few prompts (refusals on dangerous
    requests) few of them, and so few pairs however large its budget. Here the rule furthest
    below its share takes an in-scope prompt from the source (template, file) least covered
    so far for its size, until `limit` are taken. A prompt counts fully for the rule that took it
    and `OTHER_RULE_CREDIT` for every other rule in whose scope it lies: with full credit, a
    narrow rule's picks would fill the share of a broad rule around it (dosage questions
    counting as a rule's ordinary requests), and the broad rule would see none of its own
    kind of prompt.

    Each prompt gives a rule at most `samples_per_prompt` answers to pair. Past `limit`, a rule
    scoped to some of the prompts whose prompts could not fill its budget takes more, up to
    `TOP_UP` times `limit` in all, since a rule whose scope holds on a few of the `limit`
    prompts gets few answers to pair however large its budget. A rule on every prompt is not
    topped up: any prompt serves it, so its shortfall is not the spread's.
    """
    order = rng.sample(prompts, len(prompts))
    weight = {s.rule: s.budget for s in policy.pair_specs if s.budget > 0}
    scope = {r.id: [k for k, p in enumerate(order) if semantics.in_scope(r, Sample(p.text, "", p.context)) is not False]
             for r in policy.rules if r.id in weight}
    size, covered = Counter(p.source for p in order), Counter()
    taken: list[int] = []
    counts = dict.fromkeys(scope, 0.0)

    def short(rule: str) -> bool:
        mine = sum(k in taken for k in scope[rule])
        return len(scope[rule]) < len(order) and mine * samples_per_prompt < weight[rule]

    while len(taken) < TOP_UP * limit:
        open_rules = [r for r in scope
                      if any(k not in taken for k in scope[r]) and (len(taken) < limit or short(r))]
        if not open_rules:
            break
        rule = min(open_rules, key=lambda r: (counts[r] / weight[r], r))
        free = [k for k in scope[rule] if k not in taken]
        k = min(free, key=lambda k: (covered[order[k].source] / size[order[k].source], k))
        taken.append(k)
        covered[order[k].source] += 1
        for r in scope:
            counts[r] += 1.0 if r == rule else OTHER_RULE_CREDIT * (k in scope[r])
    rest = [k for k in range(len(order)) if k not in taken]
    return [order[k] for k in taken + rest[:max(0, limit - len(taken))]]


def _cut_back(capped: list) -> list[str]:
    """Capped answers cut back to their longest natural prefix of two or more sentences or items.

    Where the cap fell inside a list item, the prefix is the list's finished items
    (`restructure.finished_items`), as every shorter prefix would stop the list.
    """
    cut = (finished_items(g.text) or shorten(g.text, lambda _: True, min_units=2) for g in capped)
    return [text for text in cut if text]


def shares_text(chosen: str, cut: str) -> bool:
    """Some sentence of `chosen` (three words or more, list markers aside) also occurs in `cut`."""
    sentences = [s.strip() for line in chosen.splitlines()
                 for s in SENTENCE_BREAK.split(BULLETED.sub("", NUMBERED.sub("", line)))]
    return any(len(s.split()) >= 3 and s in cut for s in sentences)


def _messages(prompt: PoolPrompt) -> list[dict[str, str]]:
    return [{"role": role, "content": text} for role, text in prompt.context] + [
        {"role": "user", "content": prompt.text}]


def messages(prompt: PoolPrompt) -> list[dict[str, str]]:
    """The chat messages of a pool prompt."""
    return _messages(prompt)
