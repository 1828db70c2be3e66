"""Semantic diff: added / removed / changed rules, classified as compiler/diff.py defines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.diff import ChangeCategory, PolicyDiff, RuleChange, diff_artifacts
from tenet.compiler.pipeline import compile_policy
from helpers import PROMPTS, run_cli, write_policy

BREAKING, NON_BREAKING, METADATA = ChangeCategory.BREAKING, ChangeCategory.NON_BREAKING, ChangeCategory.METADATA

OLD = """dsl 1
policy shop version "1.0"

rule no-todo (high):
  "No placeholders."
  forbid response contains "TODO"
  because "Drafts leaked to customers."
  tags S1
  example:
    prompt "Draft it."
    good "Done."
    bad "TODO"

rule polite (medium):
  avoid response mentions words("stupid")
  example:
    prompt "Rate me."
    good "Nice work."
    bad "Stupid idea."

rule short (low):
  require response has at most 100 words
  example:
    prompt "Hi"
    good "Hello."
""" + PROMPTS

EXTRA = """
rule no-links (critical):
  forbid response contains link
  example:
    prompt "Docs?"
    good "See the Help menu."
    bad "See https://x.example"
"""


def artifact(tmp_path: Path, body: str, name: str) -> CompiledArtifact:
    result = compile_policy(write_policy(tmp_path, name, body))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


def diff(tmp_path: Path, new: str, old: str = OLD) -> PolicyDiff:
    return diff_artifacts(artifact(tmp_path, old, "old.policy"), artifact(tmp_path, new, "new.policy"))


def edit(old: str, new: str, base: str = OLD) -> str:
    assert base.count(old) == 1, old
    return base.replace(old, new)


def test_identical_policies_have_no_changes(tmp_path: Path) -> None:
    result = diff(tmp_path, OLD)
    assert result == PolicyDiff(old_version="1.0", new_version="1.0", rules=())
    assert not result.changed
    assert result.summary() == "+0 -0 ~0 rules (0 breaking)"


def test_version_or_layout_alone_is_no_change(tmp_path: Path) -> None:
    new = edit('version "1.0"', 'version "1.1"').replace("\nrule ", "\n\n# spaced\nrule ")
    result = diff(tmp_path, new)
    assert (result.old_version, result.new_version, result.rules, result.changed) == ("1.0", "1.1", (), False)


def test_added_rule_is_non_breaking(tmp_path: Path) -> None:
    result = diff(tmp_path, OLD + EXTRA)
    assert result.rules == (RuleChange(rule="no-links", change="added", category=NON_BREAKING),)
    assert result.changed


def test_removed_rule_is_breaking(tmp_path: Path) -> None:
    result = diff(tmp_path, OLD, old=OLD + EXTRA)
    assert result.rules == (RuleChange(rule="no-links", change="removed", category=BREAKING),)


@pytest.mark.parametrize(("old", "new", "category", "fields"), [
    ('forbid response contains "TODO"', 'forbid response contains "TODO" or response contains "TBD"',
     BREAKING, ("condition",)),
    ('rule no-todo (high):\n  "No placeholders."\n  forbid', 'rule no-todo (high):\n  "No placeholders."\n  avoid',
     BREAKING, ("condition",)),
    ('  because "Drafts', '  unless prompt contains "template"\n  because "Drafts', BREAKING, ("condition",)),
    ("rule no-todo (high)", "rule no-todo (critical)", NON_BREAKING, ("severity",)),
    ('good "Done."', 'good "Finished."', NON_BREAKING, ("examples",)),
    ('    bad "TODO"\n', '    bad "TODO"\n  example:\n    prompt "Again."\n    bad "TODO later"\n',
     NON_BREAKING, ("examples",)),
    ('"No placeholders."', '"Never ship placeholders."', METADATA, ("description",)),
    ('because "Drafts leaked to customers."', 'because "Drafts leaked."', METADATA, ("because",)),
    ("tags S1", "tags S1, S2", METADATA, ("tags",)),
    ('  "No placeholders."\n', "", METADATA, ("description",)),
])
def test_changed_rule_classification(tmp_path: Path, old: str, new: str, category, fields) -> None:
    result = diff(tmp_path, edit(old, new))
    assert result.rules == (RuleChange(rule="no-todo", change="changed", category=category, fields=fields),)


def test_mixed_changes_take_the_most_severe_category(tmp_path: Path) -> None:
    new = edit('forbid response contains "TODO"', 'forbid response contains "FIXME"')
    new = edit('bad "TODO"', 'bad "FIXME"', new)
    new = edit("rule no-todo (high)", "rule no-todo (low)", new)
    new = edit('"No placeholders."', '"No markers."', new)
    result = diff(tmp_path, new)
    assert result.rules == (RuleChange(rule="no-todo", change="changed", category=BREAKING,
                                       fields=("condition", "severity", "examples", "description")),)


def test_severity_and_metadata_is_non_breaking(tmp_path: Path) -> None:
    new = edit("rule polite (medium)", "rule polite (high)")
    new = edit('avoid response mentions words("stupid")', 'avoid response mentions words("stupid")\n  tags S1', new)
    (change,) = diff(tmp_path, new).rules
    assert (change.category, change.fields) == (NON_BREAKING, ("severity", "tags"))


def test_changes_are_ordered_by_category_then_rule(tmp_path: Path) -> None:
    new = edit('"No placeholders."', '"Nope."')  # no-todo: metadata
    new = edit('avoid response mentions words("stupid")', 'avoid response mentions words("dumb")', new)
    new = edit('bad "Stupid idea."', 'bad "Dumb idea."', new)  # polite: breaking
    new = edit('good "Hello."', 'good "Hello there."', new)  # short: non-breaking
    new += EXTRA  # no-links: added, non-breaking
    result = diff(tmp_path, new)
    assert [(c.rule, c.change, c.category) for c in result.rules] == [
        ("polite", "changed", BREAKING),
        ("no-links", "added", NON_BREAKING),
        ("short", "changed", NON_BREAKING),
        ("no-todo", "changed", METADATA),
    ]
    # The first critical rule brings the default critical gate with it.
    assert result.summary() == "+1 -0 ~3 rules (1 breaking); training: gates"


def test_renamed_rule_is_removed_plus_added(tmp_path: Path) -> None:
    result = diff(tmp_path, edit("rule short (low)", "rule brief (low)"))
    assert [(c.rule, c.change, c.category) for c in result.rules] == [
        ("short", "removed", BREAKING), ("brief", "added", NON_BREAKING)]


def test_training_changes_are_listed(tmp_path: Path) -> None:
    result = diff(tmp_path, OLD + "\ntraining:\n  pairs = 32\n  method = kto\n  gate high >= 0.9\n")
    assert result.rules == ()
    assert set(result.training_changed) == {"pairs", "method", "gates"}
    assert result.changed
    assert result.summary().startswith("+0 -0 ~0 rules (0 breaking); training: ")


def test_category_order_is_by_decreasing_severity() -> None:
    assert list(ChangeCategory) == [BREAKING, NON_BREAKING, METADATA]


def test_prompt_source_change_is_a_change(tmp_path: Path) -> None:
    result = diff(tmp_path, OLD + '\nprompts:\n  prompt "What is your refund policy?"\n')
    assert result.changed


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_diff_text_output_and_exit_code(tmp_path: Path) -> None:
    old = write_policy(tmp_path, "old.policy", OLD)
    new = write_policy(tmp_path, "new.policy", edit('version "1.0"', 'version "2.0"', OLD + EXTRA))
    code, out, err = run_cli(["diff", str(old), str(new)])
    assert (code, err) == (1, "")
    assert out.splitlines() == ["shop 1.0 -> shop 2.0: +1 -0 ~0 rules (0 breaking); training: gates",
                                f"  added    {'no-links':<32} non-breaking", "  training gates"]


def test_cli_diff_training_only(tmp_path: Path) -> None:
    old = write_policy(tmp_path, "old.policy", OLD)
    new = write_policy(tmp_path, "new.policy", OLD + "\ntraining:\n  pairs = 32\n")
    code, out, _ = run_cli(["diff", str(old), str(new)])
    assert code == 1
    assert out.splitlines() == ["shop 1.0 -> shop 1.0: +0 -0 ~0 rules (0 breaking); training: pairs",
                                "  training pairs"]


def test_cli_diff_identical_exits_0(tmp_path: Path) -> None:
    old = write_policy(tmp_path, "old.policy", OLD)
    new = write_policy(tmp_path, "new.policy", edit('version "1.0"', 'version "1.0.1"'))
    code, out, _ = run_cli(["diff", str(old), str(new)])
    assert code == 0
    assert out == "shop 1.0 -> shop 1.0.1: +0 -0 ~0 rules (0 breaking)\n"
