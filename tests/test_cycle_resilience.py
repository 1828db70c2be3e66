"""Cycles survive SIGKILL and concurrency: tiny random model, real processes, one MLflow store.

- A cycle killed with SIGKILL mid-training is marked KILLED by the next start, is never
  registered or promoted, and the rerun resumes from the newest complete checkpoint and ends
  with the same weights and metrics as a cycle that was never interrupted.
- Cycles started at once against one work folder (one MLflow store, one cache) all finish:
  two of the same policy run one after the other (the second finds nothing left to train),
  and a third policy runs beside them; no run, version or cache entry is lost or torn.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["tiny_models"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "cycle"
LAUNCH = "import sys; from tenet.runtime.cli import main; sys.exit(main())"


def _start(policy: Path, model: Path, work: Path, steps: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    args = [sys.executable, "-c", LAUNCH, "compile-and-train", str(policy), "--base-model", str(model),
            "--max-steps", str(steps), "--work-dir", str(work)]
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _runs(work: Path, policy_id: str):
    from tenet.runtime.track import Tracker

    tracker = Tracker(policy_id, work)
    runs = tracker.client.search_runs([tracker.experiment_id], order_by=["attributes.start_time ASC"])
    return tracker, [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("resilience") / "llama")


def test_sigkilled_cycle_resumes_to_the_uninterrupted_result(model, tmp_path, monkeypatch):
    import torch

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    policy, steps = FIXTURES / "resume.policy", 24
    code, _, err = _finish(_start(policy, model, tmp_path / "straight", steps))
    assert code == 0, err

    work = tmp_path / "killed"
    process = _start(policy, model, work, steps)
    deadline = time.monotonic() + 300
    state = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list(work.glob("tiny-resume/*/train/checkpoint-8/trainer_state.json"))
        if found:
            state = found[0]
            break
        time.sleep(0.02)
    assert state is not None and process.poll() is None, "the cycle ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    train = state.parent.parent
    assert not (train / "final").exists()

    code, out, err = _finish(_start(policy, model, work, steps))
    assert code == 0, err
    tracker, parents = _runs(work, "tiny-resume")
    killed, resumed = parents
    assert killed.info.status == "KILLED"  # swept at the second start: its process is gone
    assert resumed.info.status == "FINISHED"
    versions = tracker.client.search_model_versions("name = 'tiny-resume'")
    assert [v.run_id for v in versions] == [resumed.info.run_id]  # the killed cycle never got a version
    straight_tracker, (straight,) = _runs(tmp_path / "straight", "tiny-resume")

    reference = _weights(next((tmp_path / "straight").glob("tiny-resume/*/train/final")))
    after_resume = _weights(train / "final")
    assert reference.keys() == after_resume.keys()
    for name, tensor in reference.items():
        torch.testing.assert_close(after_resume[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    runs = tracker.client.search_runs([tracker.experiment_id], f"tags.mlflow.parentRunId = '{resumed.info.run_id}'")
    metrics = {k: v for r in runs for k, v in r.data.metrics.items() if k.startswith(("after.", "train.loss"))}
    straight_runs = straight_tracker.client.search_runs(
        [straight_tracker.experiment_id], f"tags.mlflow.parentRunId = '{straight.info.run_id}'")
    expected = {k: v for r in straight_runs for k, v in r.data.metrics.items() if k.startswith(("after.", "train.loss"))}
    assert metrics.keys() == expected.keys() and "train.loss" in metrics
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_concurrent_cycles_share_one_store_and_cache(model, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    work = tmp_path / "work"
    same = FIXTURES / "update-v1.policy"
    processes = [_start(same, model, work, 4), _start(same, model, work, 4),
                 _start(FIXTURES / "tiny.policy", model, work, 4)]
    results = [_finish(p) for p in processes]
    for code, _, err in results:
        assert code == 0, err
    outputs = [out + err for _, out, err in results[:2]]
    assert sum("waiting for it to finish" in o for o in outputs) == 1  # the second waited for the first
    assert sum("no rule changed since champion version 1" in o for o in outputs) == 1

    tracker, parents = _runs(work, "tiny-update")
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert tracker.client.get_model_version_by_alias("tiny-update", "champion").version in ("1", 1)
    other, other_parents = _runs(work, "tiny")
    assert [p.info.status for p in other_parents] == ["FINISHED"]
    assert len(other.client.search_model_versions("name = 'tiny'")) == 1
    entries = list((work / "cache").rglob("*.json"))
    assert entries, "the cycles wrote nothing to the cache"
    for entry in entries:
        json.loads(entry.read_text(encoding="utf-8"))  # whole entries only, never torn
    assert not list((work / "cache").rglob("*.tmp"))
