"""An update cycle's training data: the changed rules' pairs mixed with replayed earlier pairs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tenet.runtime.train.common import NEED_COLUMN

if TYPE_CHECKING:
    from tenet.compiler.plan import TrainSettings


def update_data(work: Path, changed: frozenset[str], settings: TrainSettings) -> tuple[Path, TrainSettings]:
    """The changed rules' pairs mixed with replayed earlier pairs, and the step cap scaled to them.

    `replay` is the share of the update's training rows that are the unchanged rules' pairs,
    trained on again so the model keeps what it learned (`replayed_pairs`). The step cap is
    the fresh cycle's cap times the update's share of all pairs: every row gets about the
    training it would get in a fresh cycle, and an edit to one rule costs a fraction of one.
    """
    import math

    import pandas as pd

    folder = work / "update"
    folder.mkdir(exist_ok=True)
    pairs = pd.read_parquet(work / "pairs" / "pairs.parquet")
    new = pairs["target_rules"].map(lambda t: len(t) > 0 and t[0] in changed)
    old = pairs[~new]
    share = min(settings.replay, 0.95)
    replayed = min(len(old), math.ceil(int(new.sum()) * share / (1.0 - share)))
    seed = settings.seed
    subset = pd.concat([pairs[new], replayed_pairs(old, replayed, seed)]).sample(frac=1.0, random_state=seed)
    subset.to_parquet(folder / "pairs.parquet", index=False)
    unpaired = pd.read_parquet(work / "pairs" / "unpaired.parquet")
    keep = unpaired["pair_id"].isin(subset["pair_id"]) if "pair_id" in unpaired else slice(None)
    unpaired[keep].to_parquet(folder / "unpaired.parquet", index=False)
    if settings.max_steps > 0 and len(pairs):
        scaled = math.ceil(settings.max_steps * len(subset) / len(pairs))
        settings = settings.replace(max_steps=max(1, scaled))
    return folder, settings


# The least weight a replayed pair has, against 1.0 for a contrast or a rule the model always broke.
REPLAY_FLOOR = 0.5


def replayed_pairs(old, n: int, seed: int):
    """`n` of the earlier pairs, drawn by need with a floor of `REPLAY_FLOOR` (seeded).

    A fresh cycle's steps go mostly to the contrasts (loops, empty items, …) and the rules the
    model breaks (`runtime/synthesize/need.py`). A uniform replay would spend most of its rows
    on rules the model keeps and few on the contrasts, and the updated model could start to
    loop; drawn by need alone (floor 0.1, as the steps draw), the rules the model keeps would
    get almost none. Replay is there to keep those rules, so they keep half a contrast's weight.
    """
    weights = old[NEED_COLUMN].clip(lower=REPLAY_FLOOR) if NEED_COLUMN in old else None
    return old.sample(n=n, weights=weights, random_state=seed)
