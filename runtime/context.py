"""What one cycle's stages share: the caller's options, the loaded models, the context and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.errors import NothingToDo
from tenet.compiler.plan import TrainStage
from tenet.runtime.evaluate import Compliance
from tenet.runtime.gates import GateResult

if TYPE_CHECKING:
    from tenet.runtime.cache import Cache
    from tenet.runtime.label.engine import Labeler
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.lineage import Changes, Parent
    from tenet.runtime.synthesize.generate import Generator
    from tenet.runtime.synthesize.run import SynthesisResult
    from tenet.runtime.track import Tracker
    from tenet.runtime.train.common import TrainJob
    from tenet.runtime.update_plan import UpdateDecisions


@dataclass
class CycleOptions:
    """What the caller may override for one cycle (see `apply_overrides` for where each goes)."""

    work_dir: str = "work"
    base_model: str | None = None
    method: str | None = None
    max_steps: int | None = None
    seed: int | None = None  # the train stage's seed (data order, initialisation); benchmarks vary it
    device: str | None = None
    eval_prompts: int | None = None
    model_prompts: int | None = 24
    samples_per_prompt: int = 3
    from_base: bool = False  # train from the plan's base model even when a champion exists
    engine: str | None = None  # where the model generates: local or ray (default: the policy's `generation`)
    ray_address: str | None = None  # the operator's Ray cluster (default: RAY_ADDRESS, else a local one)
    progress: bool = False  # progress bars inside the generating and training stages
    # Called with the train stage's job just before it trains: under `accelerate launch` the
    # main process hands it to the other processes, so that they train it too (runtime/scale.py).
    before_train: Callable[[TrainJob], None] | None = None


class NothingToTrain(NothingToDo):
    """The policy's rules are what the champion was trained on: a cycle would change nothing."""

    outcome = "nothing-to-train"


@dataclass
class CycleResult:
    """The outcome of a cycle: compliance before and after, gates, and where it is recorded."""

    run_id: str
    before: Compliance
    after: Compliance
    gates: list[GateResult]
    promoted: bool
    model_version: str | None
    drift: float | None
    tracking_uri: str
    stages: list[str] = field(default_factory=list)
    diff_summary: str = "fresh"
    parent_run: str | None = None
    unchanged: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CycleModels:
    """The models a cycle generates and labels with, loaded once when its run opens."""

    generator: Generator  # the base model: it samples the pairs and anchors the drift measure
    incumbent: Generator  # the model before training: the champion in an update, else the base
    labeler: Labeler
    scorers: Scorers | None
    generation: dict[str, Any]  # Generator settings every model of the cycle shares, and its engine

    def load(self, model_path: str) -> Generator:
        """A generator for another model of the cycle (the trained one), with the same settings."""
        from tenet.runtime.synthesize.ray_generate import open_generator

        return open_generator(model_path, **self.generation)


@dataclass
class CycleContext:
    """What the stages of one cycle share and hand each other.

    The first block is known before the cycle's run opens; `run_id` and `models` are set when
    it opens; the last block is filled in by the handlers in plan order, each reading only what
    an earlier stage wrote.
    """

    artifact: CompiledArtifact
    options: CycleOptions
    root: Path  # the policy's folder: prompt files and local models resolve from it
    work: Path  # this policy version's work folder
    cache: Cache
    tracker: Tracker
    base_path: str
    parent: Parent | None  # the champion's cycle, or None for a first cycle
    delta: Changes  # the diff against the champion's artifact
    decisions: UpdateDecisions  # what the cycle does given the champion (`tenet plan` prints the same)
    run_id: str = field(init=False)
    models: CycleModels = field(init=False)

    synth: SynthesisResult | None = None
    pairs_dir: Path | None = None
    before: Compliance | None = None
    train: TrainStage | None = None  # the train stage as run (with the caller's overrides)
    trained_dir: str | None = None
    after: Compliance | None = None
    drift: float | None = None
    gates: list[GateResult] = field(default_factory=list)
    passed: bool = False
    model_version: str | None = None

    @property
    def continuing(self) -> bool:
        """Whether training starts from the champion rather than from the base model."""
        return self.decisions.start == "champion"
