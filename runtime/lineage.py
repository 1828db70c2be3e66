"""Where an update cycle starts: the last promoted cycle, what changed since, and its model.

The champion (the registered version behind the `champion` alias) names the cycle run that
trained it; that run holds the compiled artifact it was trained on, so the new policy is
diffed against exactly what the deployed model learned. The champion's model is the
registered MLflow model (merged weights), downloaded into the cache on a machine that did
not train it; on the machine that did, a LoRA champion's adapter is merged into its base
once, into the cache, so the next cycle trains a fresh adapter on top of it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tenet.compiler.artifact import CompiledArtifact, read_artifact
from tenet.compiler.diff import ChangeCategory, PolicyDiff, diff_artifacts
from tenet.runtime import tags as tag
from tenet.runtime.redact import WORK

WORK_ID_FILE = ".tenet-work-id"


@dataclass(frozen=True)
class Parent:
    """The last promoted cycle of a policy."""

    run_id: str
    version: str
    artifact: CompiledArtifact
    model_dir: str


@dataclass(frozen=True)
class Changes:
    """The diff against the parent, split into rules to retrain and rules that must hold."""

    diff: PolicyDiff | None
    changed: frozenset[str]    # added, or what they check or their examples changed
    unchanged: frozenset[str]  # in both versions with at most metadata changes
    removed: frozenset[str]

    def summary(self) -> str:
        """`fresh` for a first cycle, else the diff's one-line summary."""
        return "fresh" if self.diff is None else self.diff.summary()

    def records(self) -> list[dict]:
        """The diff as JSON-ready rows: rule, kind, detail."""
        if self.diff is None:
            return []
        return [{"rule": c.rule, "kind": c.category.value,
                 "detail": c.change + (f": {', '.join(c.fields)}" if c.fields else "")} for c in self.diff.rules]


def find_parent(tracker, policy_id: str, alias: str = tag.CHAMPION, fetch_model: bool = True) -> Parent | None:
    """The cycle behind the policy's champion, or None when nothing was promoted yet.

    The champion is found through the model registry, so any machine that reaches the
    tracking store can continue from it: the model folder the training machine recorded is
    used when it is this machine's and still there, else the registered model is downloaded
    (unless `fetch_model` is False: `model_dir` is then "" when the model is not here).
    """
    client, mlflow = tracker.client, tracker.mlflow
    try:
        version = client.get_model_version_by_alias(policy_id, alias)
    except mlflow.exceptions.MlflowException:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="policy/artifact.json",
                                                   dst_path=tmp, tracking_uri=tracker.uri)
        artifact = read_artifact(path)
    tags = client.get_run(version.run_id).data.tags
    model_dir = _local_model_dir(tags, tracker.work_dir)
    if model_dir is None:
        model_dir = _download(tracker, version) if fetch_model else ""
    return Parent(run_id=version.run_id, version=str(version.version), artifact=artifact, model_dir=model_dir)


def _local_model_dir(tags: dict[str, str], work_dir: str | Path) -> str | None:
    """The champion's folder when this work folder trained it and still has it, else None.

    `tenet.model.path` is `<work>/REL`, relative to the work folder that trained the model,
    and `tenet.work.id` names that folder; another work folder on this machine may hold
    other files at the same place. An older cycle recorded an absolute path on its host.
    """
    recorded = tags.get(tag.MODEL_PATH, "")
    if not recorded or tags.get(tag.HOST) != socket.gethostname():
        return None
    prefix = WORK + "/"
    if recorded.startswith(prefix):
        if tags.get(tag.WORK_ID) != work_id(work_dir):
            return None
        folder = Path(work_dir).resolve() / recorded[len(prefix):]
        if not folder.resolve().is_relative_to(Path(work_dir).resolve()):
            return None
    else:
        folder = Path(recorded)
        if not folder.is_absolute():
            return None
    return str(folder) if folder.is_dir() else None


def work_id(work_dir: str | Path) -> str:
    """A random id of a work folder, made on first use (`.tenet-work-id`): which folder trained a model."""
    path = Path(work_dir) / WORK_ID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return _read_work_id(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(uuid.uuid4().hex)
    return _read_work_id(path)


def _read_work_id(path: Path) -> str:
    """The id in a `.tenet-work-id` file, waiting briefly for a process that is writing it."""
    for _ in range(50):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="utf-8") as handle:
            text = handle.read().strip()
        if text:
            return text
        time.sleep(0.01)
    raise OSError(f"{path} holds no work folder id; delete it and run again")


def _download(tracker, version) -> str:
    """The registered version as a local checkpoint folder in the cache (downloaded once)."""
    from tenet.runtime import champion

    target = Path(tracker.work_dir) / "cache" / "champions" / version.run_id
    if str(version.source).startswith("models:/"):
        return champion.fetch(tracker.mlflow, f"models:/{version.name}/{version.version}", target)
    # Registered before champions were MLflow models: the run's `model` folder holds the files.
    if not target.is_dir():
        scratch = Path(str(target) + ".tmp")
        tracker.mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="model",
                                                    dst_path=str(scratch), tracking_uri=tracker.uri)
        os.replace(scratch / "model", target)
        shutil.rmtree(scratch, ignore_errors=True)
    return str(target)


def changes(parent: Parent | None, artifact: CompiledArtifact) -> Changes:
    """Which rules to retrain and which must not regress, against the parent's artifact."""
    ids = frozenset(r.id for r in artifact.ir.rules)
    if parent is None:
        return Changes(None, ids, frozenset(), frozenset())
    diff = diff_artifacts(parent.artifact, artifact)
    retrain = {c.rule for c in diff.rules if c.change != "removed" and c.category is not ChangeCategory.METADATA}
    removed = frozenset(c.rule for c in diff.rules if c.change == "removed")
    return Changes(diff, frozenset(retrain), ids - retrain, removed)


def start_model(parent: Parent, cache_root: str | Path) -> str:
    """A full checkpoint of the champion: itself, or its LoRA adapter merged into its base (cached)."""
    folder = Path(parent.model_dir)
    if not (folder / "adapter_config.json").exists():
        return str(folder)
    from tenet.runtime.cache import model_fingerprint

    target = Path(cache_root) / "merged" / model_fingerprint(folder)[:24]
    if (target / "config.json").exists():
        return str(target)
    _ensure_base(folder)
    from transformers import AutoTokenizer

    from tenet.runtime.champion import load_merged

    merged = load_merged(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    merged.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False).save_pretrained(tmp)
    try:
        os.replace(tmp, target)  # atomic: another cycle merging the same adapter wrote the same model
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def _ensure_base(adapter: Path) -> None:
    base = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    if base and not Path(base).exists() and "/" in base and Path(base).is_absolute():
        raise FileNotFoundError(f"the champion's base model {base} is not on this machine; "
                                "run with --from-base to train from the plan's base model")


def git_commit(folder: str | Path) -> str:
    """The git commit of the policy's folder (`+dirty` when it has changes), or `none`."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return "none"
    return commit + ("+dirty" if dirty else "")
