"""Read (prompt, response) rows from JSONL, CSV, Parquet, a saved HF dataset or a Hub data set
(`hf://org/name?split=train`, from the Hugging Face cache), in batches.

Every row comes out in one normalized Arrow schema; rows that cannot be labeled are kept,
with a reason in `bad`, so nothing is dropped silently. Conversational rows (a list of
`{role, content}` messages) become context turns + the last user prompt + the last
assistant response.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenet.compiler.datarefs import DatasetRef, is_dataset_ref, parse_dataset_ref
from tenet.compiler.errors import TenetError
from tenet.runtime.datafiles import data_files, is_saved_dataset

BAD_REASONS = ("missing_field", "non_text", "empty", "oversized", "malformed_row", "bad_messages",
               "invalid_text")
TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema([
    ("row", pa.int64()),
    ("prompt", pa.string()),
    ("response", pa.string()),
    ("context", pa.list_(TURN)),
    ("gold", pa.int8()),
    ("bad", pa.string()),
])
# A normalized batch's schema metadata under this key counts its rows whose gold value was given
# but is no rating (`unreadable_gold`); their gold is -1 like a missing one.
GOLD_UNREADABLE_KEY = b"tenet.gold_unreadable"
DEFAULT_BATCH_ROWS = 65_536
DEFAULT_MAX_CHARS = 200_000
# One JSONL line or CSV row may be this large; a larger one is a bad row (JSONL) or a clear
# error (CSV), never an unbounded read into memory.
MAX_RECORD_BYTES = 64 << 20


class DataError(TenetError):
    """The data cannot be read at all (missing file, unknown format, missing columns)."""


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold the prompt, response, messages and gold label."""

    prompt: str = "prompt"
    response: str = "response"
    messages: str = "messages"
    gold: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> "ColumnMap":
        """Parse `prompt=question,response=answer,gold=rating` into a map."""
        if not spec:
            return cls()
        fields: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in ("prompt", "response", "messages", "gold"):
                raise DataError(f"bad column mapping {part!r}; write e.g. prompt=question,response=answer")
            fields[key.strip()] = value.strip()
        return cls(**fields)


def read_batches(source: Any, columns: ColumnMap = ColumnMap(), batch_rows: int = DEFAULT_BATCH_ROWS,
                 max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[pa.Table]:
    """Yield normalized batches (schema `SCHEMA`) from a path, an Arrow table or a list of dicts.

    Raises:
        DataError: When the source cannot be opened or lacks the needed columns.
    """
    offset = 0
    # The rating scale is one fact about the whole column, not about each batch.
    likert = gold_scale(source, columns)
    for raw in _raw_batches(source, batch_rows, columns):
        # Later batches with missing fields are bad rows, not a bad file: check columns once.
        table = normalize(raw, columns, offset, max_chars, check_columns=offset == 0, likert=likert)
        offset += table.num_rows
        yield table


def gold_scale(source: Any, columns: ColumnMap) -> bool:
    """Whether the gold column's numbers are a 1-5 scale (`is_likert`), read over the whole source."""
    return is_likert(_gold_values(source, columns)) if columns.gold else False


# --- sources ----------------------------------------------------------------------


def _raw_batches(source: Any, batch_rows: int, columns: ColumnMap = ColumnMap()) -> Iterator[pa.Table | list[Any]]:
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
            yield from _raw_batches(file, batch_rows, columns)
    elif path.is_dir():
        yield from _hf_batches(path, batch_rows)
    elif path.suffix == ".parquet":
        yield from _parquet_batches(path, batch_rows)
    elif path.suffix == ".csv":
        yield from _csv_batches(path, batch_rows)
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


def _csv_batches(path: Path, batch_rows: int) -> Iterator[pa.Table | list[Any]]:
    """Stream a CSV as text columns; malformed rows come out as bad rows, never dropped."""
    import pyarrow.csv as pacsv

    names = _csv_header(path)
    if names is None:
        return
    skipped: list[Any] = []

    def on_invalid(row) -> str:
        skipped.append(_Malformed("malformed_row"))  # wrong number of fields
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
                rows.append(_Malformed("invalid_text"))
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
            yield [_Malformed("oversized")]
            continue
        table = arrow_block(block, (columns.prompt, columns.response), columns.messages)
        if table is not None:
            for batch in table.combine_chunks().to_batches(max_chunksize=batch_rows):
                yield pa.Table.from_batches([batch])
            continue
        rows = [_parse_json_line(raw) for raw in block.split(b"\n") if raw.strip()]
        for start in range(0, len(rows), batch_rows):
            yield rows[start:start + batch_rows]


class _Malformed:
    """Marker for a JSONL line that is not a JSON object."""

    def __init__(self, reason: str):
        self.reason = reason


def _parse_json_line(raw: bytes) -> Any:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _Malformed("invalid_text")
    except (ValueError, RecursionError):
        return _Malformed("malformed_row")
    return value if isinstance(value, dict) else _Malformed("malformed_row")


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


# --- normalization ----------------------------------------------------------------


def normalize(raw: pa.Table | list[Any], columns: ColumnMap, offset: int, max_chars: int,
              check_columns: bool = True, likert: bool | None = None) -> pa.Table:
    """Turn one raw batch into the normalized schema, marking bad rows with a reason."""
    if isinstance(raw, pa.Table) and _is_plain_text(raw, columns):
        return _normalize_plain_arrow(raw, columns, offset, max_chars, likert)
    rows = raw.to_pylist() if isinstance(raw, pa.Table) else raw
    if check_columns:
        # Lines a file reader could not parse are bad rows; only an in-memory list of
        # non-objects (e.g. plain strings) is not data at all.
        if rows and not any(isinstance(r, (dict, _Malformed)) for r in rows):
            raise DataError("rows are not objects with named fields")
        _require_columns(rows, columns)
    return _normalize_rows(rows, columns, offset, max_chars, likert)


def _is_plain_text(table: pa.Table, columns: ColumnMap) -> bool:
    names = table.column_names
    if columns.prompt not in names or columns.response not in names:
        if columns.messages not in names:
            raise DataError(_missing_message(names, columns))
        return False
    return all(pa.types.is_string(table.schema.field(c).type) or pa.types.is_large_string(table.schema.field(c).type)
               for c in (columns.prompt, columns.response))


def _missing_message(names: Iterable[str], columns: ColumnMap) -> str:
    return (f"no `{columns.prompt}`/`{columns.response}` columns and no `{columns.messages}` column; "
            f"found: {', '.join(names) or 'none'}. Map them with --columns prompt=...,response=...")


def _require_columns(rows: list[Any], columns: ColumnMap) -> None:
    seen: set[str] = set()
    for row in rows[:1000]:
        if isinstance(row, dict):
            seen.update(row)
    if seen and not ({columns.prompt, columns.response} & seen or columns.messages in seen):
        raise DataError(_missing_message(sorted(seen), columns))


def _normalize_plain_arrow(table: pa.Table, columns: ColumnMap, offset: int, max_chars: int,
                           likert: bool | None = None) -> pa.Table:
    prompt = table.column(columns.prompt).cast(pa.string())
    response = table.column(columns.response).cast(pa.string())
    missing = pc.or_(pc.is_null(prompt), pc.is_null(response))
    prompt = pc.fill_null(prompt, "")
    response = pc.fill_null(response, "")
    empty = pc.equal(pc.utf8_length(pc.utf8_trim(response, characters=" \t\n\r\f\v")), 0)
    oversized = pc.greater(pc.add(pc.utf8_length(prompt), pc.utf8_length(response)), max_chars)
    bad = pc.if_else(missing, "missing_field",
                     pc.if_else(empty, "empty", pc.if_else(oversized, "oversized", pa.scalar(None, pa.string()))))
    n = table.num_rows
    has_gold = columns.gold is not None and columns.gold in table.column_names
    gold_values = table.column(columns.gold).to_pylist() if has_gold else []
    gold = _gold_column(gold_values, likert) if has_gold else pa.array(np.full(n, -1, np.int8))
    return pa.table({
        "row": pa.array(np.arange(offset, offset + n, dtype=np.int64)),
        "prompt": prompt, "response": response,
        "context": pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], TURN)),
        "gold": gold, "bad": bad,
    }, schema=_schema_counting(gold_values, gold, likert) if has_gold else SCHEMA)


def _normalize_rows(rows: list[Any], columns: ColumnMap, offset: int, max_chars: int,
                    likert: bool | None = None) -> pa.Table:
    prompts, responses, contexts, golds, bads = [], [], [], [], []
    for row in rows:
        prompt, response, context, bad = _normalize_row(row, columns, max_chars)
        prompts.append(prompt)
        responses.append(response)
        contexts.append(context)
        bads.append(bad)
        golds.append(row.get(columns.gold) if columns.gold and isinstance(row, dict) else None)
    n = len(rows)
    gold = _gold_column(golds, likert)
    return pa.table({
        "row": pa.array(range(offset, offset + n), pa.int64()),
        "prompt": pa.array(prompts, pa.string()), "response": pa.array(responses, pa.string()),
        "context": pa.array(contexts, pa.list_(TURN)), "gold": gold,
        "bad": pa.array(bads, pa.string()),
    }, schema=_schema_counting(golds, gold, likert) if columns.gold else SCHEMA)


def _normalize_row(row: Any, columns: ColumnMap, max_chars: int) -> tuple[str, str, list, str | None]:
    if isinstance(row, _Malformed):
        return "", "", [], row.reason
    if not isinstance(row, dict):
        return "", "", [], "malformed_row"
    if columns.messages in row and not (columns.prompt in row and columns.response in row):
        parsed = _split_messages(row.get(columns.messages))
        if parsed is None:
            return "", "", [], "bad_messages"
        prompt, response, context = parsed
    else:
        prompt, response, context = row.get(columns.prompt), row.get(columns.response), []
        if isinstance(prompt, list):  # TRL conversational prompt: a list of messages
            parsed = _split_messages(prompt + [{"role": "assistant", "content": response}])
            if parsed is None:
                return "", "", [], "bad_messages"
            prompt, response, context = parsed
    if prompt is None or response is None:
        return (prompt if isinstance(prompt, str) else "", response if isinstance(response, str) else "",
                [], "missing_field")
    if not isinstance(prompt, str) or not isinstance(response, str):
        return "", "", [], "non_text"
    if not _encodable(prompt) or not _encodable(response) or not all(_encodable(t["content"]) for t in context):
        return "", "", [], "invalid_text"
    if not response.strip(" \t\n\r\f\v"):
        return prompt, response, context, "empty"
    if len(prompt) + len(response) + sum(len(t["content"]) for t in context) > max_chars:
        return prompt, response, context, "oversized"
    return prompt, response, context, None


def _split_messages(messages: Any) -> tuple[str, str, list[dict]] | None:
    """Split a message list into (last user prompt, last assistant response, earlier turns)."""
    if not isinstance(messages, list) or not messages:
        return None
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
               for m in messages):
        return None
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last_assistant is None:
        return None
    last_user = max((i for i, m in enumerate(messages[:last_assistant]) if m["role"] == "user"), default=None)
    if last_user is None:
        return None
    context = [{"role": m["role"], "content": m["content"]} for m in messages[:last_user]
               if m["role"] in ("user", "assistant")]
    return messages[last_user]["content"], messages[last_assistant]["content"], context


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_POSITIVE = re.compile(r"(?i)\b(great|good|helpful|perfect|thanks|love|excellent|correct)\b")
_NEGATIVE = re.compile(r"(?i)\b(bad|wrong|useless|rude|unhelpful|terrible|incorrect|awful)\b")


def gold_label(value: Any, likert: bool = False) -> int:
    """Map a human rating to GOOD (1), BAD (0) or unknown (-1).

    Thumbs (`up`/`down`, 👍/👎), booleans, 0/1 (or, with `likert`, 1–5 where 4–5 are good,
    1–2 bad and 3 unknown), and free-text comments by their positive or negative words.
    """
    if value is None:
        return -1
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        if likert and 1 <= value <= 5:
            return 1 if value >= 4 else 0 if value <= 2 else -1
        if value in (0, 1):
            return int(value)
        if 1 <= value <= 5:
            return 1 if value >= 4 else 0 if value <= 2 else -1
        return -1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("up", "good", "yes", "true", "thumbs_up", "👍", "1", "chosen"):
            return 1
        if word in ("down", "bad", "no", "false", "thumbs_down", "👎", "0", "rejected"):
            return 0
        try:
            return gold_label(float(word), likert)
        except ValueError:
            pass
        positive, negative = bool(_POSITIVE.search(word)), bool(_NEGATIVE.search(word))
        return 1 if positive and not negative else 0 if negative and not positive else -1
    return -1


def unreadable_gold(value: Any, likert: bool = False) -> bool:
    """True when a gold value is given but is no rating (`maybe`, 7, a list).

    Missing and blank values and a neutral 3 are no label either, but not unreadable.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return gold_label(value, likert) == -1 and _numeric(value) != 3


def unreadable_gold_rows(batch: pa.Table) -> int:
    """How many rows of a normalized batch had an unreadable gold value (see `GOLD_UNREADABLE_KEY`)."""
    return int((batch.schema.metadata or {}).get(GOLD_UNREADABLE_KEY, b"0"))


def _schema_counting(values: list[Any], gold: pa.Array, likert: bool | None) -> pa.Schema:
    """`SCHEMA`, with the count of unreadable gold values among `values` as metadata when there are any."""
    likert = is_likert(values) if likert is None else likert
    unknown = gold.to_numpy(zero_copy_only=False) == -1
    count = sum(1 for value, no_label in zip(values, unknown) if no_label and unreadable_gold(value, likert))
    return SCHEMA.with_metadata({GOLD_UNREADABLE_KEY: str(count).encode()}) if count else SCHEMA


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def is_likert(values: list[Any]) -> bool:
    """True when numeric ratings go beyond 0/1, so 1 means the worst score, not thumbs up."""
    numbers = [n for n in map(_numeric, values) if n is not None]
    return any(1 < n <= 5 for n in numbers)


def _gold_column(values: list[Any], likert: bool | None = None) -> pa.Array:
    likert = is_likert(values) if likert is None else likert
    return pa.array([gold_label(v, likert) for v in values], pa.int8())


def _gold_values(source: Any, columns: ColumnMap) -> list[Any]:
    """Every value of the gold column, read once before labeling to fix the rating scale."""
    values: list[Any] = []
    column = columns.gold
    try:
        for raw in _raw_batches(source, DEFAULT_BATCH_ROWS, columns):
            if isinstance(raw, pa.Table):
                if column in raw.column_names:
                    values.extend(raw.column(column).to_pylist())
            else:
                values.extend(r.get(column) for r in raw if isinstance(r, dict))
    except DataError:
        return []  # the real read reports it
    return values
