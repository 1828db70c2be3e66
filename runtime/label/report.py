"""What a labeling run saw, counted batch by batch and merged across workers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from tenet.runtime.data import unreadable_gold_rows
from tenet.runtime.label.analysis import RuleAnalysis

if TYPE_CHECKING:
    from tenet.runtime.label.parallel import LabeledBatch


@dataclass
class LabelReport:
    """What a labeling run saw: rows, bad rows by reason, verdicts, gold labels, timing, rule analysis."""

    rows: int = 0
    bad: Counter = field(default_factory=Counter)
    verdicts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    analysis: RuleAnalysis | None = None
    regex_timeouts: dict[str, int] = field(default_factory=dict)
    gold_column: str | None = None  # the input column of gold labels, when one was given
    gold: Counter = field(default_factory=Counter)  # "good", "bad", "none", "unreadable" -> rows
    columns: dict[str, str] = field(default_factory=dict)  # output column -> rule id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "rows": self.rows,
            "bad_rows": sum(self.bad.values()),
            "bad_by_reason": dict(sorted(self.bad.items())),
            "verdicts": {"good": self.verdicts.get(1, 0), "bad": self.verdicts.get(0, 0),
                         "abstain": self.verdicts.get(-1, 0)},
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
            "rules": self.analysis.table() if self.analysis else [],
            "gold": self.gold_summary(),
            "confusion": self.analysis.confusion_report() if self.analysis else None,
            "columns": dict(self.columns),
            "regex_timeouts": dict(sorted(self.regex_timeouts.items())),
        }

    def add(self, done: LabeledBatch) -> None:
        """Count one labeled batch: rows, bad rows, verdicts, gold labels, votes and regex time-outs."""
        batch, labeled = done.batch, done.labeled
        self.rows += batch.num_rows
        for item in pc.value_counts(batch.column("bad").drop_null()).to_pylist():
            self.bad[item["values"]] += item["counts"]
        for item in pc.value_counts(labeled.column("verdict")).to_pylist():
            self.verdicts[item["values"]] += item["counts"]
        gold = batch.column("gold").to_numpy(zero_copy_only=False)
        self.analysis.add(done.matrix, gold, labeled.column("verdict").to_numpy(zero_copy_only=False))
        for rule, rows in done.timeouts.items():
            self.regex_timeouts[rule] = self.regex_timeouts.get(rule, 0) + rows
        if self.gold_column is not None:
            unreadable = unreadable_gold_rows(batch)
            self.gold["good"] += int((gold == 1).sum())
            self.gold["bad"] += int((gold == 0).sum())
            self.gold["none"] += int((gold == -1).sum()) - unreadable
            self.gold["unreadable"] += unreadable

    def merge(self, other: LabelReport) -> None:
        """Add the counts of a report on other rows of the same data (another worker's)."""
        self.rows += other.rows
        self.bad.update(other.bad)
        self.verdicts.update(other.verdicts)
        self.gold.update(other.gold)
        for rule, rows in other.regex_timeouts.items():
            self.regex_timeouts[rule] = self.regex_timeouts.get(rule, 0) + rows
        if self.analysis is not None and other.analysis is not None:
            self.analysis.merge(other.analysis)

    def gold_summary(self) -> dict[str, Any] | None:
        """The gold column and its rows by label: good, bad, none, unreadable (None without a gold column)."""
        if self.gold_column is None:
            return None
        return {"column": self.gold_column} | {key: self.gold.get(key, 0) for key in GOLD_KEYS}

    def render(self) -> str:
        """The tables printed after labeling: the rule analysis and, with gold labels, the confusion table."""
        parts = [self.analysis.render() if self.analysis else ""]
        gold = self.gold_summary()
        if gold is not None:
            parts.append(f"gold labels (column {gold['column']}): {gold['good']} good, {gold['bad']} bad, "
                         f"{gold['none']} none, {gold['unreadable']} unreadable")
            confusion = self.analysis.render_confusion() if self.analysis else ""
            if confusion:
                parts.append("against gold, BAD as the positive class (n: rows voted on; abstain: rows "
                             "with gold where it cast no vote):\n" + confusion)
        return "\n\n".join(parts)


GOLD_KEYS = ("good", "bad", "none", "unreadable")
