"""Update cycles on a tiny random model: diff against the champion, reuse, continue, gate.

v1 trains from the base and is promoted (lenient gates); v2 tightens one rule, so its cycle
diffs against v1's champion, reuses the unchanged rule's candidates and the cached model
samples, evaluates the champion as "before", trains from it on the changed rule's pairs plus
replay, and checks regression on the unchanged rule only. Running v2 again changes nothing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tenet.runtime.cli import main
from tenet.runtime.console import Console

pytest_plugins = ["tiny_models"]

FIXTURES = Path(__file__).parent / "fixtures" / "cycle"


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cycles(tmp_path_factory):
    import torch

    from tiny_models import build_tiny_llama

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("update")
    # Stop words end some answers, so the model's samples give pairs (capped ones never do).
    model = build_tiny_llama(tmp / "llama", stop_words=(".", "!", "?"))
    common = ["--base-model", str(model), "--max-steps", "4", "--work-dir", str(tmp / "work")]
    first = _run(["compile-and-train", str(FIXTURES / "update-v1.policy"), *common])
    second = _run(["compile-and-train", str(FIXTURES / "update-v2.policy"), *common])
    again = _run(["compile-and-train", str(FIXTURES / "update-v2.policy"), *common])
    from_base = _run(["compile-and-train", str(FIXTURES / "update-v2.policy"), *common, "--from-base"])
    return {"first": first, "second": second, "again": again, "from_base": from_base, "tmp": tmp,
            "common": common, "model": model}


def _tracker(tmp: Path):
    from tenet.runtime.track import Tracker

    return Tracker("tiny-update", tmp / "work")


def _cycle_runs(tmp: Path):
    tracker = _tracker(tmp)
    runs = tracker.client.search_runs([tracker.experiment_id], order_by=["attributes.start_time ASC"])
    return tracker, [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def test_first_cycle_is_fresh_and_promoted(cycles, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, out, err = cycles["first"]
    assert code == 0, err
    assert "promoted to champion" in out
    _, parents = _cycle_runs(cycles["tmp"])
    tags = parents[0].data.tags
    assert tags["tenet.diff.summary"] == "fresh" and "tenet.diff.parent_run" not in tags
    assert tags["tenet.cycle.start"] == "base" and tags["tenet.promoted"] == "true"
    assert tags["tenet.model.version"] == "1" and tags["tenet.git.commit"]


def test_second_cycle_diffs_against_the_champion_and_continues_from_it(cycles, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, out, err = cycles["second"]
    assert code == 0, err
    tracker, parents = _cycle_runs(cycles["tmp"])
    first, second = parents[:2]
    tags = second.data.tags
    assert tags["tenet.diff.parent_run"] == first.info.run_id
    assert tags["tenet.diff.summary"] == "+0 -0 ~1 rules (1 breaking)"
    assert tags["tenet.cycle.start"] == "champion v1"
    assert f"update of champion run {first.info.run_id}" in out
    diff = json.loads(Path(tracker.mlflow.artifacts.download_artifacts(
        run_id=second.info.run_id, artifact_path="policy/diff.json", dst_path=str(cycles["tmp"] / "dl"))).read_text())
    assert diff == [{"rule": "short", "kind": "breaking", "detail": "changed: condition"}]
    runs = tracker.client.search_runs([tracker.experiment_id],
                                      f"tags.mlflow.parentRunId = '{second.info.run_id}'")
    train = next(r for r in runs if r.data.tags.get("tenet.stage") == "train")
    assert train.data.params["train.start_model"].endswith("train/final")  # the champion, not the base
    assert "data.update-pairs.sha256" in train.data.params


def test_second_cycle_reuses_the_unchanged_rules_candidates_and_samples(cycles, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker, (first, second, _) = _cycle_runs(cycles["tmp"])
    runs = tracker.client.search_runs([tracker.experiment_id])
    synth = {r.data.tags["mlflow.parentRunId"]: r for r in runs if r.data.tags.get("tenet.stage") == "synthesize"}
    assert synth[first.info.run_id].data.metrics["pairs.reused_rules"] == 0
    assert synth[second.info.run_id].data.metrics["pairs.reused_rules"] == 1  # no-bad
    # The base model's samples and the champion's answers on the held-out prompts were cached.
    assert second.data.metrics["cache.hits"] > 0
    qa = json.loads(next((cycles["tmp"] / "work" / "tiny-update").glob("*/pairs/pair_qa.json")).read_text())
    assert "reused_rules" in qa


def test_update_trains_on_the_changed_rule_plus_replay(cycles):
    import pandas as pd

    work = cycles["tmp"] / "work" / "tiny-update"
    update = next(work.glob("*/update/pairs.parquet"))
    rows = pd.read_parquet(update)
    everything = pd.read_parquet(update.parent.parent / "pairs" / "pairs.parquet")
    def first(t):  # artifact contrasts have no target rule
        return t[0] if len(t) else ""

    targets = rows["target_rules"].map(first)
    assert (targets == "short").sum() == (everything["target_rules"].map(first) == "short").sum()
    assert 0 < (targets == "no-bad").sum() < (everything["target_rules"].map(first) == "no-bad").sum()


def test_regression_gate_checks_only_unchanged_rules(cycles, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    work = cycles["tmp"] / "work" / "tiny-update"
    gates_file = next(p for p in work.glob("*/report/gates.json") if "update" in {q.name for q in p.parent.parent.iterdir()})
    regression = next(g for g in json.loads(gates_file.read_text()) if g["gate"]["target"] == "regression")
    assert "(short)" not in regression["detail"]


def test_unchanged_policy_has_nothing_to_train(cycles):
    code, out, _ = cycles["again"]
    assert code == 0
    assert "no rule changed since champion version 2" in out and "--from-base" in out


def test_gate_limits_regression_to_given_rules():
    from tenet.compiler import ir
    from tenet.runtime.gates import check_gates
    from helpers import evaluation

    gate = ir.GateIR(target="regression", op="<=", threshold=0.02)
    before = evaluation(a=[1] * 20, b=[1] * 20)
    after = evaluation(a=[1] * 10 + [0] * 10, b=[1] * 20)
    assert not check_gates([gate], before, after, None)[0].passed
    assert check_gates([gate], before, after, None, regression_rules={"b"})[0].passed


def test_rule_keys_follow_the_rule_unless_a_strategy_compares_rules():
    from tenet.compiler.pipeline import compile_policy
    from tenet.runtime.synthesize.prompts import build_pool
    from tenet.runtime.synthesize.reuse import rule_keys

    v1, v2 = (compile_policy(str(FIXTURES / f"update-v{n}.policy")).artifact.ir for n in (1, 2))
    pool = build_pool(v1, FIXTURES, 0.2, 42)
    per_rule = [rule_keys(p, pool, ["examples", "perturb"], {}) for p in (v1, v2)]
    assert per_rule[0]["no-bad"] == per_rule[1]["no-bad"] and per_rule[0]["short"] != per_rule[1]["short"]
    cross = [rule_keys(p, pool, ["examples", "sample"], {}) for p in (v1, v2)]
    assert cross[0]["no-bad"] != cross[1]["no-bad"]
    assert rule_keys(v1, pool, ["examples", "perturb"], {"sampler": "x"})["no-bad"] != per_rule[0]["no-bad"]


def test_votes_of_an_unchanged_rule_come_from_the_cache(tmp_path):
    import numpy as np

    from tenet.compiler.pipeline import compile_policy
    from tenet.runtime.cache import Cache
    from tenet.runtime.label.engine import Labeler
    from tenet.runtime.synthesize.verify import vote_matrix

    v1, v2 = (compile_policy(str(FIXTURES / f"update-v{n}.policy")).artifact.ir.rules for n in (1, 2))
    rows = [("hello", text, ()) for text in ("good", "bad", "one two three four five six", "one two three four five")]
    cache = Cache(tmp_path)
    first = vote_matrix(v1, rows, Labeler(v1, spans=False, cache=cache))
    assert cache.hits == 0 and len(list(tmp_path.rglob("*.json"))) == 2
    second = vote_matrix(v2, rows, Labeler(v2, spans=False, cache=cache))
    assert cache.hits == 1  # no-bad is unchanged; short (6 -> 5 words) is labeled again
    assert np.array_equal(first[:, 1], second[:, 1]) and not np.array_equal(first[:, 0], second[:, 0])
    assert np.array_equal(second, vote_matrix(v2, rows))  # the same as uncached


def test_cached_votes_are_not_reused_once_the_vote_code_changes(tmp_path, monkeypatch):
    from tenet.compiler.pipeline import compile_policy
    from tenet.runtime.cache import Cache
    from tenet.runtime.label import engine
    from tenet.runtime.synthesize.verify import vote_matrix

    rules = compile_policy(str(FIXTURES / "update-v1.policy")).artifact.ir.rules
    rows = [("hello", "good", ())]
    cache = Cache(tmp_path)
    vote_matrix(rules, rows, engine.Labeler(rules, spans=False, cache=cache))
    vote_matrix(rules, rows, engine.Labeler(rules, spans=False, cache=cache))
    assert cache.hits == len(rules)
    # A built-in pattern that changed (a new refusal phrase) is a new digest: nothing is reused.
    monkeypatch.setattr(engine, "vote_code_digest", lambda: "other code")
    vote_matrix(rules, rows, engine.Labeler(rules, spans=False, cache=cache))
    assert cache.hits == len(rules)


def test_the_vote_code_digest_covers_the_built_in_patterns():
    from tenet.runtime.label import engine

    files = {path.relative_to(engine._ROOT).as_posix() for path in engine.vote_code_files()}
    assert {"compiler/semantics.py", "compiler/predicates/refusal.py", "compiler/predicates/pii.py",
            "runtime/predicates/refusal.py", "runtime/label/kernels.py"} <= files
    assert all((engine._ROOT / f).is_file() for f in files) and len(engine.vote_code_digest()) == 64


def test_from_base_trains_the_base_model_but_still_diffs_and_gates_against_the_champion(cycles, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = cycles["from_base"]
    assert code == 0, err
    tracker, parents = _cycle_runs(cycles["tmp"])
    assert len(parents) == 3
    third = parents[-1]
    assert third.data.tags["tenet.cycle.start"] == "base"
    assert third.data.tags["tenet.diff.parent_run"] == parents[1].info.run_id
    runs = tracker.client.search_runs([tracker.experiment_id], f"tags.mlflow.parentRunId = '{third.info.run_id}'")
    train = next(r for r in runs if r.data.tags.get("tenet.stage") == "train")
    assert train.data.params["train.start_model"] == f"<local>/{cycles['model'].name}"  # no machine path
    assert "data.update-pairs.sha256" not in train.data.params  # all pairs, not the update subset


def test_replay_draws_the_earlier_pairs_by_need_with_a_floor():
    import pandas as pd

    from tenet.runtime.replay import REPLAY_FLOOR, replayed_pairs

    # 40 contrasts and pairs of rules the model breaks, 160 of rules it keeps (need 0.1).
    old = pd.DataFrame({"pair_id": range(200), "need": [1.0] * 40 + [0.1] * 160})
    draws = [replayed_pairs(old, 40, seed=seed) for seed in range(10)]
    assert all(len(d) == 40 and d["pair_id"].is_unique for d in draws)
    needed = sum((d["need"] == 1.0).sum() for d in draws) / len(draws)
    # Uniform: 8 of 40; by need alone: 40 * 40 / 56, about 23; with the floor: 40 * 40 / 120.
    share = 40 / (40 + 160 * REPLAY_FLOOR)
    assert abs(needed - 40 * share) < 2.5
    assert replayed_pairs(old, 40, seed=3).equals(draws[3])


def test_replay_without_a_need_column_draws_uniformly():
    import pandas as pd

    from tenet.runtime.replay import replayed_pairs

    old = pd.DataFrame({"pair_id": range(10)})
    assert sorted(replayed_pairs(old, 10, seed=0)["pair_id"]) == list(range(10))
