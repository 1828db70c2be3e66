"""Models and data sets named by Hugging Face Hub id, found in the local Hub cache.

A Hub id (`org/name`, optionally pinned as `org/name@revision`) resolves to a snapshot
folder of the Hub cache (`models--org--name/snapshots/<commit>/`), through huggingface_hub's
own `snapshot_download`. Offline by default: only what is already cached is used. With
`TENET_ALLOW_DOWNLOADS=1` (and `HF_HUB_OFFLINE` unset) a missing snapshot is fetched. The
folder's name is the resolved commit, which identifies the weights or rows exactly, so
caches and MLflow record the commit instead of hashing gigabytes.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import NamedTuple

from tenet.compiler.errors import TenetError

DEFAULT_REVISION = "main"
# Hub repository names: letters, digits, `-`, `_`, `.`; one namespace, one name.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = ("1", "ON", "YES", "TRUE")


class HubError(TenetError):
    """A download from the Hub failed (network, permissions, a missing repository)."""


class Snapshot(NamedTuple):
    """A cached Hub snapshot: which repository, which commit, and where its files are."""

    repo_type: str  # "model" or "dataset"
    repo_id: str
    commit: str
    path: Path


def is_hub_id(name: str) -> bool:
    """True when `name` looks like `org/name` or `org/name@revision`."""
    return bool(_HUB_ID.match(split_revision(name)[0]))


def split_revision(name: str) -> tuple[str, str | None]:
    """Split `org/name@revision` into the id and the pinned revision (None when not pinned)."""
    repo_id, sep, revision = name.partition("@")
    return repo_id, (revision or None) if sep else None


def hub_cache() -> Path:
    """The Hub cache folder, read from the environment now (huggingface_hub reads it at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def downloads_allowed() -> bool:
    """Whether tenet may fetch from the Hub: `TENET_ALLOW_DOWNLOADS=1` and not `HF_HUB_OFFLINE`."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE
    return os.environ.get("TENET_ALLOW_DOWNLOADS") == "1" and not offline


def download_command(repo_id: str, revision: str, repo_type: str = "model") -> str:
    """The `hf download` command that fetches a snapshot, every argument quoted for a POSIX shell.

    The id and revision come from a policy or the command line, so a revision such as
    `main && curl … | sh` must reach the shell as one argument if the hint is pasted.
    """
    args = ["hf", "download", repo_id, *(["--repo-type", repo_type] if repo_type != "model" else []),
            "--revision", revision]
    return shlex.join(args)


def snapshot(repo_id: str, revision: str = DEFAULT_REVISION, repo_type: str = "model") -> Snapshot | None:
    """The cached snapshot of `repo_id` at `revision`, fetched first when downloads are allowed.

    Args:
        repo_id: `org/name`.
        revision: A branch, tag or commit sha.
        repo_type: "model" or "dataset".

    Returns:
        The snapshot, or None when it is not cached and downloads are not allowed.

    Raises:
        HubError: When a permitted download fails.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    fetch = downloads_allowed()
    try:
        folder = snapshot_download(repo_id, repo_type=repo_type, revision=revision, cache_dir=hub_cache(),
                                   local_files_only=not fetch)
    except (LocalEntryNotFoundError, HFValidationError):
        if fetch:
            raise HubError(f"cannot download {repo_type} {repo_id}@{revision} from the Hugging Face Hub")
        return None
    except (OSError, ValueError) as exc:  # requests' errors are OSErrors; the Hub's HTTP errors too
        raise HubError(f"cannot download {repo_type} {repo_id}@{revision} from the Hugging Face Hub: "
                       f"{type(exc).__name__}: {exc}; check the id, the revision and your access") from exc
    return snapshot_of(folder)


def snapshot_of(path: str | Path) -> Snapshot | None:
    """The snapshot a folder is, when it lies in a Hub cache (`<type>s--org--name/snapshots/<sha>`)."""
    folder = Path(path)
    repo_folder = folder.parent.parent
    kind, sep, flat = repo_folder.name.partition("--")
    if folder.parent.name != "snapshots" or not sep or kind not in ("models", "datasets"):
        return None
    return Snapshot(kind[:-1], flat.replace("--", "/"), folder.name, folder)


def commit_params(role: str, path: str | Path) -> dict[str, str]:
    """MLflow params naming the Hub id and commit of a model folder (empty when not from the Hub).

    Args:
        role: What the model is for, e.g. `base` or `judge`: the params are `model.<role>.id`
            and `model.<role>.commit`.
        path: The resolved model folder.
    """
    found = snapshot_of(path)
    if found is None:
        return {}
    return {f"model.{role}.id": found.repo_id, f"model.{role}.commit": found.commit}
