"""One convention for every `tenet` command (docs/language.md's CLI section, docs/ci.md).

Help on every option; `--format text|json` on every command that reports, with one JSON
object on stdout; several files and folders for `check` and `fmt`; `explain` exits 1 on a BAD
verdict; `--tracking-uri` wherever MLflow is touched; paths relative to the working folder
and `std/…`; `tenet init` scaffolds a repository that checks clean.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml

from helpers import CLEAN, PROMPTS, REPO, run_cli, write_policy
from tenet.runtime import api, cli
from tenet.runtime.extras import needing

REPORTING = ("check", "compile", "plan", "diff", "label", "explain", "pairs", "audit", "compile-and-train")
MLFLOW = ("compile-and-train", "audit", "report")
MESSY = 'dsl 1.0\npolicy   p version "1"\nrule r (low):   # why\n  forbid   (response is json)\n'
TIDY = 'dsl 1\npolicy p version "1"\n\nrule r (low):  # why\n  forbid response is json\n'
ROWS = '{"prompt": "Draft a reply.", "response": "Thanks for writing."}\n{"prompt": "Hi", "response": "TODO"}\n'


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def option(command: str, flag: str) -> argparse.Action | None:
    return next((a for a in subcommands()[command]._actions if flag in a.option_strings), None)


# --- help -------------------------------------------------------------------------------------


def undocumented(parser: argparse.ArgumentParser, where: str) -> list[str]:
    """Every option, argument and subcommand under `parser` without a help text."""
    missing = []
    for action in parser._actions:
        name = f"{where} {'/'.join(action.option_strings) or action.dest}"
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(name)
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for command, sub in action.choices.items():
                if not helps.get(command):
                    missing.append(f"{where} {command}")
                missing.extend(undocumented(sub, f"{where} {command}"))
    return missing


def test_every_command_and_option_has_help() -> None:
    assert undocumented(cli.build_parser(), "tenet") == []


def test_the_help_check_finds_an_option_without_help() -> None:
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--quiet", action="store_true")
    subs = parser.add_subparsers(dest="command")
    subs.add_parser("go")
    assert undocumented(parser, "x") == ["x --quiet", "x command", "x go"]


# --- --format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", REPORTING)
def test_every_reporting_command_takes_format_text_or_json(command: str) -> None:
    flag = option(command, "--format")
    assert flag is not None and tuple(flag.choices) == ("text", "json") and flag.default == "text"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path, "clean.policy", CLEAN + PROMPTS)


def json_of(argv: list[str], code: int = 0) -> dict:
    """Run a command with `--format json`: stdout must be exactly one JSON object."""
    got, out, err = run_cli([*argv, "--format", "json"])
    assert got == code, err
    data = json.loads(out)
    assert isinstance(data, dict) and out.count("\n{") == 0 and "{" not in err
    return data


def test_plan_json_holds_the_typed_stages(policy: Path) -> None:
    data = json_of(["plan", str(policy)])
    assert [s["kind"] for s in data["stages"]] == ["label", "synthesize", "evaluate", "train", "evaluate", "gate",
                                                   "register"]
    assert data["stages"][3]["method"] == "dpo" and data["stages"][3]["summary"].startswith("train ")
    assert data["ok"] is True and data["policy"] == "clean"


def test_compile_json_names_the_artifact(policy: Path, tmp_path: Path) -> None:
    data = json_of(["compile", str(policy), "-o", str(tmp_path / "a.json")])
    assert data["out"] == str(tmp_path / "a.json") and len(data["policy_hash"]) == 64


def test_label_json_is_the_report(policy: Path, tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text(ROWS, encoding="utf-8")
    data = json_of(["label", str(policy), str(tmp_path / "rows.jsonl"), "--out", str(tmp_path / "o.parquet")])
    assert data["rows"] == 2 and data["verdicts"] == {"good": 1, "bad": 1, "abstain": 0}
    assert data["out"] == str(tmp_path / "o.parquet")


def test_explain_json_is_the_explanation(policy: Path) -> None:
    data = json_of(["explain", str(policy), "--prompt", "Hi", "--response", "TODO"], code=1)
    assert (data["verdict"], data["broken"], data["reason"]) == ("BAD", ["no-todo"], "breaks no-todo (high)")
    assert data["votes"][0]["source"] == f"{policy}:5"


def test_pairs_json_is_the_qa_report(tmp_path: Path) -> None:
    minimal = REPO / "tests" / "fixtures" / "synthesize" / "minimal.policy"
    data = json_of(["pairs", str(minimal), "--out", str(tmp_path / "pairs"), "--strategies", "examples"])
    assert data["kept"] >= 1 and data["out"] == str(tmp_path / "pairs") and "per_strategy" in data


def test_policy_errors_in_json_are_the_check_object(tmp_path: Path) -> None:
    broken = write_policy(tmp_path, "broken.policy", CLEAN.replace('contains "TODO"', "mentions unknown_name"))
    for argv in (["plan", str(broken)], ["explain", str(broken), "--prompt", "p", "--response", "r"],
                 ["compile", str(broken), "-o", str(tmp_path / "x.json")]):
        data = json_of(argv, code=1)
        assert data["ok"] is False and [d["code"] for d in data["diagnostics"]] == ["E104"], argv


# --- several files and folders ------------------------------------------------------------


def test_check_takes_several_files_and_folders_in_sorted_order(tmp_path: Path) -> None:
    for name in ("b/two.policy", "a/one.policy", "a/deeper/three.policy", ".hidden/skip.policy", "venv/skip.policy"):
        write_policy(tmp_path, name, CLEAN)
    extra = write_policy(tmp_path, "extra.policy", CLEAN)
    code, out, err = run_cli(["check", str(tmp_path), str(extra)])
    assert (code, err) == (0, "")
    shown = [line.split(": ok")[0] for line in out.splitlines()]
    assert shown == [str(tmp_path / p) for p in ("a/deeper/three.policy", "a/one.policy", "b/two.policy",
                                                 "extra.policy")]


def test_check_exits_1_when_any_file_has_errors(tmp_path: Path) -> None:
    write_policy(tmp_path, "good.policy", CLEAN)
    write_policy(tmp_path, "bad.policy", CLEAN.replace('contains "TODO"', "mentions unknown_name"))
    code, out, err = run_cli(["check", str(tmp_path)])
    assert code == 1 and "good.policy: ok" in out and "error[E104]" in err
    data = json_of(["check", str(tmp_path)], code=1)
    assert [(f["file"].split("/")[-1], f["ok"]) for f in data["files"]] == [("bad.policy", False),
                                                                           ("good.policy", True)]


@pytest.mark.parametrize("command", ["check", "fmt"])
def test_a_missing_path_or_an_empty_folder_is_a_usage_error(command: str, tmp_path: Path) -> None:
    code, _, err = run_cli([command, str(tmp_path / "nope.policy")])
    assert code == 2 and err == f"error: policy file not found: {tmp_path / 'nope.policy'}\n"
    code, _, err = run_cli([command, str(tmp_path)])
    assert code == 2 and err == f"error: no .policy files in {tmp_path}\n"


def test_fmt_check_and_diff_on_a_folder(tmp_path: Path) -> None:
    write_policy(tmp_path, "tidy.policy", TIDY)
    messy = write_policy(tmp_path, "sub/messy.policy", MESSY)
    code, out, _ = run_cli(["fmt", "--check", str(tmp_path)])
    assert (code, out) == (1, f"would reformat {messy}\n")
    code, out, _ = run_cli(["fmt", "--diff", str(tmp_path)])
    assert code == 1 and messy.read_text(encoding="utf-8") == MESSY  # nothing rewritten
    assert out.startswith(f"--- {messy}\n+++ {messy}\n@@ ")
    assert "-dsl 1.0\n" in out and "+dsl 1\n" in out and "tidy.policy" not in out
    assert run_cli(["fmt", str(tmp_path)])[0] == 0
    assert run_cli(["fmt", "--diff", str(tmp_path)]) == (0, "", "")


# --- explain's exit code ----------------------------------------------------------------------


def test_explain_exits_1_on_a_bad_verdict_and_0_otherwise(policy: Path) -> None:
    assert run_cli(["explain", str(policy), "--prompt", "Hi", "--response", "TODO"])[0] == 1
    assert run_cli(["explain", str(policy), "--prompt", "Hi", "--response", "Thanks."])[0] == 0
    table = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    assert re.search(r"^\| `1` \|.*`explain`'s verdict is BAD", table, re.M)


# --- MLflow -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", MLFLOW)
def test_every_command_that_touches_mlflow_takes_tracking_uri(command: str) -> None:
    assert option(command, "--tracking-uri") is not None


def test_compile_and_train_hands_its_tracking_uri_to_the_api(policy: Path, monkeypatch, tmp_path: Path) -> None:
    from tenet.runtime.cycle import NothingToTrain

    seen = {}

    def train(policy, **options):
        seen.update(options)
        raise NothingToTrain("no rule changed since champion version 1")

    monkeypatch.setattr(api, "train", train)
    code, out, _ = run_cli(["compile-and-train", str(policy), "--work-dir", str(tmp_path / "w"),
                            "--tracking-uri", "sqlite:///x.db"])
    assert (code, out) == (0, "no rule changed since champion version 1\n")
    assert seen["tracking_uri"] == "sqlite:///x.db" and seen["work_dir"] == str(tmp_path / "w")


@pytest.mark.parametrize("command", ["audit", "report"])
def test_a_tracking_uri_is_printed_without_its_secret(command: str, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/none.db?token=s3cret"
    extra = ["--out", str(tmp_path / "r.html")] if command == "report" else []
    code, out, err = run_cli([command, "p", "--tracking-uri", uri, *extra])
    assert code == 2 and f"sqlite:///{tmp_path}/none.db?token=<redacted>" in err
    assert "s3cret" not in out + err


# --- paths --------------------------------------------------------------------------------------


def test_paths_print_relative_to_the_working_folder_and_std_by_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = write_policy(tmp_path, "p/safe.policy", 'dsl 1\npolicy p version "1"\nimport "std/safety.policy"\n'
                                                     "rule r (low):\n  forbid response mentions unknown_name\n")
    code, _, err = run_cli(["check", str(policy)])  # an absolute path inside the working folder
    assert code == 1 and "\np/safe.policy:5:" in err and str(tmp_path) not in err
    policy.write_text(policy.read_text(encoding="utf-8").replace("mentions unknown_name", 'contains "x"'),
                      encoding="utf-8")
    code, out, _ = run_cli(["explain", str(policy), "--prompt", "hi", "--response", "hello"])
    assert code == 0 and "std/safety.policy:" in out and "../" not in out and "p/safe.policy:5" in out


def test_display_path() -> None:
    import os

    from tenet import STD_DIR
    from tenet.compiler.diagnostics import display_path

    assert display_path(os.path.relpath(STD_DIR / "safety.policy")) == "std/safety.policy"
    assert display_path(str(STD_DIR / "safety.policy")) == "std/safety.policy"
    assert display_path(str(Path.cwd() / "a" / "b.policy")) == "a/b.policy"
    assert display_path("a/../b.policy") == "a/../b.policy"  # a relative path is shown as given
    assert display_path("/elsewhere/x.policy") == "/elsewhere/x.policy"


# --- the CLI uses the API -----------------------------------------------------------------------


def test_commands_compile_through_the_api() -> None:
    files = [REPO / "runtime" / "cli.py", *sorted((REPO / "runtime" / "commands").glob("*.py"))]
    source = "\n".join(path.read_text(encoding="utf-8") for path in files)
    assert "compile_policy" not in source and "read_artifact" not in source
    for name in ("check", "train", "audit"):
        assert f"api.{name}(" in source


def test_a_missing_extra_names_the_command_and_the_install(monkeypatch, policy: Path) -> None:
    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow")

    monkeypatch.setattr(api.CompiledPolicy, "explain", needing("explaining", "label")(missing))
    code, out, err = run_cli(["explain", str(policy), "--prompt", "p", "--response", "r"])
    assert (code, out) == (2, "")
    assert err == 'error: tenet explain needs the [label] extra: pip install "tenet[label]"\n'


# --- init ---------------------------------------------------------------------------------------


def test_init_scaffolds_a_repository_that_checks_clean(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["init", "repo"])
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == ["created repo/policies/support.policy", "created repo/policies/prompts/support.jsonl",
                                    "created repo/.github/workflows/tenet.yml", "created repo/.pre-commit-config.yaml"]
    assert run_cli(["check", "repo"]) == (0, "repo/policies/support.policy: ok (16 rules, 0 warnings)\n", "")
    assert run_cli(["fmt", "--check", "repo"]) == (0, "", "")
    assert run_cli(["plan", "repo/policies/support.policy"])[0] == 0
    hooks = yaml.safe_load((tmp_path / "repo" / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks["repos"][0]["hooks"]] == ["tenet-check", "tenet-fmt"]
    workflow = yaml.safe_load((tmp_path / "repo" / ".github" / "workflows" / "tenet.yml").read_text(encoding="utf-8"))
    steps = [s.get("run", "") for s in workflow["jobs"]["check"]["steps"]]
    assert "tenet check policies/" in steps and "tenet fmt --diff policies/" in steps


def test_init_writes_nothing_over_existing_files(tmp_path: Path) -> None:
    (tmp_path / ".pre-commit-config.yaml").write_text("mine\n", encoding="utf-8")
    code, out, err = run_cli(["init", str(tmp_path)])
    assert (code, out) == (2, "")
    assert err.startswith("error: tenet init writes nothing over existing files: ") and ".pre-commit-config" in err
    assert (tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / "policies").exists()


def test_the_scaffolded_workflow_is_the_one_docs_ci_shows() -> None:
    from tenet.runtime.scaffold import WORKFLOW

    doc = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    section = doc[doc.index("## A GitHub Actions workflow"):]
    block = section[section.index("```yaml\n") + len("```yaml\n"):section.index("```\n", section.index("```yaml"))]
    assert block == WORKFLOW


def test_the_pre_commit_hooks_it_names_are_the_ones_the_repository_declares() -> None:
    from tenet.runtime.scaffold import PRE_COMMIT

    declared = REPO / ".pre-commit-hooks.yaml"
    ids = {hook["id"] for hook in yaml.safe_load(declared.read_text(encoding="utf-8"))}
    assert {"tenet-check", "tenet-fmt"} <= ids
    assert all(f"id: {hook}" in PRE_COMMIT for hook in ("tenet-check", "tenet-fmt"))


# --- docs ---------------------------------------------------------------------------------------


def test_docs_list_every_command() -> None:
    language = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    section = language[language.index("## CLI\n"):]
    ci = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    for command in subcommands():
        if command == "lsp":
            continue  # the editor integration documents itself
        assert re.search(rf"^tenet {re.escape(command)}\b", section, re.M), command
    for command in REPORTING:
        assert f"| `{command}` |" in ci, command


def test_check_explain_prints_a_codes_page_and_refuses_an_unknown_code() -> None:
    code, out, err = run_cli(["check", "--explain", "e160"])
    assert (code, err) == (0, "")
    assert out.startswith("E160 (error): unknown training setting") and "learning_rate" in out
    code, out, err = run_cli(["check", "--explain", "X999"])
    assert code == 2 and "unknown diagnostic code 'X999'" in err and out == ""
