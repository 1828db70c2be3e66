"""The names tenet gives things in MLflow: tags, the registry alias, the experiment prefix.

Writers (`cycle.py`, `track.py`, `lineage.py`) and readers (`audit/`, `report.py`) import
these constants, so a renamed tag cannot leave `tenet audit` reading a name nobody writes.
"""

from __future__ import annotations

EXPERIMENT_PREFIX = "tenet/"  # one experiment per policy: tenet/<policy id>
CHAMPION = "champion"  # the registry alias of the promoted model version

# The experiment tag that picks the MLflow UI's view; without it 3.x opens the GenAI view.
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_ML = "custom_model_development"  # the UI's "Machine learning" view: runs, models

# Tags MLflow itself sets.
PARENT_RUN = "mlflow.parentRunId"
DATASET_CONTEXT = "mlflow.data.context"  # on a run input: training or evaluation

# Tags of a cycle's parent run.
COMPILER = "tenet.compiler"
POLICY_ID = "tenet.policy.id"
POLICY_VERSION = "tenet.policy.version"
POLICY_HASH = "tenet.policy.hash"
DIFF_SUMMARY = "tenet.diff.summary"  # `fresh`, or the diff against the champion in one line
DIFF_PARENT_RUN = "tenet.diff.parent_run"
DIFF_PARENT_VERSION = "tenet.diff.parent_version"
GIT_COMMIT = "tenet.git.commit"
CYCLE_START = "tenet.cycle.start"  # `base`, or the champion version the cycle trained from
MODEL_VERSION = "tenet.model.version"
PROMOTED = "tenet.promoted"
MODEL_PATH = "tenet.model.path"  # the trained model's folder, `<work>/…` in the work folder that trained it
WORK_ID = "tenet.work.id"  # a random id of that work folder (`tenet.runtime.lineage.work_id`)

# Tags of a stage run.
STAGE = "tenet.stage"
TRAIN_SKIPPED = "tenet.train.skipped"  # why the train stage carried the champion over
GATES = "tenet.gates"  # `passed` or `failed`

# Liveness of a running cycle or stage (for the stale-run sweep).
HEARTBEAT = "tenet.heartbeat"
PID = "tenet.pid"
HOST = "tenet.host"

# A registered-model tag: the JSON list of alias moves (MLflow keeps no alias history).
PROMOTION_LOG = "tenet.promotion_log"


def experiment_name(policy_id: str) -> str:
    """The MLflow experiment that holds a policy's cycles."""
    return EXPERIMENT_PREFIX + policy_id
