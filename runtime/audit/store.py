"""The tracking store, read-only: a policy's cycles, a model's lineage, a rule's history.

Every read goes through `MlflowClient`, so the same code serves the work folder's SQLite
store and a remote tracking server (with proxied artifacts or not); nothing here writes to
the store. A cycle's metrics, datasets and artifacts are gathered from its parent run *and*
its nested stage runs, because `runtime/cycle.py` logs most of them while a stage run is
the active one.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import urlparse

from tenet.compiler.errors import TenetError
from tenet.runtime import tags as tag
from tenet.runtime.audit.models import Cycle, DiffEntry, Lineage, RulePoint, comparisons, iso_utc
from tenet.runtime.audit.runs import Registry, build_cycle, promotion_log
from tenet.runtime.redact import display_uri, redact_mapping, redact_text, redact_value


class AuditError(TenetError):
    """A user-facing problem (unknown policy, model, run or rule), with a hint on what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return self.message + (f"\nhint: {self.hint}" if self.hint else "")


def resolve_tracking_uri(explicit: str | None, work_dir: str | Path) -> str:
    """The store to read: `--tracking-uri`, else `MLFLOW_TRACKING_URI`, else the work folder's SQLite.

    Below the explicit flag this is `tenet.runtime.track.tracking_uri`, minus its `mkdir`: a read
    must not leave an empty work folder (or store) behind.
    """
    from tenet.runtime.track import tracking_uri

    return explicit or tracking_uri(work_dir, create=False)


_Read = TypeVar("_Read", bound=Callable[..., Any])


def _store_errors(read: _Read) -> _Read:
    """Turn MLflow's own errors inside a store read into one `AuditError` line naming the store."""

    @functools.wraps(read)
    def wrapper(self: CycleStore, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return read(self, *args, **kwargs)
        except MlflowException as exc:
            raise AuditError(f"tracking store {display_uri(self.uri)}: {redact_text(exc.message)}") from None

    return wrapper  # type: ignore[return-value]


class CycleStore:
    """Reads the cycles recorded for tenet policies in one tracking store.

    Every public read raises `AuditError` for the store's problems, MLflow's own included.
    """

    def __init__(self, uri: str):
        self.uri = uri
        self._client = None
        self._listings: dict[tuple[str, str], set[str]] = {}

    @property
    def client(self):
        """The MLflow client, created on first use (after the store is known to exist)."""
        if self._client is None:
            from mlflow import MlflowClient

            self._check_reachable()
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def _check_reachable(self) -> None:
        """Fail fast with a clear message instead of creating a store or retrying for minutes."""
        parsed = urlparse(self.uri)
        if parsed.scheme == "sqlite":
            path = self.uri[len("sqlite:///"):] if self.uri.startswith("sqlite:///") else parsed.path
            if path and path != ":memory:" and not Path(path).is_file():
                raise AuditError(f"no tracking store at {display_uri(self.uri)}",
                                 "run `tenet compile-and-train POLICY --work-dir DIR` first, or pass "
                                 "--work-dir, --tracking-uri or MLFLOW_TRACKING_URI for the store that "
                                 "recorded the cycles")
        elif parsed.scheme in ("http", "https"):
            import requests

            try:
                requests.get(self.uri.rstrip("/") + "/health", timeout=10)
            except requests.RequestException as exc:
                raise AuditError(f"cannot reach the tracking server {display_uri(self.uri)}: "
                                 f"{type(exc).__name__}",
                                 "check that `mlflow server` is running there") from None

    # -- cycles --

    @_store_errors
    def cycles(self, policy_id: str) -> list[Cycle]:
        """Every cycle of the policy, oldest first (newest last)."""
        experiment_id = self._experiment_id(policy_id)
        runs = self._search(experiment_id)
        children: dict[str, list] = {}
        for run in runs:
            parent = run.data.tags.get(tag.PARENT_RUN)
            if parent:
                children.setdefault(parent, []).append(run)
        parents = [r for r in runs if tag.PARENT_RUN not in r.data.tags]
        if not parents:
            raise self._no_cycles(policy_id)
        registry = self._registry(policy_id)
        parents.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
        return [build_cycle(policy_id, p, children.get(p.info.run_id, []), registry) for p in parents]

    @_store_errors
    def cycle(self, policy_id: str, run_ref: str | None = None) -> Cycle:
        """One cycle by full or abbreviated run id; the newest when `run_ref` is None."""
        cycles = self.cycles(policy_id)
        if run_ref is None:
            return cycles[-1]
        matches = [c for c in cycles if c.run_id.startswith(run_ref)]
        if len(matches) == 1:
            return matches[0]
        shown = ", ".join(c.run_id[:8] for c in cycles[-5:])
        if not matches:
            raise AuditError(f"no cycle of policy {policy_id} has run id {run_ref}",
                             f"recent cycles: {shown}; `tenet audit {shlex.quote(policy_id)}` lists them all")
        raise AuditError(f"run id prefix {run_ref} matches {len(matches)} cycles of {policy_id}",
                         "give more characters of the run id")

    def _experiment_id(self, policy_id: str) -> str:
        experiment = self.client.get_experiment_by_name(tag.experiment_name(policy_id))
        if experiment is None or experiment.lifecycle_stage != "active":
            raise self._no_cycles(policy_id)
        return experiment.experiment_id

    def _no_cycles(self, policy_id: str) -> AuditError:
        known = self.policies()
        hint = (f"policies recorded there: {', '.join(known)}" if known else
                "run `tenet compile-and-train POLICY` first, or point --work-dir, --tracking-uri or "
                "MLFLOW_TRACKING_URI at the store that recorded the cycles")
        return AuditError(f"no cycles recorded for policy {policy_id} in {display_uri(self.uri)}", hint)

    @_store_errors
    def policies(self) -> list[str]:
        """The policy ids with an experiment in this store."""
        prefix = tag.EXPERIMENT_PREFIX
        experiments = self.client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
        return sorted(e.name[len(prefix):] for e in experiments)

    def _search(self, experiment_id: str) -> list:
        runs, token = [], None
        while True:
            page = self.client.search_runs([experiment_id], max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _registry(self, name: str) -> Registry:
        from mlflow.exceptions import MlflowException

        try:
            versions = self.client.search_model_versions(f"name='{_quote(name)}'")
            model = self.client.get_registered_model(name) if versions else None
        except MlflowException:  # no registered model yet: every cycle failed before `register`
            return Registry({}, frozenset())
        by_run: dict[str, str] = {}
        for v in versions:  # version numbers are str over REST but int from a SQL store
            if v.run_id and int(v.version) > int(by_run.get(v.run_id, "0")):
                by_run[v.run_id] = str(v.version)
        promoted = set()
        if model is not None:
            promoted |= {e["version"] for e in promotion_log(model) if e.get("alias") == tag.CHAMPION}
            if tag.CHAMPION in (model.aliases or {}):
                promoted.add(str(model.aliases[tag.CHAMPION]))
        return Registry(by_run, frozenset(promoted))

    # -- artifacts --

    @_store_errors
    def artifact_paths(self, run_id: str, folder: str = "") -> list[str]:
        """Every file under `folder` of a run's artifacts (recursive), sorted."""
        paths = []
        for info in self.client.list_artifacts(run_id, folder or None):
            paths.extend(self.artifact_paths(run_id, info.path) if info.is_dir else [info.path])
        return sorted(paths)

    @_store_errors
    def has_artifact(self, run_id: str, path: str) -> bool:
        """Whether the run has this artifact file (one listing per folder, cached)."""
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        key = (run_id, folder)
        if key not in self._listings:
            self._listings[key] = {i.path for i in self.client.list_artifacts(run_id, folder or None)
                                   if not i.is_dir}
        return path in self._listings[key]

    @_store_errors
    def read_text(self, run_id: str, path: str) -> str | None:
        """An artifact's text, or None when the run has no such file."""
        if not self.has_artifact(run_id, path):
            return None
        with tempfile.TemporaryDirectory(prefix="tenet-audit-") as tmp, _quiet_downloads():
            local = self.client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8")

    @_store_errors
    def find_text(self, cycle: Cycle, path: str) -> str | None:
        """An artifact's text from the cycle's parent run or, failing that, its first stage that has it."""
        for run_id in cycle.run_ids():
            text = self.read_text(run_id, path)
            if text is not None:
                return text
        return None

    @_store_errors
    def find_json(self, cycle: Cycle, path: str) -> Any:
        """A JSON artifact of the cycle, parsed; None when absent or not JSON."""
        text = self.find_text(cycle, path)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None

    @_store_errors
    def diff(self, cycle: Cycle) -> tuple[DiffEntry, ...] | None:
        """The cycle's policy diff against the champion's, or None when none was recorded."""
        data = self.find_json(cycle, "policy/diff.json")
        if not isinstance(data, list):
            return None
        return tuple(DiffEntry(rule=str(e.get("rule", "")),
                               kind=str(e.get("kind") or e.get("category") or ""),
                               detail=str(e.get("detail", ""))) for e in data if isinstance(e, dict))

    # -- lineage and rule history --

    @_store_errors
    def lineage(self, policy_id: str, model_ref: str) -> Lineage:
        """The full lineage of a registered model version (`NAME/VERSION` or `NAME@ALIAS`)."""
        from mlflow.exceptions import MlflowException

        name, version, alias = parse_model_ref(model_ref, policy_id)
        try:
            mv = (self.client.get_model_version(name, version) if version else
                  self.client.get_model_version_by_alias(name, alias))
        except MlflowException:
            raise AuditError(f"no registered model version {model_ref} in {display_uri(self.uri)}",
                             self._versions_hint(name)) from None
        cycle = self._cycle_of(policy_id, mv)
        number = str(mv.version)  # str over REST, int from a SQL store
        model = self.client.get_registered_model(name)
        aliases = tuple(sorted(a for a, v in (model.aliases or {}).items() if str(v) == number))
        promotions = tuple(e for e in promotion_log(model) if number in (e["version"], e["previous"]))
        return Lineage(
            model=name, version=number, aliases=aliases, source=redact_value("source", mv.source),
            version_tags=redact_mapping(mv.tags or {}),
            registered=iso_utc(mv.creation_timestamp), promotions=promotions, cycle=cycle,
            policy_files=tuple(self.artifact_paths(cycle.run_id, "policy")),
            plan=_redacted(self.find_text(cycle, "policy/plan.txt")), diff=self.diff(cycle),
            comparisons=comparisons(cycle))

    def _cycle_of(self, policy_id: str, mv) -> Cycle:
        cycles = {c.run_id: c for c in self.cycles(policy_id)}
        if mv.run_id not in cycles:
            raise AuditError(f"model {mv.name}/{mv.version} was not trained by a cycle of policy {policy_id}",
                             f"its run is {mv.run_id or 'unknown'}; audit the policy that trained it")
        return cycles[mv.run_id]

    def _versions_hint(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name='{_quote(name)}'")
            versions = sorted(int(v.version) for v in found)
        except MlflowException:
            versions = []
        if not versions:
            return f"no version of model {name} is registered; a cycle registers one in its `register` stage"
        return f"registered versions of {name}: {', '.join(map(str, versions))}; aliases: NAME@{tag.CHAMPION}"

    @_store_errors
    def rule_history(self, policy_id: str, rule_id: str) -> list[RulePoint]:
        """One rule's compliance before and after training in every cycle, oldest first."""
        cycles = self.cycles(policy_id)
        if not any(rule_id in c.rule_ids() for c in cycles):
            known = sorted({r for c in cycles for r in c.rule_ids()})
            raise AuditError(f"no compliance recorded for rule {rule_id} of policy {policy_id}",
                             f"rules with compliance: {', '.join(known[:20])}" if known else
                             f"no cycle got as far as evaluating; see `tenet audit {shlex.quote(policy_id)}`")
        return [RulePoint(run_id=c.run_id, started=c.started, policy_version=c.policy_version,
                          before=c.value("before", "rule", rule_id), after=c.value("after", "rule", rule_id),
                          change=self._rule_change(c, rule_id), gates=c.gates, model_version=c.model_version,
                          promoted=c.promoted) for c in cycles]

    def _rule_change(self, cycle: Cycle, rule_id: str) -> str | None:
        # Only cycles that say they diffed have a diff.json worth downloading.
        if cycle.diff_summary in (None, "fresh"):
            return None
        kinds = [e.kind for e in self.diff(cycle) or () if e.rule == rule_id]
        return ", ".join(kinds) or None


def parse_model_ref(ref: str, policy_id: str) -> tuple[str, str | None, str | None]:
    """`NAME/VERSION`, `NAME@ALIAS`, or a bare `VERSION` / `@ALIAS` of the policy's own model."""
    if "@" in ref:
        name, alias = ref.rsplit("@", 1)
        if alias:
            return name or policy_id, None, alias
    else:
        name, _, version = ref.rpartition("/")
        if version.isdigit():
            return name or policy_id, version, None
    raise AuditError(f"cannot read model reference {ref!r}",
                     f"write NAME/VERSION or NAME@ALIAS, e.g. {policy_id}/3 or {policy_id}@{tag.CHAMPION}")


def _redacted(text: str | None) -> str | None:
    """Recorded free text (an older cycle's plan) without the secrets it may hold."""
    return None if text is None else redact_text(text)


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


@contextmanager
def _quiet_downloads() -> Iterator[None]:
    """Hide MLflow's download progress bars, which would interleave with our output."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous
