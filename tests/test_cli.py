"""The `tenet` CLI over the compiler: output formats and exit codes (0 ok, 1 policy, 2 usage/IO)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.artifact import to_json
from compiler.diagnostics import render_all
from compiler.pipeline import compile_policy
from helpers import CLEAN, FIXTURES, compile_rel, rel, run_cli, write_policy

PASSES = FIXTURES / "passes"
ERRORS = FIXTURES / "errors"


def no_traceback(*streams: str) -> None:
    for stream in streams:
        assert "Traceback" not in stream
        assert 'File "' not in stream


# --- check ---------------------------------------------------------------------------------


def test_check_clean_policy(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["check", str(policy)])
    assert (code, out, err) == (0, f"{policy}: ok (1 rules, 0 warnings)\n", "")


def test_check_policy_with_warnings_only_exits_0(in_repo: Path) -> None:
    path = rel(ERRORS / "W150-no-examples.policy")
    code, out, err = run_cli(["check", path])
    assert code == 0
    assert out == f"{path}: ok (1 rules, 1 warnings)\n"
    assert "warning[W150]" in err


def test_check_text_prints_rendered_diagnostics_and_a_count(in_repo: Path) -> None:
    path = ERRORS / "P001-several-syntax-errors.policy"
    result = compile_rel(path)
    code, out, err = run_cli(["check", rel(path)])
    assert code == 1
    assert out == ""
    assert err == render_all(list(result.diagnostics), result.sources) + "\n\n3 error(s), 0 warning(s)\n"


@pytest.mark.parametrize("fixture", ["P001-several-syntax-errors", "E104-unknown-name", "E130-impossible-count",
                                     "N132-shadowed-rule", "W172-missing-prompt-file", "L003-import-cycle"])
def test_check_json_matches_the_api(fixture: str, in_repo: Path) -> None:
    path = rel(ERRORS / f"{fixture}.policy")
    result = compile_policy(path)
    code, out, err = run_cli(["check", path, "--format", "json"])
    assert code == (0 if result.ok else 1)
    assert err == ""
    data = json.loads(out)
    assert data["ok"] is result.ok
    assert data["diagnostics"] == [d.model_dump(mode="json") for d in result.diagnostics]
    for diag in data["diagnostics"]:
        assert set(diag) == {"code", "severity", "message", "span", "hint"}
        assert diag["severity"] in ("error", "warning", "note")
        assert set(diag["span"]) == {"file", "line", "col", "end_line", "end_col", "start", "end"}


def test_check_json_on_clean_policy(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["check", str(policy), "--format", "json"])
    assert code == 0
    assert json.loads(out) == {"ok": True, "diagnostics": []}
    assert err == ""


def test_check_json_reports_hint_and_span_values(in_repo: Path) -> None:
    code, out, _ = run_cli(["check", rel(ERRORS / "E107-unknown-unit.policy"), "--format", "json"])
    assert code == 1
    (diag,) = json.loads(out)["diagnostics"]
    assert diag["code"] == "E107"
    assert diag["message"] == "unknown unit `wordz`"
    assert diag["hint"] == "did you mean `words`?"
    assert (diag["span"]["line"], diag["span"]["col"], diag["span"]["end_col"]) == (5, 35, 40)


def test_check_missing_policy_is_reported_without_traceback(tmp_path: Path) -> None:
    code, out, err = run_cli(["check", str(tmp_path / "missing.policy")])
    assert code in (1, 2)
    assert "L001" in err or "missing.policy" in err
    no_traceback(out, err)


def test_check_root_option(tmp_path: Path) -> None:
    write_policy(tmp_path, "lib/words.policy", 'dsl 1\npolicy lib version "1"\nlet w = words("x")\n')
    policy = write_policy(tmp_path, "org/main.policy", 'dsl 1\npolicy m version "1"\n'
                          'import "../lib/words.policy"\n' + CLEAN.split("\n", 2)[2])
    assert run_cli(["check", str(policy)])[0] == 1
    assert run_cli(["check", str(policy), "--root", str(tmp_path)])[0] == 0


# --- compile and plan -----------------------------------------------------------------------


def test_compile_writes_the_artifact(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    out_path = tmp_path / "clean.json"
    code, out, err = run_cli(["compile", str(policy), "-o", str(out_path)])
    assert code == 0, err
    artifact = compile_policy(policy).artifact
    assert out_path.read_text(encoding="utf-8") == to_json(artifact)
    assert out == f"wrote {out_path} (policy clean 1, hash {artifact.policy_hash[:12]})\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_compile_with_errors_writes_nothing(in_repo: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "x.json"
    code, _, err = run_cli(["compile", rel(ERRORS / "E104-unknown-name.policy"), "-o", str(out_path)])
    assert code == 1
    assert "error[E104]" in err
    assert not out_path.exists()


def test_compile_to_unwritable_path_is_a_usage_error(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["compile", str(policy), "-o", str(tmp_path / "no-such-dir" / "a.json")])
    assert code == 2
    assert err.startswith("error: cannot write ")
    no_traceback(out, err)


def test_plan_prints_the_stages(in_repo: Path) -> None:
    path = rel(PASSES / "defaults.policy")
    artifact = compile_policy(path).artifact
    code, out, err = run_cli(["plan", path])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"plan for minimal 0.1 (plan {artifact.plan_hash[:12]})",
        "  1. label       1 rules over rule examples",
        "  2. synthesize  256 pairs via sample, examples, perturb (eval split 0.25, length ratio <= 2.5, seed 42)",
        "  3. evaluate    base model before training on 24 held-out prompts (answers up to 256 tokens, capability guard: kl)",
        "  4. train       dpo (auto) on embedded:smollm2-135m-instruct: lr 0.001, beta 0.1, batch 4, LoRA r16, "
        "after 2 epochs of SFT warm-up",
        "  5. evaluate    trained model after training on 24 held-out prompts (answers up to 256 tokens, capability guard: kl)",
        "  6. gate        critical >= 0.99 (default); regression <= 0.02 (default)",
        "  7. register    model 'minimal', alias 'champion' if every gate passes",
    ]


def test_plan_of_broken_policy_exits_1(in_repo: Path) -> None:
    code, out, err = run_cli(["plan", rel(ERRORS / "E131-conflicting-rules.policy")])
    assert (code, out) == (1, "")
    assert "error[E131]" in err


# --- diff exit codes ---------------------------------------------------------------------------


def test_diff_identical_policies_exits_0(in_repo: Path) -> None:
    path = rel(PASSES / "support.policy")
    code, out, err = run_cli(["diff", path, path])
    assert (code, err) == (0, "")
    assert out == "acme-support 2026.11.2 -> acme-support 2026.11.2: +0 -0 ~0 rules (0 breaking)\n"


def test_diff_changed_policies_exits_1(tmp_path: Path) -> None:
    old = write_policy(tmp_path, "old.policy", CLEAN)
    new = write_policy(tmp_path, "new.policy", CLEAN.replace('"TODO"\n  example', '"FIXME"\n  example')
                       .replace('bad "TODO"', 'bad "FIXME"'))
    code, out, err = run_cli(["diff", str(old), str(new)])
    assert (code, err) == (1, "")
    assert out.splitlines() == ["clean 1 -> clean 1: +0 -0 ~1 rules (1 breaking)",
                                f"  changed  {'no-todo':<32} breaking (condition, examples)"]


def test_diff_json_format(tmp_path: Path) -> None:
    old = write_policy(tmp_path, "old.policy", CLEAN)
    new = write_policy(tmp_path, "new.policy", CLEAN.replace('rule no-todo (high)', 'rule no-todo (low)'))
    code, out, _ = run_cli(["diff", str(old), str(new), "--format", "json"])
    assert code == 1
    assert json.loads(out) == {
        "old_version": "1", "new_version": "1", "training_changed": [],
        "rules": [{"rule": "no-todo", "change": "changed", "category": "non-breaking", "fields": ["severity"]}],
    }


def test_diff_of_compiled_artifacts(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run_cli(["compile", str(policy), "-o", str(a)])[0] == 0
    assert run_cli(["compile", str(policy), "-o", str(b)])[0] == 0
    assert run_cli(["diff", str(a), str(b)])[0] == 0
    assert run_cli(["diff", str(a), str(policy)])[0] == 0


def test_diff_missing_json_is_a_usage_error(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["diff", str(tmp_path / "missing.json"), str(policy)])
    assert code == 2
    assert err.startswith(f"error: cannot read artifact {tmp_path / 'missing.json'}")
    no_traceback(out, err)


@pytest.mark.parametrize("payload", [
    {"schema_version": 2},
    {"schema_version": "1"},
    {"policy_id": "x"},
    [1, 2, 3],
])
def test_diff_artifact_with_wrong_schema_is_a_usage_error(tmp_path: Path, payload) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(payload))
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["diff", str(bad), str(policy)])
    assert code == 2
    assert "schema_version" in err and "this tenet reads 1" in err
    no_traceback(out, err)


def test_diff_artifact_that_is_not_json_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    code, out, err = run_cli(["diff", str(bad), str(bad)])
    assert code == 2
    no_traceback(out, err)


def test_diff_artifact_with_invalid_body_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "policy_id": "x"}))
    code, out, err = run_cli(["diff", str(bad), str(bad)])
    assert code == 2
    assert "is not a valid tenet artifact" in err
    no_traceback(out, err)


def test_diff_broken_policy_exits_1(in_repo: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(["diff", rel(ERRORS / "E104-unknown-name.policy"),
                              rel(PASSES / "defaults.policy")])
    assert code == 1
    assert "error[E104]" in err


# --- usage errors and the last line of defence ---------------------------------------------------


@pytest.mark.parametrize("argv", [
    [],
    ["no-such-command"],
    ["check"],
    ["check", "x.policy", "--format", "yaml"],
    ["compile", "x.policy"],
    ["diff", "only-one.policy"],
    ["--bogus-flag", "check", "x.policy"],
])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert "usage:" in captured.err
    no_traceback(out, err, captured.out, captured.err)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_cli(["--help"])
    assert code == 0
    assert "usage: tenet" in capsys.readouterr().out


def test_internal_error_has_no_traceback_without_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import runtime.cli

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime.cli, "compile_policy", explode)
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["check", str(policy)])
    assert code == 2
    assert err == "error: RuntimeError: boom (rerun with --debug for a traceback)\n"
    no_traceback(out, err)

    for argv in (["--debug", "check", str(policy)], ["check", str(policy), "--debug"]):
        code, out, err = run_cli(argv)
        assert code == 2
        assert "Traceback" in err and "RuntimeError: boom" in err
