"""The prompt pool: rule examples, expanded templates, prompt files and literal prompts.

Prompts are split once into training and held-out evaluation prompts by a seeded hash of
their text, so the split does not depend on the order sources are read in. The split and the
template expansion live in `tenet.compiler.heldout`, so the compiler counts the same held-out prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tenet.compiler import ir
from tenet.compiler.datarefs import is_dataset_ref, parse_dataset_ref
from tenet.compiler.heldout import fill_template, has_wording, is_held_out, normalize, written_prompts
from tenet.runtime.data import ColumnMap, read_batches

__all__ = ["PoolPrompt", "PromptPool", "build_pool", "fill_template", "normalize"]

MAX_FILE_PROMPTS = 1_000_000  # usable rows read from one prompt file, at most


@dataclass(frozen=True)
class PoolPrompt:
    """A prompt, the turns before it, and where it came from."""

    text: str
    source: str
    context: tuple[tuple[str, str], ...] = ()
    rule: str | None = None  # the rule whose example it is, if any
    worded: bool = False  # from a template with wording of its own (`tenet.compiler.heldout.has_wording`)


@dataclass
class PromptPool:
    """Training and held-out prompts."""

    train: list[PoolPrompt] = field(default_factory=list)
    eval: list[PoolPrompt] = field(default_factory=list)

    @property
    def eval_texts(self) -> set[str]:
        """Normalized held-out prompt texts, for the contamination gate."""
        return {normalize(p.text) for p in self.eval}


def build_pool(policy: ir.PolicyIR, root: str | Path, eval_split: float, seed: int) -> PromptPool:
    """Collect every prompt source of a policy and split it into train and eval."""
    prompts: list[PoolPrompt] = []
    for rule in policy.rules:
        for example in rule.examples:
            prompts.append(PoolPrompt(example.prompt, f"example:{rule.id}", tuple(example.context), rule.id))
    written: dict[int, list[str]] = {}
    for index, text in written_prompts(policy):
        written.setdefault(index, []).append(text)
    for index, source in enumerate(policy.prompts):
        if isinstance(source, ir.PromptFileIR):
            prompts.extend(_read_file(source, Path(root)))
        else:
            where = "prompt" if isinstance(source, ir.LiteralPromptIR) else f"template:{source.span.line}"
            worded = has_wording(source)
            prompts.extend(PoolPrompt(text, where, worded=worded) for text in written.get(index, ()))
    seen: set[str] = set()
    pool = PromptPool()
    for prompt in prompts:
        key = normalize(prompt.text)
        if not key or key in seen:
            continue
        seen.add(key)
        # Rule examples are the rules' own tests: they always train, never evaluate.
        held_out = prompt.rule is None and is_held_out(key, eval_split, seed)
        (pool.eval if held_out else pool.train).append(prompt)
    return pool


def _read_file(source: ir.PromptFileIR, root: Path) -> list[PoolPrompt]:
    """The usable rows of a prompt file or Hub data set, at most MAX_FILE_PROMPTS."""
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
        if len(rows) >= MAX_FILE_PROMPTS:
            return rows[:MAX_FILE_PROMPTS]
    return rows
