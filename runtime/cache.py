"""A content-addressed cache shared by cycles: model generations and per-rule pair candidates.

Entries are JSON files named by the sha256 of their key, written to a temporary file and
renamed into place, so a reader sees a whole entry or none, and two cycles writing the same
entry at once both write identical bytes. Nothing is ever updated in place: a changed input
is a new key. Model weights are fingerprinted by content (sha256 of the weight and config
files), memoized beside the files by size and modification time; a Hugging Face cache
snapshot by its commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_VERSION = 1
_FINGERPRINT_FILE = ".tenet-fingerprint.json"
_MODEL_FILES = (".safetensors", ".bin", ".json", ".model", ".txt")


def key_of(*parts: Any) -> str:
    """The sha256 hex digest of `parts` as canonical JSON."""
    blob = json.dumps([CACHE_VERSION, *parts], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Cache:
    """JSON entries under `root/<kind>/<key[:2]>/<key>.json`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> Any | None:
        """The stored value, or None when absent or unreadable (a torn entry counts as a miss)."""
        try:
            value = json.loads(self._path(kind, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store `value` (JSON-serializable) under `key`."""
        write_atomic(self._path(kind, key), json.dumps(value, ensure_ascii=False, sort_keys=True))


def model_fingerprint(path: str | Path) -> str:
    """A content hash of a model folder: its weights, config and tokenizer files.

    A LoRA adapter folder also covers its base model, so the same adapter on another base
    gets another fingerprint. A snapshot of the Hugging Face cache is named by its commit,
    which fixes its files: it is fingerprinted by repository and commit, without reading
    the weights or writing a memo into the shared cache.
    """
    from tenet.runtime.hub import snapshot_of

    folder = Path(path)
    hub = snapshot_of(folder)
    if hub is not None:
        return key_of("hub", hub.repo_type, hub.repo_id, hub.commit)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _MODEL_FILES
                   and p.name != _FINGERPRINT_FILE)
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo = folder / _FINGERPRINT_FILE
    try:
        saved = json.loads(memo.read_text(encoding="utf-8"))
        if saved.get("stamp") == stamp:
            return saved["sha256"]
    except (OSError, ValueError, AttributeError):
        pass
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode())
        with p.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    adapter = folder / "adapter_config.json"
    if adapter.exists():
        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if base and Path(base).is_dir():
            digest.update(model_fingerprint(base).encode())
    value = digest.hexdigest()
    try:
        write_atomic(memo, json.dumps({"stamp": stamp, "sha256": value}))
    except OSError:  # a read-only model folder: fingerprint again next time
        pass
    return value
