"""The records the Python API hands back: a check's findings, an explanation's votes, an audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from tenet.compiler import ir
from tenet.compiler.diagnostics import Diagnostic, Severity, display_path, render_all
from tenet.runtime.extras import needing

if TYPE_CHECKING:
    from tenet.runtime.audit import CycleStore
    from tenet.runtime.audit.models import Cycle, Lineage, RulePoint
    from tenet.runtime.label.explain import RuleExplanation
    from tenet.runtime.policy import CompiledPolicy

VOTES = {ir.GOOD: "GOOD", ir.BAD: "BAD", ir.ABSTAIN: "ABSTAIN"}


# --- checks ---------------------------------------------------------------------------------


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


def vote(detail: RuleExplanation) -> RuleVote:
    """The record of one rule's explained vote."""
    rule, span = detail.rule, detail.rule.check.span
    return RuleVote(rule=rule.id, severity=rule.severity, kind=rule.verdict, vote=VOTES[detail.vote],
                    reason=detail.reason, source=f"{display_path(span.file)}:{span.line}",
                    subject=detail.subject, span=detail.span)


# --- audit ----------------------------------------------------------------------------------


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

    @needing("audit", "train")
    def cycles(self) -> list[Cycle]:
        """Every cycle of the policy, oldest first: version, hashes, compliance, gates, model."""
        return self.store.cycles(self.policy_id)

    @needing("audit", "train")
    def cycle(self, run: str | None = None) -> Cycle:
        """One cycle by run id or unique prefix (default: the newest)."""
        return self.store.cycle(self.policy_id, run)

    @needing("audit", "train")
    def lineage(self, model: str) -> Lineage:
        """A registered version's lineage: `NAME/VERSION` or `NAME@champion`."""
        return self.store.lineage(self.policy_id, model)

    @needing("audit", "train")
    def rule_history(self, rule: str) -> list[RulePoint]:
        """One rule's compliance before and after, cycle by cycle."""
        return self.store.rule_history(self.policy_id, rule)
