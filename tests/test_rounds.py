"""On-policy rounds: a second round samples the trained model, pairs its own answers and trains again."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tenet.runtime.cli import main
from tenet.runtime.console import Console

pytest_plugins = ["tiny_models"]

FIXTURE = Path(__file__).parent / "fixtures" / "cycle" / "tiny.policy"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    import torch

    from tiny_models import build_tiny_llama

    torch.set_num_threads(1)
    return build_tiny_llama(tmp_path_factory.mktemp("rounds") / "llama")


def two_rounds(tmp_path: Path) -> Path:
    """The tiny policy with `rounds = 2`."""
    policy = tmp_path / "policy" / "tiny.policy"
    policy.parent.mkdir()
    # A limit the tiny base model's sampled answers keep only sometimes, so a round has something to pair.
    terse = ('rule terse (low):\n  require response has at most 5 words\n  example:\n    prompt "hello"\n'
             '    good   "hi there"\n    bad    "one two three four five six seven"\n\n')
    text = FIXTURE.read_text(encoding="utf-8").replace("prompts:\n", terse + "prompts:\n", 1)
    policy.write_text(text + "  rounds = 2\n", encoding="utf-8")
    return policy


def test_the_plan_has_a_stage_per_round(tmp_path):
    from tenet.compiler.pipeline import compile_policy

    plan = compile_policy(str(two_rounds(tmp_path))).artifact.plan
    assert [s.name for s in plan.stages] == ["label", "synthesize", "evaluate-before", "train", "round-2",
                                             "evaluate-after", "gate", "register"]


def test_a_second_round_trains_on_the_trained_models_own_pairs(base, tmp_path, monkeypatch):
    import pandas as pd

    from tenet.runtime.track import Tracker

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out, err = io.StringIO(), io.StringIO()
    code = main(["compile-and-train", str(two_rounds(tmp_path)), "--base-model", str(base), "--max-steps", "2",
                 "--work-dir", str(tmp_path / "work")], Console(out=out, err=err))
    assert code in (0, 3), err.getvalue()
    tracker = Tracker("tiny", tmp_path / "work")
    runs = tracker.client.search_runs([tracker.experiment_id])
    (round_run,) = [r for r in runs if r.data.tags.get("tenet.stage") == "round-2"]
    metrics = round_run.data.metrics
    assert {"round.pairs", "round.rules_below_target", "round.break_rate.short"} <= set(metrics)
    (folder,) = (tmp_path / "work" / "tiny").glob("*/round-2")
    pairs = pd.read_parquet(folder / "pairs" / "pairs.parquet")
    assert len(pairs) == metrics["round.pairs"]
    below = {rule for rule in ("short", "no-bad", "terse") if metrics[f"round.break_rate.{rule}"] > 0.1}
    # Only the rules the trained model still breaks get pairs, all from its own samples.
    assert all(rules[0] in below for rules in pairs["target_rules"])
    assert set(pairs["strategy"]) <= {"sample", "artifact", "scope"}
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trained_from = parent.data.tags["tenet.model.path"]
    assert ("round-2" in trained_from) == (len(pairs) > 0)


@pytest.mark.slow
def test_a_round_pairs_only_the_rules_the_model_still_breaks(tmp_path):
    """The embedded model's own samples on the demo policy: pairs only for the rules below target."""
    import pandas as pd

    from tenet.compiler.pipeline import compile_policy
    from tenet.compiler.plan import RoundStage
    from tenet.runtime.models import resolve_model
    from tenet.runtime.rounds import on_policy_round
    from tenet.runtime.synthesize.generate import Generator

    policy = Path(__file__).resolve().parent.parent / "examples" / "demo" / "acme-chat.policy"
    artifact = compile_policy(str(policy)).artifact
    training = artifact.ir.training
    generator = Generator(resolve_model(training.base_model, policy.parent), max_new_tokens=training.max_new_tokens)
    found = on_policy_round(artifact, tmp_path / "round", RoundStage(round=2), root=policy.parent,
                            generator=generator, max_model_prompts=6)
    assert set(found.break_rates) == {r.id for r in artifact.ir.rules}
    assert set(found.below_target) == {rule for rule, rate in found.break_rates.items() if rate > 0.1}
    pairs = pd.read_parquet(found.folder / "pairs.parquet")
    assert found.pairs == len(pairs) > 0
    assert {rules[0] for rules in pairs["target_rules"]} <= set(found.below_target)
    assert "sample" in set(pairs["strategy"])
