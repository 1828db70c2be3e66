"""Fluency under the base model: is the chosen side about as likely as the rejected one?

An edit can satisfy every text check and still read oddly (an inserted phrase that does not
fit). Its mean per-token log-probability under the base model, given the prompt, falls: a
pair whose chosen side scores far below its rejected side (by more than `MARGIN` nats per
token) would teach the model to say something it finds unnatural, so it is dropped. Each
side is scored on its first `MAX_ANSWER_TOKENS` tokens.

Only edits are compared. Where the chosen side replaces the answer rather than edits it (a
written refusal in place of a harmful answer, or two different samples), the model's own
answer is always the likelier one, and the gap measures the behaviour the rule asks for, not
awkward text: compared, every written refusal would be dropped as not fluent.
"""

from __future__ import annotations

import re
from typing import Sequence

from tenet.runtime.synthesize.pairs import Pair

MARGIN = 1.0  # nats per token
BATCH = 16
MAX_ANSWER_TOKENS = 96  # the opening of an answer tells how fluent it reads; scoring all of it costs more
EDIT_OVERLAP = 0.5  # an edit keeps at least this share of the chosen side's word pairs from the rejected side
WORD = re.compile(r"\w+(?:'\w+)?")


class FluencyCheck:
    """Accepts pairs whose chosen side is not much less likely than the rejected side."""

    def __init__(self, generator, margin: float = MARGIN, cache=None):
        self.generator = generator
        self.margin = margin
        self.cache = cache
        self.checked = 0

    def __call__(self, pairs: list[Pair]) -> list[bool]:
        edits = [pair for pair in pairs if is_edit(pair)]
        rows = [(pair, side) for pair in edits for side in (pair.chosen, pair.rejected)]
        scores = iter(self.mean_logprobs([(_messages(pair), side) for pair, side in rows]))
        self.checked += len(edits)
        fluent = {id(pair): next(scores) >= next(scores) - self.margin for pair in edits}
        return [fluent.get(id(pair), True) for pair in pairs]

    def mean_logprobs(self, rows: Sequence[tuple[list[dict], str]]) -> list[float]:
        """Mean log-probability per response token, given its conversation, for each row."""
        keys = [self._key(messages, response) for messages, response in rows]
        found = [self.cache.get("fluency", k) if self.cache is not None and k else None for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        for start in range(0, len(missing), BATCH):
            chunk = missing[start:start + BATCH]
            for i, value in zip(chunk, self._score([rows[i] for i in chunk])):
                found[i] = value
                if self.cache is not None and keys[i]:
                    self.cache.put("fluency", keys[i], value)
        return [float(f) for f in found]

    def _key(self, messages: list[dict], response: str) -> str | None:
        if self.cache is None:
            return None
        from tenet.runtime.cache import key_of, model_fingerprint

        return key_of("fluency", model_fingerprint(self.generator.model_path), messages, response)

    def _score(self, rows: Sequence[tuple[list[dict], str]]) -> list[float]:
        import torch

        tokenizer, model = self.generator.tokenizer, self.generator.model
        prompts = [tokenizer(self.generator.render(m), add_special_tokens=False)["input_ids"] for m, _ in rows]
        answers = [(tokenizer(r, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])[:MAX_ANSWER_TOKENS]
                   for _, r in rows]
        sequences = [p + a for p, a in zip(prompts, answers)]
        width = max(len(s) for s in sequences)
        pad = tokenizer.pad_token_id
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences], device=model.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], device=model.device)
        with torch.inference_mode():
            logprobs = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        out = []
        for k, (p, a) in enumerate(zip(prompts, answers)):
            positions = torch.arange(len(p) - 1, len(p) + len(a) - 1, device=model.device)
            targets = ids[k, len(p):len(p) + len(a)]
            out.append(float(logprobs[k, positions, targets].mean()))
        return out


def _messages(pair: Pair) -> list[dict]:
    return [{"role": role, "content": text} for role, text in pair.context] + [
        {"role": "user", "content": pair.prompt}]


def is_edit(pair: Pair) -> bool:
    """The chosen side is the rejected one edited: it shares most of its word pairs with it."""
    words = WORD.findall(pair.chosen.lower())
    grams = set(zip(words, words[1:])) or {tuple(words)}
    rejected = WORD.findall(pair.rejected.lower())
    shared = grams & (set(zip(rejected, rejected[1:])) | {tuple(rejected)})
    return len(shared) >= EDIT_OVERLAP * len(grams)
