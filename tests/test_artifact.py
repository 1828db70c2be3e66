"""The compiled artifact: determinism, schema version, fingerprints, reading back, JSON Schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tenet.compiler.artifact import (
    SCHEMA_VERSION,
    ArtifactError,
    CompiledArtifact,
    json_schema,
    read_artifact,
    to_json,
    write_artifact,
)
from tenet.compiler.pipeline import compile_policy
from helpers import FIXTURES, PROMPTS, REPO, compile_rel, rel, write_policy

PASSES = FIXTURES / "passes"

POLICY = """dsl 1
policy fp version "1"

rule bullets (high):
  "Answer list requests with bullet points."
  when prompt matches /\\blist\\b/i
  require response matches /^- /m
  because "Prose lists were rated poor."
  tags S1
  example:
    prompt "List two things."
    good "- a\\n- b"
    bad "a and b"

rule no-todo (medium):
  forbid response contains "TODO"
  example:
    prompt "Draft it."
    good "Done."
    bad "TODO"
"""


def compiled(tmp_path: Path, body: str, name: str = "p.policy") -> CompiledArtifact:
    result = compile_policy(write_policy(tmp_path, name, body))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


def fingerprints(artifact: CompiledArtifact) -> dict[str, dict[str, str]]:
    return {r.id: r.fingerprint.model_dump() for r in artifact.ir.rules}


# --- determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["support", "predicates", "training"])
def test_same_input_gives_byte_identical_json(name: str, in_repo: Path) -> None:
    first = to_json(compile_rel(PASSES / f"{name}.policy").artifact)
    second = to_json(compile_rel(PASSES / f"{name}.policy").artifact)
    assert first == second
    assert first.endswith("\n")


def test_json_is_identical_across_processes_and_hash_seeds(in_repo: Path) -> None:
    script = ("from tenet.compiler.pipeline import compile_policy; from tenet.compiler.artifact import to_json; "
              f"import sys; sys.stdout.write(to_json(compile_policy({rel(PASSES / 'support.policy')!r}).artifact))")
    outputs = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True,
                              text=True, check=True, timeout=60)
        outputs.add(proc.stdout)
    outputs.add(to_json(compile_rel(PASSES / "support.policy").artifact))
    assert len(outputs) == 1


def test_artifact_carries_schema_version_and_hashes(in_repo: Path) -> None:
    artifact = compile_rel(PASSES / "support.policy").artifact
    data = json.loads(to_json(artifact))
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["policy_id"] == "acme-support"
    assert data["version"] == "2026.11.2"
    for key in ("policy_hash", "plan_hash"):
        assert len(data[key]) == 64 and int(data[key], 16) >= 0
    assert [Path(s["path"]).name for s in data["sources"]] == ["lexicon.policy", "base.policy", "support.policy"]
    assert [s["via"] for s in data["sources"]] == ["import", "extends", None]
    for rule in data["ir"]["rules"]:
        assert set(rule["fingerprint"]) == {"semantic", "examples", "metadata"}


def test_policy_hash_depends_on_content_not_location(tmp_path: Path) -> None:
    a = compiled(tmp_path, POLICY, "a/p.policy")
    b = compiled(tmp_path, POLICY, "b/other-name.policy")
    c = compiled(tmp_path, POLICY.replace('version "1"', 'version "2"'), "c/p.policy")
    assert a.policy_hash == b.policy_hash
    assert a.policy_hash != c.policy_hash
    assert a.plan_hash == b.plan_hash


def test_plan_hash_follows_the_plan(tmp_path: Path) -> None:
    a = compiled(tmp_path, POLICY, "a.policy")
    b = compiled(tmp_path, POLICY + PROMPTS + "\ntraining:\n  pairs = 10\n", "b.policy")
    c = compiled(tmp_path, POLICY.replace("Prose lists", "Prose answers"), "c.policy")
    assert a.plan_hash != b.plan_hash
    assert a.plan_hash == c.plan_hash  # a rationale edit does not change the plan


# --- fingerprints change in the right component only ---------------------------------------------


def changed_components(tmp_path: Path, edited: str) -> dict[str, set[str]]:
    old, new = fingerprints(compiled(tmp_path, POLICY, "old.policy")), fingerprints(compiled(tmp_path, edited, "new.policy"))
    return {rule: {k for k in old[rule] if old[rule][k] != new[rule][k]} for rule in old}


@pytest.mark.parametrize(("old", "new", "component"), [
    ('"Answer list requests with bullet points."', '"Use bullet points for lists."', "metadata"),
    ('because "Prose lists were rated poor."', 'because "Prose was rated poor."', "metadata"),
    ("tags S1", "tags S2", "metadata"),
    ("require response matches /^- /m", "require response matches /^[-*] /m", "semantic"),
    ("when prompt matches /\\blist\\b/i", "when prompt matches /\\b(list|enumerate)\\b/i", "semantic"),
    ("require response", "prefer response", "semantic"),
    ('good "- a\\n- b"', 'good "- a\\n- c"', "examples"),
    ('prompt "List two things."', 'prompt "List 2 things."', "examples"),
])
def test_fingerprint_component(tmp_path: Path, old: str, new: str, component: str) -> None:
    assert POLICY.count(old) == 1
    changes = changed_components(tmp_path, POLICY.replace(old, new))
    assert changes == {"bullets": {component}, "no-todo": set()}


def test_severity_is_metadata_in_the_fingerprint(tmp_path: Path) -> None:
    changes = changed_components(tmp_path, POLICY.replace("rule no-todo (medium)", "rule no-todo (low)"))
    assert changes == {"bullets": set(), "no-todo": {"metadata"}}


def test_moving_a_rule_or_reformatting_changes_no_fingerprint(tmp_path: Path) -> None:
    head, bullets, todo = POLICY.split("\nrule ")
    moved = head + "\n\n# reordered and spaced out\n\nrule " + todo + "\n\nrule " + bullets
    assert changed_components(tmp_path, moved) == {"bullets": set(), "no-todo": set()}


def test_regex_via_let_has_the_same_fingerprint_as_inline(tmp_path: Path) -> None:
    via_let = POLICY.replace("require response matches /^- /m", "require response matches bullet") \
        .replace('policy fp version "1"\n', 'policy fp version "1"\nlet bullet = /^- /m\n')
    assert changed_components(tmp_path, via_let) == {"bullets": set(), "no-todo": set()}


# --- reading artifacts back ------------------------------------------------------------------------


def test_write_then_read_round_trips(tmp_path: Path, in_repo: Path) -> None:
    artifact = compile_rel(PASSES / "predicates.policy").artifact
    path = tmp_path / "a.json"
    write_artifact(artifact, path)
    assert read_artifact(path) == artifact
    assert to_json(read_artifact(path)) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_read_refuses_other_schema_versions(tmp_path: Path, version) -> None:
    data = json.loads(to_json(compiled(tmp_path, POLICY)))
    data["schema_version"] = version
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError) as info:
        read_artifact(path)
    assert str(info.value) == (f"{path} has schema_version {version!r}; this tenet reads 1. "
                               "Recompile the policy with this version of tenet.")


def test_read_refuses_missing_schema_version(tmp_path: Path) -> None:
    data = json.loads(to_json(compiled(tmp_path, POLICY)))
    del data["schema_version"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="has schema_version None; this tenet reads 1"):
        read_artifact(path)


def test_read_reports_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read artifact"):
        read_artifact(tmp_path / "missing.json")
    (tmp_path / "garbage.json").write_text("{{{")
    with pytest.raises(ArtifactError, match="cannot read artifact"):
        read_artifact(tmp_path / "garbage.json")
    data = json.loads(to_json(compiled(tmp_path, POLICY)))
    del data["ir"]["rules"][0]["fingerprint"]
    (tmp_path / "broken.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"is not a valid tenet artifact: 1 problem\(s\), first at ir.rules.0.fingerprint"):
        read_artifact(tmp_path / "broken.json")


def test_read_refuses_unknown_fields(tmp_path: Path) -> None:
    data = json.loads(to_json(compiled(tmp_path, POLICY)))
    data["surprise"] = True
    (tmp_path / "extra.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="first at surprise"):
        read_artifact(tmp_path / "extra.json")


# --- JSON Schema --------------------------------------------------------------------------------


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**root["$defs"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def validate(value, schema: dict, root: dict, where: str = "$") -> list[str]:
    """A small structural JSON Schema check: $ref, anyOf/oneOf, type, const/enum, objects, arrays."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            results = [validate(value, option, root, where) for option in schema[key]]
            return [] if any(not r for r in results) else [f"{where}: matches no {key} option"]
    problems: list[str] = []
    kind = schema.get("type")
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is not None:
        ok = isinstance(value, _TYPES[kind])
    else:
        ok = True
    if not ok:
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in enum")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: missing required {key!r}")
        for key, item in value.items():
            if key in props:
                problems += validate(item, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}: unexpected key {key!r}")
    if isinstance(value, list):
        prefix = schema.get("prefixItems")
        if prefix is not None:
            for i, (item, sub) in enumerate(zip(value, prefix)):
                problems += validate(item, sub, root, f"{where}[{i}]")
        elif isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                problems += validate(item, schema["items"], root, f"{where}[{i}]")
    return problems


def test_json_schema_is_for_this_schema_version() -> None:
    schema = json_schema()
    assert schema["type"] == "object"
    assert schema["properties"]["schema_version"]["const"] == 1
    assert {"policy_id", "version", "policy_hash", "plan_hash", "sources", "ir", "plan"} <= set(schema["required"])


@pytest.mark.parametrize("name", ["support", "predicates", "training", "defaults", "precedence"])
def test_artifact_validates_against_its_json_schema(name: str, in_repo: Path) -> None:
    schema = json_schema()
    data = json.loads(to_json(compile_rel(PASSES / f"{name}.policy").artifact))
    assert set(schema["required"]) <= set(data)
    assert set(data) <= set(schema["properties"])
    assert validate(data, schema, schema) == []


def test_schema_check_catches_structural_damage(tmp_path: Path) -> None:
    schema = json_schema()
    data = json.loads(to_json(compiled(tmp_path, POLICY)))
    del data["plan_hash"]
    data["ir"]["rules"][0]["severity"] = "urgent"
    data["ir"]["rules"][1]["check"]["kind"] = "nonsense"
    problems = validate(data, schema, schema)
    assert "$: missing required 'plan_hash'" in problems
    assert any(p.startswith("$.ir.rules[0].severity") for p in problems)
    assert any(p.startswith("$.ir.rules[1].check") for p in problems)
