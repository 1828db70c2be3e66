"""The sources rows are read from, as raw batches: JSONL, CSV, Parquet, a saved HF dataset, a Hub
data set (`hf://org/name?split=train`, from the Hugging Face cache), an Arrow table or a list.

A raw batch is an Arrow table or a list of rows; a row no reader could parse comes out as a
`Malformed` marker with its reason, never dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from tenet.compiler.datarefs import DatasetRef, is_dataset_ref, parse_dataset_ref
from tenet.runtime.data.schema import ColumnMap, DataError
from tenet.runtime.datafiles import data_files, is_saved_dataset

# One JSONL line or CSV row may be this large; a larger one is a bad row (JSONL) or a clear
# error (CSV), never an unbounded read into memory.
MAX_RECORD_BYTES = 64 << 20


def raw_batches(source: Any, batch_rows: int, columns: ColumnMap = ColumnMap()) -> Iterator[pa.Table | list[Any]]:
    """Raw batches of a source: an Arrow table, a list of rows, a Hub data set, a file, or a folder of files."""
    if isinstance(source, pa.Table):
        for batch in source.to_batches(max_chunksize=batch_rows):
            yield pa.Table.from_batches([batch])
        return
    if isinstance(source, list):
        for i in range(0, len(source), batch_rows):
            yield source[i:i + batch_rows]
        return
    if isinstance(source, DatasetRef) or is_dataset_ref(source):
        yield from _hub_batches(source, batch_rows)
        return
    path = Path(source)
    if not path.exists():
        raise DataError(f"data not found: {path}")
    if path.is_dir() and not is_saved_dataset(path):
        files = data_files(path)
        if not files:
            raise DataError(f"no .jsonl, .csv or .parquet files in {path}, and no saved Hugging Face dataset")
        for file in files:
            yield from raw_batches(file, batch_rows, columns)
    elif path.is_dir():
        yield from _hf_batches(path, batch_rows)
    elif path.suffix == ".parquet":
        yield from _parquet_batches(path, batch_rows)
    elif path.suffix == ".csv":
        yield from csv_batches(path, batch_rows)
    elif path.suffix in (".jsonl", ".json"):
        yield from _jsonl_batches(path, batch_rows, columns)
    else:
        raise DataError(f"unknown data format {path.suffix!r}: use .jsonl, .csv, .parquet, a saved "
                        "Hugging Face dataset directory or a Hub data set (hf://org/name?split=train)")


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read Parquet file {path}: {exc}") from None
    if reader.metadata.num_rows == 0:
        return
    done = 0
    try:
        for batch in reader.iter_batches(batch_size=batch_rows):
            done += batch.num_rows
            yield pa.Table.from_batches([batch])
    except (pa.ArrowInvalid, OSError) as exc:
        # The footer was fine but a page is not: the rows cannot be counted, let alone kept.
        raise DataError(f"cannot read Parquet file {path}: corrupt data after row {done} of "
                        f"{reader.metadata.num_rows}: {exc}") from None


def csv_batches(path: Path, batch_rows: int) -> Iterator[pa.Table | list[Any]]:
    """Stream a CSV as text columns; malformed rows come out as bad rows, never dropped."""
    import pyarrow.csv as pacsv

    names = _csv_header(path)
    if names is None:
        return
    skipped: list[Any] = []

    def on_invalid(row) -> str:
        skipped.append(Malformed("malformed_row"))  # wrong number of fields
        return "skip"

    # A row may not straddle two blocks: a file that fits in one block never splits a row.
    block_size = min(max(path.stat().st_size + 1, 1 << 22), MAX_RECORD_BYTES)
    try:
        # Binary first: one invalid UTF-8 cell must make one bad row, not a bad file.
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.binary() for n in names},
                                                 strings_can_be_null=False),
        )
        for batch in reader:
            for start in range(0, batch.num_rows, batch_rows):
                yield _decode_csv(pa.Table.from_batches([batch.slice(start, batch_rows)]))
            if skipped:
                yield list(skipped)
                skipped.clear()
    except (pa.ArrowInvalid, OSError) as exc:
        hint = f" (a row is larger than {MAX_RECORD_BYTES >> 20} MB)" if "straddl" in str(exc) else ""
        raise DataError(f"cannot read CSV file {path}{hint}: {exc}") from None
    if skipped:  # ragged rows after the last block, or in a file with no well-formed row
        yield list(skipped)


def _csv_header(path: Path) -> list[str] | None:
    """The column names, from the first non-blank line; None when the file has none."""
    import csv

    try:
        with path.open("rb") as handle:
            # Bounded reads: a file with no newline must not be read whole to find its header.
            while (header := handle.readline(MAX_RECORD_BYTES + 1)) and not header.strip():
                pass
    except OSError as exc:
        raise DataError(f"cannot read CSV file {path}: {exc.strerror or exc}") from None
    if len(header) > MAX_RECORD_BYTES:
        raise DataError(f"cannot read CSV file {path}: its header line is longer than {MAX_RECORD_BYTES >> 20} MB")
    if not header.strip():
        return None
    try:
        text = header.decode("utf-8-sig")  # a byte-order mark is not part of the first name
    except UnicodeDecodeError:
        raise DataError(f"cannot read CSV file {path}: its header line is not valid UTF-8") from None
    names = next(iter(csv.reader([text])))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"cannot read CSV file {path}: the header repeats {', '.join(map(repr, repeated))}")
    return names


def _decode_csv(table: pa.Table) -> pa.Table | list[Any]:
    try:
        return table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        rows = []
        for row in table.to_pylist():
            try:
                rows.append({k: v.decode("utf-8") for k, v in row.items()})
            except UnicodeDecodeError:
                rows.append(Malformed("invalid_text"))
        return rows


def _jsonl_batches(path: Path, batch_rows: int, columns: ColumnMap) -> Iterator[pa.Table | list[Any]]:
    try:
        with path.open("rb") as handle:
            yield from jsonl_rows(handle, batch_rows, columns)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def jsonl_rows(handle, batch_rows: int, columns: ColumnMap, first: bool = True) -> Iterator[pa.Table | list[Any]]:
    """Raw batches of a binary JSONL stream: blocks Arrow's JSON reader reads as `json` would, else
    rows parsed line by line (`first`: the stream starts at the file's start)."""
    from tenet.runtime.jsonl import arrow_block, whole_lines

    for block in whole_lines(handle, MAX_RECORD_BYTES, first=first):
        if block is None:
            yield [Malformed("oversized")]
            continue
        table = arrow_block(block, (columns.prompt, columns.response), columns.messages)
        if table is not None:
            for batch in table.combine_chunks().to_batches(max_chunksize=batch_rows):
                yield pa.Table.from_batches([batch])
            continue
        rows = [_parse_json_line(raw) for raw in block.split(b"\n") if raw.strip()]
        for start in range(0, len(rows), batch_rows):
            yield rows[start:start + batch_rows]


class Malformed:
    """Marker for a JSONL line that is not a JSON object."""

    def __init__(self, reason: str):
        self.reason = reason


def _parse_json_line(raw: bytes) -> Any:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Malformed("invalid_text")
    except (ValueError, RecursionError):
        return Malformed("malformed_row")
    return value if isinstance(value, dict) else Malformed("malformed_row")


def _hf_batches(path: Path, batch_rows: int) -> Iterator[pa.Table]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a declared dependency
        raise DataError("reading a saved Hugging Face dataset needs the `datasets` package") from None
    try:
        dataset = datasets.load_from_disk(str(path))
    except IndexError:  # a dataset saved with no rows has no shards to open
        return
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(f"{path} is not a saved Hugging Face dataset: {exc}") from None
    if isinstance(dataset, datasets.DatasetDict):
        dataset = dataset["train"] if "train" in dataset else next(iter(dataset.values()))
    yield from _dataset_batches(dataset, batch_rows)


def _dataset_batches(dataset, batch_rows: int) -> Iterator[pa.Table]:
    """A loaded `datasets.Dataset`'s rows as Arrow batches (no copy: they are memory-mapped)."""
    for batch in dataset.data.table.to_batches(max_chunksize=batch_rows):
        yield pa.Table.from_batches([batch])


def _hub_batches(source: str | DatasetRef, batch_rows: int) -> Iterator[pa.Table]:
    """One split of a Hub data set, from its snapshot in the Hugging Face cache.

    `load_dataset` on the snapshot folder reads its data files (Parquet, CSV, JSON) and
    infers the splits from their names (`data/train-00000-of-00001.parquet`), offline.
    A reference string may not carry `column=`: only a prompt source has one text column;
    rows for labeling and feedback map their columns with `--columns`.
    """
    ref = source if isinstance(source, DatasetRef) else _parse_ref(source)
    if ref.column is not None:
        raise DataError(f"{source}: `column=` names the text column of a prompt source; here map the "
                        "columns with --columns, e.g. --columns prompt=question,response=answer")
    import datasets

    folder = _hub_snapshot(ref)
    try:
        dataset = datasets.load_dataset(str(folder), split=ref.split, cache_dir=_datasets_cache())
    except ValueError as exc:  # an unknown split names the ones there are
        raise DataError(f"cannot read {ref}: {(str(exc).splitlines() or [''])[0]}") from None
    except FileNotFoundError as exc:  # datasets raises its own subclasses: no data files, empty
        raise DataError(f"cannot read {ref}: its snapshot {folder} has no data files ({exc})") from None
    yield from _dataset_batches(dataset, batch_rows)


def _parse_ref(text: str) -> DatasetRef:
    try:
        return parse_dataset_ref(text)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _hub_snapshot(ref: DatasetRef) -> Path:
    """The cached snapshot folder of a Hub data set, or a DataError saying how to get it."""
    from tenet.runtime import hub

    revision = ref.revision or hub.DEFAULT_REVISION
    found = hub.snapshot(ref.repo_id, revision, repo_type="dataset")
    if found is None:
        raise DataError(f"data set {ref.repo_id!r} (revision {revision!r}) is not in the Hugging Face cache "
                        f"({hub.hub_cache()}); tenet downloads nothing by default. Download it first "
                        f"(`{hub.download_command(ref.repo_id, revision, 'dataset')}`) or set "
                        "TENET_ALLOW_DOWNLOADS=1")
    return found.path


def _datasets_cache() -> str | None:
    """Where `datasets` keeps prepared Arrow files, read from the environment now (it reads it at import)."""
    import os

    if os.environ.get("HF_DATASETS_CACHE"):
        return os.environ["HF_DATASETS_CACHE"]
    return str(Path(os.environ["HF_HOME"]) / "datasets") if os.environ.get("HF_HOME") else None
