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

Only this launch's main process can hand a follower a job. It makes the launch's folder itself
(`mkdtemp`, mode 0700) and a random key, and sends both to the others over the process group,
never through a file. Each message carries an HMAC-SHA256 of its content under that key. A
follower reads a message only from a plain file (no symbolic link) of its own user that no one
else may write, in a folder of the same kind, and only when its HMAC verifies; it then checks
the job against the `TrainJob` record's fields and types, and trains it only when every data and
output path lies in the work folder and the start model is there or is the plan's base model.
Anything else stops the follower with a `LaunchError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from tenet.compiler.errors import TenetError
from tenet.runtime.device import rank, world_size

if TYPE_CHECKING:
    from tenet.compiler.artifact import CompiledArtifact
    from tenet.runtime.train.common import TrainJob

POLL_SECONDS = 0.5
MAX_MESSAGE_BYTES = 1 << 20  # a job is a few hundred bytes
# The job fields that name files the follower reads or writes: all in the work folder.
WORK_PATHS = ("pairs_path", "unpaired_path", "output_dir", "resume_from", "prompts_path")


class LaunchError(TenetError):
    """A file in the launch's folder that this launch's main process did not write, or a job out of bounds."""


@dataclass(frozen=True)
class Launch:
    """This process's place in a distributed launch, and the folder its processes meet in."""

    rank: int
    world_size: int
    folder: Path  # `<work-dir>/.launch/<random>`: what the main process tells the others
    key: bytes = dataclasses.field(repr=False)  # the HMAC key of this launch's messages
    announced: list[int] = dataclasses.field(default_factory=list, compare=False)

    @property
    def main(self) -> bool:
        """Whether this is the process that runs the cycle."""
        return self.rank == 0

    @property
    def work_dir(self) -> Path:
        """The cycle's work folder, which every path of a job must lie in."""
        return self.folder.parent.parent

    def announce(self, job: TrainJob) -> None:
        """Hand the other processes a training job (main process; called before it trains)."""
        self.announced.append(len(self.announced) + 1)
        write_message(self.folder / f"job-{self.announced[-1]}.json", job_record(job), self.key)

    def end(self, meet: bool) -> None:
        """Tell the other processes the cycle is over; when `meet`, wait for them and clean up.

        A cycle that failed does not meet: the other processes may be inside a collective of
        their own, and the launcher stops them when this process exits with an error.
        """
        write_message(self.folder / "end.json", {"meet": meet}, self.key)
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

    from tenet.runtime.device import select_device

    state = PartialState(cpu=select_device(device) == "cpu")
    if state.num_processes <= 1:
        return None
    # A fresh folder and key per launch, made by the main process and sent over the process
    # group: a follower never mistakes an earlier launch's files, or anyone else's, for news.
    shared = list(new_launch_folder(work_dir)) if state.is_main_process else [None, None]
    dist.broadcast_object_list(shared, src=0)
    folder, key = Path(shared[0]), bytes.fromhex(shared[1])
    if not state.is_main_process:
        check_folder(folder)
    return Launch(rank=state.process_index, world_size=state.num_processes, folder=folder, key=key)


def new_launch_folder(work_dir: str | Path) -> tuple[str, str]:
    """A new private folder under `<work-dir>/.launch/` and a random key (hex) for one launch."""
    parent = Path(work_dir) / ".launch"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = tempfile.mkdtemp(prefix="", dir=parent)  # mode 0700, a name no one can guess
    return str(Path(folder).resolve()), secrets.token_hex(32)


def check_folder(folder: Path) -> None:
    """Refuse a launch folder that is a link, or that another user owns or may write to."""
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise LaunchError(f"launch folder {folder} cannot be read: {exc.strerror}") from None
    problem = _ownership_problem(info, stat.S_ISDIR)
    if problem is not None:
        raise LaunchError(f"launch folder {folder} {problem}; a follower reads only its main process's folder")


@contextmanager
def leading(launch: Launch | None) -> Iterator[None]:
    """Run the main process's cycle, then tell the others how it ended (nothing without a launch)."""
    if launch is None:
        yield
        return
    from tenet.compiler.errors import ExitCode, TenetError

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
    from tenet.compiler.errors import ExitCode
    from tenet.runtime.train.jobs import train_job

    count = 0
    with redirect_stdout(sys.stderr):
        while (news := _next(launch, count + 1)) is not None:
            count += 1
            check_record(news, launch.work_dir, lambda: _base_model(artifact))
            train_job(job_from_record(news, artifact))
    end = read_message(launch.folder / "end.json", launch.key)
    if end.get("meet") is True:
        launch.meet()
    return ExitCode.OK


def _next(launch: Launch, number: int) -> dict[str, Any] | None:
    """Job `number` once the main process announces it, or None once it has ended the cycle."""
    job, end = launch.folder / f"job-{number}.json", launch.folder / "end.json"
    while True:
        if os.path.lexists(job):
            return read_message(job, launch.key)
        if os.path.lexists(end):
            # The job may have been written just before the end: look once more.
            return read_message(job, launch.key) if os.path.lexists(job) else None
        time.sleep(POLL_SECONDS)


def write_message(path: Path, value: dict[str, Any], key: bytes) -> None:
    """Write a signed message whole or not at all: a follower polling the folder never reads half a file."""
    body = json.dumps(value, sort_keys=True)
    text = json.dumps({"body": body, "hmac": _sign(body, key)}, indent=2)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def read_message(path: Path, key: bytes) -> dict[str, Any]:
    """A message this launch's main process wrote: a plain private file of this user whose HMAC verifies.

    Raises:
        LaunchError: For a link, a file another user owns or may write, or a wrong signature.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise LaunchError(f"{path} cannot be read ({exc.strerror}); a follower reads only plain files "
                          "its main process wrote") from None
    with os.fdopen(fd, "rb") as handle:
        problem = _ownership_problem(os.fstat(handle.fileno()), stat.S_ISREG)
        if problem is not None:
            raise LaunchError(f"{path} {problem}; a follower reads only files its main process wrote")
        raw = handle.read(MAX_MESSAGE_BYTES + 1)
    try:
        outer = json.loads(raw)
        body, mac = outer["body"], outer["hmac"]
        valid = isinstance(body, str) and isinstance(mac, str) and hmac.compare_digest(_sign(body, key), mac)
    except (ValueError, TypeError, KeyError):
        valid = False
    if len(raw) > MAX_MESSAGE_BYTES or not valid:
        raise LaunchError(f"{path} was not written by this launch's main process (no valid signature)")
    value = json.loads(body)
    if not isinstance(value, dict):
        raise LaunchError(f"{path} holds no message")
    return value


def _sign(body: str, key: bytes) -> str:
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _ownership_problem(info: os.stat_result, is_kind: Any) -> str | None:
    """Why a launch file or folder is not this user's own private one, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not is_kind(info.st_mode):
        return "is not the kind of file expected"
    if info.st_uid != os.geteuid():
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "may be written by other users"
    return None


def check_record(record: dict[str, Any], work_dir: Path, base_model: Any) -> None:
    """Refuse a job that is not a `TrainJob` record, or whose paths leave the work folder.

    Args:
        record: The job as `job_record` wrote it.
        work_dir: The cycle's work folder.
        base_model: Returns the plan's base model folder (a start model may also be that one),
            called only when the start model is outside the work folder.
    """
    from tenet.runtime.train.jobs import METHOD_MODULES
    from tenet.runtime.train.common import TrainJob

    fields = {f.name for f in dataclasses.fields(TrainJob)} - {"callbacks"}
    if set(record) != fields:
        raise LaunchError(f"a job must have exactly the fields {sorted(fields)}; got {sorted(record)}")
    if record["method"] not in METHOD_MODULES:
        raise LaunchError(f"unknown training method {record['method']!r} in a job")
    texts = ("method", "model_path", "output_dir")
    if not all(isinstance(record[k], str) for k in texts) or not all(
            record[k] is None or isinstance(record[k], str) for k in WORK_PATHS):
        raise LaunchError("a job's method and paths must be strings")
    if not (isinstance(record["report_to"], list) and all(isinstance(r, str) for r in record["report_to"])
            and isinstance(record["reward_functions"], bool) and isinstance(record["progress"], bool)
            and isinstance(record["hyperparameters"], dict)):
        raise LaunchError("a job's report_to, reward_functions, progress or hyperparameters is mistyped")
    for name in WORK_PATHS:
        if record[name] is not None and not _inside(record[name], work_dir):
            raise LaunchError(f"a job's {name} {record[name]!r} is outside the work folder {work_dir}")
    model = record["model_path"]
    if not _inside(model, work_dir) and not _same_folder(model, base_model()):
        raise LaunchError(f"a job's start model {model!r} is neither in the work folder {work_dir} nor the "
                          "plan's base model")


def _inside(path: str, folder: Path) -> bool:
    """Whether `path`, symbolic links resolved, lies in `folder`."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def _same_folder(path: str, other: str) -> bool:
    """Whether two paths name one folder (never when `other` is empty)."""
    return bool(other) and Path(path).resolve() == Path(other).resolve()


def _base_model(artifact: CompiledArtifact | None) -> str:
    """The plan's base model folder, resolved as the main process resolved it (none without an artifact)."""
    if artifact is None:
        return ""
    from tenet.runtime.cycle import train_stage
    from tenet.runtime.models import resolve_model

    train = train_stage(artifact)
    return resolve_model(train.base_model, Path(artifact.sources[-1].path).parent, train.settings.revision)


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
    from tenet.compiler.plan import TrainSettings
    from tenet.runtime.train.common import TrainJob

    rewards = ()
    if record["reward_functions"]:
        from tenet.runtime.train.rewards import rule_rewards

        rewards = tuple(rule_rewards(artifact.ir.rules))
    rebuilt = ("hyperparameters", "reward_functions", "report_to")
    fields = {k: v for k, v in record.items() if k not in rebuilt}
    return TrainJob(**{**fields, "progress": False}, report_to=(), reward_functions=rewards,
                    hyperparameters=TrainSettings.model_validate(record["hyperparameters"]))
