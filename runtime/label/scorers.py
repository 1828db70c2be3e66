"""Model-backed scores for rules, computed in batches: sentiment, similarity, classifier, judge.

Models load lazily, once per path, on the `device` setting's device (CUDA when present, for
`auto`; runtime/device.py), in half precision there. A judge answers "Score: N" (0–10); anything else is
no verdict (None), which the labeler turns into BAD (fail closed).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Callable

from tenet.compiler import ir
from tenet.runtime.models import ModelError, resolve_model, similarity_model_path

JUDGE_SYSTEM = ("You grade an assistant's response against a rubric. "
                "Reply with exactly 'Score: N', where N is a whole number from 0 to 10.")
JUDGE_SCORE = re.compile(r"(?i)\bscore\s*[:=]?\s*(10|[0-9])(?![0-9])")


def parse_judge_score(text: str) -> float | None:
    """Read `Score: N` (0–10) from a judge's answer as a value in [0, 1], or None."""
    match = JUDGE_SCORE.search(text)
    return int(match.group(1)) / 10 if match else None


class Scorers:
    """Computes `ScorePred` values for lists of texts, batching model calls."""

    def __init__(self, root: str | Path | None = None, judge_model: str | None = None,
                 batch_size: int = 32, device: str = "auto", max_judge_chars: int = 4000,
                 revision: str | None = None):
        self.root = root
        self.judge_model = judge_model
        self.revision = revision  # for Hub ids that pin none
        self.batch_size = batch_size
        self.device_setting = device
        self.max_judge_chars = max_judge_chars
        self._loaded: dict[tuple[str, str], object] = {}
        self.resolved: dict[str, str] = {}  # model name -> the folder it resolved to

    @classmethod
    def for_policy(cls, training: ir.TrainingIR, root: str | Path | None,
                   judge_model: str | None = None) -> "Scorers":
        """Scorers with a policy's settings: its device, its Hub revision, its base model as judge."""
        return cls(root=root, judge_model=judge_model or training.base_model, device=training.device,
                   revision=training.revision)

    @functools.cached_property
    def device(self) -> str:
        """Where models load; chosen on first use, so rules without models never import torch."""
        from tenet.runtime.device import select_device

        return select_device(self.device_setting)

    def __call__(self, pred: ir.ScorePred, texts: list[str]) -> list[float | None]:
        """Score every text for one predicate (duplicates computed once)."""
        unique = list(dict.fromkeys(texts))
        fn: Callable[[ir.ScorePred, list[str]], list[float | None]] = getattr(self, f"_{pred.fn}")
        values = dict(zip(unique, fn(pred, unique)))
        return [values[t] for t in texts]

    # --- sentiment: VADER compound in [-1, 1] -----------------------------------------

    def _sentiment(self, pred: ir.ScorePred, texts: list[str]) -> list[float | None]:
        analyzer = self._get("vader", "", _load_vader)
        return [analyzer.polarity_scores(t)["compound"] for t in texts]

    # --- similarity: max cosine to exemplars with all-MiniLM-L6-v2 ---------------------

    def _similarity(self, pred: ir.ScorePred, texts: list[str]) -> list[float | None]:
        import torch

        encoder = self._get("encoder", similarity_model_path(), _load_encoder)
        exemplars = encoder.encode(list(pred.exemplars), self.batch_size)
        embedded = encoder.encode(texts, self.batch_size)
        return (embedded @ exemplars.T).max(dim=1).values.clamp(-1, 1).tolist() if texts else []

    # --- classifier: probability of a label from a sequence classifier ----------------

    def _classifier(self, pred: ir.ScorePred, texts: list[str]) -> list[float | None]:
        import torch

        tokenizer, model = self._get("classifier", self._resolve(pred.model or ""), _load_classifier)
        label_ids = {label.lower(): int(i) for i, label in model.config.id2label.items()}
        if pred.label.lower() not in label_ids:
            raise ValueError(f"classifier {pred.model} has no label {pred.label!r}; "
                             f"its labels are {', '.join(model.config.id2label.values())}")
        index = label_ids[pred.label.lower()]
        out: list[float | None] = []
        for i in range(0, len(texts), self.batch_size):
            batch = tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True,
                              max_length=512, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                probs = model(**batch).logits.float().softmax(-1)[:, index]
            out.extend(probs.tolist())
        return out

    # --- judge: a causal LM grades against a rubric; fails closed ----------------------

    def _judge(self, pred: ir.ScorePred, texts: list[str]) -> list[float | None]:
        import torch

        name = pred.model or self.judge_model
        if not name:
            raise ValueError("a judge rule names no model and no default judge model was given")
        tokenizer, model = self._get("causal", self._resolve(name), _load_causal)
        out: list[float | None] = []
        for i in range(0, len(texts), self.batch_size):
            prompts = [_judge_prompt(tokenizer, pred.rubric or "", t[: self.max_judge_chars])
                       for t in texts[i:i + self.batch_size]]
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            with torch.inference_mode():
                generated = model.generate(**batch, max_new_tokens=8, do_sample=False,
                                           pad_token_id=tokenizer.pad_token_id)
            answers = tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            # The prompt ends with "Score:", so the answer is read together with it.
            out.extend(parse_judge_score("Score:" + a) for a in answers)
        return out

    def _resolve(self, name: str) -> str:
        """The local folder of a model name, remembered for `commit_params`."""
        if name not in self.resolved:
            self.resolved[name] = resolve_model(name, self.root, self.revision)
        return self.resolved[name]

    def commit_params(self) -> dict[str, str]:
        """MLflow params with the Hub id and commit of every Hub model scored with so far."""
        from tenet.runtime.hub import commit_params

        params: dict[str, str] = {}
        for name, path in self.resolved.items():
            params.update(commit_params(f"scorer.{name}", path))
        return params

    def _get(self, kind: str, path: str, loader: Callable[[str, str], object]):
        key = (kind, path)
        if key not in self._loaded:
            try:
                self._loaded[key] = loader(path, self.device)
            except Exception as exc:  # noqa: BLE001 - transformers, safetensors, torch: each its own
                # A missing or broken file is the model's problem: say which model, in one line.
                detail = (str(exc).strip().splitlines() or [""])[0]
                raise ModelError(f"cannot load the model at {path}: {type(exc).__name__}: {detail}") from exc
        return self._loaded[key]


def _judge_prompt(tokenizer, rubric: str, text: str) -> str:
    messages = [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"Rubric: {rubric}\n\nResponse:\n{text}\n\n"
                                    "Score the response from 0 (fails the rubric) to 10 (fully meets it)."},
    ]
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + "Score:"
    return f"{JUDGE_SYSTEM}\n{messages[1]['content']}\nScore:"


def _load_vader(_: str, device: str):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


class _Encoder:
    """Mean-pooled, normalized sentence embeddings (the sentence-transformers recipe)."""

    def __init__(self, path: str, device: str):
        from transformers import AutoModel, AutoTokenizer

        from tenet.runtime.device import inference_dtype

        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModel.from_pretrained(path, dtype=inference_dtype(device), trust_remote_code=False)
        self.model = model.to(device).eval()

    def encode(self, texts: list[str], batch_size: int):
        import torch

        chunks = []
        for i in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                                   max_length=256, return_tensors="pt").to(self.model.device)
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(chunks) if chunks else torch.zeros((0, 1))


def _load_encoder(path: str, device: str) -> _Encoder:
    return _Encoder(path, device)


def _load_classifier(path: str, device: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tenet.runtime.device import inference_dtype

    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=inference_dtype(device),
                                                               trust_remote_code=False)
    return AutoTokenizer.from_pretrained(path, trust_remote_code=False), model.to(device).eval()


def _load_causal(path: str, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tenet.runtime.device import inference_dtype

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    tokenizer.padding_side = "left"  # batched generation needs prompts aligned on the right
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, AutoModelForCausalLM.from_pretrained(path, dtype=inference_dtype(device),
                                                                trust_remote_code=False).to(device).eval()
