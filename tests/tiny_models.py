"""Tiny, fully offline models for tests: a word-level tokenizer, a random Llama and a random BERT.

Everything is built from a config in about a second on CPU (after torch/transformers are
imported) and saved with `save_pretrained`, so the code under test loads it exactly like a real
checkpoint (`from_pretrained(path)`). Nothing touches the network: importing this module sets
HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE / HF_DATASETS_OFFLINE (unless already set), before
huggingface_hub reads them.

Helpers (`from tiny_models import ...`; tests/ is on sys.path under pytest):
    build_tiny_tokenizer(directory=None, words=BASE_WORDS) -> PreTrainedTokenizerFast (WordLevel,
        whitespace pre-tokenizer, <pad>/<unk>/<|im_end|> as pad/unk/eos, a ChatML-like chat_template)
    build_tiny_llama(directory, seed=0, words=BASE_WORDS, stop_words=()) -> directory with a random
        LlamaForCausalLM (hidden 32, 2 layers, 2 heads) and its tokenizer; `stop_words` (e.g. ".")
        also end generation, so a random model gives complete answers of random length
    build_constant_llama(directory, word) -> directory with a Llama whose greedy decoding emits `word`
        at every step (deterministic answers, e.g. a judge that always says "7")
    build_tiny_classifier(directory, seed=0, id2label={0: "safe", 1: "toxic"}) -> directory with a
        random BertForSequenceClassification and the same tokenizer

Session fixtures, for modules that declare `pytest_plugins = ["tiny_models"]`:
    tiny_llama, tiny_llama_no_scores (vocabulary without digits: can never answer "Score: N"),
    constant_llama_7, tiny_classifier, torch_one_thread (used by all of them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

PAD, UNK, EOS, BOS = "<pad>", "<unk>", "<|im_end|>", "<|im_start|>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)

# A small vocabulary covering the judge prompt, chat roles and a few everyday words.
BASE_WORDS: tuple[str, ...] = (
    "system", "user", "assistant",
    "You", "you", "grade", "an", "a", "the", "to", "of", "is", "it", "and", "or", "with", "from",
    "assistant's", "response", "Response", "against", "rubric", "Rubric", "Reply", "exactly",
    "where", "N", "whole", "number", "fails", "fully", "meets", "Score", "score", "ok",
    "hello", "world", "good", "bad", "safe", "toxic", "nice", "awful", "hate", "love", "help",
    "thanks", "please", "sorry", "sure", "yes", "no", "I", "we", "they", "this", "that",
    "polite", "rude", "answer", "question", "password", "reset", "weather", "today",
    ":", ".", ",", "!", "?", "'", "(", ")", "-", "\"",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_tokenizer(directory: str | Path | None = None, words: Iterable[str] = BASE_WORDS):
    """A word-level tokenizer (whitespace pre-tokenizer) with pad/unk/eos and a ChatML template.

    Args:
        directory: Where to `save_pretrained` it (optional).
        words: The vocabulary after the special tokens; unknown words become `<unk>`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *words):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD, unk_token=UNK, eos_token=EOS, bos_token=BOS,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_tiny_llama(directory: str | Path, seed: int = 0, words: Iterable[str] = BASE_WORDS,
                     stop_words: Iterable[str] = ()) -> Path:
    """Save a random LlamaForCausalLM (hidden 32, 2 layers, 2 heads) and its tokenizer to `directory`.

    A random model almost never samples its end-of-sequence token, so every answer would run
    to the cap; `stop_words` are extra end-of-sequence ids (the generation config's list).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = build_tiny_tokenizer(directory, words)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    stops = [tokenizer.convert_tokens_to_ids(w) for w in stop_words]
    if stops:
        model.generation_config.eos_token_id = [tokenizer.eos_token_id, *stops]
    model.save_pretrained(str(directory))
    return directory


def build_constant_llama(directory: str | Path, word: str, words: Iterable[str] = BASE_WORDS) -> Path:
    """A tiny Llama whose greedy decoding emits `word` at every step, whatever the prompt.

    Attention and MLP outputs are zeroed, so the last hidden state is the (normalized) token
    embedding; every embedding has a large positive first coordinate and the LM head row of
    `word` is the only one reading it, so that token always has the largest logit.
    """
    import torch
    from transformers import LlamaForCausalLM

    directory = build_tiny_llama(directory, words=words)
    tokenizer = build_tiny_tokenizer(None, words)
    target = tokenizer.convert_tokens_to_ids(word)
    if target == tokenizer.unk_token_id:
        raise ValueError(f"{word!r} is not in the tiny vocabulary")
    model = LlamaForCausalLM.from_pretrained(str(directory))
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        embed.mul_(0.01)
        embed[:, 0] = 10.0
        head = model.lm_head.weight
        head.zero_()
        head[target, 0] = 10.0
    model.save_pretrained(str(directory))
    return directory


def build_tiny_classifier(directory: str | Path, seed: int = 0,
                          id2label: dict[int, str] | None = None) -> Path:
    """Save a random BertForSequenceClassification (labels safe/toxic by default) and its tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    directory = Path(directory)
    id2label = id2label or {0: "safe", 1: "toxic"}
    tokenizer = build_tiny_tokenizer(directory)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        id2label=dict(id2label), label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(directory))
    return directory


# --- pytest fixtures (enable with `pytest_plugins = ["tiny_models"]` in a test module) -----------

# Words without any digit or "score": a random LM over them can never answer with a score.
NO_SCORE_WORDS = tuple(w for w in BASE_WORDS if not w.isdigit() and w.lower() != "score")

try:
    import pytest
except ImportError:  # pragma: no cover - helpers stay usable without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def torch_one_thread():
        """Tiny models run fastest on one thread (and do not stall on a busy, oversubscribed CPU).

        Generation with a 32-wide model is dominated by thread synchronisation: on a loaded
        2-core machine 8 greedy tokens took 4 s with the default threads and 0.1 s with one.
        """
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)

    @pytest.fixture(scope="session")
    def tiny_llama(tmp_path_factory, torch_one_thread) -> Path:
        """A saved random tiny Llama (its vocabulary includes digits and "Score")."""
        return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))

    @pytest.fixture(scope="session")
    def tiny_llama_no_scores(tmp_path_factory, torch_one_thread) -> Path:
        """A saved random tiny Llama whose vocabulary has no digits: it can never give a score."""
        return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-no-scores"), words=NO_SCORE_WORDS)

    @pytest.fixture(scope="session")
    def constant_llama_7(tmp_path_factory, torch_one_thread) -> Path:
        """A saved tiny Llama that answers "7 7 7 ..." to everything."""
        return build_constant_llama(tmp_path_factory.mktemp("constant-llama-7"), "7")

    @pytest.fixture(scope="session")
    def tiny_classifier(tmp_path_factory, torch_one_thread) -> Path:
        """A saved random tiny BERT sequence classifier with labels safe / toxic."""
        return build_tiny_classifier(tmp_path_factory.mktemp("tiny-classifier"))
