"""Golden files for each compiler stage over the fixtures in tests/fixtures/passes/.

For every `<name>.policy` there are four goldens:
  <name>.parse.json  the entry file's AST (spans included, paths repo-relative)
  <name>.check.txt   every diagnostic, rendered as the author sees it (may be empty)
  <name>.lower.json  the IR after the IR passes (what the artifact carries)
  <name>.plan.json   the training plan
Regenerate with `pytest tests/test_passes_golden.py --update-goldens` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.compiler.parse import parse
from conftest import check_golden
from helpers import FIXTURES, compile_rel, dumps, rel, rendered, stable

PASSES = FIXTURES / "passes"
POLICIES = sorted(PASSES.glob("*.policy"), key=lambda p: p.name)


def golden(policy: Path, suffix: str) -> Path:
    return policy.with_name(policy.stem + suffix)


def test_fixture_set_is_present() -> None:
    names = {p.stem for p in POLICIES}
    assert {"lexicon", "base", "support", "predicates", "training", "defaults", "precedence"} <= names


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_parse_golden(policy: Path, in_repo: Path, update_goldens: bool) -> None:
    tree = parse(policy.read_text(encoding="utf-8"), rel(policy))
    check_golden(golden(policy, ".parse.json"), stable(dumps(tree.model_dump(mode="json"))), update_goldens)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_check_golden(policy: Path, in_repo: Path, update_goldens: bool) -> None:
    result = compile_rel(policy)
    text = rendered(result)
    check_golden(golden(policy, ".check.txt"), text + "\n" if text else "", update_goldens)


@pytest.mark.parametrize("part,suffix", [("ir", ".lower.json"), ("plan", ".plan.json")], ids=["lower", "plan"])
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_artifact_golden(policy: Path, part: str, suffix: str, in_repo: Path, update_goldens: bool) -> None:
    """The artifact's IR (`.lower.json`) and plan (`.plan.json`)."""
    result = compile_rel(policy)
    assert result.ok, rendered(result)
    check_golden(golden(policy, suffix),
                 stable(dumps(getattr(result.artifact, part).model_dump(mode="json"))), update_goldens)


def test_goldens_hold_no_absolute_paths() -> None:
    for path in PASSES.glob("*.*"):
        if path.suffix in (".json", ".txt"):
            text = path.read_text(encoding="utf-8")
            assert str(FIXTURES.parent.parent) not in text, path
            assert "<repo>" not in text, f"{path}: a span escaped the relative-path convention"


def test_every_fixture_policy_has_all_goldens() -> None:
    for policy in POLICIES:
        for suffix in (".parse.json", ".check.txt", ".lower.json", ".plan.json"):
            assert golden(policy, suffix).exists(), golden(policy, suffix)


def test_fixtures_cover_every_construct() -> None:
    """Guard the fixture set itself: every keyword-level construct appears somewhere."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in POLICIES)
    for construct in ("import \"", "extends \"", "override rule", "taxonomy ", "exact words(",
                      "exemplars(", "let ticket-id = /", "matches /", "mentions \"", "contains \"",
                      "starts with", "ends with", "at most", "at least", "exactly", "more than",
                      "fewer than", "between", " words", " sentences", " lines", " bullets",
                      " characters", "is json", "contains email", "contains link",
                      "contains phone number", "is a refusal", "sentiment(", "similarity(",
                      "classifier(", "judge(", " and ", " or ", "not ", "require ", "forbid ",
                      "prefer ", "avoid ", "when ", "unless ", "conversation ", "any prompt",
                      "any response", "user \"", "assistant \"", "prompts:", "template \"",
                      "slot ", "file \"", "column \"", "training:", "gate critical", "gate high",
                      "gate medium", "gate low", "gate overall", "gate regression", "gate drift",
                      "gate rule", "because \"", "tags "):
        assert construct in text, construct
