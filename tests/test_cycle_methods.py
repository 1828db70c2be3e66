"""Every training method through a whole `compile-and-train` cycle into a temporary MLflow store.

Tiny random model, one step each: the cycle must finish, record its parent and stage runs,
the method's own training metrics and the model artifacts, and register weights that differ
from the base model's. (DPO is covered in depth by test_cycle.py.)
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tenet.runtime.cli import main
from tenet.runtime.console import Console

pytest_plugins = ["tiny_models"]

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"
STAGES = {"label", "synthesize", "evaluate-before", "train", "evaluate-after", "gate", "register"}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    import torch

    from tiny_models import build_tiny_llama

    torch.set_num_threads(1)
    return build_tiny_llama(tmp_path_factory.mktemp("methods") / "llama")


@pytest.mark.parametrize("method", ["kto", "orpo", "cft", "grpo", "rlhf"])
def test_method_cycle_is_recorded_in_mlflow(method, base, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out, err = io.StringIO(), io.StringIO()
    code = main(["compile-and-train", str(FIXTURE), "--base-model", str(base), "--method", method,
                 "--max-steps", "1", "--work-dir", str(tmp_path / "work")], Console(out=out, err=err))
    assert code == 0, err.getvalue()

    from tenet.runtime.track import Tracker

    tracker = Tracker("tiny", tmp_path / "work")
    runs = tracker.client.search_runs([tracker.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.data.params["plan.method"] == method
    assert {r.data.tags.get("tenet.stage") for r in runs} - {None} == STAGES
    train = next(r for r in runs if r.data.tags.get("tenet.stage") == "train")
    assert any(k.startswith("train.") and "loss" in k for k in train.data.metrics), train.data.metrics
    assert {"before.overall", "after.overall"} <= {k for r in runs for k in r.data.metrics} or \
        {"before.severity.critical", "after.severity.critical"} <= {k for r in runs for k in r.data.metrics}
    model_files = {Path(a.path).name for a in tracker.client.list_artifacts(parent.info.run_id, "model")}
    # The transformers flavor's layout: merged weights under model/, a LoRA adapter never.
    assert {"MLmodel", "model_card.md", "model", "components"} <= model_files
    assert tracker.client.get_registered_model("tiny").latest_versions[0].run_id == parent.info.run_id

    final = next((tmp_path / "work").glob("tiny/*/train/final" if method != "rlhf" else "tiny/*/train/grpo/final"))
    trained = AutoModelForCausalLM.from_pretrained(final)
    reference = AutoModelForCausalLM.from_pretrained(base)
    assert any(not torch.equal(a, b) for a, b in zip(reference.parameters(), trained.parameters()))
