"""Put local files into a Hugging Face Hub cache folder, as if `hf download` had fetched them.

The layout is the one huggingface_hub documents for its cache
(https://huggingface.co/docs/huggingface_hub/guides/manage-cache):

    <cache>/<models|datasets>--org--name/
        blobs/<sha256 of the file>          the bytes, stored once
        snapshots/<commit>/<path>           a symbolic link to ../../blobs/<sha256>
        refs/<revision>                     the commit the revision points to

so `snapshot_download(..., local_files_only=True)`, `scan_cache_dir` and tenet find the files
offline exactly as they would find a real download.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def add_to_hub_cache(cache: str | Path, repo_id: str, source: str | Path, repo_type: str = "model",
                     revision: str = "main", commit: str | None = None) -> str:
    """Copy every file under `source` into `cache` as snapshot `commit` of `repo_id`.

    Args:
        cache: The Hub cache folder (what `HF_HUB_CACHE` names).
        repo_id: `org/name`.
        source: A folder whose files (recursively) become the snapshot's files.
        repo_type: "model" or "dataset".
        revision: The ref written to point at the commit.
        commit: The commit sha (default: a sha1 of the files, like a git commit would be).

    Returns:
        The commit sha.
    """
    source = Path(source)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    if commit is None:
        digest = hashlib.sha1()
        for path in files:
            digest.update(str(path.relative_to(source)).encode() + path.read_bytes())
        commit = digest.hexdigest()
    repo = Path(cache) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for path in files:
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(path.read_bytes())
        link = snapshot / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit
