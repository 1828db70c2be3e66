"""Per-rule analysis of a label matrix, after Snorkel's `LFAnalysis.lf_summary`.

Accumulates counts batch by batch, so it works on streams of any length. Columns:
polarity, coverage, overlaps, conflicts and, with gold labels, correct / incorrect /
empirical accuracy.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from tenet.compiler import ir


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
    correct: np.ndarray = field(default=None)  # type: ignore[assignment]
    incorrect: np.ndarray = field(default=None)  # type: ignore[assignment]
    gold_rows: int = 0

    def __post_init__(self) -> None:
        m = len(self.rule_ids)
        for name in ("votes", "overlaps", "conflicts", "goods", "bads", "correct", "incorrect"):
            setattr(self, name, np.zeros(m, dtype=np.int64))

    def add(self, matrix: np.ndarray, gold: np.ndarray | None = None) -> None:
        """Add one batch of votes (rows × rules) and optional gold labels (-1 = none)."""
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
            g = gold[:, None]
            self.correct += (voted & known[:, None] & (matrix == g)).sum(axis=0)
            self.incorrect += (voted & known[:, None] & (matrix != g)).sum(axis=0)

    def table(self) -> list[dict]:
        """One row per rule with Snorkel's summary columns."""
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
            }
            if self.gold_rows:
                judged = self.correct[j] + self.incorrect[j]
                row.update(correct=int(self.correct[j]), incorrect=int(self.incorrect[j]),
                           emp_acc=_ratio(self.correct[j], judged) if judged else None)
            out.append(row)
        return out

    def render(self) -> str:
        """The table as aligned text."""
        rows = self.table()
        headers = ["rule", "polarity", "coverage", "overlaps", "conflicts"] + (
            ["correct", "incorrect", "emp_acc"] if self.gold_rows else [])
        cells = [[_cell(row.get(h)) for h in headers] for row in rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
        return "\n".join(lines)

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
