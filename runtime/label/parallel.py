"""Label data files on several worker processes and hand the labels back in order, so every core works.

The files are cut into splits (`tenet.runtime.splits`). Workers, forked before this process
reads any split, each hold a `Labeler`; one reads, normalizes and labels a whole split,
writes its labeled tables to an Arrow IPC file (in `/dev/shm` where there is one) and
returns its counts (a `LabelReport`). This process maps the file, numbers the rows across
splits, merges the counts and writes the output. At most two splits per worker are in
flight, so memory grows with the split size, not with the data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa

from tenet.compiler import ir
from tenet.runtime.data import DEFAULT_BATCH_ROWS, ColumnMap
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import Labeler
from tenet.runtime.label.report import LabelReport
from tenet.runtime.splits import Split, read_split


@dataclass(frozen=True)
class LabeledBatch:
    """One labeled batch: the normalized input, the labeled table, its vote matrix, its regex time-outs."""

    batch: pa.Table
    labeled: pa.Table
    matrix: np.ndarray
    timeouts: dict[str, int]


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def label_batch(labeler: Labeler, batch: pa.Table) -> LabeledBatch:
    """Label one normalized batch, with the regex time-outs this batch added to the labeler's."""
    before = dict(labeler.timeouts)
    labeled, matrix = labeler.label(batch)
    timeouts = {rule: rows - before.get(rule, 0) for rule, rows in labeler.timeouts.items()
                if rows != before.get(rule, 0)}
    return LabeledBatch(batch, labeled, matrix, timeouts)


def label_splits(labeler: Labeler, splits: Sequence[Split], report: LabelReport, workers: int,
                 columns: ColumnMap = ColumnMap(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 likert: bool = False) -> Iterator[pa.Table]:
    """Label the splits on `workers` forked processes; yield the labeled tables in order, rows numbered
    across splits, and add each split's counts to `report`."""
    import multiprocessing

    # pyarrow looks for pandas the first time it converts a Python value, in this process as in
    # every worker: look once, here, so that the forked workers inherit the import.
    pa.scalar("")
    context = multiprocessing.get_context("fork")
    initargs = (labeler.rules, labeler.spans, columns, batch_rows, likert, report.gold_column)
    folder = Path(tempfile.mkdtemp(prefix="tenet-label-", dir=_SHARED_MEMORY if os.access(_SHARED_MEMORY, os.W_OK)
                                   else None))
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=initargs) as pool:
            # Start every worker now, before this process reads anything with Arrow's threads.
            for started in [pool.submit(_ready) for _ in range(workers)]:
                started.result()
            pending: deque[Future] = deque()
            offset = 0
            for index, split in enumerate(splits):
                pending.append(pool.submit(_label_to_file, split, index == 0, folder / f"{index}.arrow"))
                if len(pending) >= 2 * workers:
                    offset = yield from _take(pending.popleft(), report, offset)
            while pending:
                offset = yield from _take(pending.popleft(), report, offset)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Workers hand labeled splits back as Arrow IPC files, in memory where the system has a RAM
# disk: this process maps them without a copy, where pickling through a pipe would copy twice.
_SHARED_MEMORY = "/dev/shm"


_WORKER: dict = {}  # a worker's labeler and reading options, set when it starts


def _start(rules: Sequence[ir.RuleIR], spans: bool, columns: ColumnMap, batch_rows: int, likert: bool,
           gold_column: str | None) -> None:
    _WORKER.update(labeler=Labeler(rules, spans=spans), columns=columns, batch_rows=batch_rows, likert=likert,
                   gold_column=gold_column)


def _ready() -> bool:
    return "labeler" in _WORKER


def label_split(split: Split, check_columns: bool = False, labeler: Labeler | None = None,
                options: dict | None = None) -> tuple[list[pa.Table], LabelReport]:
    """Read and label one split (rows numbered from 0); its labeled tables and counts.

    `labeler` and `options` (columns, batch_rows, likert, gold_column) default to the worker's own.
    """
    labeler = labeler or _WORKER["labeler"]
    options = options or _WORKER
    report = LabelReport(analysis=RuleAnalysis([r.id for r in labeler.rules]), gold_column=options["gold_column"])
    tables = []
    for batch in read_split(split, options["columns"], options["batch_rows"], options["likert"], check_columns):
        done = label_batch(labeler, batch)
        report.add(done)
        tables.append(done.labeled)
    return tables, report


def _label_to_file(split: Split, check_columns: bool, path: Path) -> tuple[Path | None, LabelReport]:
    """Label one split in a worker; write its tables to the Arrow IPC file `path` (None: no rows)."""
    tables, report = label_split(split, check_columns)
    if not tables:
        return None, report
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return path, report


def _take(future: Future, report: LabelReport, offset: int):
    """Yield one split's tables with rows numbered from `offset`; return the next offset."""
    path, counts = future.result()
    report.merge(counts)
    if path is None:
        return offset
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            table = pa.Table.from_batches([reader.get_batch(i)])
            yield renumber(table, offset)
            offset += table.num_rows
    path.unlink()
    return offset


def renumber(table: pa.Table, offset: int) -> pa.Table:
    """The table with its `row` column counting from `offset`."""
    index = table.schema.get_field_index("row")
    rows = pa.array(np.arange(offset, offset + table.num_rows, dtype=np.int64))
    return table.set_column(index, "row", rows)
