"""The Python API: load a policy, then check, explain, label, pair and plan with it; train; audit.

`tenet.load(path)` compiles a policy into a `CompiledPolicy`, an immutable value whose methods
do what the `tenet` commands do; `tenet.train` runs an update cycle and `tenet.audit` reads
the cycles back from MLflow. The command line is a thin layer over these functions
(runtime/cli.py). See docs/api.md.

`check`, `load` and `CompiledPolicy` live in runtime/policy.py, the records they return in
runtime/results.py, and `MissingExtra` in runtime/extras.py; this module is the API's one
entry, holding `train` and `audit`. Only the compiler is imported here, so `load`, `check`
and `plan` work with the compiler's dependencies alone.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from tenet.runtime.errors import UsageError
from tenet.runtime.extras import MissingExtra, needing, needs_extras
from tenet.runtime.policy import CompiledPolicy, check, load
from tenet.runtime.results import Audit, Check, Explanation, RuleVote

if TYPE_CHECKING:
    from tenet.runtime.cycle import CycleResult
    from tenet.runtime.train.common import TrainJob

__all__ = ["Audit", "Check", "CompiledPolicy", "Explanation", "MissingExtra", "RuleVote", "UsageError",
           "audit", "check", "load", "train"]


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
    with needs_extras("training", ("label", "train")), tracking(tracking_uri):
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
def tracking(uri: str | None) -> Iterator[None]:
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


@needing("audit", "train")
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
