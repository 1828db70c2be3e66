"""MLflow tracking: one experiment per policy, a parent run per update cycle, a nested run
per stage, datasets with our own sha256 digests, a registry with a `champion` alias, and a
promotion log of our own (MLflow keeps no history of alias moves).

The default store is an absolute `sqlite:///…/mlflow.db` in the work folder; a
`MLFLOW_TRACKING_URI` in the environment wins. Runs are never left RUNNING: SIGTERM marks
the cycle KILLED, an exception marks it FAILED, and `sweep_stale_runs` marks runs whose
process died (SIGKILL) KILLED at the next start.

Params, tags (MLflow's own context tags included), dataset sources and the logged model's
source name go through `tenet.runtime.redact`: a remote store never receives a secret or a path of
this machine (`<work>/…`, `<local>/NAME` or `org/name@commit` instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from tenet.runtime import tags as tag
from tenet.runtime.redact import local_name, redact_mapping, redact_value


# `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI; a later Tracker in the same
# process (another work folder) must not mistake that for the user's choice.
_SET_BY_TENET: set[str] = set()

# The metrics a cycle's parent run repeats from its stage runs (see `Tracker.log_summary`).
SUMMARY_PREFIXES = ("before.rule.", "before.severity.", "before.overall", "after.rule.", "after.severity.",
                    "after.overall", "gate.", "pairs.", "drift.")
UI_WORKFLOW = "workflowType=machine_learning"  # the MLflow UI's switch to its training view
_DESCRIPTION_CHARS = 5000  # the model card in a version's description; the full card is an artifact


def is_server(uri: str) -> bool:
    """Whether a tracking URI names a tracking server (whose artifact store every client shares)."""
    return uri.split(":", 1)[0] in ("http", "https", "databricks")


def user_tracking_uri() -> str | None:
    """`MLFLOW_TRACKING_URI` as the user set it (None if unset, or only set by tenet itself)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return env if env and env not in _SET_BY_TENET else None


def tracking_uri(work_dir: str | Path, create: bool = True) -> str:
    """`MLFLOW_TRACKING_URI` if the user set it, else an absolute SQLite store in the work folder."""
    env = user_tracking_uri()
    if env:
        return env
    path = Path(work_dir).resolve() / "mlflow.db"
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def ui_hint(uri: str, run_id: str) -> str:
    """How to open a cycle's run in the MLflow UI: a link into the server, or `mlflow ui` over the file."""
    if is_server(uri):
        return f"open it at {run_url(uri, run_id)}"
    return f"open it with: mlflow ui --host 127.0.0.1 --backend-store-uri {shlex.quote(uri)}"


def run_url(server: str, run_id: str) -> str:
    """A run's page in a tracking server's UI, in its training ("Machine learning") view.

    MLflow 3.17's UI picks GenAI or ML from a global switch (URL parameter, else the
    browser's last choice, GenAI at first) and no longer from the experiment's kind tag.
    """
    return f"{server.rstrip('/')}/#/runs/{run_id}?{UI_WORKFLOW}"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (MLflow's own dataset digest samples rows and drops list columns)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Tracker:
    """A thin layer over MLflow's client for one policy's experiment."""

    def __init__(self, policy_id: str, work_dir: str | Path):
        import mlflow

        self.mlflow = mlflow
        self.work_dir = Path(work_dir)
        self.uri = tracking_uri(work_dir)
        if self.uri != user_tracking_uri():
            _SET_BY_TENET.add(self.uri)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.experiment_name = tag.experiment_name(policy_id)
        # Two cycles starting at once would both create a new SQLite store's tables, or the
        # same experiment, and one would fail: the first use of the store is serialized.
        from tenet.runtime.locks import exclusive

        with exclusive(Path(work_dir) / ".mlflow.lock"):
            self.client = mlflow.MlflowClient(self.uri)
            self.experiment_id = self._experiment()

    def _experiment(self) -> str:
        """The policy's experiment id, created on first use, opening in the UI's training view.

        Against a tracking server the server picks the artifact location (its artifact store),
        so every machine can read what a cycle logged; a local store keeps artifacts in the
        work folder, pinned there because MLflow's default is relative to the current folder.
        """
        kind = {tag.EXPERIMENT_KIND: tag.EXPERIMENT_KIND_ML}
        existing = self.client.get_experiment_by_name(self.experiment_name)
        if existing is None:
            location = None if is_server(self.uri) else (self.work_dir.resolve() / "mlartifacts").as_uri()
            return self.client.create_experiment(self.experiment_name, artifact_location=location, tags=kind)
        if tag.EXPERIMENT_KIND not in existing.tags:  # created by an older tenet: GenAI view
            self.client.set_experiment_tag(existing.experiment_id, tag.EXPERIMENT_KIND,
                                           tag.EXPERIMENT_KIND_ML)
        return existing.experiment_id

    @contextmanager
    def cycle(self, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> Iterator[str]:
        """Open the parent run of an update cycle; FAILED on error, KILLED on SIGTERM."""
        run = self.mlflow.start_run(experiment_id=self.experiment_id, run_name=run_name,
                                    tags=self._tags({**tags, **_liveness()}))
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):  # Python's default skips atexit: mark the run first
            self.mlflow.end_run(status="KILLED")
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            self.mlflow.log_params({k: _param(v) for k, v in self.redacted(params).items()})
            yield run.info.run_id
        except BaseException:
            if self.mlflow.active_run() is not None:
                self.mlflow.end_run(status="FAILED")
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            if self.mlflow.active_run() is not None:
                self.mlflow.end_run(status="FINISHED")

    @contextmanager
    def stage(self, name: str) -> Iterator[str]:
        """A nested run for one plan stage."""
        tags = self._tags({tag.STAGE: name, **_liveness()})
        with self.mlflow.start_run(run_name=name, nested=True, tags=tags, experiment_id=self.experiment_id) as run:
            yield run.info.run_id

    def redacted(self, values: dict[str, Any]) -> dict[str, Any]:
        """Params or tags as they may leave this machine: no secrets, local paths as labels (tenet.runtime.redact)."""
        return redact_mapping(values, self.work_dir)

    def _tags(self, tags: dict[str, str]) -> dict[str, str]:
        """A new run's tags with MLflow's own (the entry script's path, the git remote) redacted too.

        MLflow adds its context tags under the ones given, so giving every one of them,
        redacted, keeps a local path or a token in a git remote URL out of the store.
        """
        from mlflow.tracking.context.registry import resolve_tags

        return {k: str(v) for k, v in self.redacted(resolve_tags(tags)).items()}

    def log_param(self, key: str, value: Any, run_id: str | None = None) -> None:
        """Log one param, redacted, on `run_id` or else the active run."""
        text = _param(redact_value(key, value, self.work_dir))
        if run_id is None:
            self.mlflow.log_param(key, text)
        else:
            self.client.log_param(run_id, key, text)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        """Set one tag, redacted, on a run."""
        self.client.set_tag(run_id, key, str(redact_value(key, value, self.work_dir)))

    def heartbeat(self, run_id: str) -> None:
        """Record that the cycle's process is alive (for the stale-run sweep)."""
        self.client.set_tag(run_id, tag.HEARTBEAT, str(time.time()))

    def log_dataset(self, path: str | Path, name: str, context: str) -> str:
        """Log a file as a run input with its sha256 as digest; returns the full digest."""
        import pandas as pd

        full = file_sha256(path)
        where = local_name(Path(path).resolve(), self.work_dir)  # `<work>/…`: no machine path in the store
        frame = pd.DataFrame({"path": [where], "sha256": [full]})
        dataset = self.mlflow.data.from_pandas(frame, source=where, name=name, digest=full[:32])
        self.mlflow.log_input(dataset, context=context)
        self.mlflow.log_param(f"data.{name}.sha256", full)
        return full

    def register(self, run_id: str, model_dir: str | Path, name: str, tags: dict[str, str],
                 rules: Sequence[Any] = (), gates: Sequence[Any] = ()) -> str:
        """Log the trained model with the `transformers` flavor and register it as a new version.

        The version is linked to the cycle's parent run and to its LoggedModel, so the UI's
        model views show it, and carries the model card as its description.

        Args:
            run_id: The cycle's parent run (its summary metrics should already be logged).
            model_dir: The trainer's output folder (full model or LoRA adapter).
            name: The registered model (the policy id).
            tags: The version's tags.
            rules: The policy's rules, for the model card's compliance table.
            gates: The cycle's gate results, for the model card.

        Returns:
            The new version number.
        """
        from tenet.runtime import champion

        card = champion.model_card(self.client.get_run(run_id), rules, gates)
        info = champion.log_model(self.mlflow, model_dir, run_id, card, work_dir=self.work_dir)
        try:
            self.client.get_registered_model(name)
        except self.mlflow.exceptions.MlflowException:
            self.client.create_registered_model(name)
        version = self.client.create_model_version(name, info.model_uri, run_id=run_id, tags=tags,
                                                   description=card[:_DESCRIPTION_CHARS],
                                                   model_id=info.model_id)
        return str(version.version)

    def log_summary(self, run_id: str) -> dict[str, float]:
        """Copy the cycle's outcome from its stage runs onto the parent run, and return it.

        The stage runs keep the detail; the parent run, the one row per cycle in the UI's runs
        table (and the source of the LoggedModel's metrics), gets compliance before and after
        per rule and per severity, the gates, the pair counts and the drift.
        """
        children = self.client.search_runs([self.experiment_id], f"tags.{tag.PARENT_RUN} = '{run_id}'")
        summary = {key: value for child in children for key, value in child.data.metrics.items()
                   if key.startswith(SUMMARY_PREFIXES)}
        if summary:
            self.mlflow.log_metrics(summary, run_id=run_id)
        gates = next((c.data.tags[tag.GATES] for c in children if tag.GATES in c.data.tags), None)
        if gates is not None:
            self.client.set_tag(run_id, tag.GATES, gates)
        return summary

    def promote(self, name: str, version: str, alias: str, actor: str, reason: str) -> None:
        """Move the alias and append the move to the promotion log (a registered-model tag)."""
        previous = None
        try:
            # str over REST but int from a SQL store: the log keeps one type
            previous = str(self.client.get_model_version_by_alias(name, alias).version)
        except self.mlflow.exceptions.MlflowException:
            pass
        self.client.set_registered_model_alias(name, alias, version)
        log = self.promotion_log(name)
        log.append({"time": time.time(), "alias": alias, "version": version, "previous": previous,
                    "actor": actor, "reason": reason})
        self.client.set_registered_model_tag(name, tag.PROMOTION_LOG, json.dumps(log))

    def promotion_log(self, name: str) -> list[dict]:
        """Every alias move recorded by `promote`, oldest first."""
        model = self.client.get_registered_model(name)
        return json.loads(model.tags.get(tag.PROMOTION_LOG, "[]"))

    def sweep_stale_runs(self, stale_after_s: float = 600.0) -> list[str]:
        """Mark RUNNING runs whose process is gone (or silent for too long) as KILLED."""
        killed = []
        runs = self.client.search_runs([self.experiment_id], "attributes.status = 'RUNNING'")
        for run in runs:
            tags = run.data.tags
            same_host = tags.get(tag.HOST) == socket.gethostname()
            pid = int(tags.get(tag.PID, "0") or 0)
            alive = same_host and pid > 0 and _pid_alive(pid) and pid != os.getpid()
            silent = time.time() - float(tags.get(tag.HEARTBEAT, "0") or 0) > stale_after_s
            if (same_host and not alive and pid != os.getpid()) or (not same_host and silent):
                self.client.set_terminated(run.info.run_id, status="KILLED")
                killed.append(run.info.run_id)
        return killed


def _liveness() -> dict[str, str]:
    """The tags that let `sweep_stale_runs` tell a live run from one whose process died."""
    return {tag.PID: str(os.getpid()), tag.HOST: socket.gethostname(), tag.HEARTBEAT: str(time.time())}


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:6000]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
