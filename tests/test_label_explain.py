"""`tenet explain POLICY --prompt P --response R`: every rule's vote, why, the source line of its
condition, and the matched text marked «…»."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from tenet.compiler import ir
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.semantics import Sample
from tenet.runtime.cli import main
from tenet.runtime.console import Console
from tenet.runtime.label.explain import explain, highlight, render

pytest_plugins = ["tiny_models"]

REPO = Path(__file__).resolve().parent.parent
ENGINE = "tests/fixtures/label/engine.policy"
JUDGE = "tests/fixtures/label/judge.policy"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    """Policies are given repo-relative, so the printed `file:line` is stable."""
    monkeypatch.chdir(REPO)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def line_of(path: str, needle: str) -> int:
    lines = (REPO / path).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def blocks(output: str) -> dict[str, list[str]]:
    """Rule id -> the lines of its block."""
    out: dict[str, list[str]] = {}
    for block in output.split("\n\n")[1:]:
        lines = block.splitlines()
        out[lines[0].split()[1]] = lines
    return out


def test_explain_prints_votes_source_lines_and_marked_matches():
    code, stdout, stderr = cli("explain", ENGINE, "--prompt", "formal request",
                               "--response", "Sure :) your password")
    assert code == 1, stderr  # a BAD verdict exits 1
    assert stdout.splitlines()[0] == "verdict: BAD (score 0.00) — breaks no-secrets (critical) and 1 more"
    rules = blocks(stdout)
    # precedence order: critical first, then high, medium (declaration order), low
    assert list(rules) == ["no-secrets", "formal-no-smileys", "prefer-thanks", "avoid-shouting",
                           "smileys-welcome"]
    assert rules["no-secrets"] == [
        "BAD     no-secrets (critical, forbid) — condition holds",
        f"        {ENGINE}:{line_of(ENGINE, 'forbid response mentions')}: "
        'forbid response mentions "password"',
        "        response: Sure :) your «password»",
    ]
    assert rules["formal-no-smileys"][0] == "BAD     formal-no-smileys (high, forbid) — condition holds"
    assert rules["formal-no-smileys"][1] == \
        f'        {ENGINE}:{line_of(ENGINE, "forbid response contains")}: forbid response contains ":)"'
    assert rules["formal-no-smileys"][2] == "        response: Sure «:)» your password"
    assert rules["prefer-thanks"][0] == \
        "ABSTAIN prefer-thanks (medium, prefer) — soft rule: its condition did not decide"
    assert len(rules["prefer-thanks"]) == 2  # nothing matched, so no marked text
    assert rules["smileys-welcome"][0] == \
        "ABSTAIN smileys-welcome (low, require) — shadowed by formal-no-smileys"


def test_explain_out_of_scope_and_condition_reasons():
    code, stdout, _ = cli("explain", ENGINE, "--prompt", "casual", "--response", "THANKS a lot")
    assert code == 1
    # Two rules are broken, so the row is BAD however the weights fall: (8 + 1) / (8 + 1 + 1 + 1).
    assert stdout.splitlines()[0] == "verdict: BAD (score 0.82) — breaks avoid-shouting (medium) and 1 more"
    rules = blocks(stdout)
    assert rules["formal-no-smileys"][0].startswith("ABSTAIN formal-no-smileys (high, forbid) — out of scope")
    assert rules["no-secrets"][0] == "GOOD    no-secrets (critical, forbid) — condition does not hold"
    assert rules["avoid-shouting"][0] == "BAD     avoid-shouting (medium, avoid) — condition holds"
    assert rules["avoid-shouting"][2] == "        response: «THANKS» a lot"
    assert rules["smileys-welcome"][0] == "BAD     smileys-welcome (low, require) — condition does not hold"


def test_explain_marks_matches_in_multiline_text_on_one_line():
    code, stdout, _ = cli("explain", ENGINE, "--prompt", "hi", "--response", "line one\nthe password\nend")
    assert code == 1
    assert "        response: line one\\nthe «password»\\nend" in stdout


def test_explain_api_matches_the_labeler():
    artifact = compile_policy(ENGINE).artifact
    sample = Sample("formal", "thanks :)")
    explanations, verdict, score = explain(artifact, sample)
    by_id = {e.rule.id: e for e in explanations}
    assert [e.rule.precedence for e in explanations] == sorted(e.rule.precedence for e in explanations)
    assert by_id["formal-no-smileys"].vote == ir.BAD and by_id["formal-no-smileys"].span == (7, 9)
    assert by_id["prefer-thanks"].vote == ir.GOOD and by_id["prefer-thanks"].span == (0, 6)
    assert by_id["smileys-welcome"].vote == ir.ABSTAIN
    # formal-no-smileys is broken: BAD, though the critical and the soft rule vote GOOD.
    assert verdict == ir.BAD and score == pytest.approx((8 + 1) / (8 + 4 + 1))
    assert by_id["no-secrets"].source_line.strip() == 'forbid response mentions "password"'


def test_explain_a_high_violation_is_not_outvoted_by_passing_critical_rules(tmp_path):
    """The std safety module's critical rules keep, the local high rule breaks: the row is BAD."""
    policy = tmp_path / "mail.policy"
    policy.write_text('dsl 1\npolicy mail version "1"\nimport "std/safety.policy"\n\n'
                      "rule no-emails (high):\n  forbid response contains email\n", encoding="utf-8")
    code, stdout, stderr = cli("explain", policy, "--prompt", "Email billing@northwind.com.",
                               "--response", "Email billing@northwind.com.")
    assert code == 1, stderr
    assert stdout.splitlines()[0].startswith("verdict: BAD (score ")
    assert stdout.splitlines()[0].endswith(" — breaks no-emails (high)")
    assert blocks(stdout)["no-emails"][0] == "BAD     no-emails (high, forbid) — condition holds"


def test_highlight():
    assert highlight("a password here", (2, 10), color=False) == "a «password» here"
    assert highlight("a password", (2, 10), color=True) == "a \033[7mpassword\033[0m"
    assert highlight("x\ny", (0, 1), color=False) == "«x»\\ny"


def test_explain_with_context_turns():
    artifact = compile_policy(JUDGE).artifact
    engine = compile_policy(ENGINE).artifact
    sample = Sample("second question", "fine", (("user", "formal first"), ("assistant", "your password")))
    explanations, verdict, _ = explain(engine, sample)
    assert {e.rule.id: e.vote for e in explanations}["no-secrets"] == ir.GOOD  # only the last response counts
    assert artifact.ir.rules  # the judge policy compiles too


def test_explain_judge_rules_with_a_tiny_judge(tmp_path, tiny_llama_no_scores, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    policy = tmp_path / "judge.policy"
    policy.write_text((REPO / JUDGE).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "models").mkdir()
    shutil.copytree(tiny_llama_no_scores, tmp_path / "models" / "judge")
    code, stdout, stderr = cli("explain", policy, "--prompt", "Open?", "--response", "Yes")
    assert code == 1, stderr
    rules = blocks(stdout)
    assert rules["judged-require"][0] == \
        "BAD     judged-require (high, require) — decided by a model score (no verdict counts as BAD)"
    assert rules["judged-by-text-first"][0] == \
        "GOOD    judged-by-text-first (medium, forbid) — condition does not hold"


def test_explain_missing_judge_model_is_a_usage_error(tmp_path):
    policy = tmp_path / "judge.policy"
    policy.write_text((REPO / JUDGE).read_text(encoding="utf-8"), encoding="utf-8")
    code, _, stderr = cli("explain", policy, "--prompt", "p", "--response", "r")
    assert code == 2 and stderr.startswith("error:") and "Traceback" not in stderr


def test_missing_judge_model_error_names_the_model(tmp_path):
    policy = tmp_path / "judge.policy"
    policy.write_text((REPO / JUDGE).read_text(encoding="utf-8"), encoding="utf-8")
    code, _, stderr = cli("explain", policy, "--prompt", "p", "--response", "r")
    assert code == 2 and "models/judge" in stderr


def test_explain_reason_for_a_judge_in_the_scope():
    artifact = compile_policy(JUDGE).artifact

    def no_verdict(pred, texts):
        return [None] * len(texts)

    explanations, _, _ = explain(artifact, Sample("Is it?", "Open?"), no_verdict)
    scoped = next(e for e in explanations if e.rule.id == "judged-scope")
    assert scoped.vote == ir.BAD
    assert scoped.reason == "decided by a model score (no verdict counts as BAD)"


def test_explain_render_api_without_sources():
    artifact = compile_policy(ENGINE).artifact
    sample = Sample("p", "password")
    explanations, verdict, score = explain(artifact, sample)
    text = render(explanations, verdict, score, sample)
    assert text.startswith("verdict: BAD") and "«password»" in text
