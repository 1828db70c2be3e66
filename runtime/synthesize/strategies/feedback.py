"""`feedback`: logged responses with human ratings (thumbs, Likert, free text) become
unpaired KTO rows and, where one prompt has both a liked and a disliked answer, DPO pairs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

from tenet.runtime.data.gold import gold_label, is_likert
from tenet.runtime.synthesize.pairs import Completion, Pair, SynthesisContext
from tenet.runtime.synthesize.prompts import normalize

def rating_label(value: Any, likert: bool = False) -> int:
    """GOOD (1), BAD (0) or unknown (-1) from a thumb, a 0/1 or 1–5 rating, or a free-text comment."""
    return gold_label(value, likert)


def feedback(ctx: SynthesisContext) -> Iterator[Pair | Completion]:
    """Yield KTO rows for every rated response and DPO pairs per prompt."""
    by_prompt: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    likert = is_likert([row.get("rating") for row in ctx.feedback])
    for row in ctx.feedback:
        label = rating_label(row.get("rating"), likert)
        if label == -1 or not row.get("prompt") or not row.get("response"):
            continue
        context = tuple(row.get("context") or ())
        yield Completion(prompt=row["prompt"], completion=row["response"], label=bool(label), strategy="feedback",
                         target_rules=(), source="feedback", context=context)
        by_prompt[normalize(row["prompt"])][label].append(row)
    for groups in by_prompt.values():
        for good, bad in zip(groups[1], groups[0]):
            yield Pair(prompt=good["prompt"], chosen=good["response"], rejected=bad["response"], strategy="feedback",
                       target_rules=(), source="feedback", context=tuple(good.get("context") or ()))
