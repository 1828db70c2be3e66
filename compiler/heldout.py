"""The held-out evaluation prompts, as far as the policy alone decides them.

The prompt pool (runtime/synthesize/prompts.py) splits its prompts into training and held-out
prompts by a seeded hash of their normalized text, and rule example prompts always train.
Templates and literal prompts are written in the policy, so the compiler finds exactly the
held-out prompts the runtime will use; the rows of prompt files are only known once read.
Both sides call the functions here, so they cannot disagree.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Iterator

from tenet.compiler import ir
from tenet.compiler.passes.check_prompts import PLACEHOLDER

MAX_TEMPLATE_PROMPTS = 5_000  # prompts one template makes, at most
MAX_WRITTEN_PROMPTS = 100_000  # prompts all templates and literal prompts make together, at most


@functools.lru_cache(maxsize=65_536)
def normalize(text: str) -> str:
    """Case- and whitespace-insensitive form used to compare prompts."""
    return " ".join(text.lower().split())


def bucket(key: str, seed: int) -> float:
    """A normalized prompt's place in [0, 1): the seeded hash that decides its split."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(key: str, eval_split: float, seed: int) -> bool:
    """Whether a normalized prompt that is no rule example's goes to evaluation."""
    return bucket(key, seed) < eval_split


def fill_template(text: str, values: dict[str, str]) -> str:
    """Replace `{slot}` placeholders (other braces are left alone)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def has_wording(source: ir.PromptSourceIR) -> bool:
    """Whether a prompt source is a template with words of its own around its slots.

    Its prompts share that wording, so a held-out one measures recall of the template's other
    prompts ("in-template"). A literal prompt, a prompt file's row and a template that is only a
    slot (`"{question}"`) each have their own wording ("out-of-template").
    """
    return isinstance(source, ir.TemplateIR) and any(ch.isalnum() for ch in PLACEHOLDER.sub("", source.text))


def expand_template(template: ir.TemplateIR) -> list[str]:
    """The prompts a template makes: every combination of its slot values, up to the limit."""
    names = [name for name, _ in template.slots]
    values = (slot_values for _, slot_values in template.slots)
    combos = itertools.islice(itertools.product(*values), MAX_TEMPLATE_PROMPTS)
    return [fill_template(template.text, dict(zip(names, combo))) for combo in combos]


@dataclass(frozen=True)
class HeldOut:
    """The held-out prompts the policy itself decides, and the prompt files that may add more."""

    prompts: tuple[str, ...]  # from templates and literal prompts, in pool order
    files: tuple[ir.PromptFileIR, ...]  # read only at run time: their held-out rows are unknown here
    worded: frozenset[str] = frozenset()  # those of `prompts` from a template with wording (in-template)

    @property
    def known(self) -> bool:
        """Whether `prompts` is the whole held-out set (no prompt file can add to it)."""
        return not self.files

    def used(self, cap: int) -> tuple[str, ...]:
        """The held-out prompts an evaluation capped at `cap` prompts answers (when `known`)."""
        return self.prompts[:cap]


def written_prompts(policy: ir.PolicyIR) -> Iterator[tuple[int, str]]:
    """`(source index, text)` for the prompts of templates and literal prompts, in source order.

    At most MAX_WRITTEN_PROMPTS in all, so a policy cannot make the compiler or the cycle
    expand millions of prompts; `written_count` says how many the policy asks for.
    """
    texts = ((index, text) for index, source in enumerate(policy.prompts) for text in _texts(source))
    return itertools.islice(texts, MAX_WRITTEN_PROMPTS)


def written_count(policy: ir.PolicyIR) -> int:
    """How many prompts the policy's templates and literal prompts ask for, before the overall limit."""
    total = 0
    for source in policy.prompts:
        if isinstance(source, ir.LiteralPromptIR):
            total += 1
        elif isinstance(source, ir.TemplateIR):
            total += min(math.prod(len(values) for _, values in source.slots), MAX_TEMPLATE_PROMPTS)
    return total


def distinct_prompts(policy: ir.PolicyIR) -> list[str]:
    """The prompts of templates and literal prompts that are no rule example's, once each, in pool order."""
    seen = {normalize(example.prompt) for rule in policy.rules for example in rule.examples}
    prompts: list[str] = []
    for _, text in written_prompts(policy):
        key = normalize(text)
        if key and key not in seen:
            seen.add(key)
            prompts.append(text)
    return prompts


def heldout_prompts(policy: ir.PolicyIR) -> HeldOut:
    """The policy's held-out prompts from templates and literal prompts, as `build_pool` splits them."""
    training = policy.training
    held = [text for text in distinct_prompts(policy)
            if is_held_out(normalize(text), training.eval_split, training.seed)]
    files = tuple(s for s in policy.prompts if isinstance(s, ir.PromptFileIR))
    templated = {normalize(text) for index, text in written_prompts(policy) if has_wording(policy.prompts[index])}
    worded = frozenset(text for text in held if normalize(text) in templated)
    return HeldOut(prompts=tuple(held), files=files, worded=worded)


def _texts(source: ir.PromptSourceIR) -> list[str]:
    if isinstance(source, ir.LiteralPromptIR):
        return [source.text]
    if isinstance(source, ir.TemplateIR):
        return expand_template(source)
    return []
