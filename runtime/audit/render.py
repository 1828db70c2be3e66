"""Render the audit read models as text tables (`tenet audit`) and JSON (`--format json`).

The cell formats (`pct`, `short_date`, `yes_no`, `MISSING`) are shared with the HTML of
`tenet.runtime.report`, so a number reads the same in both.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any, Sequence

from tenet.compiler.ast import SEVERITIES
from tenet.runtime.audit.models import Cycle, Dataset, Lineage, RulePoint, iso_utc

MISSING = "-"


def pct(value: float | None) -> str:
    """A rate as a whole percentage, or `-`."""
    return MISSING if value is None else f"{100 * value:.0f}%"


def arrow(before: float | None, after: float | None) -> str:
    """`before→after` in whole percent, e.g. `80→95%`; `-` when neither was measured."""
    if before is None and after is None:
        return MISSING
    b = MISSING if before is None else f"{100 * before:.0f}"
    return f"{b}→{pct(after)}"


def short_date(iso: str | None) -> str:
    """`2026-11-27 03:01` from an ISO UTC timestamp."""
    return iso[:16].replace("T", " ") if iso else MISSING


def yes_no(value: bool | None) -> str:
    """`yes`, `no` or `-`."""
    return MISSING if value is None else ("yes" if value else "no")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain left-aligned text table, two spaces between columns."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (headers, *rows)]
    return "\n".join(lines)


def render_cycles(cycles: Sequence[Cycle]) -> str:
    """The cycle table: one line per cycle, newest last."""
    headers = ["date (UTC)", "run", "status", "version", "diff", "model", *SEVERITIES, "gates", "promoted"]
    rows = [[short_date(c.started), c.run_id[:8], c.status.lower(), c.policy_version or MISSING,
             c.diff_summary or MISSING, c.model_version or MISSING,
             *(arrow(c.value("before", "severity", s), c.value("after", "severity", s)) for s in SEVERITIES),
             c.gates or MISSING, yes_no(c.promoted)] for c in cycles]
    return table(headers, rows)


def render_rule_history(policy_id: str, rule_id: str, points: Sequence[RulePoint]) -> str:
    """One rule's compliance across cycles."""
    rows = [[short_date(p.started), p.run_id[:8], p.policy_version or MISSING, pct(p.before), pct(p.after),
             _delta(p.before, p.after), p.change or MISSING, p.gates or MISSING, p.model_version or MISSING,
             yes_no(p.promoted)] for p in points]
    head = f"rule {rule_id} of policy {policy_id}: compliance before → after training, newest last"
    return head + "\n" + table(["date (UTC)", "run", "version", "before", "after", "change", "rule diff",
                                 "gates", "model", "promoted"], rows)


def render_lineage(lineage: Lineage) -> str:
    """A model version's lineage as text sections."""
    c = lineage.cycle
    aliases = f" (aliases: {', '.join(lineage.aliases)})" if lineage.aliases else ""
    lines = [f"model {lineage.model}/{lineage.version}{aliases}, registered {short_date(lineage.registered)}",
             f"  source: {lineage.source or MISSING}"]
    lines += [f"  tag {k} = {v}" for k, v in sorted(lineage.version_tags.items())]
    lines += [f"  promotion {short_date(iso_utc(int(float(e.get('time', 0)) * 1000)))}: {e.get('alias')} "
              f"{e.get('previous') or MISSING} -> {e.get('version')} by {e.get('actor')}: {e.get('reason')}"
              for e in lineage.promotions]
    lines += ["", f"cycle run {c.run_id} ({c.name}), {c.status.lower()}, {short_date(c.started)} → "
                  f"{short_date(c.ended)}",
              f"  policy {c.policy_id} version {c.policy_version or MISSING}, "
              f"hash {c.policy_hash or MISSING}",
              f"  plan hash {c.plan_hash or MISSING}, git commit {c.git_commit or MISSING}",
              f"  diff: {c.diff_summary or MISSING} (against run {c.diff_parent_run or MISSING})"]
    lines += _hub_model_lines(c.params)
    lines += [f"    {e.kind:<12} {e.rule}: {e.detail}" for e in lineage.diff or ()]
    lines += ["", "policy files (artifacts of the cycle run):", *(f"  {p}" for p in lineage.policy_files)]
    lines += ["", "datasets:", *(_dataset_line(d) for d in c.datasets)] if c.datasets else ["", "datasets: -"]
    lines += ["", "plan:", *(f"  {line}" for line in (lineage.plan or MISSING).splitlines())]
    lines += ["", table(["metric", "before", "after"], [[m.key, pct(m.before), pct(m.after)]
                                                          for m in lineage.comparisons])]
    extra = {k: v for k, v in sorted(c.metrics.items()) if k.startswith(("drift.", "gate.", "pairs."))}
    lines += ["", "other metrics:", *(f"  {k} = {v:g}" for k, v in extra.items())] if extra else []
    lines += ["", f"gates: {c.gates or MISSING}, promoted: {yes_no(c.promoted)}", "", "stage runs:"]
    lines += [f"  {s.name:<16} {s.run_id}  {s.status.lower():<9} {_duration(s.started, s.ended)}"
              for s in c.stages]
    return "\n".join(lines)


def _hub_model_lines(params: dict[str, str]) -> list[str]:
    """`model <role>: <id> @ <commit>` for each Hub model the cycle used (params `model.<role>.commit`)."""
    roles = sorted(k[len("model."):-len(".commit")] for k in params
                   if k.startswith("model.") and k.endswith(".commit"))
    return [f"  model {role}: {params.get(f'model.{role}.id', MISSING)} @ {params[f'model.{role}.commit']}"
            for role in roles]


def _dataset_line(d: Dataset) -> str:
    digest = f"sha256 {d.sha256}" if d.sha256 else f"digest {d.digest}"
    where = f"stage {d.stage or MISSING}, {d.source or MISSING}"
    return f"  {d.name:<14} {d.context or MISSING:<10} {digest}  ({where})"


def _delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return MISSING
    return f"{100 * (after - before):+.0f} pts"


def _duration(started: str | None, ended: str | None) -> str:
    if not started or not ended:
        return MISSING
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    seconds = (datetime.strptime(ended, fmt) - datetime.strptime(started, fmt)).total_seconds()
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def to_json(value: Any) -> str:
    """Pretty, stable JSON of read models (dataclasses anywhere inside dicts and lists)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
