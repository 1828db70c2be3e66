"""One update cycle across the processes of `accelerate launch`: the main process runs it, all train.

Under a distributed launch every process runs `tenet compile-and-train`. Only the main process
(rank 0) runs the cycle: it takes the cycle lock, opens the MLflow runs, labels, synthesizes,
evaluates, gates, registers and prints. The others follow it (`follow`): they wait for the
`TrainJob` the main process announces at the train stage, call the same `train_job`, so TRL's
trainer runs data-parallel (DDP) over every process, and then wait for the main process to end
the cycle.

The processes meet in collectives only where all of them are due at about the same moment: when
they start (to agree on a folder), inside training, and at the end. The main process's other
stages can take hours, far longer than a collective's timeout (30 minutes for gloo), so a
follower waits for them by watching files in the launch's folder, `<work-dir>/.launch/<id>/`:
`job-<n>.json` for each training job, then `end.json`. A main process that fails writes
`end.json` as well, so no follower waits for a job that will never come; one that dies
outright is seen by the launcher, which stops the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import uuid
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from compiler.artifact import CompiledArtifact
    from runtime.train.common import TrainJob

POLL_SECONDS = 0.5


def rank() -> int:
    """This process's rank in a distributed launch: `RANK`, or 0 (the main process) outside one."""
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    """How many processes the launcher started: `WORLD_SIZE`, or 1 outside a distributed launch."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


@dataclass(frozen=True)
class Launch:
    """This process's place in a distributed launch, and the folder its processes meet in."""

    rank: int
    world_size: int
    folder: Path  # `<work-dir>/.launch/<id>`: what the main process tells the others

    @property
    def main(self) -> bool:
        """Whether this is the process that runs the cycle."""
        return self.rank == 0

    def announce(self, job: TrainJob) -> None:
        """Hand the other processes a training job (main process; called before it trains)."""
        count = len(list(self.folder.glob("job-*.json")))
        _write_json(self.folder / f"job-{count + 1}.json", job_record(job))

    def end(self, meet: bool) -> None:
        """Tell the other processes the cycle is over; when `meet`, wait for them and clean up.

        A cycle that failed does not meet: the other processes may be inside a collective of
        their own, and the launcher stops them when this process exits with an error.
        """
        _write_json(self.folder / "end.json", {"meet": meet})
        if meet:
            self.meet()
            shutil.rmtree(self.folder, ignore_errors=True)
            with suppress(OSError):  # another launch in this work folder may still use it
                self.folder.parent.rmdir()

    def meet(self) -> None:
        """A barrier over every process of the launch, then leave the process group."""
        import torch.distributed as dist

        # Not accelerate's `PartialState().wait_for_everyone()`: TrainingArguments resets that
        # state, and a fresh one made without `cpu=True` would not know it is distributed.
        dist.barrier()
        dist.destroy_process_group()


def join(work_dir: str | Path, device: str | None) -> Launch | None:
    """Join the launch's process group and agree on its folder; None outside a distributed launch.

    Args:
        work_dir: The cycle's `--work-dir`; it must be the same folder for every process (one
            machine, or storage they share).
        device: The device setting the cycle trains with. On the CPU accelerate joins with
            gloo, as the trainer's `use_cpu` will, instead of looking for an accelerator.
    """
    if world_size() <= 1:
        return None
    import torch.distributed as dist
    from accelerate import PartialState

    from runtime.device import select_device

    state = PartialState(cpu=select_device(device) == "cpu")
    if state.num_processes <= 1:
        return None
    # A fresh folder per launch, so a follower never mistakes an earlier launch's files for news.
    ids = [uuid.uuid4().hex[:12] if state.is_main_process else None]
    dist.broadcast_object_list(ids, src=0)
    folder = Path(work_dir) / ".launch" / ids[0]
    if state.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
    return Launch(rank=state.process_index, world_size=state.num_processes, folder=folder)


@contextmanager
def leading(launch: Launch | None) -> Iterator[None]:
    """Run the main process's cycle, then tell the others how it ended (nothing without a launch)."""
    if launch is None:
        yield
        return
    from compiler.errors import ExitCode, TenetError

    try:
        yield
    except TenetError as exc:
        # An outcome such as "nothing to train" ends the cycle normally; an error does not.
        launch.end(meet=exc.exit_code == ExitCode.OK)
        raise
    except BaseException:
        launch.end(meet=False)
        raise
    launch.end(meet=True)


def follow(launch: Launch, artifact: CompiledArtifact) -> int:
    """Train every job the main process announces, until it ends the cycle; return the exit code.

    A follower prints nothing on stdout, which belongs to the main process's table or JSON
    summary, and records nothing: the main process logs the training to MLflow.
    """
    from compiler.errors import ExitCode
    from runtime.cycle import train_job

    count = 0
    with redirect_stdout(sys.stderr):
        while (news := _next(launch.folder, count + 1)) is not None:
            count += 1
            train_job(job_from_record(news, artifact))
    end = json.loads((launch.folder / "end.json").read_text(encoding="utf-8"))
    if end["meet"]:
        launch.meet()
    return ExitCode.OK


def _next(folder: Path, number: int) -> dict[str, Any] | None:
    """Job `number` once the main process announces it, or None once it has ended the cycle."""
    job, end = folder / f"job-{number}.json", folder / "end.json"
    while True:
        if job.exists():
            return json.loads(job.read_text(encoding="utf-8"))
        if end.exists():
            # The job may have been written just before the end: look once more.
            return json.loads(job.read_text(encoding="utf-8")) if job.exists() else None
        time.sleep(POLL_SECONDS)


def job_record(job: TrainJob) -> dict[str, Any]:
    """A training job as JSON values; reward functions travel as a flag (they are the rules')."""
    record = {f.name: getattr(job, f.name) for f in dataclasses.fields(job)
              if f.name not in ("hyperparameters", "callbacks", "reward_functions")}
    record["hyperparameters"] = job.hyperparameters.model_dump(mode="json")
    record["report_to"] = list(job.report_to)
    record["reward_functions"] = bool(job.reward_functions)
    return record


def job_from_record(record: dict[str, Any], artifact: CompiledArtifact) -> TrainJob:
    """The main process's job, for a follower: it reports nowhere and shows no progress bar."""
    from compiler.plan import TrainSettings
    from runtime.train.common import TrainJob

    rewards = ()
    if record["reward_functions"]:
        from runtime.train.rewards import rule_rewards

        rewards = tuple(rule_rewards(artifact.ir.rules))
    rebuilt = ("hyperparameters", "reward_functions", "report_to")
    fields = {k: v for k, v in record.items() if k not in rebuilt}
    return TrainJob(**{**fields, "progress": False}, report_to=(), reward_functions=rewards,
                    hyperparameters=TrainSettings.model_validate(record["hyperparameters"]))


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write whole or not at all: a follower polling the folder never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2), encoding="utf-8")
    os.replace(tmp, path)
