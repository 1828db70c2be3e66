"""`tenet report`: one update cycle as a single self-contained HTML page.

The page carries its own CSS and an SVG bar chart drawn here (no scripts, no fonts, no
external URLs; a Content-Security-Policy forbids loading anything), so it can be mailed,
attached to a review or archived next to the model. Everything that comes from the policy
or the store is HTML-escaped: rule ids, descriptions and diff details are user text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Sequence

from tenet.runtime.audit.models import Comparison, Cycle, Dataset, DiffEntry, comparisons
from tenet.runtime.audit.render import MISSING, pct, short_date, yes_no
from tenet.runtime.audit.store import CycleStore

PHASES = ("before", "after")
BAR_COLORS = {"before": "#94a3b8", "after": "#2563eb"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class RuleRow:
    """One rule's compliance before and after, with its vote counts when the cycle kept them."""

    rule: str
    severity: str | None
    description: str | None
    before: float | None
    after: float | None
    votes_before: dict[str, int] | None
    votes_after: dict[str, int] | None

    def value(self, phase: str) -> float | None:
        """The compliance in `before` or `after`."""
        return self.before if phase == "before" else self.after


@dataclass(frozen=True)
class GateRow:
    """One promotion gate's outcome."""

    name: str
    condition: str
    value: float | None
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from the store."""

    policy_id: str
    description: str | None
    cycle: Cycle
    rules: tuple[RuleRow, ...]
    summary: tuple[Comparison, ...]
    diff: tuple[DiffEntry, ...] | None
    pair_qa: dict[str, Any] | None
    gates: tuple[GateRow, ...]


# --- collecting ----------------------------------------------------------------------


def collect(store: CycleStore, policy_id: str, run_ref: str | None = None) -> ReportData:
    """Read one cycle (the newest by default) and the artifacts the report needs."""
    cycle = store.cycle(policy_id, run_ref)
    artifact = store.find_json(cycle, "policy/artifact.json") or {}
    votes = {phase: (store.find_json(cycle, f"reports/compliance_{phase}.json") or {}).get("votes") or {}
             for phase in PHASES}
    gates_json = store.find_json(cycle, "reports/report/gates.json")
    pair_qa = store.find_json(cycle, "reports/pair_qa.json")
    return ReportData(
        policy_id=policy_id, description=artifact.get("description"), cycle=cycle,
        rules=tuple(rule_rows(cycle, artifact, votes)),
        summary=tuple(c for c in comparisons(cycle) if not c.key.startswith("rule.")),
        diff=store.diff(cycle), pair_qa=pair_qa if isinstance(pair_qa, dict) else None,
        gates=tuple(gate_rows(gates_json) if isinstance(gates_json, list) else metric_gates(cycle)))


def rule_rows(cycle: Cycle, artifact: dict, votes: dict[str, dict]) -> list[RuleRow]:
    """The policy's rules in source order, then any rule only the metrics know."""
    rules = (artifact.get("ir") or {}).get("rules") or ()
    meta = {r["id"]: r for r in rules if isinstance(r, dict) and r.get("id")}
    ids = [*meta, *(r for r in cycle.rule_ids() if r not in meta)]
    return [RuleRow(rule=rid, severity=meta.get(rid, {}).get("severity"),
                    description=meta.get(rid, {}).get("description"),
                    before=cycle.value("before", "rule", rid), after=cycle.value("after", "rule", rid),
                    votes_before=votes["before"].get(rid), votes_after=votes["after"].get(rid))
            for rid in ids]


def gate_rows(entries: list) -> list[GateRow]:
    """Gates from the cycle's `reports/report/gates.json`."""
    rows = []
    for entry in entries:
        gate = entry.get("gate") or {}
        name = gate.get("target", "?") + (f" {gate['rule']}" if gate.get("rule") else "")
        threshold = gate.get("threshold")
        condition = f"{gate.get('op', '')} {threshold:g}" if isinstance(threshold, (int, float)) else MISSING
        rows.append(GateRow(name=name, condition=condition, value=entry.get("value"),
                            passed=entry.get("passed"), detail=str(entry.get("detail") or "")))
    return rows


def metric_gates(cycle: Cycle) -> list[GateRow]:
    """Gates from `gate.<target>[.<rule>].passed` metrics, when no gates.json was kept."""
    rows = []
    for key, value in sorted(cycle.metrics.items()):
        if key.startswith("gate.") and key.endswith(".passed"):
            target = key[len("gate."):-len(".passed")]
            name = "rule " + target[len("rule."):] if target.startswith("rule.") else target
            rows.append(GateRow(name=name, condition=MISSING, value=None, passed=value >= 0.5, detail=""))
    return rows


# --- rendering -----------------------------------------------------------------------


def write_report(data: ReportData, out: str | Path) -> Path:
    """Render the report and write it (UTF-8); returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path


def render_html(data: ReportData) -> str:
    """The whole self-contained page."""
    c = data.cycle
    title = f"tenet report: {data.policy_id} {c.policy_version or ''}".strip()
    body = "\n".join([
        _header(data),
        _section("chart", "Compliance per rule", _chart_note(data.rules) + bar_chart_svg(data.rules)),
        _section("rules-section", "Rules", _rules_table(data.rules) + _summary_table(data.summary)),
        _section("diff", "Policy diff", _diff(data)),
        _section("data", "Data", _pair_qa(data.pair_qa) + _datasets(c.datasets)),
        _section("gates", "Gates", _gates(c, data.gates)),
        f"<footer>Generated by <code>tenet report</code> on {_now()} from MLflow run "
        f"<code>{escape(c.run_id)}</code>.</footer>",
    ])
    head = (f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>")
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{head}\n</head>\n<body>\n{body}\n</body>\n</html>\n'


def bar_chart_svg(rows: Sequence[RuleRow]) -> str:
    """A grouped bar chart: one bar per rule and phase (a zero-height bar where a phase had no votes)."""
    voted = [r for r in rows if r.before is not None or r.after is not None]
    if not voted:
        return '<p class="empty">No rule had a vote on the held-out prompts in either phase.</p>'
    top, plot_h, left, group, bar, gap = 28, 220, 48, 52, 18, 4
    label_room = min(230, 16 + 6 * max(len(r.rule) for r in voted))
    width, height = max(240, left + group * len(voted) + 16), top + plot_h + label_room
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="compliance-chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title">',
             '<title id="chart-title">Compliance per rule before and after training</title>']
    parts += _axis(left, top, plot_h, width)
    for i, row in enumerate(voted):
        x = left + i * group + (group - 2 * bar - gap) / 2
        for j, phase in enumerate(PHASES):
            parts.append(_bar(row, phase, x + j * (bar + gap), top + plot_h, plot_h, bar))
        cx, ly = left + i * group + group / 2, top + plot_h + 12
        parts.append(f'<text class="rule-label" x="{cx:.1f}" y="{ly}" text-anchor="end" '
                     f'transform="rotate(-45 {cx:.1f} {ly})">{escape(row.rule)}</text>')
    parts += _legend(width - 150, 6)
    parts.append("</svg>")
    return '<div class="chart">' + "\n".join(parts) + "</div>"


def _bar(row: RuleRow, phase: str, x: float, base: int, plot_h: int, width: int) -> str:
    value = row.value(phase)
    h = plot_h * min(1.0, max(0.0, value or 0.0))
    label = f"{row.rule} {phase}: {pct(value) if value is not None else 'no votes'}"
    data = "" if value is None else f"{value:.4f}"
    return (f'<rect class="bar {phase}" data-rule="{escape(row.rule)}" data-phase="{phase}" '
            f'data-value="{data}" x="{x:.1f}" y="{base - h:.1f}" width="{width}" height="{h:.1f}" '
            f'fill="{BAR_COLORS[phase]}">'
            f"<title>{escape(label)}</title></rect>")


def _axis(left: int, top: int, plot_h: int, width: int) -> list[str]:
    parts = []
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#e2e8f0" stroke-width="1"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}%</text>')
    return parts


def _legend(x: int, y: int) -> list[str]:
    parts = []
    for i, phase in enumerate(PHASES):
        lx = x + i * 72
        parts.append(f'<rect class="legend" x="{lx}" y="{y}" width="12" height="12" '
                     f'fill="{BAR_COLORS[phase]}"/>')
        parts.append(f'<text class="legend-label" x="{lx + 16}" y="{y + 10}">{phase}</text>')
    return parts


def _chart_note(rows: Sequence[RuleRow]) -> str:
    silent = [r.rule for r in rows if r.before is None and r.after is None]
    if not silent:
        return ""
    return (f'<p class="note">Not charted (no votes on the held-out prompts in either phase): '
            f"{escape(', '.join(silent))}.</p>")


def _header(data: ReportData) -> str:
    c = data.cycle
    facts = [("run", c.run_id), ("cycle", c.name), ("date (UTC)", short_date(c.started)),
             ("status", c.status.lower()), ("model version", c.model_version or MISSING),
             ("promoted", yes_no(c.promoted)), ("gates", c.gates or MISSING),
             ("git commit", c.git_commit or MISSING), ("policy hash", c.policy_hash or MISSING),
             ("plan hash", c.plan_hash or MISSING)]
    desc = f'<p class="description">{escape(data.description)}</p>' if data.description else ""
    title = (f"<h1>Policy <code>{escape(data.policy_id)}</code> version "
             f"<code>{escape(c.policy_version or MISSING)}</code></h1>")
    return f"<header>{title}{desc}{_facts('cycle-facts', facts)}</header>"


def _rules_table(rows: Sequence[RuleRow]) -> str:
    votes = "<br><small>good / bad / abstain</small>"
    body = [(f' data-rule="{escape(r.rule)}"',
             [f"<code>{escape(r.rule)}</code>"
              + (f'<div class="rule-desc">{escape(r.description)}</div>' if r.description else ""),
              escape(r.severity or MISSING), pct(r.before), pct(r.after), _change(r.before, r.after),
              _votes(r.votes_before), _votes(r.votes_after)]) for r in rows]
    columns = [("rule", ""), ("severity", ""), ("before", "num"), ("after", "num"), ("change", "num"),
               ("votes before" + votes, "num"), ("votes after" + votes, "num")]
    return _table("rules", columns, body)


def _summary_table(rows: Sequence[Comparison]) -> str:
    body = [("", [escape(_pooled_label(c.key)), pct(c.before), pct(c.after), _change(c.before, c.after)])
            for c in rows]
    columns = [("votes pooled over", ""), ("before", "num"), ("after", "num"), ("change", "num")]
    return "<h3>Per severity and overall</h3>" + _table("severities", columns, body)


def _pooled_label(key: str) -> str:
    return f"{key[len('severity.'):]} rules" if key.startswith("severity.") else "all rules"


def _diff(data: ReportData) -> str:
    c = data.cycle
    against = f" against champion run <code>{escape(c.diff_parent_run)}</code>" if c.diff_parent_run else ""
    # A first cycle records the summary `fresh` and an empty diff.json.
    if c.diff_summary == "fresh":
        return '<p class="first-cycle">First cycle: there was no champion to compare the policy with.</p>'
    if data.diff is None:
        if c.diff_summary is None:
            return ('<p class="first-cycle">First cycle, or one recorded before policy diffs were kept: '
                    "no <code>policy/diff.json</code>.</p>")
        return f"<p>{escape(c.diff_summary)}{against} (no <code>policy/diff.json</code> was recorded).</p>"
    head = f"<p>{escape(c.diff_summary or f'{len(data.diff)} rule changes')}{against}.</p>"
    if not data.diff:
        return head + "<p>No rule changed.</p>"
    body = [(f' class="{escape(e.kind)}"',
             [f"<code>{escape(e.rule)}</code>", escape(e.kind), escape(e.detail)]) for e in data.diff]
    return head + _table("diff-table", [("rule", ""), ("kind", ""), ("detail", "")], body)


def _pair_qa(qa: dict[str, Any] | None) -> str:
    if not qa:
        return "<h3>Pair QA</h3><p>No <code>reports/pair_qa.json</code> was recorded.</p>"
    counts = [(k, str(qa.get(k, MISSING))) for k in ("candidates", "kept", "dropped")]
    reasons = ", ".join(f"{k} {v}" for k, v in (qa.get("dropped_by_reason") or {}).items() if v) or "none"
    short = ", ".join(f"{r} {v.get('kept')}/{v.get('budget')}"
                      for r, v in (qa.get("shortfall") or {}).items() if isinstance(v, dict))
    strategies = [("", [escape(str(name)), escape(str(v.get("candidates", MISSING))),
                        escape(str(v.get("kept", MISSING)))])
                  for name, v in (qa.get("per_strategy") or {}).items() if isinstance(v, dict)]
    html = f"<h3>Pair QA</h3>{_facts('pair-qa', counts)}<p>Dropped by reason: {escape(reasons)}.</p>"
    if short:
        html += f"<p>Rules short of their pair budget (kept/budget): {escape(short)}.</p>"
    if strategies:
        html += _table("strategies", [("strategy", ""), ("candidates", "num"), ("kept", "num")], strategies)
    return html


def _datasets(datasets: Sequence[Dataset]) -> str:
    if not datasets:
        return "<h3>Datasets</h3><p>No dataset inputs were recorded.</p>"
    body = [("", [escape(d.name), escape(d.context or MISSING), escape(d.stage or MISSING),
                  f"<code>{escape(d.sha256 or d.digest)}</code>", escape(d.source or MISSING)])
            for d in datasets]
    return "<h3>Datasets</h3>" + _table(
        "datasets", [("name", ""), ("context", ""), ("stage", ""), ("sha256 (or MLflow digest)", ""),
                     ("source", "")], body)


def _gates(cycle: Cycle, gates: Sequence[GateRow]) -> str:
    verdict = cycle.gates or MISSING
    drift = cycle.metrics.get("drift.kl")
    head = (f'<p class="verdict {escape(verdict)}">Gates: <strong>{escape(verdict)}</strong>; model version '
            f"{escape(cycle.model_version or MISSING)} promoted: {yes_no(cycle.promoted)}"
            + (f"; KL drift {drift:.4f}" if drift is not None else "") + ".</p>")
    if not gates:
        return head + "<p>No gate results were recorded.</p>"
    body = [(f' class="{_outcome(g.passed).lower()}"',
             [escape(g.name), escape(g.condition), MISSING if g.value is None else f"{g.value:.3f}",
              _outcome(g.passed), escape(g.detail)]) for g in gates]
    columns = [("gate", ""), ("condition", ""), ("value", "num"), ("result", "result"), ("detail", "")]
    return head + _table("gate-table", columns, body)


def _table(ident: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    """An HTML table; `columns` are (header HTML, CSS class), `rows` are (row attributes, cell HTML)."""
    head = "".join(_tag("th", label, cls) for label, cls in columns)
    body = "".join(f"<tr{attrs}>" + "".join(_tag("td", cell, cls) for cell, (_, cls) in zip(cells, columns))
                   + "</tr>" for attrs, cells in rows)
    return f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _tag(name: str, html: str, cls: str) -> str:
    return f'<{name} class="{cls}">{html}</{name}>' if cls else f"<{name}>{html}</{name}>"


def _facts(ident: str, facts: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f'<dl class="facts" id="{ident}">{items}</dl>'


def _section(ident: str, title: str, content: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{content}</section>'


def _votes(votes: dict[str, int] | None) -> str:
    if not votes:
        return MISSING
    return " / ".join(escape(str(votes.get(k, 0))) for k in ("good", "bad", "abstain"))


def _change(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return MISSING
    trend = "flat" if abs(after - before) < 1e-9 else ("up" if after > before else "down")
    return f'<span class="{trend}">{100 * (after - before):+.0f} pts</span>'


def _outcome(passed: bool | None) -> str:
    return MISSING if passed is None else ("PASS" if passed else "FAIL")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;margin:24px auto;
max-width:1100px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;border-bottom:1px solid #e2e8f0;padding-bottom:4px;margin-top:28px}
h3{font-size:14px;margin:16px 0 6px}code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f1f5f9;
padding:1px 4px;border-radius:3px;word-break:break-all}
.description{color:#475569;margin:0 0 8px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dl.facts dt{color:#64748b}dl.facts dd{margin:0;word-break:break-all}
table{border-collapse:collapse;margin:6px 0 12px;width:100%}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f8fafc;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.rule-desc{color:#64748b;font-size:12px}
.up{color:#15803d}.down{color:#b91c1c}.flat{color:#64748b}
tr.fail td,.verdict.failed strong{color:#b91c1c}tr.pass td.result,.verdict.passed strong{color:#15803d}
tr.breaking td:nth-child(2){color:#b91c1c;font-weight:600}
.chart{overflow-x:auto}.chart svg{display:block}
.chart text{font:11px system-ui,sans-serif;fill:#334155}
.note,.first-cycle,.empty{color:#475569}
footer{margin-top:32px;color:#94a3b8;font-size:12px}
"""
