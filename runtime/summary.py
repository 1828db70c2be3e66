"""The JSON summary `tenet compile-and-train --format json` prints: the contract CI reads.

One object on stdout for every outcome the command decides itself (promoted, not promoted,
nothing to train, policy errors; a usage error, exit 2, prints nothing there); `exit_code` and `exit_meaning` repeat the process's exit
status so a CI step can archive the summary and still know why the job failed. The fields
are documented in docs/ci.md; `SUMMARY_VERSION` changes when one is removed or renamed.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.diagnostics import Diagnostic
from tenet.compiler.errors import EXIT_MEANINGS, ExitCode, NothingToDo
from tenet.runtime.redact import display_uri

SUMMARY_VERSION = 1


def cycle_summary(artifact: CompiledArtifact, cycle: Any, method: str) -> dict[str, Any]:
    """The summary of a cycle that ran to the end (its gates passed or not).

    Args:
        artifact: The compiled policy the cycle ran.
        cycle: The `tenet.runtime.cycle.CycleResult`.
        method: The training method the cycle used.
    """
    code = ExitCode.OK if cycle.promoted else ExitCode.GATE_FAILED
    rules = [{"rule": r.id, "severity": r.severity, "before": cycle.before.per_rule.get(r.id),
              "after": cycle.after.per_rule.get(r.id), "tested": cycle.after.tested(r.id),
              "interval": {"before": _interval(cycle.before.interval(r.id)),
                           "after": _interval(cycle.after.interval(r.id))},
              "in_template": {phase: c.in_template.per_rule.get(r.id) if c.in_template else None
                              for phase, c in (("before", cycle.before), ("after", cycle.after))}}
             for r in artifact.ir.rules]
    gates = [{"target": g.gate.target, "rule": g.gate.rule, "op": g.gate.op, "threshold": g.gate.threshold,
              "default": g.gate.default, "value": g.value, "passed": g.passed, "detail": g.detail}
             for g in cycle.gates]
    return {
        **_head(artifact, "promoted" if cycle.promoted else "not-promoted", code),
        "method": method,
        "run_id": cycle.run_id,
        "parent_run_id": cycle.parent_run,
        "diff": cycle.diff_summary,
        "tracking_uri": display_uri(cycle.tracking_uri),
        "rules": rules,
        "overall": {"before": cycle.before.overall, "after": cycle.after.overall},
        "helpfulness": {"before": _interval(cycle.before.helpfulness), "after": _interval(cycle.after.helpfulness)},
        "drift": cycle.drift,
        "gates": gates,
        "promoted": cycle.promoted,
        "model_version": None if cycle.model_version is None else str(cycle.model_version),
    }


def _interval(interval: Any) -> dict[str, float | int] | None:
    """A figure's value, 95% interval and n, for the JSON summary."""
    return None if interval is None else {"value": interval.value, "low": interval.low, "high": interval.high,
                                          "n": interval.n}


def outcome_summary(policy: str, outcome: NothingToDo) -> dict[str, Any]:
    """The summary when the command stopped early with nothing to do (no rule changed since the champion)."""
    return {"summary_version": SUMMARY_VERSION, "policy_file": policy, "outcome": outcome.outcome,
            **_exit(outcome.exit_code), "message": str(outcome), "promoted": False, "model_version": None}


def errors_summary(policy: str, diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    """The summary when the policy does not compile: its diagnostics, as `tenet check --format json`."""
    return {"summary_version": SUMMARY_VERSION, "policy_file": policy, "outcome": "policy-errors",
            **_exit(ExitCode.POLICY), "diagnostics": [d.model_dump(mode="json") for d in diagnostics]}


def to_json(summary: dict[str, Any]) -> str:
    """The summary as the command prints it: indented, keys sorted, so diffs between runs read well."""
    return json.dumps(summary, indent=2, sort_keys=True)


def _head(artifact: CompiledArtifact, outcome: str, code: ExitCode) -> dict[str, Any]:
    return {"summary_version": SUMMARY_VERSION, "policy_file": artifact.sources[-1].path,
            "policy": artifact.policy_id, "version": artifact.version,
            "policy_hash": artifact.policy_hash, "plan_hash": artifact.plan_hash,
            "compiler_version": artifact.compiler_version, "outcome": outcome, **_exit(code)}


def _exit(code: ExitCode) -> dict[str, Any]:
    return {"exit_code": int(code), "exit_meaning": EXIT_MEANINGS[code]}
