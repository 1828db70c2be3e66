"""The compiled artifact: versioned, deterministic JSON that the runtime runs from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tenet.compiler import __version__
from tenet.compiler.diagnostics import Diagnostic
from tenet.compiler.errors import TenetError
from tenet.compiler.ir import PolicyIR
from tenet.compiler.link import ModuleRef
from tenet.compiler.plan import TrainingPlan
from tenet.compiler.walk import content_hash

SCHEMA_VERSION = 1


class CompiledArtifact(BaseModel):
    """Everything a policy compiles to, with content hashes for lineage and diffs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    compiler_version: str = __version__
    policy_id: str
    version: str
    description: str | None
    policy_hash: str
    plan_hash: str
    sources: tuple[ModuleRef, ...]
    ir: PolicyIR
    plan: TrainingPlan
    diagnostics: tuple[Diagnostic, ...] = ()


class ArtifactError(TenetError):
    """An artifact file that cannot be used: unreadable, invalid or from another schema."""


def policy_hash(sources: tuple[ModuleRef, ...]) -> str:
    """Hash the policy's source contents in dependency order (paths do not count)."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.sha256.encode())
    return digest.hexdigest()


def build_artifact(ir: PolicyIR, plan: TrainingPlan, sources: tuple[ModuleRef, ...],
                   diagnostics: tuple[Diagnostic, ...]) -> CompiledArtifact:
    """Assemble the artifact and its hashes."""
    return CompiledArtifact(
        policy_id=ir.policy_id, version=ir.version, description=ir.description,
        policy_hash=policy_hash(sources), plan_hash=content_hash(plan), sources=sources,
        ir=ir, plan=plan, diagnostics=diagnostics,
    )


def to_json(artifact: CompiledArtifact) -> str:
    """Serialize byte-identically for identical input."""
    return json.dumps(artifact.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_artifact(artifact: CompiledArtifact, path: str | Path) -> None:
    """Write the artifact atomically (temp file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_json(artifact), encoding="utf-8")
    tmp.replace(path)


def read_artifact(path: str | Path) -> CompiledArtifact:
    """Load an artifact, refusing other schema versions with a clear error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read artifact {path}: {exc}") from None
    found = data.get("schema_version") if isinstance(data, dict) else None
    if found != SCHEMA_VERSION:
        raise ArtifactError(f"{path} has schema_version {found!r}; this tenet reads {SCHEMA_VERSION}. "
                            "Recompile the policy with this version of tenet.")
    try:
        return CompiledArtifact.model_validate(data)
    except ValidationError as exc:
        raise ArtifactError(f"{path} is not a valid tenet artifact: {exc.error_count()} problem(s), "
                            f"first at {'.'.join(map(str, exc.errors()[0]['loc']))}") from None


def json_schema() -> dict:
    """The JSON Schema of the artifact, generated from the models."""
    return CompiledArtifact.model_json_schema()
