"""The read models of `tenet audit` and `tenet report`: cycles, lineage and rule history.

Frozen dataclasses, built from the tracking store by `tenet.runtime.audit.runs` and rendered by
`tenet.runtime.audit.render` (text and JSON) and `tenet.runtime.report` (HTML). Nothing here reads MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from tenet.compiler.ast import SEVERITIES


@dataclass(frozen=True)
class Dataset:
    """A run input: the dataset MLflow recorded, with our full sha256 when the run has it."""

    name: str
    digest: str
    sha256: str | None
    context: str | None
    source: str | None
    run_id: str
    stage: str | None


@dataclass(frozen=True)
class Stage:
    """One nested stage run of a cycle."""

    name: str
    run_id: str
    status: str
    started: str | None
    ended: str | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class Cycle:
    """One update cycle: the parent run, its stage runs, and what the registry says about it."""

    run_id: str
    name: str
    status: str
    started: str | None
    ended: str | None
    policy_id: str
    policy_version: str | None
    policy_hash: str | None
    plan_hash: str | None
    diff_summary: str | None
    diff_parent_run: str | None
    model_version: str | None
    promoted: bool | None
    git_commit: str | None
    gates: str | None
    metrics: dict[str, float]
    params: dict[str, str]
    stages: tuple[Stage, ...]
    datasets: tuple[Dataset, ...]

    def value(self, phase: str, kind: str, key: str | None = None) -> float | None:
        """A compliance metric, e.g. `value("after", "rule", "no-bad")` or `value("before", "overall")`."""
        return self.metrics.get(f"{phase}.{kind}" + (f".{key}" if key else ""))

    def rule_ids(self) -> list[str]:
        """The rules with a compliance value in either phase, in first-logged order."""
        ids: dict[str, None] = {}
        for name in self.metrics:
            for phase in ("before", "after"):
                # `<phase>.rule.<id>.low` and the like are the figure's interval; rule ids have no dot.
                if name.startswith(f"{phase}.rule.") and "." not in name[len(f"{phase}.rule."):]:
                    ids.setdefault(name[len(f"{phase}.rule."):])
        return list(ids)

    def run_ids(self) -> list[str]:
        """The parent run first, then every stage run in order."""
        return [self.run_id, *(s.run_id for s in self.stages)]


@dataclass(frozen=True)
class DiffEntry:
    """One rule change of the cycle's policy against the champion's (from `policy/diff.json`)."""

    rule: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Comparison:
    """A compliance metric before and after training (`key` is e.g. `rule.no-bad` or `overall`)."""

    key: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class Lineage:
    """Where a registered model version came from, end to end."""

    model: str
    version: str
    aliases: tuple[str, ...]
    source: str | None
    version_tags: dict[str, str]
    registered: str | None
    promotions: tuple[dict, ...]
    cycle: Cycle
    policy_files: tuple[str, ...]
    plan: str | None
    diff: tuple[DiffEntry, ...] | None
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class RulePoint:
    """One rule's compliance in one cycle."""

    run_id: str
    started: str | None
    policy_version: str | None
    before: float | None
    after: float | None
    change: str | None
    gates: str | None
    model_version: str | None
    promoted: bool | None


def comparisons(cycle: Cycle) -> tuple[Comparison, ...]:
    """Every compliance metric before and after: rules, then severities, then overall."""
    rows = [Comparison(f"rule.{r}", cycle.value("before", "rule", r), cycle.value("after", "rule", r))
            for r in cycle.rule_ids()]
    for s in SEVERITIES:
        before, after = cycle.value("before", "severity", s), cycle.value("after", "severity", s)
        if before is not None or after is not None:
            rows.append(Comparison(f"severity.{s}", before, after))
    rows.append(Comparison("overall", cycle.value("before", "overall"), cycle.value("after", "overall")))
    return tuple(rows)


def iso_utc(ms: int | None) -> str | None:
    """An MLflow timestamp (milliseconds since the epoch) as ISO UTC, e.g. `2026-11-27T03:01:00Z`."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
