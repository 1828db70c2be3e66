"""Label a dataset end to end: stream batches, write the label matrix, report bad rows and rules."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from tenet.compiler.artifact import CompiledArtifact
from tenet.runtime.data import SCHEMA, ColumnMap, gold_scale, read_batches
from tenet.runtime.datafiles import data_files
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import Labeler, rules_metadata
from tenet.runtime.label.parallel import label_batch, label_splits, usable_cores
from tenet.runtime.label.report import LabelReport
from tenet.runtime.label.scorers import Scorers
from tenet.runtime.splits import plan_splits

__all__ = ["LabelReport", "label_dataset", "policy_folder"]


def label_dataset(artifact: CompiledArtifact, data: Any, out: str | Path | None = None, *,
                  columns: ColumnMap = ColumnMap(), batch_rows: int = 65_536, spans: bool = True,
                  scorers: Scorers | None = None, out_format: str = "parquet",
                  progress: Callable[[int], None] | None = None, root: str | Path | None = None,
                  workers: int | None = None, engine: str = "local", ray_address: str | None = None) -> LabelReport:
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
        workers: Processes that label data files (default: every usable core for files over
            `PARALLEL_BYTES`, else one); rules that need a model always label in this process.
            With `engine="ray"`: the actors (default: the cluster's CPUs).
        engine: "local", or "ray": label on a Ray cluster into a folder of Parquet shards `out`
            (`tenet.runtime.label.ray_engine`).
        ray_address: The Ray cluster for `engine="ray"` (default `RAY_ADDRESS`, else a local one).
    """
    rules = artifact.ir.rules
    model_backed = any(r.runtime_only for r in rules)  # its models load once, in this process
    if scorers is None and model_backed:
        scorers = Scorers.for_policy(artifact.ir.training, root or policy_folder(artifact))
    if engine == "ray":
        return _label_on_ray(artifact, data, out, columns, batch_rows, spans, out_format, ray_address, workers,
                             scorers if model_backed else None)
    labeler = Labeler(rules, score=scorers, spans=spans)
    report = LabelReport(analysis=RuleAnalysis([r.id for r in rules]), gold_column=columns.gold,
                         columns=labeler.columns.mapping(spans))
    workers = 1 if model_backed else default_workers(data) if workers is None else workers
    out_path = Path(out) if out is not None else None
    tmp_path = _tmp_path(out_path, out_format)
    start = time.perf_counter()
    _write(_labeled(labeler, data, report, columns, batch_rows, workers), tmp_path,
           rules_metadata(rules, artifact.policy_hash, spans), progress)
    report.seconds = time.perf_counter() - start
    if out_path is not None and tmp_path is not None:
        _finish(tmp_path, out_path, out_format, rules, artifact, spans)
        _write_report(report, out_path)
    return report


def _write(tables: Iterator[pa.Table], tmp_path: Path | None, metadata: dict[bytes, bytes],
           progress: Callable[[int], None] | None) -> None:
    """Write the labeled tables to `tmp_path` (when given) with the provenance metadata; `progress` gets
    the rows done after each."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for labeled in tables:
            rows += labeled.num_rows
            if tmp_path is not None:
                labeled = labeled.replace_schema_metadata(metadata)
                if writer is None:
                    writer = pq.ParquetWriter(tmp_path, labeled.schema)
                writer.write_table(labeled)
            if progress:
                progress(rows)
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


def _labeled(labeler: Labeler, data: Any, report: LabelReport, columns: ColumnMap, batch_rows: int,
             workers: int) -> Iterator[pa.Table]:
    """The labeled batches of `data` in order (on `workers` processes for data files), counted in `report`.

    No rows give one empty batch, so the output is always typed.
    """
    files = data_files(data) if workers > 1 else None
    if files:
        likert = gold_scale(data, columns)
        yield from label_splits(labeler, plan_splits(files), report, workers, columns, batch_rows, likert)
        if report.rows == 0:
            yield labeler.label(SCHEMA.empty_table())[0]
        return
    for batch in _with_empty(read_batches(data, columns, batch_rows)):
        done = label_batch(labeler, batch)
        report.add(done)
        yield done.labeled


def _label_on_ray(artifact: CompiledArtifact, data: Any, out: str | Path | None, columns: ColumnMap,
                  batch_rows: int, spans: bool, out_format: str, address: str | None,
                  workers: int | None, scorers: Scorers | None) -> LabelReport:
    from tenet.runtime.label.ray_engine import RayEngineError, label_on_ray

    if out is None or out_format != "parquet":
        raise RayEngineError("the Ray engine writes a folder of Parquet shards: give --out a folder, "
                             "with --out-format parquet")
    start = time.perf_counter()
    report = label_on_ray(artifact, data, out, columns=columns, batch_rows=batch_rows, spans=spans,
                          address=address, workers=workers, scorers=scorers)
    report.seconds = time.perf_counter() - start
    _write_report(report, Path(out))
    return report


PARALLEL_BYTES = 8 << 20  # a smaller file labels faster than worker processes start


def default_workers(data: Any) -> int:
    """Every usable core for data files over `PARALLEL_BYTES` in all; one for anything else."""
    files = data_files(data)
    if files and sum(f.stat().st_size for f in files) > PARALLEL_BYTES:
        return usable_cores()
    return 1


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
