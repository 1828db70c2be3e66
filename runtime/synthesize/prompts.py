"""The prompt pool: rule examples, expanded templates, prompt files and literal prompts.

Prompts are split once into training and held-out evaluation prompts by a seeded hash of
their text, so the split does not depend on the order sources are read in.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from compiler import ir
from compiler.datarefs import is_dataset_ref, parse_dataset_ref
from compiler.passes.check_prompts import PLACEHOLDER
from runtime.data import ColumnMap, read_batches

MAX_TEMPLATE_PROMPTS = 5_000


@dataclass(frozen=True)
class PoolPrompt:
    """A prompt, the turns before it, and where it came from."""

    text: str
    source: str
    context: tuple[tuple[str, str], ...] = ()
    rule: str | None = None  # the rule whose example it is, if any


@dataclass
class PromptPool:
    """Training and held-out prompts."""

    train: list[PoolPrompt] = field(default_factory=list)
    eval: list[PoolPrompt] = field(default_factory=list)

    @property
    def eval_texts(self) -> set[str]:
        """Normalized held-out prompt texts, for the contamination gate."""
        return {normalize(p.text) for p in self.eval}


@functools.lru_cache(maxsize=65_536)
def normalize(text: str) -> str:
    """Case- and whitespace-insensitive form used to compare prompts."""
    return " ".join(text.lower().split())


def build_pool(policy: ir.PolicyIR, root: str | Path, eval_split: float, seed: int) -> PromptPool:
    """Collect every prompt source of a policy and split it into train and eval."""
    prompts: list[PoolPrompt] = []
    for rule in policy.rules:
        for example in rule.examples:
            prompts.append(PoolPrompt(example.prompt, f"example:{rule.id}", tuple(example.context), rule.id))
    for source in policy.prompts:
        prompts.extend(_expand(source, Path(root)))
    seen: set[str] = set()
    pool = PromptPool()
    for prompt in prompts:
        key = normalize(prompt.text)
        if not key or key in seen:
            continue
        seen.add(key)
        # Rule examples are the rules' own tests: they always train, never evaluate.
        held_out = prompt.rule is None and _bucket(key, seed) < eval_split
        (pool.eval if held_out else pool.train).append(prompt)
    return pool


def fill_template(text: str, values: dict[str, str]) -> str:
    """Replace `{slot}` placeholders (other braces are left alone)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _bucket(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _expand(source: ir.PromptSourceIR, root: Path) -> list[PoolPrompt]:
    if isinstance(source, ir.LiteralPromptIR):
        return [PoolPrompt(source.text, "prompt")]
    if isinstance(source, ir.TemplateIR):
        names = [name for name, _ in source.slots]
        combos = itertools.islice(itertools.product(*(values for _, values in source.slots)), MAX_TEMPLATE_PROMPTS)
        return [PoolPrompt(fill_template(source.text, dict(zip(names, combo))), f"template:{source.span.line}")
                for combo in combos]
    rows: list[PoolPrompt] = []
    path, column = root / source.path, source.column
    if is_dataset_ref(source.path):
        # A `column=` in the reference names the text column, as the `column` clause does.
        ref = parse_dataset_ref(source.path)
        path, column = ref._replace(column=None), ref.column or column
    for batch in read_batches(path, ColumnMap(prompt=column, response=column)):
        for row in batch.select(["prompt", "context", "bad"]).to_pylist():
            if row["bad"] is None:
                rows.append(PoolPrompt(row["prompt"], f"file:{source.path}",
                                       tuple((t["role"], t["content"]) for t in row["context"])))
    return rows
