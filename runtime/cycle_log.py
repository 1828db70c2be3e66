"""What a cycle records beside its stages' own metrics: the policy, each evaluation, the before/after report."""

from __future__ import annotations

import json
from pathlib import Path

from tenet.compiler.artifact import CompiledArtifact, to_json
from tenet.compiler.plan import describe_stage
from tenet.runtime.evaluate import Compliance


def log_policy(tracker, artifact: CompiledArtifact, work: Path) -> None:
    """Log the compiled artifact, the policy's sources and the plan (secrets redacted) on the cycle's run."""
    from tenet.runtime.redact import redacted_stage

    (work / "artifact.json").write_text(to_json(artifact), encoding="utf-8")
    tracker.mlflow.log_artifact(str(work / "artifact.json"), "policy")
    for source in artifact.sources:
        if Path(source.path).is_file():
            tracker.mlflow.log_artifact(source.path, "policy/sources")
    plan = "\n".join(describe_stage(redacted_stage(s, tracker.work_dir)) for s in artifact.plan.stages)
    tracker.mlflow.log_text(plan, "policy/plan.txt")


def log_compliance(tracker, phase: str, result: Compliance) -> None:
    """Log an evaluation's figures (with intervals) as metrics, and its votes and answers as JSON."""
    metrics = {f"{phase}.rule.{rid}": v for rid, v in result.per_rule.items() if v is not None}
    for rid in result.per_rule:
        interval = result.interval(rid)
        if interval is not None:
            metrics.update({f"{phase}.rule.{rid}.low": interval.low, f"{phase}.rule.{rid}.high": interval.high,
                            f"{phase}.rule.{rid}.n": interval.n})
    if result.in_template is not None:
        metrics.update({f"{phase}.in_template.rule.{rid}": v for rid, v in result.in_template.per_rule.items()
                        if v is not None})
    if result.helpfulness is not None:
        metrics.update({f"{phase}.helpfulness": result.helpfulness.value,
                        f"{phase}.helpfulness.low": result.helpfulness.low,
                        f"{phase}.helpfulness.high": result.helpfulness.high})
    metrics.update({f"{phase}.severity.{s}": v for s, v in result.per_severity.items() if v is not None})
    if result.overall is not None:
        metrics[f"{phase}.overall"] = result.overall
    if result.truncated is not None:
        metrics[f"{phase}.truncated"] = result.truncated
    if result.declined is not None:
        metrics[f"{phase}.declined"] = result.declined
    metrics.update({f"{phase}.artifact.{name}": rate for name, rate in result.artifacts.items()})
    tracker.mlflow.log_metrics(metrics)
    tracker.mlflow.log_dict({"per_rule": result.per_rule, "per_severity": result.per_severity,
                             "overall": result.overall, "votes": result.votes, "in_scope": result.in_scope,
                             "truncated": result.truncated,
                             "declined": result.declined,
                             "artifacts": result.artifacts,
                             "intervals": {rid: result.interval(rid)._asdict() for rid in result.per_rule
                                           if result.interval(rid) is not None},
                             "in_template": None if result.in_template is None else {
                                 "per_rule": result.in_template.per_rule, "votes": result.in_template.votes},
                             "instructions": result.instructions,
                             "instruction_samples": [{"prompt": p, "response": a}
                                                     for p, a in result.instruction_samples],
                             "samples": [{"prompt": p, "response": a, "end": e}
                                         for (p, a), e in zip(result.samples[:50], result.ends)]},
                            f"reports/compliance_{phase}.json")


def compliance_report(rules, before: Compliance, after: Compliance, gates, work: Path) -> Path:
    """A per-rule before/after table (CSV) and bar chart (PNG); returns the folder."""
    folder = work / "report"
    folder.mkdir(exist_ok=True)
    lines = ["rule,severity,before,after"]
    for r in rules:
        b, a = before.per_rule.get(r.id), after.per_rule.get(r.id)
        lines.append(f"{r.id},{r.severity},{'' if b is None else round(b, 4)},{'' if a is None else round(a, 4)}")
    # Beside compliance: how often answers were cut off, and the artifact rates.
    lines.append(f"(truncated),,{_round(before.truncated)},{_round(after.truncated)}")
    lines.append(f"(declined),,{_round(before.declined)},{_round(after.declined)}")
    for name in before.artifacts:
        lines.append(f"(artifact {name}),,{_round(before.artifacts[name])},{_round(after.artifacts.get(name))}")
    (folder / "compliance.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "gates.json").write_text(json.dumps([{"gate": g.gate.model_dump(), "value": g.value,
                                                    "passed": g.passed, "detail": g.detail} for g in gates],
                                                  indent=2), encoding="utf-8")
    _plot(rules, before, after, folder / "compliance.png")
    return folder


def _round(value: float | None) -> str:
    return "" if value is None else str(round(value, 4))


def _plot(rules, before: Compliance, after: Compliance, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    voted = [r.id for r in rules if before.per_rule.get(r.id) is not None or after.per_rule.get(r.id) is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(voted) + 2), 4))
    xs = range(len(voted))
    ax.bar([x - 0.2 for x in xs], [before.per_rule.get(r) or 0 for r in voted], 0.4, label="before")
    ax.bar([x + 0.2 for x in xs], [after.per_rule.get(r) or 0 for r in voted], 0.4, label="after")
    ax.set_xticks(list(xs), voted, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("compliance")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
