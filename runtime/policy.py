"""A compiled policy and how to get one: `check` and `load` compile a policy into a `CompiledPolicy`.

A `CompiledPolicy` is an immutable value whose methods do what the `tenet` commands do.
Only the compiler is imported here, so `load`, `check` and `plan` work with the compiler's
dependencies alone; a method that needs an extra imports it when it runs (`needing`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from tenet.compiler import ir
from tenet.compiler.artifact import CompiledArtifact, read_artifact
from tenet.compiler.diagnostics import CompileError, Diagnostic
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.plan import TrainingPlan
from tenet.compiler.strategies import NEEDS_MODEL
from tenet.runtime.errors import UsageError
from tenet.runtime.extras import needing
from tenet.runtime.results import VOTES, Check, Explanation, vote

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

    from tenet.runtime.label.run import LabelReport
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.synthesize.run import SynthesisResult

# The columns of a pairs data set, as `tenet pairs` writes them (runtime/synthesize/output.py).
PAIR_COLUMNS = ("prompt", "chosen", "rejected", "pair_id", "strategy", "target_rules", "source", "policy_id",
                "policy_version", "policy_hash", "need")


def check(path: str | Path, root: str | Path | None = None, base_model: str | None = None,
          method: str | None = None, for_training: bool = False) -> Check:
    """Compile a policy and return what was found; policy errors are diagnostics, never exceptions.

    Args:
        path: A `.policy` file, or a compiled `.json` artifact (`tenet compile`).
        root: The folder imports and prompt files must stay inside (default: the policy's).
        base_model: A base model that replaces the policy's, compiled into the plan.
        method: A training method that replaces the policy's (`dpo`, `kto`, …).
        for_training: Compile for a training run (as `tenet plan`): a policy with no held-out
            prompts to evaluate a trained model on is an error (E173).

    Raises:
        UsageError: When `path` is not a file.
        ArtifactError: When a `.json` artifact cannot be read.
    """
    shown = str(path)
    settings = dict(root=None if root is None else str(root), base_model=base_model, method=method,
                    for_training=for_training)
    if shown.endswith(".json"):
        if base_model or method:
            raise UsageError(f"{shown} is compiled already: give the .policy file to change its base model "
                             "or method")
        artifact = read_artifact(path)
        return Check(shown, artifact.diagnostics, policy=CompiledPolicy(artifact, shown, artifact.diagnostics,
                                                                        **settings))
    if not Path(path).is_file():
        raise UsageError(f"policy file not found: {shown}")
    result = compile_policy(path, root, base_model, method, for_training=for_training)
    sources = dict(result.sources)
    policy = None
    if result.artifact is not None:
        policy = CompiledPolicy(result.artifact, shown, result.diagnostics, sources, **settings)
    return Check(shown, result.diagnostics, sources, policy)


def load(path: str | Path, root: str | Path | None = None, base_model: str | None = None,
         method: str | None = None, for_training: bool = False) -> CompiledPolicy:
    """Compile a policy (or read a compiled artifact) into a `CompiledPolicy`.

    Args are those of `check`.

    Raises:
        CompileError: When the policy has errors; its message is the rendered diagnostics.
        UsageError: When `path` is not a file.
    """
    found = check(path, root, base_model, method, for_training)
    if found.policy is None:
        raise CompileError(found.diagnostics, dict(found.sources))
    return found.policy


@dataclass(frozen=True, repr=False)
class CompiledPolicy:
    """A compiled policy: its artifact and diagnostics, and what the runtime does with it.

    Build one with `tenet.load`. It never changes; each method returns a new value.
    """

    artifact: CompiledArtifact
    path: str  # the .policy file (or .json artifact) it was compiled from
    diagnostics: tuple[Diagnostic, ...] = ()  # warnings and notes: a policy with errors does not load
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    root: str | None = None
    base_model: str | None = None
    method: str | None = None
    for_training: bool = False

    def __repr__(self) -> str:
        return (f"<CompiledPolicy {self.id} {self.version} from {self.path}: {len(self.rules)} rules, "
                f"{len(self.diagnostics)} diagnostics>")

    @property
    def id(self) -> str:
        """The policy id (its MLflow experiment is `tenet/<id>`)."""
        return self.artifact.policy_id

    @property
    def version(self) -> str:
        """The policy's version string."""
        return self.artifact.version

    @property
    def rules(self) -> tuple[ir.RuleIR, ...]:
        """The compiled rules, in declaration order."""
        return self.artifact.ir.rules

    @property
    def folder(self) -> Path:
        """The policy's folder: model paths in its rules and training settings are relative to it."""
        return Path(self.path).parent

    @property
    def from_artifact(self) -> bool:
        """True when it was read from a compiled `.json` artifact rather than compiled from source."""
        return self.path.endswith(".json")

    def check(self) -> Check:
        """The policy's warnings and notes (`ok` is always True: a policy with errors does not load)."""
        return Check(self.path, self.diagnostics, self.sources, self)

    def plan(self) -> TrainingPlan:
        """The training plan's typed stages: label, synthesize, evaluate, train, evaluate, gate, register.

        Raises:
            CompileError: E173 when the policy has no held-out prompts to evaluate a trained
                model on, as `tenet plan` does.
        """
        if self.for_training or self.from_artifact:
            return self.artifact.plan
        return load(self.path, self.root, self.base_model, self.method, for_training=True).artifact.plan

    @needing("explaining", "label")
    def explain(self, prompt: str, response: str, *, context: Sequence[tuple[str, str]] = (),
                judge_model: str | None = None) -> Explanation:
        """Vote every rule on one (prompt, response) and say why.

        Args:
            prompt: The user's last message.
            response: The answer to judge.
            context: Earlier turns, as (role, content) pairs.
            judge_model: A model for judge rules that name none (default: the base model).
        """
        from tenet.compiler.semantics import Sample
        from tenet.runtime.label.explain import explain

        sample = Sample(prompt, response, tuple((role, text) for role, text in context))
        details, verdict, score = explain(self.artifact, sample, self._scorers(judge_model))
        return Explanation(prompt=prompt, response=response, verdict=VOTES[verdict], score=score,
                           votes=tuple(vote(d) for d in details), details=tuple(details))

    @needing("labeling", "label")
    def label(self, data: Any, *, columns: Mapping[str, str] | str | None = None, batch_rows: int = 65_536,
              spans: bool = True, judge_model: str | None = None) -> Any:
        """Label every row with the policy's rules: one vote column per rule, the verdict and its score.

        Args:
            data: A pyarrow Table, a pandas DataFrame, a datasets Dataset, a list of dicts, or a
                path (JSONL, CSV, Parquet, a saved Hugging Face dataset, `hf://org/name?split=S`).
            columns: Which input columns hold the prompt, response, messages and gold label,
                as a mapping (`{"prompt": "question"}`) or `"prompt=question,response=answer"`.
            batch_rows: Rows labeled at a time.
            spans: Also record where each rule's condition matched.
            judge_model: A model for judge rules that name none (default: the base model).

        Returns:
            The labeled rows in the kind given: a DataFrame for a DataFrame, a Dataset for a
            Dataset, else a pyarrow Table (its schema metadata holds each rule's provenance).
        """
        import pyarrow as pa

        from tenet.runtime.data import SCHEMA, read_batches
        from tenet.runtime.label.engine import Labeler, rules_metadata

        source, kind = _arrow_source(data)
        labeler = Labeler(self.rules, score=self._scorers(judge_model), spans=spans)
        batches = [labeler.label(batch)[0] for batch in read_batches(source, _columns(columns), batch_rows)]
        table = pa.concat_tables(batches) if batches else labeler.label(SCHEMA.empty_table())[0]
        table = table.replace_schema_metadata(rules_metadata(self.rules, self.artifact.policy_hash, spans))
        return _as_kind(table, kind)

    @needing("labeling", "label")
    def write_labels(self, data: Any, out: str | Path, *, columns: Mapping[str, str] | str | None = None,
                     batch_rows: int = 65_536, spans: bool = True, judge_model: str | None = None,
                     out_format: str = "parquet", progress: Callable[[int], None] | None = None,
                     engine: str = "local", ray_address: str | None = None,
                     workers: int | None = None) -> LabelReport:
        """Label `data` into a Parquet file (or a saved Hugging Face dataset folder with `out_format="hf"`).

        Streams in batches, so memory grows with `batch_rows`, not with the data. Beside `out`
        it writes `<name>.report.json` and the rule analysis. Returns the run's report (rows,
        bad rows by reason, verdicts, per-rule coverage and conflicts). Other args as `label`.
        `workers` processes label data files (default: every core for files over 8 MB). With
        `engine="ray"`, `out` is a folder of Parquet shards labeled on the Ray cluster at
        `ray_address` (default `RAY_ADDRESS`, else a local cluster); it needs the `scale` extra.
        """
        from tenet.runtime.label.run import label_dataset

        return label_dataset(self.artifact, data, out, columns=_columns(columns), batch_rows=batch_rows,
                             spans=spans, scorers=self._scorers(judge_model),
                             out_format=out_format, progress=progress, root=self.folder, workers=workers,
                             engine=engine, ray_address=ray_address)

    @needing("pair synthesis", "label", "train")
    def pairs(self, *, strategies: Sequence[str] | None = None, model: str | None = None,
              feedback: str | Path | Sequence[Mapping[str, Any]] | None = None, samples: int = 4,
              max_prompts: int | None = None, device: str | None = None, engine: str | None = None,
              ray_address: str | None = None) -> datasets.Dataset:
        """Synthesize verified (prompt, chosen, rejected) pairs, as TRL's preference trainers read them.

        Args:
            strategies: Pair strategies to run (default: the policy's `strategies` setting).
            model: The model for `sample`, `revise` and `contrast` (default: the policy's base model
                when one of those is asked for).
            feedback: Rated logs for `feedback`: a path or `hf://` data set with a `rating`
                column, or rows with `prompt`, `response` and `rating`.
            samples: N for best-of-N sampling.
            max_prompts: Cap on the training prompts the model answers (a seeded choice).
            device: Where the model runs (default: the policy's `device` setting).
            engine: `local`, or `ray`: the model generates on an actor pool of a Ray cluster
                (default: the policy's `generation` setting).
            ray_address: The Ray cluster (default: `RAY_ADDRESS`, else a local one).

        Returns:
            A `datasets.Dataset` with conversational `prompt`, `chosen`, `rejected` and
            provenance columns (`pair_id`, `strategy`, `target_rules`, `source`, policy hash).
        """
        import datasets

        from tenet.runtime.synthesize.output import preference_rows

        result = self.write_pairs(None, strategies=strategies, model=model, feedback=feedback,
                                  samples=samples, max_prompts=max_prompts, device=device, engine=engine,
                                  ray_address=ray_address)
        rows = preference_rows(result.pairs, self.artifact, result.needs)
        if not rows:
            return datasets.Dataset.from_dict({column: [] for column in PAIR_COLUMNS})
        return datasets.Dataset.from_list(rows)

    @needing("pair synthesis", "label", "train")
    def write_pairs(self, out: str | Path | None, *, strategies: Sequence[str] | None = None,
                    model: str | None = None,
                    feedback: str | Path | Sequence[Mapping[str, Any]] | None = None, samples: int = 4,
                    max_prompts: int | None = None, device: str | None = None,
                    progress: Callable[[str, int], None] | None = None, engine: str | None = None,
                    ray_address: str | None = None) -> SynthesisResult:
        """Synthesize pairs into `out` (Parquet files and `pair_qa.json`; None writes nothing).

        Returns the kept pairs, unpaired rows, held-out prompts and the QA report. Other args
        as `pairs`; `progress` is called with (strategy, candidates so far).
        """
        from tenet.runtime.synthesize.run import synthesize

        names = list(strategies) if strategies else list(self.artifact.ir.training.strategies)
        rows = read_feedback(feedback) if isinstance(feedback, (str, Path)) else feedback
        return synthesize(self.artifact, out, root=self.folder, strategies=names,
                          generator=self._generator(names, model, device, engine, ray_address),
                          feedback=None if rows is None else [dict(r) for r in rows],
                          samples_per_prompt=samples, progress=progress, max_model_prompts=max_prompts)

    def _scorers(self, judge_model: str | None) -> Scorers:
        from tenet.runtime.label.scorers import Scorers

        return Scorers.for_policy(self.artifact.ir.training, self.folder, judge_model)

    def _generator(self, strategies: Sequence[str], model: str | None, device: str | None,
                   engine: str | None = None, ray_address: str | None = None):
        """A generator for the model-based strategies, or None when none of them is asked for."""
        if model is None and not any(s in NEEDS_MODEL for s in strategies):
            return None
        from tenet.runtime.models import resolve_model
        from tenet.runtime.synthesize.ray_generate import open_generator

        training = self.artifact.ir.training
        return open_generator(resolve_model(model or training.base_model, self.folder, training.revision),
                              engine or training.generation, ray_address, max_new_tokens=training.max_new_tokens,
                              device=device or training.device, precision=training.precision)


def _columns(columns: Mapping[str, str] | str | None):
    """A `ColumnMap` from a mapping or a `prompt=question,…` string."""
    from tenet.runtime.data import ColumnMap

    if columns is None or isinstance(columns, str):
        return ColumnMap.parse(columns)
    return ColumnMap.parse(",".join(f"{k}={v}" for k, v in columns.items()))


def _arrow_source(data: Any) -> tuple[Any, str]:
    """What `read_batches` reads for `data`, and the kind to hand the labels back as.

    pandas and datasets are looked up only when already imported: a caller holding a
    DataFrame or a Dataset has imported them.
    """
    import pyarrow as pa

    pandas, hf = sys.modules.get("pandas"), sys.modules.get("datasets")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False), "pandas"
    if hf is not None and isinstance(data, hf.Dataset):
        return data.with_format("arrow")[:], "datasets"
    if isinstance(data, Path):
        return str(data), "arrow"
    return data, "arrow"


def _as_kind(table: pa.Table, kind: str) -> Any:
    if kind == "pandas":
        return table.to_pandas()
    if kind == "datasets":
        import datasets

        return datasets.Dataset(table)
    return table


def read_feedback(path: str | Path) -> list[dict]:
    """Rated rows from logs (`prompt`, `response`, `rating`), for the `feedback` strategy."""
    from tenet.runtime.data import ColumnMap, read_batches

    rows = []
    for batch in read_batches(str(path), ColumnMap(gold="rating")):
        for row in batch.to_pylist():
            if row["bad"] is None:
                rows.append({"prompt": row["prompt"], "response": row["response"], "rating": row["gold"],
                             "context": [(t["role"], t["content"]) for t in row["context"]]})
    return rows
