"""The Python API: load a policy, then check, explain, label, pair and plan with it; train; audit.

`tenet.load(path)` compiles a policy into a `CompiledPolicy`, an immutable value whose methods
do what the `tenet` commands do; `tenet.train` runs an update cycle and `tenet.audit` reads
the cycles back from MLflow. The command line is a thin layer over these functions
(runtime/cli.py). See docs/api.md.

Only the compiler is imported here, so `load`, `check` and `plan` work with the compiler's
dependencies alone. What needs an extra (pyarrow for labeling; datasets, torch, TRL and MLflow
for pairs and training) is imported by the method that needs it, which raises `MissingExtra`
naming the extra to install when it is absent.
"""

from __future__ import annotations

import functools
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from tenet.compiler import ir
from tenet.compiler.artifact import CompiledArtifact, read_artifact
from tenet.compiler.diagnostics import CompileError, Diagnostic, Severity, display_path, render_all
from tenet.compiler.errors import TenetError
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.plan import TrainingPlan

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

    from tenet.runtime.audit import CycleStore
    from tenet.runtime.audit.models import Cycle, Lineage, RulePoint
    from tenet.runtime.cycle import CycleResult
    from tenet.runtime.label.explain import RuleExplanation
    from tenet.runtime.label.run import LabelReport
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.synthesize.run import SynthesisResult
    from tenet.runtime.train.common import TrainJob

__all__ = ["Audit", "Check", "CompiledPolicy", "Explanation", "MissingExtra", "RuleVote", "UsageError",
           "audit", "check", "load", "train"]

# The extra that installs each optional top-level module (pyproject.toml's optional-dependencies).
EXTRA_OF = {
    "pyarrow": "label", "re2": "label", "vaderSentiment": "label", "numpy": "label",
    "torch": "train", "transformers": "train", "trl": "train", "datasets": "train", "peft": "train",
    "accelerate": "train", "gguf": "train", "mlflow": "train", "tqdm": "train",
    "pygls": "lsp", "lsprotocol": "lsp", "ray": "scale",
}
VOTES = {ir.GOOD: "GOOD", ir.BAD: "BAD", ir.ABSTAIN: "ABSTAIN"}
# The columns of a pairs data set, as `tenet pairs` writes them (runtime/synthesize/output.py).
PAIR_COLUMNS = ("prompt", "chosen", "rejected", "pair_id", "strategy", "target_rules", "source", "policy_id",
                "policy_version", "policy_hash", "need")


class UsageError(TenetError):
    """A problem with how tenet was called or with a file it was given (exit 2)."""


class MissingExtra(TenetError):
    """A feature needs an optional dependency that is not installed (exit 2).

    Args:
        feature: What needed it, as the message names it (`labeling`, `tenet label`).
        extras: The extra, or extras, that install what it needs (`label`, `train`).
    """

    def __init__(self, feature: str, extras: str | Sequence[str]):
        self.feature, self.extras = feature, (extras,) if isinstance(extras, str) else tuple(extras)
        names = ",".join(self.extras)
        noun = "extra" if len(self.extras) == 1 else "extras"
        super().__init__(f'{feature} needs the [{names}] {noun}: pip install "tenet[{names}]"')

    def named(self, feature: str) -> MissingExtra:
        """The same error, naming another feature (the CLI names its command)."""
        return MissingExtra(feature, self.extras)


@contextmanager
def needs_extras(feature: str, extras: Sequence[str] = ()) -> Iterator[None]:
    """Turn an optional module missing inside the block into `MissingExtra`.

    Args:
        feature: What is running, as the message names it.
        extras: The extras the feature needs; the message names them all (and the missing
            module's own extra), so that one install is enough.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        raise MissingExtra(feature, sorted({*extras, extra})) from exc


def _needing(feature: str, *extras: str) -> Callable[[Callable], Callable]:
    """Run the decorated function under `needs_extras(feature, extras)`."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with needs_extras(feature, extras):
                return function(*args, **kwargs)
        return wrapper
    return decorate


# --- checking and loading ---------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """What checking a policy found: `ok` unless a diagnostic is an error."""

    path: str
    diagnostics: tuple[Diagnostic, ...]
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    policy: CompiledPolicy | None = field(default=None, repr=False)  # None when there are errors

    @property
    def ok(self) -> bool:
        """True when the policy compiled (warnings and notes allowed)."""
        return self.policy is not None

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The error diagnostics."""
        return self._of(Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """The warning diagnostics."""
        return self._of(Severity.WARNING)

    @property
    def notes(self) -> tuple[Diagnostic, ...]:
        """The note diagnostics."""
        return self._of(Severity.NOTE)

    def _of(self, severity: Severity) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is severity)

    def render(self) -> str:
        """Every diagnostic as `file:line:col: severity[CODE]: message`, its source line, caret and hint."""
        return render_all(list(self.diagnostics), dict(self.sources))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of `tenet check --format json` for one policy."""
        return {"ok": self.ok, "diagnostics": [d.model_dump(mode="json") for d in self.diagnostics]}


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


# --- explanations ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleVote:
    """One rule's vote on a (prompt, response) and why."""

    rule: str
    severity: str
    kind: str  # the rule's verdict: forbid, require, avoid or prefer
    vote: str  # GOOD, BAD or ABSTAIN
    reason: str
    source: str | None  # `file:line` of the rule's condition (`std/…` for the standard library)
    subject: str | None  # where the condition matched: prompt, response or context
    span: tuple[int, int] | None  # the match's character offsets in that text

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`tenet explain --format json`)."""
        return {"rule": self.rule, "severity": self.severity, "kind": self.kind, "vote": self.vote,
                "reason": self.reason, "source": self.source, "subject": self.subject,
                "span": None if self.span is None else list(self.span)}


@dataclass(frozen=True)
class Explanation:
    """How every rule of a policy votes on one (prompt, response), and the verdict they reach."""

    prompt: str
    response: str
    verdict: str  # GOOD, BAD or ABSTAIN
    score: float | None
    votes: tuple[RuleVote, ...]  # in precedence order
    details: tuple[RuleExplanation, ...] = field(default=(), repr=False, compare=False)

    @property
    def broken(self) -> tuple[str, ...]:
        """The rules that vote BAD, in precedence order (the first is the reported violation)."""
        return tuple(v.rule for v in self.votes if v.vote == "BAD")

    @property
    def reason(self) -> str:
        """One line: which rule the verdict reports, or that none is broken."""
        bad = [v for v in self.votes if v.vote == "BAD"]
        if not bad:
            return "no rule is broken"
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        return f"breaks {bad[0].rule} ({bad[0].severity}){more}"

    def render(self, color: bool = False) -> str:
        """The text of `tenet explain`: the verdict, then one block per rule (`color`: ANSI highlights)."""
        from tenet.compiler.semantics import Sample
        from tenet.runtime.label.explain import render

        verdict = next(code for code, name in VOTES.items() if name == self.verdict)
        sample = Sample(self.prompt, self.response)
        return render(list(self.details), verdict, self.score, sample, color=color)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`tenet explain --format json`)."""
        return {"verdict": self.verdict, "score": self.score, "reason": self.reason,
                "broken": list(self.broken), "prompt": self.prompt, "response": self.response,
                "votes": [v.to_dict() for v in self.votes]}


def _vote(detail: RuleExplanation) -> RuleVote:
    rule, span = detail.rule, detail.rule.check.span
    return RuleVote(rule=rule.id, severity=rule.severity, kind=rule.verdict, vote=VOTES[detail.vote],
                    reason=detail.reason, source=f"{display_path(span.file)}:{span.line}",
                    subject=detail.subject, span=detail.span)


# --- the compiled policy ------------------------------------------------------------------


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

    @_needing("explaining", "label")
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
                           votes=tuple(_vote(d) for d in details), details=tuple(details))

    @_needing("labeling", "label")
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

    @_needing("labeling", "label")
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

    @_needing("pair synthesis", "label", "train")
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

    @_needing("pair synthesis", "label", "train")
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
        from tenet.runtime.synthesize.strategies import NEEDS_MODEL

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


# --- training ---------------------------------------------------------------------------


def train(policy: str | Path | CompiledPolicy, *, work_dir: str | Path = "work",
          base_model: str | None = None, method: str | None = None, max_steps: int | None = None,
          device: str | None = None, eval_prompts: int | None = None, model_prompts: int | None = 24,
          from_base: bool = False, tracking_uri: str | None = None, root: str | Path | None = None,
          progress: Callable[[str], None] | None = None, notify: Callable[[str], None] | None = None,
          before_train: Callable[[TrainJob], None] | None = None, engine: str | None = None,
          ray_address: str | None = None) -> CycleResult:
    """Run one update cycle: pairs, evaluate, train, evaluate, gate, register in MLflow.

    Args:
        policy: A `.policy` file, a compiled `.json` artifact or a `CompiledPolicy`.
        work_dir: The work folder: caches, checkpoints and, by default, the MLflow store.
        base_model: A Hugging Face id, a local folder or `embedded:…` (default: the plan's).
        method: `dpo`, `kto`, … or `auto` (default: the plan's).
        max_steps: Cap on training steps.
        device: `auto`, `cpu`, `cuda`, `mps` (default: the plan's).
        eval_prompts: Cap on the held-out prompts evaluated.
        model_prompts: Prompts the model samples for pairs.
        from_base: Train from the base model even when the policy has a champion.
        tracking_uri: The MLflow store (default: `MLFLOW_TRACKING_URI`, else `work_dir/mlflow.db`).
        root: The folder imports must stay inside, when `policy` is a path.
        progress: Called with each stage's name as it starts; given, the stages show progress bars.
        notify: Called with messages for the operator (waiting for another cycle's lock).
        before_train: Called with the train job just before training (`accelerate launch`).
        engine: Where the model generates pairs and evaluation answers: `local`, or `ray` (an
            actor pool on a Ray cluster; default: the policy's `generation` setting).
        ray_address: The Ray cluster (default: `RAY_ADDRESS`, else a local one).

    Returns:
        The cycle's result: compliance before and after, gates, the model version and the run.

    Raises:
        CompileError: When the policy has errors or no held-out prompts.
        NothingToTrain: When no rule changed since the champion (an outcome: exit 0 in the CLI).
    """
    policy = _for_training(policy, root, base_model, method)
    with needs_extras("training", ("label", "train")), _tracking(tracking_uri):
        from tenet.runtime.cycle import CycleOptions, run_cycle

        options = CycleOptions(work_dir=str(work_dir), base_model=base_model, method=method,
                               max_steps=max_steps, device=device, eval_prompts=eval_prompts,
                               model_prompts=model_prompts, from_base=from_base,
                               progress=progress is not None, before_train=before_train, engine=engine,
                               ray_address=ray_address)
        return run_cycle(policy.artifact, options, progress=progress or (lambda stage: None),
                         notify=notify or (lambda message: None))


def _for_training(policy: str | Path | CompiledPolicy, root: str | Path | None, base_model: str | None,
                  method: str | None) -> CompiledPolicy:
    """The policy compiled for a training run with the given base model and method."""
    if not isinstance(policy, CompiledPolicy):
        return load(policy, root, base_model, method, for_training=True)
    if policy.from_artifact:
        return policy
    same = base_model in (None, policy.base_model) and method in (None, policy.method)
    if policy.for_training and same:
        return policy
    return load(policy.path, policy.root, base_model or policy.base_model, method or policy.method,
                for_training=True)


@contextmanager
def _tracking(uri: str | None) -> Iterator[None]:
    """Within the block, MLflow's store is `uri` (as if `MLFLOW_TRACKING_URI` were set to it)."""
    if uri is None:
        yield
        return
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before


# --- audit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """A policy's update cycles as one MLflow store recorded them, read back as frozen read models."""

    policy_id: str
    store: CycleStore = field(repr=False, compare=False)

    @property
    def tracking_uri(self) -> str:
        """The store, with any secret in it redacted."""
        from tenet.runtime.redact import display_uri

        return display_uri(self.store.uri)

    @_needing("audit", "train")
    def cycles(self) -> list[Cycle]:
        """Every cycle of the policy, oldest first: version, hashes, compliance, gates, model."""
        return self.store.cycles(self.policy_id)

    @_needing("audit", "train")
    def cycle(self, run: str | None = None) -> Cycle:
        """One cycle by run id or unique prefix (default: the newest)."""
        return self.store.cycle(self.policy_id, run)

    @_needing("audit", "train")
    def lineage(self, model: str) -> Lineage:
        """A registered version's lineage: `NAME/VERSION` or `NAME@champion`."""
        return self.store.lineage(self.policy_id, model)

    @_needing("audit", "train")
    def rule_history(self, rule: str) -> list[RulePoint]:
        """One rule's compliance before and after, cycle by cycle."""
        return self.store.rule_history(self.policy_id, rule)


@_needing("audit", "train")
def audit(policy: str | Path | CompiledPolicy, *, work_dir: str | Path = "work",
          tracking_uri: str | None = None) -> Audit:
    """The recorded cycles of a policy, by id, by its `.policy` / `.json` file, or a `CompiledPolicy`.

    Args:
        policy: The policy id (its experiment is `tenet/<id>`), its file, or a loaded policy.
        work_dir: The work folder whose `mlflow.db` to read, when no store is named.
        tracking_uri: The MLflow store (default: `MLFLOW_TRACKING_URI`, else `work_dir/mlflow.db`).

    Nothing is read until a method is called; a store that does not exist raises `AuditError`.
    """
    from tenet.runtime.audit import CycleStore, resolve_tracking_uri

    return Audit(_policy_id(policy), CycleStore(resolve_tracking_uri(tracking_uri, work_dir)))


def _policy_id(policy: str | Path | CompiledPolicy) -> str:
    if isinstance(policy, CompiledPolicy):
        return policy.id
    if str(policy).endswith((".policy", ".json")) and Path(policy).is_file():
        return load(policy).id
    return str(policy)
