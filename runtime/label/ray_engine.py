"""`tenet label --engine ray`: label data files on a Ray cluster, one Parquet shard per split.

The files are cut into the splits local workers read (`tenet.runtime.splits`: byte ranges of
JSONL, row groups of Parquet, whole CSV files), so hostile rows are kept and counted exactly
as locally. The splits become a Ray Dataset; `map_batches` hands them to an actor pool in
which every actor holds the compiled rules' `Labeler`, reads its split, labels each Arrow
batch, writes `part-NNNNN.parquet` and returns the split's counts. Rows are numbered across
the whole input (a first pass counts each split's rows), and the driver merges the counts
into the same report the local engine writes. The cluster is the operator's: `address`
(`--ray-address`), else `RAY_ADDRESS`, else a local cluster on this machine.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tenet.compiler import ir
from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.errors import TenetError
from tenet.runtime.data import SCHEMA, ColumnMap, gold_scale
from tenet.runtime.datafiles import data_files
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import Labeler, rules_metadata
from tenet.runtime.label.parallel import label_split, renumber
from tenet.runtime.label.report import LabelReport
from tenet.runtime.label.scorers import Scorers
from tenet.runtime.ray_cluster import connect
from tenet.runtime.splits import Split, plan_splits, split_rows


class RayEngineError(TenetError):
    """The Ray engine cannot label this data (not data files, or an output it cannot write)."""


def label_on_ray(artifact: CompiledArtifact, data: Any, out: str | Path, *, columns: ColumnMap = ColumnMap(),
                 batch_rows: int = 65_536, spans: bool = True, address: str | None = None,
                 workers: int | None = None, scorers: Scorers | None = None) -> LabelReport:
    """Label `data` (JSONL, CSV or Parquet files, or folders of them) into Parquet shards in the folder `out`.

    Args:
        artifact: The compiled policy.
        data: A data file or a folder of data files.
        out: The output folder: `part-00000.parquet`, … in input order; the report is written beside
            it as `<out>.report.json` with the rule analysis, as for a local run.
        address: The Ray cluster (`ray://host:10001`, `host:6379` or `auto`); default `RAY_ADDRESS`,
            else a local cluster.
        workers: Actors that label (default: the cluster's CPUs, at most one per split).
        scorers: The model-backed scores of the policy's sentiment, similarity, classifier and judge
            rules, models not loaded yet: every actor loads its own copy on first use.
    """
    files = data_files(data)
    if not files:
        raise RayEngineError(f"the Ray engine reads .jsonl, .csv and .parquet files or folders of them; "
                             f"{data} is none of these")
    out = Path(out)
    started = connect(address, workers)
    try:
        return _run(artifact, plan_splits(files), out, columns, batch_rows, spans, workers,
                    gold_scale(data, columns), scorers)
    finally:
        if started:
            import ray

            ray.shutdown()


def _run(artifact: CompiledArtifact, splits: list[Split], out: Path, columns: ColumnMap, batch_rows: int,
         spans: bool, workers: int | None, likert: bool, scorers: Scorers | None) -> LabelReport:
    import ray

    rules = artifact.ir.rules
    counts = ray.get([ray.remote(split_rows).options(num_cpus=1).remote(s, columns) for s in splits])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).tolist()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.staging")
    staging.mkdir()
    actors = max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)), len(splits)))
    options = dict(columns=columns, batch_rows=batch_rows, likert=likert, gold_column=columns.gold)
    items = [{"index": i, "offset": o, "path": s.path, "kind": s.kind, "start": s.start, "end": s.end}
             for i, (s, o) in enumerate(zip(splits, offsets))]
    try:
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardLabeler, fn_constructor_args=(rules, spans, options, str(staging),
                                               rules_metadata(rules, artifact.policy_hash, spans), scorers),
            batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1)
        results = sorted(dataset.take_all(), key=lambda r: r["index"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = LabelReport(analysis=RuleAnalysis([r.id for r in rules]), gold_column=columns.gold,
                         columns=Labeler(rules, spans=spans).columns.mapping(spans))
    for result in results:
        report.merge(result["report"])
    if out.is_dir() and not out.is_symlink():
        shutil.rmtree(out)
    elif out.exists() or out.is_symlink():
        out.unlink()  # an earlier local run's file, or a link: replaced, never followed
    os.replace(staging, out)
    return report


class ShardLabeler:
    """A Ray actor: labels whole splits with one `Labeler` and writes each as a Parquet shard."""

    def __init__(self, rules: Sequence[ir.RuleIR], spans: bool, options: dict, folder: str,
                 metadata: dict[bytes, bytes], scorers: Scorers | None = None):
        """Hold the labeler (with its own model scorers), the reading options, the shard folder and the
        schema's provenance."""
        self.labeler = Labeler(rules, score=scorers, spans=spans)
        self.options, self.folder, self.metadata = options, Path(folder), metadata

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Label the batch's one split; its index and its `LabelReport` (Ray serializes it)."""
        index, offset = int(batch["index"][0]), int(batch["offset"][0])
        split = Split(str(batch["path"][0]), str(batch["kind"][0]), int(batch["start"][0]), int(batch["end"][0]))
        tables, report = label_split(split, check_columns=index == 0, labeler=self.labeler, options=self.options)
        self._write(index, tables, offset)
        return {"index": np.array([index]), "report": np.array([report], dtype=object)}

    def _write(self, index: int, tables: list, offset: int) -> None:
        import pyarrow.parquet as pq

        if not tables:  # a split with no rows still gets a typed shard
            tables = [self.labeler.label(SCHEMA.empty_table())[0]]
        path = self.folder / f"part-{index:05d}.parquet"
        writer = None
        for table in tables:
            table = renumber(table, offset).replace_schema_metadata(self.metadata)
            offset += table.num_rows
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        writer.close()
