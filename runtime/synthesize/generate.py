"""Batched text generation with transformers: chat template, left padding, KV cache, seeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

Messages = list[dict[str, str]]


@dataclass
class Generator:
    """Generates responses to chat prompts with a causal LM, many prompts per forward pass."""

    model_path: str
    batch_size: int = 16
    max_new_tokens: int = 96
    device: str = "cpu"
    system_prompt: str | None = None
    cache: Any = None  # a runtime.cache.Cache: answers are reused per conversation and settings
    progress: bool = False  # a progress bar over batches on stderr

    def __post_init__(self) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.tokenizer.padding_side = "left"  # so every prompt ends where generation starts
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = _load_merged(self.model_path).to(self.device).eval()
        self.tokens_generated = 0
        self._fingerprint: str | None = None

    def render(self, messages: Messages) -> str:
        """The prompt text for one conversation, ready for the assistant's turn."""
        if self.system_prompt and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"

    def generate(self, conversations: Sequence[Messages], n: int = 1, temperature: float = 0.8,
                 seed: int = 0, top_p: float = 0.95) -> list[list[str]]:
        """Return `n` sampled responses per conversation (greedy when temperature is 0).

        With a cache, each conversation's answers are looked up by the model's content
        fingerprint and every generation setting; only the misses are generated.
        """
        if self.cache is None:
            return self._generate(conversations, n, temperature, seed, top_p)
        from runtime.cache import key_of, model_fingerprint

        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model_path)
        keys = [key_of("generation", self._fingerprint, c, n, temperature, seed, top_p, self.max_new_tokens,
                       self.system_prompt) for c in conversations]
        found = [self.cache.get("generations", k) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        fresh = self._generate([conversations[i] for i in missing], n, temperature, seed, top_p)
        for i, answers in zip(missing, fresh):
            self.cache.put("generations", keys[i], answers)
            found[i] = answers
        return found

    def _generate(self, conversations: Sequence[Messages], n: int, temperature: float, seed: int,
                  top_p: float) -> list[list[str]]:
        import torch

        texts = [self.render(c) for c in conversations]
        out: list[list[str]] = []
        starts = range(0, len(texts), self.batch_size)
        if self.progress and len(starts) > 1:
            from tqdm import tqdm

            starts = tqdm(starts, desc="generating", unit="batch", leave=False)
        for start in starts:
            chunk = texts[start:start + self.batch_size]
            batch = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            torch.manual_seed(seed + start)  # deterministic per batch, whatever the batch order
            sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else dict(do_sample=False)
            with torch.inference_mode():
                generated = self.model.generate(
                    **batch, max_new_tokens=self.max_new_tokens, num_return_sequences=n, use_cache=True,
                    pad_token_id=self.tokenizer.pad_token_id, **sampling)
            new = generated[:, batch["input_ids"].shape[1]:]
            self.tokens_generated += int((new != self.tokenizer.pad_token_id).sum())
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            out.extend([d.strip() for d in decoded[i * n:(i + 1) * n]] for i in range(len(chunk)))
        return out


def _load_merged(path: str):
    """A causal LM from a checkpoint or a LoRA adapter folder, merged into its base.

    Generating through unmerged LoRA layers costs an extra matmul pair per linear layer at
    every token; merging once makes the trained model as fast as the base.
    """
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    if (Path(path) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(path).merge_and_unload()
    return AutoModelForCausalLM.from_pretrained(path)
