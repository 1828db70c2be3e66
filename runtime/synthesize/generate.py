"""Batched text generation with transformers: chat template, left padding, KV cache, seeded.

Every generation records why it ended: the model's end-of-sequence token, or the
`max_new_tokens` cap. A capped answer is a prefix, not an answer, so pair synthesis never
uses one as a pair side and evaluation never counts one as complying with a length limit.
Prompts are batched by length so that short prompts are not padded to long ones, and each
sequence stops at its own end (finished rows are padded until the batch is done).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple, Sequence

Messages = list[dict[str, str]]
GENERATION_KIND = "generation-v3"  # cache entries that record how each answer ended and its tokens


class Generated(NamedTuple):
    """One generated answer, why it ended ("eos": the model stopped; "cap": cut off) and its tokens."""

    text: str
    end: Literal["eos", "cap"]
    tokens: int = 0  # generated tokens, the stop token included

    @property
    def capped(self) -> bool:
        """The answer was cut by `max_new_tokens`: a prefix, not a complete answer."""
        return self.end == "cap"


@dataclass
class Generator:
    """Generates responses to chat prompts with a causal LM, many prompts per forward pass."""

    model_path: str
    batch_size: int = 16
    max_new_tokens: int = 96
    device: str = "auto"  # a `device` setting: auto picks CUDA when present (runtime/device.py)
    precision: str = "auto"  # a `precision` setting; the CPU always generates in fp32
    system_prompt: str | None = None
    cache: Any = None  # a tenet.runtime.cache.Cache: answers are reused per conversation and settings
    progress: bool = False  # a progress bar over batches on stderr

    def __post_init__(self) -> None:
        from transformers import AutoTokenizer

        from tenet.runtime.device import inference_dtype, select_device

        self.device = select_device(self.device)
        self.dtype = inference_dtype(self.device, self.precision)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=False)
        self.tokenizer.padding_side = "left"  # so every prompt ends where generation starts
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = _load_merged(self.model_path, self.dtype).to(self.device).eval()
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
                 seed: int = 0, top_p: float = 0.95, max_new_tokens: int | None = None) -> list[list[str]]:
        """Return `n` sampled response texts per conversation (greedy when temperature is 0)."""
        return [[g.text for g in row]
                for row in self.generate_ended(conversations, n, temperature, seed, top_p, max_new_tokens)]

    def generate_ended(self, conversations: Sequence[Messages], n: int = 1, temperature: float = 0.8,
                       seed: int = 0, top_p: float = 0.95, max_new_tokens: int | None = None) -> list[list[Generated]]:
        """Return `n` responses per conversation, each with how it ended.

        `max_new_tokens` overrides the generator's cap for this call. With a cache, each
        conversation's answers are looked up by the model's content fingerprint and every
        generation setting but the cap; answers stored under another cap are reused when the
        cap cannot have changed them (see `_reusable`). Only the misses are generated.
        """
        cap = max_new_tokens or self.max_new_tokens
        if self.cache is None:
            return self._generate(conversations, n, temperature, seed, top_p, cap)
        from tenet.runtime.cache import key_of, model_fingerprint

        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model_path)
        # Half-precision answers differ from fp32 ones; fp32 keys stay as they were.
        half = () if str(self.dtype) == "torch.float32" else (str(self.dtype),)
        keys = [key_of(GENERATION_KIND, self._fingerprint, c, n, temperature, seed, top_p,
                       self.system_prompt, *half) for c in conversations]
        found = [_reusable(self.cache.get(GENERATION_KIND, k), cap, self._cut) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        fresh = self._generate([conversations[i] for i in missing], n, temperature, seed, top_p, cap)
        for i, answers in zip(missing, fresh):
            self.cache.put(GENERATION_KIND, keys[i], {"cap": cap, "answers": [list(g) for g in answers]})
            found[i] = answers
        return found

    def _generate(self, conversations: Sequence[Messages], n: int, temperature: float, seed: int,
                  top_p: float, cap: int) -> list[list[Generated]]:
        texts = [self.render(c) for c in conversations]
        # Batches of similar prompt length waste less compute on padding; answers go back in order.
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
        out: list[list[Generated]] = [[] for _ in texts]
        starts = range(0, len(texts), self.batch_size)
        if self.progress and len(starts) > 1:
            from tqdm import tqdm

            starts = tqdm(starts, desc="generating", unit="batch", leave=False)
        for start in starts:
            chunk = order[start:start + self.batch_size]
            for i, answers in zip(chunk, self._generate_batch([texts[i] for i in chunk], n, temperature,
                                                               seed + start, top_p, cap)):
                out[i] = answers
        return out

    def _generate_batch(self, texts: list[str], n: int, temperature: float, seed: int,
                        top_p: float, cap: int) -> list[list[Generated]]:
        import torch

        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        torch.manual_seed(seed)  # deterministic per batch, whatever the batch order
        sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else dict(do_sample=False)
        with torch.inference_mode():
            generated = self.model.generate(
                **batch, max_new_tokens=cap, num_return_sequences=n, use_cache=True,
                pad_token_id=self.tokenizer.pad_token_id, **sampling)
        new = generated[:, batch["input_ids"].shape[1]:]
        ended = torch.isin(new, torch.tensor(sorted(self._stop_ids()), device=new.device)).any(dim=1).tolist()
        lengths = [_length(row, self._stop_ids()) for row in new.tolist()]
        self.tokens_generated += sum(lengths)
        decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        answers = [Generated(text.strip(), "eos" if stop else "cap", length)
                   for text, stop, length in zip(decoded, ended, lengths)]
        return [answers[i * n:(i + 1) * n] for i in range(len(texts))]

    def _cut(self, text: str, cap: int) -> str:
        """The first `cap` tokens of an answer: what generating under `cap` would have kept."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][:cap]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _stop_ids(self) -> set[int]:
        """The token ids that end an answer: the generation config's and the tokenizer's EOS."""
        ids = self.model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids


def _reusable(stored: dict | None, cap: int, cut: Callable[[str, int], str] | None = None) -> list[Generated] | None:
    """Cached answers that generating under `cap` would reproduce, or None.

    Decoding is prefix-consistent: a cap only decides where generation stops. So answers made
    under another cap are still valid when every one of them ended by itself within `cap`
    tokens. Under a smaller cap than the stored one, an answer that ran longer would have
    been cut: it becomes a capped answer holding its first `cap` tokens (`cut`). A policy
    edit that moves a length rule moves the cap, and this keeps an update cycle from
    generating again the samples and evaluations the edit cannot have changed.
    """
    if not isinstance(stored, dict):
        return None
    answers = [Generated(*g) for g in stored["answers"]]
    if stored["cap"] == cap or all(a.end == "eos" and a.tokens <= cap for a in answers):
        return answers
    if stored["cap"] > cap and cut is not None:
        return [a if a.end == "eos" and a.tokens <= cap else Generated(cut(a.text, cap), "cap", cap)
                for a in answers]
    return None


def _length(tokens: list[int], stops: set[int]) -> int:
    """Tokens generated in one row, up to and including the first stop token."""
    for k, token in enumerate(tokens):
        if token in stops:
            return k + 1
    return len(tokens)


def _load_merged(path: str, dtype: Any = None):
    """A causal LM from a checkpoint or a LoRA adapter folder, merged into its base.

    Generating through unmerged LoRA layers costs an extra matmul pair per linear layer at
    every token; merging once makes the trained model as fast as the base.
    """
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    if (Path(path) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=False)
        return model.merge_and_unload()
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=False)
