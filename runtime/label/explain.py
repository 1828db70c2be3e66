"""Explain how every rule votes on one (prompt, response): vote, matched span, source line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tenet.compiler import ir, semantics
from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.diagnostics import display_path
from tenet.runtime.data import SCHEMA
from tenet.runtime.label.engine import Labeler
from tenet.runtime.label.scorers import Scorers

VOTE_NAMES = {ir.GOOD: "GOOD", ir.BAD: "BAD", ir.ABSTAIN: "ABSTAIN"}


@dataclass(frozen=True)
class RuleExplanation:
    """One rule's vote on a sample and why."""

    rule: ir.RuleIR
    vote: int
    reason: str
    subject: str | None
    span: tuple[int, int] | None
    source_line: str | None


def explain(artifact: CompiledArtifact, sample: semantics.Sample, scorers: Scorers | None = None,
            root: str | Path | None = None) -> tuple[list[RuleExplanation], int, float | None]:
    """Vote every rule on one sample; return explanations in precedence order, verdict, score."""
    rules = artifact.ir.rules
    if scorers is None and any(r.runtime_only for r in rules):
        from tenet.runtime.label.run import policy_folder

        scorers = Scorers.for_policy(artifact.ir.training, root or policy_folder(artifact))
    table = pa.table({
        "row": [0], "prompt": [sample.prompt], "response": [sample.response],
        "context": [[{"role": r, "content": c} for r, c in sample.context]], "gold": [-1], "bad": [None],
    }, schema=SCHEMA)
    labeled, matrix = Labeler(rules, score=scorers, spans=False).label(table)
    out = []
    for j, rule in enumerate(rules):
        vote = int(matrix[0, j])
        subject, span = _first_match(rule, sample)
        out.append(RuleExplanation(rule=rule, vote=vote, reason=_reason(rule, sample, vote),
                                   subject=subject, span=span, source_line=_source_line(rule)))
    out.sort(key=lambda e: e.rule.precedence)
    score = labeled.column("score")[0].as_py()
    return out, int(labeled.column("verdict")[0].as_py()), score


def render(explanations: list[RuleExplanation], verdict: int, score: float | None, sample: semantics.Sample,
           color: bool = False) -> str:
    """Text for `tenet explain`: the verdict and the violation it reports, then one block per rule."""
    lines = [f"verdict: {VOTE_NAMES[verdict]}" + (f" (score {score:.2f})" if score is not None else "")
             + _broken(explanations)]
    for e in explanations:
        r = e.rule
        lines.append("")
        lines.append(f"{VOTE_NAMES[e.vote]:<7} {r.id} ({r.severity}, {r.verdict}) — {e.reason}")
        if e.source_line:
            lines.append(f"        {display_path(r.check.span.file)}:{r.check.span.line}: {e.source_line.strip()}")
        if e.span is not None and e.subject is not None:
            text = semantics.subject_text(sample, e.subject)
            lines.append(f"        {e.subject}: {highlight(text, e.span, color)}")
    return "\n".join(lines)


def _broken(explanations: list[RuleExplanation]) -> str:
    """` — breaks RULE (severity)` for the reported violation (explanations are in precedence order)."""
    broken = [e.rule for e in explanations if e.vote == ir.BAD]
    if not broken:
        return ""
    more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
    return f" — breaks {broken[0].id} ({broken[0].severity}){more}"


def highlight(text: str, span: tuple[int, int], color: bool) -> str:
    """Mark the matched span, with ANSI reverse video on a terminal or «…» otherwise."""
    start, end = span
    left, right = ("\033[7m", "\033[0m") if color else ("«", "»")
    marked = text[:start] + left + text[start:end] + right + text[end:]
    return marked.replace("\n", "\\n")


def _first_match(rule: ir.RuleIR, sample: semantics.Sample) -> tuple[str | None, tuple[int, int] | None]:
    return semantics.first_match((rule.check, *([rule.when] if rule.when else []), *rule.unless), sample)


def _reason(rule: ir.RuleIR, sample: semantics.Sample, vote: int) -> str:
    scope = semantics.in_scope(rule, sample)
    if vote == ir.ABSTAIN:
        if scope is False:
            return "out of scope (`when` does not hold or an `unless` does)"
        if rule.shadowed_by:
            return f"shadowed by {', '.join(rule.shadowed_by)}"
        return "soft rule: its condition did not decide"
    holds = semantics.evaluate(rule.check, sample)
    if holds is None or scope is None:
        return "decided by a model score" + (" (no verdict counts as BAD)" if vote == ir.BAD else "")
    return f"condition {'holds' if holds else 'does not hold'}"


def _source_line(rule: ir.RuleIR) -> str | None:
    try:
        lines = Path(rule.check.span.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    line = rule.check.span.line
    return lines[line - 1] if 0 < line <= len(lines) else None
