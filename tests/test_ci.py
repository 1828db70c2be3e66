"""The CI contract: exit codes, `compile-and-train --format json`, `tenet --version` (docs/ci.md).

One tiny-model cycle whose gate cannot pass (`gate regression < 0`) runs once per module; it
also sets `trainer.*` and `lora.*` fields, so the same run shows the overrides reach TRL and peft.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from tenet.compiler import __version__
from tenet.compiler.errors import EXIT_MEANINGS, ExitCode
from helpers import REPO, run_cli, run_tiny_cycle, write_policy
from tenet.runtime.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "gate-fails.policy"


# A secret in the tracking URI's query string (the store is still the work folder's SQLite file).
URI_TOKEN = "s3cr3t-query-token"


@pytest.fixture(scope="module")
def failing_cycle(tmp_path_factory):
    """(exit code, stdout, what reached the real stdout, work folder) of a cycle whose gate fails."""
    tmp = tmp_path_factory.mktemp("ci")
    stray = io.StringIO()
    store = f"sqlite:///{(tmp / 'work').resolve() / 'mlflow.db'}"
    # Anything a library prints to stdout would break `--format json`.
    with contextlib.redirect_stdout(stray), pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", f"{store}?token={URI_TOKEN}")
        code, out, err = run_tiny_cycle(tmp, FIXTURE, "--format", "json")
    return code, out, stray.getvalue(), tmp / "work", err


def test_a_failed_gate_exits_3(failing_cycle):
    code, _, _, _, err = failing_cycle
    assert code == ExitCode.GATE_FAILED == 3, err


def test_json_summary_is_all_of_stdout(failing_cycle):
    _, out, stray, _, _ = failing_cycle
    summary = json.loads(out)  # the whole of stdout is one JSON object
    assert stray == ""
    assert summary["outcome"] == "not-promoted" and summary["promoted"] is False
    assert summary["exit_code"] == 3 and summary["exit_meaning"] == EXIT_MEANINGS[ExitCode.GATE_FAILED]
    assert summary["policy"] == "ci" and summary["version"] == "1" and summary["method"] == "dpo"
    assert {r["rule"] for r in summary["rules"]} == {"short", "no-bad"}
    assert all(set(r) == {"rule", "severity", "before", "after", "tested", "interval", "in_template"}
               for r in summary["rules"])
    failed = [g for g in summary["gates"] if not g["passed"]]
    assert [(g["target"], g["op"], g["threshold"]) for g in failed] == [("regression", "<", 0.0)]


def test_json_summary_matches_mlflow(failing_cycle, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, out, _, work, _ = failing_cycle
    summary = json.loads(out)
    from tenet.runtime import tags as tag
    from tenet.runtime.track import Tracker

    tracker = Tracker("ci", work)
    run = tracker.client.get_run(summary["run_id"])
    assert run.data.params["policy.hash"] == summary["policy_hash"]
    assert run.data.params["plan.hash"] == summary["plan_hash"]
    assert run.data.tags[tag.PROMOTED] == "false"
    assert run.data.tags[tag.MODEL_VERSION] == summary["model_version"]
    runs = tracker.client.search_runs([tracker.experiment_id])
    after = next(r for r in runs if r.data.tags.get("tenet.stage") == "evaluate-after").data.metrics
    assert {r["rule"]: r["after"] for r in summary["rules"] if r["after"] is not None} == {
        rule: pytest.approx(after[f"after.rule.{rule}"]) for rule in ("short", "no-bad") if f"after.rule.{rule}" in after}


def test_trainer_and_lora_overrides_reach_trl_and_peft(failing_cycle, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, out, _, work, _ = failing_cycle
    from tenet.runtime.track import Tracker

    tracker = Tracker("ci", work)
    parent = tracker.client.get_run(json.loads(out)["run_id"])
    assert parent.data.params["plan.trainer.lr_scheduler_type"] == "cosine"
    # TRL's MLflow callback logs the TrainingArguments it was given, in the train stage's run.
    runs = tracker.client.search_runs([tracker.experiment_id])
    train = next(r for r in runs if r.data.tags.get("tenet.stage") == "train")
    assert train.data.params["lr_scheduler_type"] == "cosine"
    assert float(train.data.params["warmup_steps"]) == 0.5
    adapter = json.loads(next(work.glob("ci/*/train/final/adapter_config.json")).read_text())
    assert sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]


def test_json_summary_prints_the_tracking_uri_without_its_secret(failing_cycle):
    _, out, stray, work, err = failing_cycle
    assert URI_TOKEN not in out + stray + err
    store = f"sqlite:///{work.resolve() / 'mlflow.db'}"
    assert json.loads(out)["tracking_uri"] == f"{store}?token=<redacted>"


def test_the_registered_model_and_the_run_name_no_path_of_this_machine(failing_cycle, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, out, _, work, _ = failing_cycle
    from tenet.runtime import tags as tag
    from tenet.runtime.track import Tracker

    tmp = str(work.parent.resolve())
    tracker = Tracker("ci", work)
    parent = tracker.client.get_run(json.loads(out)["run_id"])
    train = next(r for r in tracker.client.search_runs([tracker.experiment_id])
                 if r.data.tags.get("tenet.stage") == "train")
    # The base model was `--base-model <tmp>/llama`: recorded by name, not by where it lies.
    assert parent.data.params["plan.base_model"] == train.data.params["train.start_model"] == "<local>/llama"
    assert parent.data.tags[tag.MODEL_PATH].startswith("<work>/ci/")
    for run in tracker.client.search_runs([tracker.experiment_id]):  # the parent and every stage
        logged = {**run.data.params, **run.data.tags}
        assert not {k: v for k, v in logged.items() if tmp in v}, run.data.tags.get("tenet.stage")
    assert "output_dir" in train.data.params  # transformers' arguments are logged, redacted
    (mlmodel,) = work.glob("mlartifacts/models/*/artifacts/MLmodel")
    flavor = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))["flavors"]["transformers"]
    assert flavor["source_model_name"] == "<local>/llama"
    for name in ("LICENSE.txt", "model_card.md"):
        assert tmp not in (mlmodel.parent / name).read_text(encoding="utf-8")
    (version,) = tracker.client.search_model_versions("name='ci'")
    assert "- base model: <local>/llama" in version.description and tmp not in version.description


def test_policy_errors_exit_1_with_a_json_summary(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace("trainer.warmup_steps", "trainer.warmup_ratio")
    policy = write_policy(tmp_path, "bad.policy", text)
    code, out, err = run_cli(["compile-and-train", str(policy), "--format", "json", "--work-dir", str(tmp_path)])
    assert code == ExitCode.POLICY
    summary = json.loads(out)
    assert summary["outcome"] == "policy-errors" and summary["exit_code"] == 1
    assert [d["code"] for d in summary["diagnostics"]] == ["E166"]
    assert "E166" in err  # the rendered diagnostic still reaches the person reading the log


def test_version(capsys):
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == f"tenet {__version__}"


def test_every_exit_code_is_documented():
    assert set(EXIT_MEANINGS) == set(ExitCode)
    doc = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    documented = {int(m) for m in re.findall(r"^\| `(\d+)` \|", doc, re.M)}
    assert documented == {int(code) for code in ExitCode}
