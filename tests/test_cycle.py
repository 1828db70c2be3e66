"""`tenet compile-and-train` end to end on a tiny random model, recorded in a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_tiny_cycle

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"


@pytest.fixture(scope="module")
def cycle_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cycle")
    return (*run_tiny_cycle(tmp, FIXTURE), tmp)


def test_cycle_prints_the_table_gates_and_run(cycle_run):
    code, out, err, _ = cycle_run
    assert code == 0, err
    assert "rule" in out and "before" in out and "after" in out
    assert "gate " in out and "MLflow run " in out and "mlflow ui --host 127.0.0.1" in out
    for stage in ("label", "synthesize", "evaluate-before", "train", "evaluate-after", "gate", "register"):
        assert f"[stage] {stage}" in err


def test_cycle_is_recorded_in_mlflow(cycle_run, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, out, _, tmp = cycle_run
    from tenet.runtime.track import Tracker

    tracker = Tracker("tiny", tmp / "work")
    runs = tracker.client.search_runs([tracker.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    stages = {r.data.tags.get("tenet.stage") for r in runs} - {None}
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert stages == {"label", "synthesize", "evaluate-before", "train", "evaluate-after", "gate", "register"}
    parent = parents[0]
    assert parent.data.params["policy.id"] == "tiny" and "policy.hash" in parent.data.params
    artifacts = {a.path for a in tracker.client.list_artifacts(parent.info.run_id)}
    assert "policy" in artifacts
    gate_run = next(r for r in runs if r.data.tags.get("tenet.stage") == "gate")
    reports = {a.path for a in tracker.client.list_artifacts(gate_run.info.run_id, "reports/report")}
    assert {"reports/report/compliance.csv", "reports/report/compliance.png", "reports/report/gates.json"} <= reports
    version = tracker.client.get_registered_model("tiny").latest_versions[0]
    # The version's source is the cycle's LoggedModel (SQL registries return no `model_id`).
    assert version.run_id == parent.info.run_id and version.source.startswith("models:/m-")
    assert tracker.client.get_logged_model(version.source[len("models:/"):]).source_run_id == parent.info.run_id
    train = next(r for r in runs if r.data.tags.get("tenet.stage") == "train")
    assert any(k.startswith("train.") for k in train.data.metrics)
    # Where the stage's time went: the method's own steps, and the warm-up (none here).
    assert train.data.metrics["train.method_seconds"] > 0 and train.data.metrics["train.warmup_seconds"] == 0


def test_trained_weights_differ_from_the_base(cycle_run):
    import torch
    from transformers import AutoModelForCausalLM

    _, _, _, tmp = cycle_run
    base = AutoModelForCausalLM.from_pretrained(tmp / "llama")
    final = next((tmp / "work").glob("tiny/*/train/final"))
    trained = AutoModelForCausalLM.from_pretrained(final)
    changed = [not torch.equal(a, b) for a, b in zip(base.parameters(), trained.parameters())]
    assert any(changed)


# --- promotion fails closed (the gate stage on its own, no model) ------------------------------------


def _gate_stage(gates, before, after, tmp_path, drift=0.0, unchanged=None):
    """Run the cycle's gate handler on given evaluations; return the context and the recorded tags.

    `unchanged` makes it an update cycle whose unchanged rules are those.
    """
    from types import SimpleNamespace
    from unittest import mock

    from tenet.compiler.plan import GateStage
    from tenet.runtime.cycle import visit_gate

    tracker = SimpleNamespace(mlflow=mock.Mock())
    parent, delta = (None, None) if unchanged is None else (object(), SimpleNamespace(unchanged=unchanged))
    ctx = SimpleNamespace(tracker=tracker, parent=parent, delta=delta, before=before, after=after, drift=drift,
                          artifact=SimpleNamespace(ir=SimpleNamespace(rules=())), work=tmp_path,
                          gates=[], passed=None)
    visit_gate(GateStage(gates=tuple(gates)), ctx)
    tags = {call.args[0]: call.args[1] for call in tracker.mlflow.set_tag.call_args_list}
    return ctx, tags


def test_a_model_whose_evaluation_saw_no_votes_is_not_promoted(tmp_path):
    from tenet.compiler import ir
    from tenet.runtime.evaluate import Compliance

    silent = Compliance({"r": None}, {"high": None}, None, in_scope={"r": 0})
    ctx, tags = _gate_stage([ir.GateIR(target="drift", op="<=", threshold=1.0)], silent, silent, tmp_path)
    assert [g.passed for g in ctx.gates] == [True]  # the one gate passed, yet nothing was evaluated
    assert ctx.passed is False and tags["tenet.gates"] == "failed"


def test_a_model_with_an_unmeasured_gate_is_not_promoted(tmp_path):
    from tenet.compiler import ir
    from helpers import evaluation

    before, after = evaluation(r=[1] * 40), evaluation(r=[1] * 40, s=[])
    after.in_scope["s"] = 0
    gates = [ir.GateIR(target="high", op=">=", threshold=0.9), ir.GateIR(target="rule", rule="s", op=">=",
                                                                         threshold=0.9)]
    ctx, tags = _gate_stage(gates, before, after, tmp_path)
    assert [g.passed for g in ctx.gates] == [True, False]
    assert ctx.gates[1].detail == "not measured: no held-out prompt is in the scope of rule s"
    assert ctx.passed is False and tags["tenet.gates"] == "failed"
    measured, tags = _gate_stage(gates[:1], before, after, tmp_path)
    assert measured.passed is True and tags["tenet.gates"] == "passed"


def test_an_update_that_changed_every_rule_holds_each_to_the_champion(tmp_path):
    from tenet.compiler import ir
    from helpers import evaluation

    before = evaluation(r=[1] * 20, s=[1] * 10 + [0] * 10)
    after = evaluation(r=[1] * 10 + [0] * 10, s=[1] * 20)
    gate = ir.GateIR(target="regression", op="<=", threshold=0.02)
    ctx, _ = _gate_stage([gate], before, after, tmp_path, unchanged=frozenset())
    assert ctx.gates[0].detail.startswith("largest drop 0.500 [") and ctx.gates[0].detail.endswith("(r)")
    assert ctx.passed is False
    ctx, _ = _gate_stage([gate], before, after, tmp_path, unchanged=frozenset({"s"}))
    assert ctx.gates[0].passed and ctx.passed is True  # r changed: it may move
