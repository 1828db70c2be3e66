"""Data files cut into splits that workers read on their own: byte ranges of whole JSONL lines,
runs of Parquet row groups, whole CSV files.

A split reads into exactly the normalized rows `tenet.runtime.data.read_batches` gives for its
part of the file, bad rows included, numbered from 0 within the split; the caller adds the
rows of the splits before it. Local workers (`runtime/label/parallel.py`) and Ray tasks
(`runtime/label/ray_engine.py`) label the same splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import pyarrow as pa

from tenet.runtime.data import ColumnMap, DataError
from tenet.runtime.data.normalize import normalize
from tenet.runtime.data.readers import MAX_RECORD_BYTES, csv_batches, jsonl_rows
from tenet.runtime.data.schema import DEFAULT_BATCH_ROWS, DEFAULT_MAX_CHARS
from tenet.runtime.datafiles import KINDS

SPLIT_BYTES = 16 << 20  # a split's size in a JSONL or Parquet file


@dataclass(frozen=True)
class Split:
    """One part of one data file: bytes [start, end) of a JSONL file, row groups [start, end) of a
    Parquet file, or a whole CSV file (end -1)."""

    path: str
    kind: Literal["jsonl", "csv", "parquet"]
    start: int = 0
    end: int = -1


def plan_splits(files: list[Path], split_bytes: int | None = None) -> list[Split]:
    """Cut the files into splits of about `split_bytes` (default `SPLIT_BYTES`), in file order."""
    split_bytes = split_bytes or SPLIT_BYTES
    splits: list[Split] = []
    for path in files:
        kind = KINDS[path.suffix]
        if kind == "jsonl":
            splits += _jsonl_splits(path, split_bytes)
        elif kind == "parquet":
            splits += _parquet_splits(path, split_bytes)
        else:
            splits.append(Split(str(path), "csv"))
    return splits


def _jsonl_splits(path: Path, split_bytes: int) -> list[Split]:
    size = path.stat().st_size
    bounds = [0]
    with path.open("rb") as handle:
        while bounds[-1] + split_bytes < size:
            handle.seek(bounds[-1] + split_bytes - 1)  # a line that starts right at the cut stays whole
            while (chunk := handle.read(1 << 16)) and b"\n" not in chunk:
                pass
            if not chunk:
                break
            end = handle.tell() - len(chunk) + chunk.index(b"\n") + 1
            if end >= size:
                break
            bounds.append(end)
    bounds.append(size)
    return [Split(str(path), "jsonl", a, b) for a, b in zip(bounds, bounds[1:])]


def _parquet_splits(path: Path, split_bytes: int) -> list[Split]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read Parquet file {path}: {exc}") from None
    splits, start, size = [], 0, 0
    for group in range(meta.num_row_groups):
        size += meta.row_group(group).total_byte_size
        if size >= split_bytes:
            splits.append(Split(str(path), "parquet", start, group + 1))
            start, size = group + 1, 0
    if start < meta.num_row_groups or not splits:
        splits.append(Split(str(path), "parquet", start, meta.num_row_groups))
    return splits


def split_rows(split: Split, columns: ColumnMap = ColumnMap()) -> int:
    """How many rows `read_split` gives for the split, bad rows included, read as cheaply as the format allows."""
    path = Path(split.path)
    if split.kind == "parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        return sum(meta.row_group(g).num_rows for g in range(split.start, split.end))
    if split.kind == "csv":
        return sum(len(raw) if isinstance(raw, list) else raw.num_rows for raw in _raw(split, columns, 1 << 20))
    from tenet.runtime.jsonl import object_lines, whole_lines

    with path.open("rb") as handle:
        handle.seek(split.start)
        blocks = whole_lines(_Window(handle, split.end - split.start), MAX_RECORD_BYTES, first=split.start == 0)
        return sum(1 if block is None else object_lines(block) for block in blocks)


def read_split(split: Split, columns: ColumnMap = ColumnMap(), batch_rows: int = DEFAULT_BATCH_ROWS,
               likert: bool = False, check_columns: bool = False) -> Iterator[pa.Table]:
    """The split's normalized batches, rows numbered from 0 (`read_batches` on the split's part)."""
    offset = 0
    for raw in _raw(split, columns, batch_rows):
        table = normalize(raw, columns, offset, DEFAULT_MAX_CHARS,
                               check_columns=check_columns and offset == 0, likert=likert)
        offset += table.num_rows
        yield table


def _raw(split: Split, columns: ColumnMap, batch_rows: int) -> Iterator[pa.Table | list[Any]]:
    path = Path(split.path)
    if split.kind == "csv":
        yield from csv_batches(path, batch_rows)
    elif split.kind == "parquet":
        yield from _row_groups(path, split.start, split.end, batch_rows)
    else:
        try:
            with path.open("rb") as handle:
                handle.seek(split.start)
                yield from jsonl_rows(_Window(handle, split.end - split.start), batch_rows, columns,
                                           first=split.start == 0)
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _row_groups(path: Path, start: int, end: int, batch_rows: int) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(batch_size=batch_rows, row_groups=range(start, end)):
            yield pa.Table.from_batches([batch])
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read Parquet file {path}: {exc}") from None


class _Window:
    """A binary file read from its current position for at most `size` bytes."""

    def __init__(self, handle, size: int):
        self.handle, self.left = handle, size

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes, never past the window's end."""
        n = self.left if n < 0 else min(n, self.left)
        chunk = self.handle.read(n) if n > 0 else b""
        self.left -= len(chunk)
        return chunk

    def seek(self, offset: int, whence: int) -> None:
        """Move back within what was read (`io.SEEK_CUR` only)."""
        self.handle.seek(offset, whence)
        self.left -= offset
