"""Which data files a path names: a JSONL, CSV or Parquet file, or a folder of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenet.compiler.datarefs import is_dataset_ref

KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def is_saved_dataset(path: Path) -> bool:
    """True for a folder `datasets.save_to_disk` wrote (a dataset or a dataset dict)."""
    return any((path / name).is_file() for name in ("state.json", "dataset_dict.json", "dataset_info.json"))


def data_files(source: Any) -> list[Path] | None:
    """The JSONL, CSV and Parquet files of a file or a folder (sorted by path; none: an empty list).

    None for anything else: a saved Hugging Face dataset, a Hub data set, an Arrow table or a
    list of rows. Files and folders whose names start with `.` or `_` are skipped, as Spark and
    Ray skip them.
    """
    if not isinstance(source, (str, Path)) or is_dataset_ref(str(source)):
        return None
    path = Path(source)
    if path.is_file():
        return [path] if path.suffix in KINDS else None
    if not path.is_dir() or is_saved_dataset(path):
        return None
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in KINDS
                  and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
