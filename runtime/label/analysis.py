"""Per-rule analysis of a label matrix, after Snorkel's `LFAnalysis.lf_summary`, and a confusion
table against gold labels.

Accumulates counts batch by batch, so it works on streams of any length. Columns:
polarity, coverage, overlaps, conflicts, good / bad / abstain vote counts and, with gold
labels, correct / incorrect / empirical accuracy. The confusion table scores each rule and
the row verdict against gold with BAD as the positive class: TP (voted BAD, gold BAD), FP
(voted BAD, gold GOOD), FN (voted GOOD, gold BAD), TN (voted GOOD, gold GOOD); rows with a
gold label where it abstained are counted apart, so precision, recall and accuracy are over
the `n` rows it voted on.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from tenet.compiler import ir

# Rows of a confusion count array (5 × columns), in this order.
CONFUSION_COUNTS = ("tp", "fp", "fn", "tn", "abstain")
VERDICT = "(verdict)"  # the row verdict's line in the printed confusion table (no rule id has parentheses)


@dataclass
class RuleAnalysis:
    """Running counts for every rule."""

    rule_ids: Sequence[str]
    rows: int = 0
    votes: np.ndarray = field(default=None)  # type: ignore[assignment]
    overlaps: np.ndarray = field(default=None)  # type: ignore[assignment]
    conflicts: np.ndarray = field(default=None)  # type: ignore[assignment]
    goods: np.ndarray = field(default=None)  # type: ignore[assignment]
    bads: np.ndarray = field(default=None)  # type: ignore[assignment]
    confusion: np.ndarray = field(default=None)  # type: ignore[assignment]  # CONFUSION_COUNTS × rules
    verdict_confusion: np.ndarray = field(default=None)  # type: ignore[assignment]  # CONFUSION_COUNTS
    gold_rows: int = 0

    def __post_init__(self) -> None:
        m = len(self.rule_ids)
        for name in ("votes", "overlaps", "conflicts", "goods", "bads"):
            setattr(self, name, np.zeros(m, dtype=np.int64))
        self.confusion = np.zeros((len(CONFUSION_COUNTS), m), dtype=np.int64)
        self.verdict_confusion = np.zeros(len(CONFUSION_COUNTS), dtype=np.int64)

    def add(self, matrix: np.ndarray, gold: np.ndarray | None = None,
            verdict: np.ndarray | None = None) -> None:
        """Add one batch of votes (rows × rules), optional gold labels (-1 = none) and row verdicts."""
        self.rows += matrix.shape[0]
        voted = matrix != ir.ABSTAIN
        n_voting = voted.sum(axis=1, keepdims=True)
        self.votes += voted.sum(axis=0)
        self.overlaps += (voted & (n_voting > 1)).sum(axis=0)
        has_good = (matrix == ir.GOOD).any(axis=1, keepdims=True)
        has_bad = (matrix == ir.BAD).any(axis=1, keepdims=True)
        self.conflicts += (((matrix == ir.GOOD) & has_bad) | ((matrix == ir.BAD) & has_good)).sum(axis=0)
        self.goods += (matrix == ir.GOOD).sum(axis=0)
        self.bads += (matrix == ir.BAD).sum(axis=0)
        if gold is not None:
            known = gold != -1
            self.gold_rows += int(known.sum())
            self.confusion += confusion_counts(matrix[known], gold[known])
            if verdict is not None:
                self.verdict_confusion += confusion_counts(verdict[known][:, None], gold[known])[:, 0]

    def merge(self, other: "RuleAnalysis") -> None:
        """Add the counts of another analysis of the same rules (another worker's rows)."""
        if list(other.rule_ids) != list(self.rule_ids):
            raise ValueError("rule analyses of different rules cannot be merged")
        self.rows += other.rows
        self.gold_rows += other.gold_rows
        for name in ("votes", "overlaps", "conflicts", "goods", "bads", "confusion", "verdict_confusion"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def table(self) -> list[dict]:
        """One row per rule with Snorkel's summary columns and its good / bad / abstain vote counts."""
        out = []
        for j, rule_id in enumerate(self.rule_ids):
            polarity = [label for label, n in ((0, self.bads[j]), (1, self.goods[j])) if n]
            row = {
                "rule": rule_id,
                "polarity": polarity,
                "coverage": _ratio(self.votes[j], self.rows),
                "overlaps": _ratio(self.overlaps[j], self.rows),
                "conflicts": _ratio(self.conflicts[j], self.rows),
                "good": int(self.goods[j]),
                "bad": int(self.bads[j]),
                "abstain": int(self.rows - self.votes[j]),
            }
            if self.gold_rows:
                tp, fp, fn, tn, _ = self.confusion[:, j].tolist()
                correct, incorrect = tp + tn, fp + fn
                row.update(correct=correct, incorrect=incorrect,
                           emp_acc=_ratio(correct, correct + incorrect) if correct + incorrect else None)
            out.append(row)
        return out

    def confusion_report(self) -> dict | None:
        """The confusion table for JSON: the row verdict's line and one per rule; None without gold labels."""
        if not self.gold_rows:
            return None
        return {
            "positive": "bad",
            "gold_rows": self.gold_rows,
            "verdict": confusion_row(None, self.verdict_confusion),
            "rules": [confusion_row(rule_id, self.confusion[:, j])
                      for j, rule_id in enumerate(self.rule_ids)],
        }

    def render(self) -> str:
        """The rule table as aligned text."""
        headers = ["rule", "polarity", "coverage", "overlaps", "conflicts", "good", "bad", "abstain"] + (
            ["correct", "incorrect", "emp_acc"] if self.gold_rows else [])
        return _align(headers, self.table())

    def render_confusion(self) -> str:
        """The confusion table as aligned text (empty without gold labels)."""
        report = self.confusion_report()
        if report is None:
            return ""
        lines = [{**report["verdict"], "rule": VERDICT}] + report["rules"]
        headers = ["rule", "n", "TP", "FP", "FN", "TN", "abstain", "precision", "recall", "accuracy"]
        keys = {"TP": "tp", "FP": "fp", "FN": "fn", "TN": "tn"}
        return _align(headers, [{h: line[keys.get(h, h)] for h in headers} for line in lines])

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write `rule_analysis.json` and `rule_analysis.csv`."""
        rows = self.table()
        json_path, csv_path = directory / "rule_analysis.json", directory / "rule_analysis.csv"
        json_path.write_text(json.dumps({"rows": self.rows, "rules": rows}, indent=2), encoding="utf-8")
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["rule"])
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (json.dumps(v) if isinstance(v, list) else v) for k, v in row.items()})
        return json_path, csv_path


def confusion_counts(votes: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """TP, FP, FN, TN and abstentions (5 × columns) of votes (rows × columns) against gold, BAD positive."""
    g = gold[:, None]
    return np.stack([
        ((votes == ir.BAD) & (g == ir.BAD)).sum(axis=0),
        ((votes == ir.BAD) & (g == ir.GOOD)).sum(axis=0),
        ((votes == ir.GOOD) & (g == ir.BAD)).sum(axis=0),
        ((votes == ir.GOOD) & (g == ir.GOOD)).sum(axis=0),
        (votes == ir.ABSTAIN).sum(axis=0),
    ]).astype(np.int64)


def confusion_row(name: str | None, counts: np.ndarray) -> dict:
    """One line of the confusion table: counts, n (rows voted on), precision and recall for BAD, accuracy."""
    tp, fp, fn, tn, abstain = (int(c) for c in counts)
    n = tp + fp + fn + tn
    row = {"rule": name} if name is not None else {}
    return row | {
        "n": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn, "abstain": abstain,
        "precision": _ratio(tp, tp + fp) if tp + fp else None,
        "recall": _ratio(tp, tp + fn) if tp + fn else None,
        "accuracy": _ratio(tp + tn, n) if n else None,
    }


def _align(headers: list[str], rows: list[dict]) -> str:
    """Rows as text columns under `headers`, left-aligned."""
    cells = [[_cell(row.get(h)) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(line.rstrip() for line in lines)


def _ratio(a: int, b: int) -> float:
    return round(float(a) / b, 6) if b else 0.0


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
