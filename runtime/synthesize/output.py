"""Write pairs in TRL's formats as Hugging Face datasets saved to Parquet, with provenance."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from tenet.compiler.artifact import CompiledArtifact
from tenet.runtime.synthesize.pairs import Completion, Pair
from tenet.runtime.synthesize.prompts import PoolPrompt


def _prompt_messages(prompt: str, context) -> list[dict[str, str]]:
    return [{"role": role, "content": text} for role, text in context] + [{"role": "user", "content": prompt}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def pair_id(pair: Pair) -> str:
    """A content hash identifying a pair across cycles."""
    payload = json.dumps([pair.context, pair.prompt, pair.chosen, pair.rejected], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def preference_rows(pairs: Sequence[Pair], artifact: CompiledArtifact,
                    needs: Sequence[float] | None = None) -> list[dict]:
    """Conversational `prompt/chosen/rejected` rows with provenance columns and each pair's
    `need` (its weight in the step sample; 1.0 for every pair when none are given)."""
    needs = [1.0] * len(pairs) if needs is None else needs
    return [{
        "prompt": _prompt_messages(p.prompt, p.context), "chosen": _assistant(p.chosen),
        "rejected": _assistant(p.rejected), "pair_id": pair_id(p), "strategy": p.strategy,
        "target_rules": list(p.target_rules), "source": p.source, "policy_id": artifact.policy_id,
        "policy_version": artifact.version, "policy_hash": artifact.policy_hash, "need": float(need),
    } for p, need in zip(pairs, needs, strict=True)]


def unpaired_rows(pairs: Sequence[Pair], completions: Sequence[Completion], artifact: CompiledArtifact) -> list[dict]:
    """Unpaired `prompt/completion/label` rows (KTO): both sides of every pair, plus feedback."""
    rows = []
    for p in pairs:
        if p.strategy == "feedback":  # its two sides are already among the feedback rows
            continue
        for text, label in ((p.chosen, True), (p.rejected, False)):
            rows.append({"prompt": _prompt_messages(p.prompt, p.context), "completion": _assistant(text),
                         "label": label, "pair_id": pair_id(p), "strategy": p.strategy,
                         "target_rules": list(p.target_rules), "source": p.source})
    for c in completions:
        rows.append({"prompt": _prompt_messages(c.prompt, c.context), "completion": _assistant(c.completion),
                     "label": c.label, "pair_id": "", "strategy": c.strategy, "target_rules": list(c.target_rules),
                     "source": c.source})
    for row in rows:
        row.update(policy_id=artifact.policy_id, policy_version=artifact.version, policy_hash=artifact.policy_hash)
    return rows


def eval_rows(prompts: Sequence[PoolPrompt]) -> list[dict]:
    """Held-out evaluation prompts."""
    return [{"prompt": _prompt_messages(p.text, p.context), "text": p.text, "source": p.source} for p in prompts]


def write_parquet(rows: list[dict], path: Path, columns: Sequence[str]) -> None:
    """Save rows as a Hugging Face dataset in Parquet, atomically (also when empty)."""
    import datasets

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    datasets.disable_progress_bars()  # the CLI shows its own progress
    dataset = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({c: [] for c in columns})
    try:
        dataset.to_parquet(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
