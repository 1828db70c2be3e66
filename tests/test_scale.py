"""Scaling out with `accelerate launch`: one cycle, run by the main process, trained by every process.

The protocol between the processes (runtime/scale.py) is tested in-process with two `Launch`
objects sharing a folder; one tiny cycle then runs under `accelerate launch` with two CPU
processes (docs/scaling-out.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tenet.compiler.errors import ExitCode
from helpers import REPO, write_policy
from tenet.runtime import scale
from tenet.runtime.cycle import NothingToTrain
from tenet.runtime.train.common import TrainJob

FIXTURE = REPO / "tests" / "fixtures" / "cycle" / "tiny.policy"


def _job(tmp_path: Path) -> TrainJob:
    settings = {"max_steps": 3, "batch_size": 2, "device": "cpu", "sft_epochs": 0.5,
                "trainer.lr_scheduler_type": "cosine", "lora.target_modules": ("q_proj", "v_proj")}
    return TrainJob(method="dpo", model_path=str(tmp_path / "model"), unpaired_path=None,
                    pairs_path=str(tmp_path / "pairs.parquet"), output_dir=str(tmp_path / "train"),
                    hyperparameters=settings, report_to=("mlflow",), progress=True,
                    resume_from=str(tmp_path / "train" / "checkpoint-2"))


KEY = bytes(range(32))


def _pair(tmp_path: Path) -> tuple[scale.Launch, scale.Launch]:
    folder = tmp_path / ".launch" / "id"
    folder.mkdir(parents=True, mode=0o700)
    return scale.Launch(0, 2, folder, KEY), scale.Launch(1, 2, folder, KEY)


def test_a_job_travels_as_json_and_the_follower_reports_nowhere(tmp_path):
    job = _job(tmp_path)
    record = json.loads(json.dumps(scale.job_record(job)))
    # The same job, typed settings and policy overrides included; but the main process logs
    # the training to MLflow, and a follower neither logs nor draws a progress bar.
    assert scale.job_from_record(record, artifact=None) == replace(job, report_to=(), progress=False)


def test_the_follower_trains_each_announced_job_then_meets_the_main_process(tmp_path, monkeypatch):
    main, follower = _pair(tmp_path)
    trained, met, exits = [], [], []

    def meet(launch):  # the barrier: the main process waits there while the follower catches up
        met.append(launch.rank)
        if launch.main:
            exits.append(scale.follow(follower, artifact=None))

    monkeypatch.setattr("tenet.runtime.train.jobs.train_job", lambda job: trained.append(job))
    monkeypatch.setattr(scale.Launch, "meet", meet)
    main.announce(_job(tmp_path))
    main.end(meet=True)
    assert exits == [ExitCode.OK]
    assert [j.output_dir for j in trained] == [str(tmp_path / "train")]
    assert met == [0, 1]
    assert not main.folder.parent.exists()  # the main process cleans up after the meeting


@pytest.mark.parametrize("raised, meet", [(None, True), (NothingToTrain("no rule changed"), True),
                                          (RuntimeError("disk full"), False)])
def test_the_main_process_tells_the_others_how_the_cycle_ended(tmp_path, monkeypatch, raised, meet):
    main, follower = _pair(tmp_path)
    monkeypatch.setattr(scale.Launch, "meet", lambda self: None)
    monkeypatch.setattr(scale.shutil, "rmtree", lambda *a, **k: None)  # keep end.json to read it
    try:
        with scale.leading(main):
            if raised is not None:
                raise raised
    except (NothingToTrain, RuntimeError):
        pass
    # A failed cycle does not meet: the launcher stops the others when the main process exits.
    assert scale.read_message(main.folder / "end.json", KEY) == {"meet": meet}
    assert scale.follow(follower, artifact=None) == ExitCode.OK  # no job: nothing trained, no hang


def _follow_refuses(follower: scale.Launch, monkeypatch, match: str) -> None:
    """The follower stops with a LaunchError and trains nothing."""
    trained = []
    monkeypatch.setattr("tenet.runtime.train.jobs.train_job", lambda job: trained.append(job))
    with pytest.raises(scale.LaunchError, match=match):
        scale.follow(follower, artifact=None)
    assert trained == []


def test_a_follower_refuses_a_job_its_main_process_did_not_sign(tmp_path, monkeypatch):
    _, follower = _pair(tmp_path)
    record = scale.job_record(_job(tmp_path))
    # Plain JSON, as an earlier tenet wrote it, or signed with another launch's key.
    (follower.folder / "job-1.json").write_text(json.dumps(record))
    _follow_refuses(follower, monkeypatch, "not written by this launch")
    scale.write_message(follower.folder / "job-1.json", record, bytes(32))
    _follow_refuses(follower, monkeypatch, "not written by this launch")


def test_a_follower_refuses_a_linked_or_shared_job_file(tmp_path, monkeypatch):
    main, follower = _pair(tmp_path)
    main.announce(_job(tmp_path))
    job = main.folder / "job-1.json"
    os.chmod(job, 0o666)  # signed, but anyone may rewrite it
    _follow_refuses(follower, monkeypatch, "may be written by other users")
    os.chmod(job, 0o600)
    job.rename(tmp_path / "signed.json")
    job.symlink_to(tmp_path / "signed.json")
    _follow_refuses(follower, monkeypatch, "cannot be read")


@pytest.mark.parametrize("change, match", [
    ({"output_dir": "/tmp/elsewhere/train"}, "output_dir .* is outside the work folder"),
    ({"pairs_path": "../../etc/pairs.parquet"}, "pairs_path .* is outside the work folder"),
    ({"model_path": "/opt/models/other"}, "start model .* is neither in the work folder"),
    ({"method": "exec"}, "unknown training method"),
    ({"callbacks": ["os.system"]}, "exactly the fields"),
    ({"output_dir": ["train"]}, "must be strings"),
])
def test_a_signed_job_out_of_bounds_is_refused(tmp_path, monkeypatch, change, match):
    main, follower = _pair(tmp_path)
    record = {**scale.job_record(_job(tmp_path)), **change}
    scale.write_message(main.folder / "job-1.json", record, KEY)
    _follow_refuses(follower, monkeypatch, match)


def test_the_start_model_may_be_the_plans_base_model_outside_the_work_folder(tmp_path, monkeypatch):
    base = tmp_path / "models" / "llama"
    record = {**scale.job_record(_job(tmp_path / "work")), "model_path": str(base)}
    scale.check_record(record, tmp_path / "work", lambda: str(base))
    with pytest.raises(scale.LaunchError, match="start model"):
        scale.check_record(record, tmp_path / "work", lambda: str(tmp_path / "models" / "other"))


def test_each_launch_gets_a_private_folder_and_key_of_its_own(tmp_path):
    first, key = scale.new_launch_folder(tmp_path / "work")
    second, _ = scale.new_launch_folder(tmp_path / "work")
    folder = Path(first)
    assert first != second and folder.parent == (tmp_path / "work" / ".launch").resolve()
    assert (folder.stat().st_mode & 0o777) == 0o700 and len(bytes.fromhex(key)) == 32
    scale.check_folder(folder)
    os.chmod(folder, 0o777)
    with pytest.raises(scale.LaunchError, match="may be written by other users"):
        scale.check_folder(folder)
    (tmp_path / "planted").symlink_to(second)
    with pytest.raises(scale.LaunchError, match="symbolic link"):
        scale.check_folder(tmp_path / "planted")


def test_outside_a_launch_there_is_nothing_to_join(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert scale.join(tmp_path, "cpu") is None and scale.world_size() == 1 and scale.rank() == 0
    with scale.leading(None):
        pass


def test_each_process_takes_its_own_rows_per_step(monkeypatch):
    import datasets

    from tenet.runtime.train.common import rows_for_steps

    data = datasets.Dataset.from_dict({"x": list(range(100))})
    settings = {"max_steps": 3, "batch_size": 2, "grad_accum": 2}
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert len(rows_for_steps(data, settings)) == 24


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(*cli_args: str) -> subprocess.CompletedProcess:
    """`accelerate launch` two CPU processes of `python -m tenet.runtime.cli ...` from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    # `--multi_gpu` is accelerate's torchrun launcher; with `device = cpu` the processes meet over
    # gloo. (`--cpu --num_processes 2` would start one process: accelerate needs mpirun for that.)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "tenet.runtime.cli", *cli_args]
    # A process left waiting for the other would hang the launch: the timeout turns that into a failure.
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("scale") / "llama")


def test_accelerate_launch_runs_one_cycle_trained_by_two_processes(tiny_llama_dir, tmp_path, monkeypatch):
    # With an SFT warm-up, so that both trainers of a cycle run data-parallel.
    policy = write_policy(tmp_path, "tiny.policy", FIXTURE.read_text(encoding="utf-8") + "  sft_epochs = 1\n")
    work = tmp_path / "work"
    args = ("compile-and-train", str(policy), "--base-model", str(tiny_llama_dir), "--max-steps", "2",
            "--work-dir", str(work), "--format", "json")
    proc = _launch(*args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)  # only the main process writes stdout
    assert summary["outcome"] == "promoted"

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from tenet.runtime.track import Tracker

    tracker = Tracker("tiny", work)
    runs = tracker.client.search_runs([tracker.experiment_id])
    cycles = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [(r.info.run_id, r.info.status) for r in cycles] == [(summary["run_id"], "FINISHED")]
    assert len(tracker.client.search_model_versions("name='tiny'")) == 1
    train = next(r for r in runs if r.data.tags.get("tenet.stage") == "train")
    assert train.data.params["train.world_size"] == "2"  # DDP over both processes
    assert len(list(work.glob("tiny/*/train/warmup/.tenet-warmup-complete"))) == 1
    assert not (work / ".launch").exists()


@pytest.mark.slow
def test_a_launch_with_nothing_to_train_or_a_failing_cycle_ends_every_process(tiny_llama_dir, tmp_path):
    work = tmp_path / "work"
    args = ("compile-and-train", str(FIXTURE), "--max-steps", "2", "--work-dir", str(work),
            "--format", "json")
    # The main process fails before training (no such model): the other process must not wait for a job.
    failed = _launch(*args, "--base-model", str(tmp_path / "missing"))
    assert failed.returncode != 0 and "missing" in failed.stderr
    assert _launch(*args, "--base-model", str(tiny_llama_dir)).returncode == 0
    again = _launch(*args, "--base-model", str(tiny_llama_dir))  # the champion has every rule
    assert again.returncode == 0, again.stderr[-4000:]
    assert json.loads(again.stdout)["outcome"] == "nothing-to-train"
