"""`tenet plan` against the champion: what the next `compile-and-train` does, before it runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tenet.runtime.cli import main
from tenet.runtime.console import Console

pytest_plugins = ["tiny_models"]

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def champion(tmp_path, monkeypatch):
    """A work folder whose store has a promoted cycle of the tiny policy, and a copy of the policy."""
    import torch

    from tiny_models import build_tiny_llama

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    torch.set_num_threads(1)
    base = build_tiny_llama(tmp_path / "llama")
    policy = tmp_path / "policy" / "tiny.policy"
    policy.parent.mkdir()
    policy.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    work = tmp_path / "work"
    code, _, err = run(["compile-and-train", str(policy), "--base-model", str(base), "--max-steps", "1",
                        "--work-dir", str(work)])
    assert code == 0, err
    return policy, work, base


def test_a_fresh_policy_plans_a_fresh_cycle(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow sets it when another test uses a store
    code, out, _ = run(["plan", str(FIXTURE), "--work-dir", str(tmp_path / "none")])
    assert code == 0 and "fresh cycle: no champion yet; training starts from the base model" in out
    assert not (tmp_path / "none").exists()  # planning reads; it never creates a store


def test_after_one_cycle_an_edited_rule_plans_an_update_from_the_champion(champion):
    policy, work, base = champion
    # Plan with the flags the cycle runs with: they are part of what it compiles.
    flags = ["--base-model", str(base), "--work-dir", str(work)]
    code, out, _ = run(["plan", str(policy), *flags])
    assert code == 0 and "nothing to train: no rule changed since the champion" in out
    policy.write_text(policy.read_text(encoding="utf-8").replace("at most 6 words", "at most 5 words"),
                      encoding="utf-8")
    code, out, _ = run(["plan", str(policy), *flags])
    assert code == 0
    assert "update of champion v1 (run " in out
    assert "start       champion v1" in out and "retrain     short" in out
    assert "reuse       cached samples and pairs of no-bad" in out
    assert "replay      50% of the training rows from the unchanged rules' pairs" in out
    assert "regression  gate compares no-bad" in out
    code, out, _ = run(["plan", str(policy), *flags, "--format", "json"])
    update = json.loads(out)["update"]
    assert (update["start"], update["changed"], update["unchanged"], update["train"]) == (
        "champion", ["short"], ["no-bad"], "train")
    # The cycle takes the same decisions and records them.
    code, _, err = run(["compile-and-train", str(policy), "--base-model", str(base), "--max-steps", "1",
                        "--work-dir", str(work)])
    assert code in (0, 3), err
    from tenet.runtime.track import Tracker

    tracker = Tracker("tiny", work)
    (parent,) = [r for r in tracker.client.search_runs([tracker.experiment_id], order_by=["start_time DESC"])
                 if "mlflow.parentRunId" not in r.data.tags][:1]
    recorded = tracker.mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/policy/update.json")
    assert recorded == {**update, "max_steps": 1}  # --max-steps 1 is the cycle's own flag


def test_without_mlflow_the_plan_says_the_champion_was_not_read(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(tmp_path / "elsewhere.db"))
    code, out, _ = run(["plan", str(FIXTURE), "--work-dir", str(tmp_path / "work")])
    assert code == 0
    assert 'champion not read: the MLflow store needs the [train] extra: pip install "tenet[train]"' in out

