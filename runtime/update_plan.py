"""An update cycle's decisions, resolved against the champion before anything runs.

The compiled plan is the same for every cycle of a policy; what a cycle then does depends on
the current state, the champion the policy's model registry names (sqlmesh's plan is built
against the environment the same way). `UpdateDecisions` holds those decisions: where
training starts, which rules retrain and which must hold, what is reused from the cache and
replayed, and whether training is skipped. `tenet plan` prints them, and the cycle takes its
decisions from the same function (`decide`), so the plan says what `compile-and-train` will do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.plan import TrainStage, stage_of


@dataclass(frozen=True)
class UpdateDecisions:
    """What the next cycle of a policy does, given its champion (None: a fresh cycle)."""

    champion_version: str | None
    champion_run: str | None
    diff: str  # the one-line diff summary against the champion, or "fresh"
    start: str  # "base" or "champion"
    changed: tuple[str, ...]  # rules trained on new pairs
    unchanged: tuple[str, ...]  # rules whose cached samples and pairs are reused, replayed and held
    removed: tuple[str, ...]
    replay: float  # share of the update's training rows that replay unchanged rules' pairs
    max_steps: int  # the fresh cycle's step cap; an update scales it to its share of pairs
    train: str  # "train", "skip" (only removals), "nothing" (no change) or "unknown" (the store was not read)
    regression_rules: tuple[str, ...] | None  # rules the regression gate compares (None: every rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The decisions in words, one per line, for `tenet plan`."""
        if self.train == "unknown":
            return [f"champion not read: {self.diff}"]
        if self.champion_version is None:
            return ["fresh cycle: no champion yet; training starts from the base model"]
        head = f"update of champion v{self.champion_version} (run {self.champion_run}): {self.diff}"
        if self.train == "nothing":
            return [head, "nothing to train: no rule changed since the champion (--from-base retrains)"]
        start = (f"start       champion v{self.champion_version}" if self.start == "champion"
                 else "start       the base model (--from-base)")
        lines = [head, start, f"retrain     {_names(self.changed)}", f"reuse       cached samples and pairs of "
                 f"{_names(self.unchanged)}"]
        if self.train == "skip":
            lines.append("train       skipped: only rules were removed, so the champion carries over")
        elif self.start == "champion":
            steps = f"{self.max_steps} steps scaled to the update's share of pairs" if self.max_steps > 0 else "epochs"
            lines.append(f"replay      {self.replay:.0%} of the training rows from the unchanged rules' pairs; {steps}")
        held = "every rule" if self.regression_rules is None else _names(self.regression_rules)
        lines.append(f"regression  gate compares {held}")
        return lines


def decide(artifact: CompiledArtifact, parent, delta, from_base: bool = False,
           train: TrainStage | None = None) -> UpdateDecisions:
    """The decisions for a cycle of `artifact` given the champion `parent` and the `delta` against it."""
    train = train or stage_of(artifact.plan, TrainStage)
    settings = train.settings
    if parent is None:
        return fresh(artifact, train)
    continuing = not from_base
    if not delta.changed and not delta.removed and continuing:
        action = "nothing"
    elif continuing and not delta.changed:
        action = "skip"
    else:
        action = "train"
    return UpdateDecisions(parent.version, parent.run_id, delta.summary(), "champion" if continuing else "base",
                           tuple(sorted(delta.changed)), tuple(sorted(delta.unchanged)), tuple(sorted(delta.removed)),
                           settings.replay, settings.max_steps, action, tuple(sorted(delta.unchanged)) or None)


def fresh(artifact: CompiledArtifact, train: TrainStage | None = None) -> UpdateDecisions:
    """The decisions of a first cycle: every rule trains, from the base model."""
    settings = (train or stage_of(artifact.plan, TrainStage)).settings
    return UpdateDecisions(None, None, "fresh", "base", tuple(sorted(r.id for r in artifact.ir.rules)), (), (),
                           settings.replay, settings.max_steps, "train", None)


def against_champion(artifact: CompiledArtifact, work_dir: str | Path, from_base: bool = False) -> UpdateDecisions:
    """The decisions for the next cycle of `artifact` in `work_dir` (or the store `MLFLOW_TRACKING_URI` names).

    Reads the champion's run and artifact only, never its model; a work folder without a store is a fresh cycle.
    """
    import importlib.util

    from tenet.runtime.track import user_tracking_uri

    if not user_tracking_uri() and not (Path(work_dir) / "mlflow.db").exists():
        return fresh(artifact)
    if importlib.util.find_spec("mlflow") is None:
        return replace(fresh(artifact), diff='the MLflow store needs the [train] extra: pip install "tenet[train]"',
                       start="unknown", train="unknown")
    from tenet.runtime.lineage import changes, find_parent
    from tenet.runtime.track import Tracker

    parent = find_parent(Tracker(artifact.ir.policy_id, work_dir), artifact.ir.policy_id, fetch_model=False)
    return decide(artifact, parent, changes(parent, artifact), from_base)


def _names(rules: tuple[str, ...]) -> str:
    return ", ".join(rules) if rules else "no rule"
