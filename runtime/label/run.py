"""Label a dataset end to end: stream batches, write the label matrix, report bad rows and rules."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tenet.compiler.artifact import CompiledArtifact
from tenet.runtime.data import SCHEMA, ColumnMap, read_batches
from tenet.runtime.data.gold import unreadable_gold_rows
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import Labeler, rules_metadata
from tenet.runtime.label.scorers import Scorers


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


def label_dataset(artifact: CompiledArtifact, data: Any, out: str | Path | None = None, *,
                  columns: ColumnMap = ColumnMap(), batch_rows: int = 65_536, spans: bool = True,
                  scorers: Scorers | None = None, out_format: str = "parquet",
                  progress: Callable[[int], None] | None = None, root: str | Path | None = None) -> LabelReport:
    """Label every row of `data` with the artifact's rules.

    Args:
        artifact: The compiled policy.
        data: A path (JSONL, CSV, Parquet, saved HF dataset), a Hub data set (`hf://org/name?split=S`),
            an Arrow table or a list of dicts.
        out: Where to write the labels (Parquet file, or a directory for `out_format="hf"`).
        columns: Which input columns hold prompt, response, messages and gold labels.
        batch_rows: Rows per batch; memory grows with this, not with the dataset.
        spans: Record where each rule's condition matched (costs time on large data).
        scorers: Model-backed scores; created on demand when a rule needs one.
        out_format: "parquet" or "hf" (a Hugging Face dataset saved to disk).
        progress: Called with the number of rows done after each batch.
        root: The policy's folder, against which model paths in rules resolve.
    """
    rules = artifact.ir.rules
    if scorers is None and any(r.runtime_only for r in rules):
        scorers = Scorers.for_policy(artifact.ir.training, root or policy_folder(artifact))
    labeler = Labeler(rules, score=scorers, spans=spans)
    report = LabelReport(analysis=RuleAnalysis([r.id for r in rules]), gold_column=columns.gold,
                         columns=labeler.columns.mapping(spans))
    writer: pq.ParquetWriter | None = None
    out_path = Path(out) if out is not None else None
    tmp_path = _tmp_path(out_path, out_format)
    start = time.perf_counter()
    try:
        for batch in _with_empty(read_batches(data, columns, batch_rows)):
            labeled, matrix = labeler.label(batch)
            _account(report, labeled, matrix, batch)
            if tmp_path is not None:
                labeled = labeled.replace_schema_metadata(rules_metadata(rules, artifact.policy_hash, spans))
                if writer is None:
                    writer = pq.ParquetWriter(tmp_path, labeled.schema)
                writer.write_table(labeled)
            if progress:
                progress(report.rows)
    except BaseException:
        if writer is not None:
            writer.close()
            writer = None
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)  # a failed run leaves no half-written file behind
        raise
    finally:
        if writer is not None:
            writer.close()
    report.seconds = time.perf_counter() - start
    report.regex_timeouts = dict(labeler.timeouts)
    if out_path is not None and tmp_path is not None:
        _finish(tmp_path, out_path, out_format, rules, artifact, spans)
        _write_report(report, out_path)
    return report


def policy_folder(artifact: CompiledArtifact) -> Path:
    """The folder of the compiled entry policy, where its model paths are relative to."""
    return Path(artifact.sources[-1].path).parent if artifact.sources else Path(".")


def _with_empty(batches):
    """Yield the batches, or one empty batch when there are none, so the output is always typed."""
    empty = True
    for batch in batches:
        empty = False
        yield batch
    if empty:
        yield SCHEMA.empty_table()


def _account(report: LabelReport, labeled: pa.Table, matrix: np.ndarray, batch: pa.Table) -> None:
    report.rows += batch.num_rows
    for item in pc.value_counts(batch.column("bad").drop_null()).to_pylist():
        report.bad[item["values"]] += item["counts"]
    for item in pc.value_counts(labeled.column("verdict")).to_pylist():
        report.verdicts[item["values"]] += item["counts"]
    gold = batch.column("gold").to_numpy(zero_copy_only=False)
    verdict = labeled.column("verdict").to_numpy(zero_copy_only=False)
    report.analysis.add(matrix, gold, verdict)
    if report.gold_column is not None:
        unreadable = unreadable_gold_rows(batch)
        report.gold["good"] += int((gold == 1).sum())
        report.gold["bad"] += int((gold == 0).sum())
        report.gold["none"] += int((gold == -1).sum()) - unreadable
        report.gold["unreadable"] += unreadable


def _tmp_path(out: Path | None, out_format: str) -> Path | None:
    if out is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    name = out.name if out_format == "parquet" else out.name + ".parquet"
    return out.with_name(f".{name}.{os.getpid()}.tmp")


def _finish(tmp: Path, out: Path, out_format: str, rules, artifact: CompiledArtifact, spans: bool) -> None:
    """Move the finished file into place atomically (or convert it to a HF dataset)."""
    if out_format == "parquet":
        os.replace(tmp, out)
        return
    import datasets

    table = pq.read_table(tmp)
    dataset = datasets.Dataset(table)
    staging = out.with_name(f".{out.name}.staging")
    dataset.save_to_disk(str(staging))
    # A saved HF dataset keeps no Arrow schema metadata: write the provenance beside it.
    provenance = rules_metadata(rules, artifact.policy_hash, spans)[b"tenet.provenance"].decode()
    (staging / "tenet_provenance.json").write_text(provenance, encoding="utf-8")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    os.replace(staging, out)
    tmp.unlink()


def _write_report(report: LabelReport, out: Path) -> None:
    directory = out.parent
    base = out.name.removesuffix(".parquet")
    (directory / f"{base}.report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    if report.analysis is not None:
        json_path, csv_path = report.analysis.save(directory)
        json_path.rename(directory / f"{base}.rule_analysis.json")
        csv_path.rename(directory / f"{base}.rule_analysis.csv")
