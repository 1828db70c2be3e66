"""Online training: compiled rules as GRPO rewards, GRPO on a tiny Llama, and RLHF (reward model
then GRPO). Everything is offline and tiny; the training tests take a few seconds each."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.runtime.train import grpo, rlhf  # noqa: E402
from tenet.runtime.train.common import TrainJob  # noqa: E402
from tenet.runtime.train.rewards import policy_reward, reward_name, rule_reward_weights, rule_rewards  # noqa: E402

pytest_plugins = ["tiny_models"]

FIXTURES = Path(__file__).parent / "fixtures" / "train_online"
# A small vocabulary so a random model says "bad" and stops early often: rewards vary in a group.
WORDS = ("hello", "world", "good", "bad", "it", "was", "say", "how", "nice", "ok")
PROMPTS = ["say hello", "how was it", "say it", "how was world"]


@pytest.fixture(scope="module")
def rules():
    result = compile_policy(str(FIXTURES / "tiny.policy"))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact.ir.rules


@pytest.fixture(scope="module")
def small_llama(tmp_path_factory, torch_one_thread) -> Path:
    from tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("small-llama"), words=WORDS)


@pytest.fixture(scope="module")
def prompts_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "eval_prompts.parquet"
    rows = [{"prompt": [{"role": "user", "content": p}], "prompt_id": str(i)} for i, p in enumerate(PROMPTS)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture(scope="module")
def pairs_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.parquet"
    chosen = ["hello world", "it was good", "ok", "nice world"]
    rejected = ["it was bad", "bad bad bad", "hello world hello world hello world", "it was bad world"]
    rows = [{"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}], "pair_id": str(i)}
            for i, (p, c, r) in enumerate(zip(PROMPTS, chosen, rejected))]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def hyperparameters(**overrides) -> dict:
    hp = {"learning_rate": 1e-2, "epochs": 1, "max_steps": 2, "batch_size": 4, "grad_accum": 1, "beta": 0.0,
          "seed": 0, "device": "cpu", "precision": "fp32", "num_generations": 2, "max_new_tokens": 8,
          "max_length": 64}
    hp.update(overrides)
    return hp


def weights_of(path: Path) -> dict:
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(str(path)).state_dict().items()}


def changed(before: dict, after_path: Path) -> bool:
    import torch

    after = weights_of(after_path)
    return any(not torch.equal(before[k], after[k]) for k in before)


def chat(prompt: str) -> list[dict]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}]


def answer(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# --- rewards ------------------------------------------------------------------------------------

def test_rule_rewards_conversational(rules):
    functions = rule_rewards(rules)
    assert [f.__name__ for f in functions] == ["rule_short", "rule_no_bad"]
    assert reward_name("no-bad") == "rule_no_bad"
    prompts = [chat("say hello")] * 4
    completions = [answer("hello world"), answer("it was bad"),
                   answer("one two three four five six seven"), answer("bad one two three four five six")]
    short, no_bad = functions
    assert short(prompts=prompts, completions=completions, completion_ids=[[1]] * 4) == [1.0, 1.0, -1.0, -1.0]
    assert no_bad(prompts=prompts, completions=completions) == [1.0, -1.0, 1.0, -1.0]


def test_rule_rewards_standard_strings_and_abstain(rules):
    short, no_bad = rule_rewards(rules)
    # An empty completion cannot be labeled: every rule abstains and gives 0.0.
    prompts, completions = ["say hello", "say hello"], ["hello", "   "]
    assert short(prompts=prompts, completions=completions) == [1.0, 0.0]
    assert no_bad(prompts=prompts, completions=completions) == [1.0, 0.0]


def test_rule_rewards_label_once_per_batch(rules, monkeypatch):
    from tenet.runtime.label.engine import Labeler

    calls = []
    original = Labeler.votes
    monkeypatch.setattr(Labeler, "votes", lambda self, table: calls.append(1) or original(self, table))
    functions = rule_rewards(rules)
    prompts, completions = [chat("hi")], [answer("hello")]
    for f in functions:
        f(prompts=prompts, completions=completions)
    assert len(calls) == 1
    functions[0](prompts=prompts, completions=[answer("it was bad")])
    assert len(calls) == 2


def test_policy_reward_and_weights(rules):
    assert rule_reward_weights(rules) == pytest.approx([2 / 6, 4 / 6])
    reward = policy_reward(rules)
    assert reward.__name__ == "policy_compliance"
    prompts = [chat("x")] * 4
    completions = [answer("hello"), answer("it was bad"), answer("a b c d e f g"), answer("bad a b c d e f")]
    # weights: short 2, no-bad 4 -> (±2 ±4) / 6
    assert reward(prompts=prompts, completions=completions) == pytest.approx(
        [1.0, (2 - 4) / 6, (-2 + 4) / 6, -1.0])
    assert reward(prompts=[chat("x")], completions=[answer("")]) == [0.0]


# --- training -----------------------------------------------------------------------------------

def test_grpo_trains_with_rule_rewards(rules, small_llama, prompts_path, tmp_path):
    before = weights_of(small_llama)
    job = TrainJob(method="grpo", model_path=str(small_llama), pairs_path=None, unpaired_path=None,
                   output_dir=str(tmp_path / "grpo"), hyperparameters=hyperparameters(num_generations=4),
                   reward_functions=tuple(rule_rewards(rules)), prompts_path=str(prompts_path))
    result = grpo.train(job)
    assert result.global_step == 2
    assert Path(result.output_dir) == tmp_path / "grpo" / "final"
    assert (Path(result.output_dir) / "config.json").exists()
    assert "rewards/rule_short/mean" in result.metrics and "rewards/rule_no_bad/mean" in result.metrics
    assert result.train_tokens > 0
    assert result.metrics["frac_reward_zero_std"] < 1.0  # the rules told completions apart
    assert changed(before, Path(result.output_dir))


def test_grpo_needs_reward_functions(small_llama, prompts_path, tmp_path):
    job = TrainJob(method="grpo", model_path=str(small_llama), pairs_path=None, unpaired_path=None,
                   output_dir=str(tmp_path), hyperparameters=hyperparameters(),
                   prompts_path=str(prompts_path))
    with pytest.raises(ValueError, match="reward function"):
        grpo.train(job)


def test_rlhf_reward_model_then_grpo(small_llama, prompts_path, pairs_path, tmp_path):
    before = weights_of(small_llama)
    job = TrainJob(method="rlhf", model_path=str(small_llama), pairs_path=str(pairs_path),
                   unpaired_path=None,
                   output_dir=str(tmp_path / "rlhf"), prompts_path=str(prompts_path),
                   hyperparameters=hyperparameters(reward_max_steps=2, max_steps=1))
    result = rlhf.train(job)
    assert (tmp_path / "rlhf" / "reward_model" / "config.json").exists()
    assert result.global_step == 1
    assert result.metrics["reward/global_step"] == 2.0
    assert "reward/train_loss" in result.metrics
    assert any(k.startswith("rewards/") and k.endswith("/mean") for k in result.metrics)
    assert changed(before, Path(result.output_dir))
