"""The `tenet` CLI over the compiler: output formats and exit codes (0 ok, 1 policy, 2 usage/IO)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenet.compiler.artifact import to_json
from tenet.compiler.diagnostics import render_all
from tenet.compiler.pipeline import compile_policy
from helpers import CLEAN, FIXTURES, PROMPTS, compile_rel, rel, run_cli, write_policy

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
    assert json.loads(out) == {"ok": True, "diagnostics": [], "files": [
        {"file": str(policy), "ok": True, "rules": 1, "errors": 0, "warnings": 0, "notes": 0}]}
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


def test_plan_prints_the_stages(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "clean.policy", CLEAN + PROMPTS)
    artifact = compile_policy(path).artifact
    code, out, err = run_cli(["plan", str(path), "--work-dir", str(tmp_path / "work")])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"plan for clean 1 (plan {artifact.plan_hash[:12]})",
        "  1. label       1 rules over template 'How do I {task} my {product}?' (20 prompts), rule examples",
        "  2. synthesize  256 pairs via sample, examples, perturb (eval split 0.25, length ratio <= 2.5, seed 42)",
        "  3. evaluate    base model before training on 7 held-out prompts and 16 temptation prompts (up to 16 per rule) (answers up to 256 tokens, capability guard: kl)",
        "  4. train       dpo (auto) on embedded:smollm2-135m-instruct: lr 0.001, beta 0.1, batch 4, LoRA r16, "
        "after 2 epochs of SFT warm-up",
        "  5. evaluate    trained model after training on 7 held-out prompts and 16 temptation prompts (up to 16 per rule) (answers up to 256 tokens, capability guard: kl)",
        "  6. gate        regression <= 0.02 (default); helpfulness <= 0 (default)",
        "  7. register    model 'clean', alias 'champion' if every gate passes",
        "  fresh cycle: no champion yet; training starts from the base model",
    ]


def test_plan_counts_the_held_out_prompts_it_will_use_not_the_cap(tmp_path: Path) -> None:
    """`eval_prompts` caps the held-out prompts; the plan says how many there really are, up to it."""
    capped = write_policy(tmp_path, "capped.policy", CLEAN + PROMPTS + "\ntraining:\n  eval_prompts = 3\n")
    code, out, _ = run_cli(["plan", str(capped)])
    assert code == 0 and "before training on 3 held-out prompts and " in out
    one = write_policy(tmp_path, "one.policy", CLEAN + 'prompts:\n  prompt "Do you ship abroad?"\n')
    code, out, _ = run_cli(["plan", str(one)])
    assert code == 0 and "before training on 1 held-out prompt and " in out


def test_plan_with_a_prompt_file_says_up_to_the_cap(tmp_path: Path) -> None:
    (tmp_path / "traffic.jsonl").write_text('{"prompt": "Where is my order?"}\n', encoding="utf-8")
    path = write_policy(tmp_path, "files.policy", CLEAN + 'prompts:\n  file "traffic.jsonl"\n')
    code, out, _ = run_cli(["plan", str(path)])
    assert code == 0
    assert "before training on up to 24 held-out prompts and 16 temptation prompts" in out
    assert "(prompt files are read when the cycle runs; answers up to 256 tokens" in out


def test_check_passes_but_plan_refuses_a_policy_with_no_held_out_prompts(in_repo: Path) -> None:
    """A labeling-only policy (no `training:` block) checks, but nothing could evaluate a model of it."""
    path = rel(PASSES / "defaults.policy")
    code, out, err = run_cli(["check", path])
    assert (code, err) == (0, "")
    code, out, err = run_cli(["plan", path])
    assert (code, out) == (1, "")
    assert f"{path}:2:8: error[E173]: policy `minimal` has no held-out prompts" in err
    assert "add a `prompts:` block" in err


def test_compile_and_train_refuses_a_policy_with_no_held_out_prompts_before_loading_a_model(
        in_repo: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(["compile-and-train", rel(PASSES / "defaults.policy"), "--base-model",
                              str(tmp_path / "no-such-model"), "--work-dir", str(tmp_path / "work")])
    assert (code, out) == (1, "")
    assert "error[E173]" in err and "no-such-model" not in err
    assert not (tmp_path / "work").exists()


def test_compile_and_train_counts_the_held_out_rows_of_prompt_files_before_loading_a_model(tmp_path: Path) -> None:
    """The compiler cannot read prompt files; the cycle reads them first and refuses when none is held out."""
    (tmp_path / "traffic.jsonl").write_text('{"prompt": "Where is my order?"}\n', encoding="utf-8")
    path = write_policy(tmp_path, "files.policy", CLEAN + 'prompts:\n  file "traffic.jsonl"\n\ntraining:\n  seed = 42\n')
    assert compile_policy(path).ok  # the file's rows are unknown to the compiler
    code, out, err = run_cli(["compile-and-train", str(path), "--base-model", str(tmp_path / "no-such-model"),
                              "--work-dir", str(tmp_path / "work")])
    assert (code, out) == (1, "")
    assert "error[E173]: policy `clean` has no held-out prompts" in err
    assert "no-such-model" not in err  # refused before the model was looked up
    no_traceback(out, err)
    code, out, err = run_cli(["compile-and-train", str(path), "--format", "json", "--base-model",
                              str(tmp_path / "no-such-model"), "--work-dir", str(tmp_path / "work")])
    summary = json.loads(out)  # --format json: a summary for every outcome the command decides
    assert code == 1 and summary["outcome"] == "policy-errors"
    assert [d["code"] for d in summary["diagnostics"]] == ["E173"] and "E173" in err


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
    import tenet.runtime.policy

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tenet.runtime.policy, "compile_policy", explode)
    policy = write_policy(tmp_path, "clean.policy", CLEAN)
    code, out, err = run_cli(["check", str(policy)])
    assert code == 2
    assert err == "error: RuntimeError: boom (rerun with --debug for a traceback)\n"
    no_traceback(out, err)

    for argv in (["--debug", "check", str(policy)], ["check", str(policy), "--debug"]):
        code, out, err = run_cli(argv)
        assert code == 2
        assert "Traceback" in err and "RuntimeError: boom" in err


# --- terminal safety -------------------------------------------------------------------------

RAW_CONTROLS = ("\x1b", "\r", "\x07", "\x7f", "\x9b", "\u202e", "\u2066")


def no_raw_controls(text: str) -> None:
    assert not [c for c in RAW_CONTROLS if c in text], repr(text)


def test_console_writes_terminal_controls_as_visible_escapes() -> None:
    import io

    from tenet.runtime.console import Console

    out, err = io.StringIO(), io.StringIO()
    console = Console(out=out, err=err)
    console.print("ok\x1b[2K\rhidden\x07 \x9b31m \u202edesrever\x7f\nnext\tline")
    console.error("rule \x1b]0;title\x07 \u2066x\u2069")
    assert out.getvalue() == "ok\\x1b[2K\\x0dhidden\\x07 \\x9b31m \\u202edesrever\\x7f\nnext\tline\n"
    assert err.getvalue() == "rule \\x1b]0;title\\x07 \\u2066x\\u2069\n"


def test_console_json_stays_the_same_json_value() -> None:
    import io

    from tenet.runtime.console import Console

    value = {"text": "a\x1b[2Kb\x85c\u202ed\x7f", "arrow": "80→95%"}
    out = io.StringIO()
    Console(out=out).print_json(json.dumps(value, ensure_ascii=False))
    no_raw_controls(out.getvalue())
    assert json.loads(out.getvalue()) == value and "→" in out.getvalue()


def test_diagnostics_do_not_echo_control_characters_of_a_policy(tmp_path: Path) -> None:
    # The diagnostic shows the offending source line, without its ESC and bidi override.
    body = CLEAN.replace('good "Thanks for writing."', 'good "Thanks\x1b[2K for \u202ewriting."')
    policy = write_policy(tmp_path, "raw.policy", body)
    code, out, err = run_cli(["check", str(policy)])
    assert code == 1 and "raw.policy:8:" in err
    no_raw_controls(out + err)


def test_explain_escapes_control_characters_of_the_data(tmp_path: Path) -> None:
    from helpers import PROMPTS

    policy = write_policy(tmp_path, "clean.policy", CLEAN + PROMPTS)
    response = "TODO\x1b[2K\x1b]0;pwned\x07 \u202esi siht"
    code, out, err = run_cli(["explain", str(policy), "--prompt", "Hi\rthere", "--response", response])
    assert code == 1, err  # the response breaks no-todo: a BAD verdict
    no_raw_controls(out + err)
    assert "TODO\\x1b[2K\\x1b]0;pwned\\x07 \\u202esi siht" in out.replace("«", "").replace("»", "")


def test_explain_keeps_only_its_own_highlight_on_a_terminal(tmp_path: Path) -> None:
    import io

    from helpers import PROMPTS
    from tenet.runtime.cli import main
    from tenet.runtime.console import Console

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    policy = write_policy(tmp_path, "clean.policy", CLEAN + PROMPTS)
    out = Terminal()
    code = main(["explain", str(policy), "--prompt", "Hi", "--response", "TODO \x1b[2J"],
                Console(out=out, err=io.StringIO()))
    assert code == 1  # BAD: the response holds a TODO
    assert "\x1b[7mTODO\x1b[0m \\x1b[2J" in out.getvalue()  # reverse video kept, the data's ESC escaped
