"""Build the audit read models from MLflow's own entities (runs, inputs, registered models).

Pure conversions of what `tenet.runtime.audit.store` fetched: no client calls here. The tag names
come from `tenet.runtime.tags`, which the writers (`runtime/cycle.py`, `runtime/track.py`) use too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from tenet.runtime import tags as tag
from tenet.runtime.audit.models import Cycle, Dataset, Stage, iso_utc
from tenet.runtime.redact import redact_mapping, redact_value


@dataclass(frozen=True)
class Registry:
    """What the model registry knows about a policy's runs (a fallback for older cycles' tags)."""

    versions_by_run: dict[str, str]
    promoted: frozenset[str]


def build_cycle(policy_id: str, run, children: Sequence, registry: Registry) -> Cycle:
    """Assemble a cycle from its parent run, its stage runs and the registry."""
    tags, params = run.data.tags, run.data.params
    stages = sorted(children, key=lambda r: (r.info.start_time or 0, r.info.run_id))
    metrics: dict[str, float] = {}
    for stage in stages:
        metrics.update(stage.data.metrics)
    metrics.update(run.data.metrics)  # a value on the parent run is the cycle's own word
    gates = tags.get(tag.GATES) or next((s.data.tags[tag.GATES] for s in stages if tag.GATES in s.data.tags),
                                        None)
    version = tags.get(tag.MODEL_VERSION) or registry.versions_by_run.get(run.info.run_id)
    promoted = _bool(tags.get(tag.PROMOTED))
    if promoted is None and version is not None:
        promoted = version in registry.promoted
    return Cycle(
        run_id=run.info.run_id, name=run.info.run_name or "", status=run.info.status,
        started=iso_utc(run.info.start_time), ended=iso_utc(run.info.end_time), policy_id=policy_id,
        policy_version=tags.get(tag.POLICY_VERSION) or params.get("policy.version"),
        policy_hash=params.get("policy.hash"), plan_hash=params.get("plan.hash"),
        diff_summary=tags.get(tag.DIFF_SUMMARY), diff_parent_run=tags.get(tag.DIFF_PARENT_RUN),
        model_version=version, promoted=promoted, git_commit=tags.get(tag.GIT_COMMIT), gates=gates,
        metrics=metrics, params=redact_mapping(params),
        stages=tuple(_stage(s) for s in stages),
        datasets=tuple(d for r in (run, *stages) for d in _datasets(r)))


def _stage(run) -> Stage:
    """A nested stage run."""
    return Stage(name=run.data.tags.get(tag.STAGE) or run.info.run_name or "", run_id=run.info.run_id,
                 status=run.info.status, started=iso_utc(run.info.start_time), ended=iso_utc(run.info.end_time),
                 metrics=dict(run.data.metrics))


def _datasets(run) -> list[Dataset]:
    """The run's inputs, each with the full sha256 that `Tracker.log_dataset` logged as a param."""
    inputs = getattr(run, "inputs", None)
    found = []
    for item in getattr(inputs, "dataset_inputs", None) or ():
        ds = item.dataset
        context = next((t.value for t in item.tags or () if t.key == tag.DATASET_CONTEXT), None)
        found.append(Dataset(name=ds.name, digest=ds.digest,
                             sha256=run.data.params.get(f"data.{ds.name}.sha256"), context=context,
                             source=redact_value("source", _source_uri(ds.source)), run_id=run.info.run_id,
                             stage=run.data.tags.get(tag.STAGE)))
    return found


def promotion_log(model) -> list[dict]:
    """The registered model's promotion log, version numbers as strings (None stays None)."""
    try:
        log = json.loads(model.tags.get(tag.PROMOTION_LOG, "[]"))
    except ValueError:
        return []
    return [{**e, "version": _str(e.get("version")), "previous": _str(e.get("previous"))}
            for e in log if isinstance(e, dict)]


def _str(value: Any) -> str | None:
    # Version numbers are str over REST but int from a SQL store.
    return None if value is None else str(value)


def _source_uri(source: str | None) -> str | None:
    # MLflow stores a dataset's source as JSON, e.g. {"uri": "/work/…/pairs.parquet"}.
    if not source:
        return None
    try:
        data = json.loads(source)
    except ValueError:
        return source
    return str(data.get("uri") or data.get("url") or source) if isinstance(data, dict) else source


def _bool(text: str | None) -> bool | None:
    return None if text is None else text.strip().lower() == "true"
