"""Every shipped policy under policies/ (globbed at test time) compiles cleanly and, together,
the organization policies exercise every predicate kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.compiler import ir
from tenet.compiler.diagnostics import Severity, render_all
from tenet.compiler.link import BASE_AUTHORITY
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.walk import atoms
from helpers import REPO, run_cli

POLICIES = REPO / "policies"
STD = POLICIES / "std"
ATOM_KINDS = {"regex", "keywords", "text", "count", "json", "pii", "refusal", "score"}
SCORE_FNS = {"sentiment", "similarity", "classifier", "judge"}


def shipped() -> list[Path]:
    return sorted(POLICIES.glob("**/*.policy"))


def organization_policies() -> list[Path]:
    return [p for p in shipped() if not p.is_relative_to(STD)]


def std_module_paths() -> set[str]:
    return {str(p.resolve()) for p in STD.glob("**/*.policy")}


@pytest.fixture(scope="module")
def compiled() -> dict[Path, object]:
    return {path: compile_policy(path) for path in shipped()}


def test_every_shipped_policy_compiles_without_errors_or_warnings(compiled) -> None:
    if not compiled:
        pytest.skip("no shipped policies yet")
    for path, result in compiled.items():
        bad = [d for d in result.diagnostics if d.severity in (Severity.ERROR, Severity.WARNING)]
        assert result.ok and not bad, f"{path}:\n{render_all(bad, result.sources)}"


def test_tenet_check_accepts_every_shipped_policy() -> None:
    paths = shipped()
    if not paths:
        pytest.skip("no shipped policies yet")
    for path in paths:
        code, out, err = run_cli(["check", str(path)])
        assert code == 0, err
        assert out.endswith("warnings)\n") and ", 0 warnings)" in out, out


def org_rules(compiled) -> dict[tuple[str, str], ir.RuleIR]:
    """Rules defined in organization policies (not in the standard library), by (module, id)."""
    std = std_module_paths()
    std_ids = set()
    for path, result in compiled.items():
        if str(path.resolve()) in std and result.ok:
            std_ids |= {(r.module, r.id) for r in result.artifact.ir.rules}
    rules = {}
    for path in organization_policies():
        result = compiled[path]
        if result.ok:
            rules.update({(r.module, r.id): r for r in result.artifact.ir.rules if (r.module, r.id) not in std_ids})
    return rules


def test_organization_policies_have_at_least_30_rules(compiled) -> None:
    if not organization_policies():
        pytest.skip("no organization policies yet")
    rules = sorted(f"{module}/{rule_id}" for module, rule_id in org_rules(compiled))
    assert len(rules) >= 30, f"only {len(rules)} organization rules: {rules}"


def test_organization_policies_use_every_predicate_kind(compiled) -> None:
    if not organization_policies():
        pytest.skip("no organization policies yet")
    kinds, fns = set(), set()
    for rule in org_rules(compiled).values():
        for pred in (rule.check, *([rule.when] if rule.when else []), *rule.unless):
            for atom in atoms(pred):
                kinds.add(atom.kind)
                if isinstance(atom, ir.ScorePred):
                    fns.add(atom.fn)
    assert ATOM_KINDS - kinds == set(), f"predicate kinds never used: {sorted(ATOM_KINDS - kinds)}"
    assert SCORE_FNS - fns == set(), f"score functions never used: {sorted(SCORE_FNS - fns)}"


def test_std_safety_covers_the_llama_guard_categories(compiled) -> None:
    safety = STD / "safety.policy"
    if not safety.exists():
        pytest.skip("policies/std/safety.policy not written yet")
    result = compiled[safety]
    assert result.ok
    tags = {tag for rule in result.artifact.ir.rules for tag in rule.tags}
    assert {f"S{i}" for i in range(1, 15)} <= tags


def test_std_import_resolves_from_anywhere(tmp_path: Path) -> None:
    if not (STD / "safety.policy").exists():
        pytest.skip("policies/std/safety.policy not written yet")
    policy = tmp_path / "org.policy"
    policy.write_text('dsl 1\npolicy org version "1"\nimport "std/safety.policy"\n', encoding="utf-8")
    result = compile_policy(policy)
    assert result.ok, render_all(list(result.diagnostics), result.sources)
    assert result.artifact.ir.rules
    assert all(r.authority == BASE_AUTHORITY for r in result.artifact.ir.rules)


def test_shipped_policies_are_in_canonical_format() -> None:
    """`tenet fmt --check` passes on every shipped policy."""
    from tenet.compiler.fmt import format_source

    paths = sorted((REPO / "policies").rglob("*.policy"))
    if not paths:
        pytest.skip("no shipped policies yet")
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert format_source(text, str(path)) == text, f"run `tenet fmt {path}`"


def test_example_policies_compile_cleanly_and_are_formatted():
    """The demo's training policy and the update-cycle story are policies users copy: keep them clean."""
    import io

    from tenet.runtime.cli import main
    from tenet.runtime.console import Console

    repo = Path(__file__).resolve().parent.parent
    paths = [repo / "examples" / "demo" / "acme-chat.policy",
             *sorted((repo / "examples" / "update_cycles").glob("v*.policy"))]
    assert len(paths) == 4
    for path in paths:
        result = compile_policy(str(path))
        assert result.ok and not result.diagnostics, (path, [d.message for d in result.diagnostics])
    out = io.StringIO()
    assert main(["fmt", "--check", *map(str, paths)], Console(out=out, err=out)) == 0, out.getvalue()
