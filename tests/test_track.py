"""MLflow tracking: run layout and status, dataset digests, registry, promotion log, stale runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tenet.runtime.track import Tracker, file_sha256, tracking_uri

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["tiny_models"]


@pytest.fixture
def tracker(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Tracker("acme-support", tmp_path)


def test_default_store_is_absolute_sqlite_and_env_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking_uri(tmp_path)
    assert uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/x.db")
    assert tracking_uri(tmp_path) == "sqlite:////elsewhere/x.db"


def test_cycle_with_nested_stages_and_dataset_digest(tracker, tmp_path):
    data = tmp_path / "pairs.parquet"
    data.write_bytes(b"not really parquet, but bytes to hash")
    with tracker.cycle("cycle-1", {"policy.id": "acme-support", "plan.hash": "abc"}, {"tenet.diff": "+1"}) as run_id:
        with tracker.stage("synthesize") as stage_id:
            digest = tracker.log_dataset(data, "pairs", "training")
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["policy.id"] == "acme-support" and run.data.tags["tenet.diff"] == "+1"
    stage = tracker.client.get_run(stage_id)
    assert stage.data.tags["mlflow.parentRunId"] == run_id and stage.info.status == "FINISHED"
    assert digest == file_sha256(data)
    assert stage.inputs.dataset_inputs[0].dataset.digest == digest[:32]
    assert stage.data.params["data.pairs.sha256"] == digest


def test_exception_marks_the_cycle_failed(tracker):
    with pytest.raises(RuntimeError):
        with tracker.cycle("cycle-x", {}, {}) as run_id:
            raise RuntimeError("boom")
    assert tracker.client.get_run(run_id).info.status == "FAILED"


def _child(tmp_path: Path, body: str) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from tenet.runtime.track import Tracker
        tracker = Tracker("acme-support", {str(tmp_path)!r})
        with tracker.cycle("child", {{}}, {{}}) as run_id:
            print(run_id, flush=True)
            {body}
    """)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)


def test_sigterm_marks_the_cycle_killed(tracker, tmp_path):
    child = _child(tmp_path, "time.sleep(60)")
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=60)
    assert tracker.client.get_run(run_id).info.status == "KILLED"


def test_sigkilled_cycle_is_swept_as_killed(tracker, tmp_path):
    child = _child(tmp_path, "time.sleep(60)")
    run_id = child.stdout.readline().strip()
    child.kill()
    child.wait(timeout=60)
    assert tracker.client.get_run(run_id).info.status == "RUNNING"  # what MLflow leaves behind
    assert run_id in tracker.sweep_stale_runs()
    assert tracker.client.get_run(run_id).info.status == "KILLED"


def test_register_promote_and_promotion_log(tracker, tiny_llama):
    model = tiny_llama
    with tracker.cycle("c1", {}, {}) as run_1:
        pass
    with tracker.cycle("c2", {}, {}) as run_2:
        pass
    v1 = tracker.register(run_1, model, "acme-support", {"policy.version": "1"})
    v2 = tracker.register(run_2, model, "acme-support", {"policy.version": "2"})
    tracker.promote("acme-support", v1, "champion", actor="ci", reason="all gates passed")
    tracker.promote("acme-support", v2, "champion", actor="ci", reason="all gates passed")
    assert str(tracker.client.get_model_version_by_alias("acme-support", "champion").version) == v2
    log = tracker.promotion_log("acme-support")
    assert [(e["version"], e["previous"]) for e in log] == [(v1, None), (v2, v1)]
    assert json.loads(json.dumps(log))[1]["actor"] == "ci"


def test_params_and_tags_leave_no_secret_or_machine_path_in_the_store(tracker, tmp_path):
    params = {"policy.id": "acme-support", "plan.trainer.hub_token": "hf_abcdefghijklmnopqrstuvwxyz0123",
              "plan.base_model": "/home/alice/models/llama",
              "plan.report": "https://al:pw@h.example/x?token=abc9",
              "plan.lora.target_modules": ["q_proj", "v_proj"], "plan.max_new_tokens": 64}
    tags = {"tenet.note": "Authorization: Bearer abcdefghijklmnop", "tenet.diff.summary": "+1 rule"}
    with tracker.cycle("c", params, tags) as run_id:
        tracker.log_param("train.start_model", str(tmp_path / "cache" / "merged" / "abc"))
    run = tracker.client.get_run(run_id)
    logged = run.data.params
    assert logged["plan.trainer.hub_token"] == "<redacted>"
    assert logged["plan.base_model"] == "<local>/llama"
    assert logged["plan.report"] == "https://h.example/x?token=<redacted>"
    assert logged["plan.lora.target_modules"] == '["q_proj", "v_proj"]'
    assert logged["plan.max_new_tokens"] == "64"
    assert logged["train.start_model"] == "<work>/cache/merged/abc"
    assert run.data.tags["tenet.note"] == "Authorization: Bearer <redacted>"
    assert run.data.tags["tenet.diff.summary"] == "+1 rule"
    everything = json.dumps([logged, run.data.tags])
    for secret in ("abcdefghijklmnopqrstuvwxyz0123", "alice", "pw@", "abc9", "abcdefghijklmnop",
                   str(tmp_path)):
        assert secret not in everything
    # MLflow's own tags name the entry script and the git remote: no path there either.
    assert not any(str(v).startswith("/") for v in run.data.tags.values())


def test_dataset_source_is_named_inside_the_work_folder(tracker, tmp_path):
    data = tmp_path / "policy" / "pairs.parquet"
    data.parent.mkdir()
    data.write_bytes(b"rows")
    with tracker.cycle("c", {}, {}):
        with tracker.stage("synthesize") as stage_id:
            tracker.log_dataset(data, "pairs", "training")
    source = tracker.client.get_run(stage_id).inputs.dataset_inputs[0].dataset.source
    assert json.loads(source) == {"uri": "<work>/policy/pairs.parquet"}
