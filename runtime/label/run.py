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
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import Labeler, rules_metadata
from tenet.runtime.label.scorers import Scorers


@dataclass
class LabelReport:
    """What a labeling run saw: rows, bad rows by reason, verdicts, timing, rule analysis."""

    rows: int = 0
    bad: Counter = field(default_factory=Counter)
    verdicts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    analysis: RuleAnalysis | None = None
    regex_timeouts: dict[str, int] = field(default_factory=dict)

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
            "regex_timeouts": dict(sorted(self.regex_timeouts.items())),
        }


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
    report = LabelReport(analysis=RuleAnalysis([r.id for r in rules]))
    writer: pq.ParquetWriter | None = None
    out_path = Path(out) if out is not None else None
    tmp_path = _tmp_path(out_path, out_format)
    start = time.perf_counter()
    try:
        for batch in _with_empty(read_batches(data, columns, batch_rows)):
            labeled, matrix = labeler.label(batch)
            _account(report, labeled, matrix, batch)
            if tmp_path is not None:
                labeled = labeled.replace_schema_metadata(rules_metadata(rules, artifact.policy_hash))
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
        _finish(tmp_path, out_path, out_format, rules, artifact)
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
    report.analysis.add(matrix, gold if (gold != -1).any() else None)


def _tmp_path(out: Path | None, out_format: str) -> Path | None:
    if out is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    name = out.name if out_format == "parquet" else out.name + ".parquet"
    return out.with_name(f".{name}.{os.getpid()}.tmp")


def _finish(tmp: Path, out: Path, out_format: str, rules, artifact: CompiledArtifact) -> None:
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
    provenance = rules_metadata(rules, artifact.policy_hash)[b"tenet.provenance"].decode()
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
