"""Each training method runs a few steps on a tiny random Llama, offline, on CPU.

Checks: the step count, the saved model (or LoRA adapter) loads, and the weights moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tiny_models"]

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from tenet.runtime.train.common import TrainJob  # noqa: E402
from dataclasses import replace  # noqa: E402

PROMPTS = ["hello , can you help ?", "please reset the password", "the weather today ?", "thanks for the answer"]
GOOD = ["sure , I help you .", "yes , I love to help .", "sorry , no . thanks", "good answer , thanks !"]
BAD = ["I hate you .", "no , you awful rude .", "that is bad and toxic .", "awful question !"]
PROVENANCE = {"strategy": "contrast", "target_rules": ["be-polite"], "source": "test",
              "policy_id": "polite", "policy_version": "1.0.0", "policy_hash": "abc123"}


def _rows():
    for i in range(12):
        prompt = [{"role": "system", "content": "you are polite"}] if i % 3 == 0 else []
        prompt.append({"role": "user", "content": PROMPTS[i % 4]})
        yield prompt, [{"role": "assistant", "content": GOOD[i % 4]}], [{"role": "assistant", "content": BAD[(i + 1) % 4]}], i


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    import datasets

    directory = tmp_path_factory.mktemp("train-data")
    pairs, unpaired = [], []
    for prompt, chosen, rejected, i in _rows():
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "pair_id": f"p{i}", **PROVENANCE})
        for completion, label in ((chosen, True), (rejected, False)):
            unpaired.append({"prompt": prompt, "completion": completion, "label": label, "pair_id": f"p{i}",
                             **PROVENANCE})
    datasets.Dataset.from_list(pairs).to_parquet(str(directory / "pairs.parquet"))
    datasets.Dataset.from_list(unpaired).to_parquet(str(directory / "unpaired.parquet"))
    return directory


def _job(method, model, data_dir, out, **overrides) -> TrainJob:
    hp = {"learning_rate": 1e-2, "epochs": 1, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "beta": 0.1,
          "lora": False, "lora_r": 4, "lora_alpha": 8, "max_length": 64, "precision": "fp32", "device": "cpu",
          "seed": 7, "replay": 0.0}
    hp.update(overrides.pop("hp", {}))
    return TrainJob(method=method, model_path=str(model), pairs_path=str(data_dir / "pairs.parquet"),
                    unpaired_path=str(data_dir / "unpaired.parquet"), output_dir=str(out), hyperparameters=hp,
                    **overrides)


def _weight(model) -> torch.Tensor:
    return model.get_submodule("model.layers.0.self_attn.q_proj").weight.detach().clone()


def _assert_trained(result, base_path, steps, lora=False):
    from transformers import AutoModelForCausalLM

    assert result.global_step == steps
    final = Path(result.output_dir)
    base = AutoModelForCausalLM.from_pretrained(str(base_path))
    if lora:
        from peft import PeftModel

        assert (final / "adapter_config.json").exists()
        trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base_path)),
                                            str(final)).merge_and_unload()
    else:
        assert (final / "config.json").exists()
        trained = AutoModelForCausalLM.from_pretrained(str(final))
    assert (final / "tokenizer_config.json").exists()
    assert not torch.allclose(_weight(base), _weight(trained)), "weights did not change"
    assert result.metrics.get("train_loss") is not None
    assert result.seconds > 0


@pytest.mark.parametrize("method", ["dpo", "kto", "orpo", "cft"])
def test_method_trains(method, tiny_llama, data_dir, tmp_path):
    import importlib

    module = importlib.import_module(f"tenet.runtime.train.{method}")
    result = module.train(_job(method, tiny_llama, data_dir, tmp_path / method))
    _assert_trained(result, tiny_llama, 2)
    if method in ("dpo", "kto", "cft"):
        assert result.train_tokens > 0
    if method == "cft":
        assert "unlikelihood" in result.metrics


def test_dpo_lora(tiny_llama, data_dir, tmp_path):
    from tenet.runtime.train import dpo

    result = dpo.train(_job("dpo", tiny_llama, data_dir, tmp_path / "lora", hp={"lora": True}))
    _assert_trained(result, tiny_llama, 2, lora=True)


def test_dpo_with_a_likelihood_term_on_chosen(tiny_llama, data_dir, tmp_path):
    """`sft_weight` adds TRL's `sft` loss to the sigmoid loss; the chosen side's NLL is then logged."""
    from tenet.runtime.train import dpo

    result = dpo.train(_job("dpo", tiny_llama, data_dir, tmp_path / "rpo", hp={"sft_weight": 1.0}))
    _assert_trained(result, tiny_llama, 2)
    plain = dpo.train(_job("dpo", tiny_llama, data_dir, tmp_path / "plain"))
    assert result.metrics["loss"] != plain.metrics["loss"]  # the extra term changes the loss


def test_dpo_resume(tiny_llama, data_dir, tmp_path):
    from tenet.runtime.train import dpo

    from transformers import TrainerCallback

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    out = tmp_path / "resume"
    first = dpo.train(_job("dpo", tiny_llama, data_dir, out, hp={"save_steps": 1}))
    assert first.global_step == 2 and (out / "checkpoint-2").is_dir()
    from tenet.runtime.train.common import last_valid_checkpoint

    assert last_valid_checkpoint(out) == str(out / "checkpoint-2")  # a real checkpoint counts as complete
    resumed = dpo.train(_job("dpo", tiny_llama, data_dir, out, hp={"save_steps": 1, "max_steps": 3},
                             resume_from=str(out / "checkpoint-2"), callbacks=(CountSteps(),)))
    assert resumed.global_step == 3
    assert CountSteps.steps == 1, "the resumed run should only take the missing step"
    _assert_trained(resumed, tiny_llama, 3)


def test_unlikelihood_term():
    from tenet.runtime.train.cft import unlikelihood

    logps = torch.log(torch.tensor([[0.5, 0.9, 0.2]]))
    mask = torch.tensor([[1, 1, 0]])
    expected = -(torch.log(torch.tensor(0.5)) + torch.log(torch.tensor(0.1))) / 2
    assert torch.allclose(unlikelihood(logps, mask), expected)


def test_last_valid_checkpoint_skips_incomplete_ones(tmp_path):
    import json as _json

    from tenet.runtime.train.common import last_valid_checkpoint

    def checkpoint(step: int, *, weights=True, optimizer=True, state=True, sentinel=False):
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        if weights:
            (path / "model.safetensors").write_bytes(b"w")
        if optimizer:
            (path / "optimizer.pt").write_bytes(b"o")
            (path / "scheduler.pt").write_bytes(b"s")
        if state:
            (path / "trainer_state.json").write_text(_json.dumps({"global_step": step}))
        if sentinel:
            (path / "checkpoint-is-incomplete.txt").write_text("")
        return path

    assert last_valid_checkpoint(tmp_path / "missing") is None
    good = checkpoint(10)
    checkpoint(20, optimizer=False)      # killed before the optimizer was written
    checkpoint(30, state=False)          # killed before trainer_state.json
    checkpoint(40, sentinel=True)        # a just-in-time save that never finished
    (tmp_path / "checkpoint-50").mkdir()  # an empty folder
    assert last_valid_checkpoint(tmp_path) == str(good)
    checkpoint(60)
    assert last_valid_checkpoint(tmp_path) == str(tmp_path / "checkpoint-60")


ACCELERATE_SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
from tenet.runtime.train import dpo
from tenet.runtime.train.common import TrainJob
hp = {{"learning_rate": 1e-2, "epochs": 1, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "beta": 0.1,
      "lora": False, "lora_r": 4, "lora_alpha": 8, "max_length": 64, "precision": "fp32", "device": "cpu",
      "seed": 7, "replay": 0.0}}
job = TrainJob(method="dpo", model_path={model!r}, pairs_path={pairs!r}, unpaired_path=None,
               output_dir={out!r}, hyperparameters=hp)
result = dpo.train(job)
import torch.distributed as dist
rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
print(json.dumps({{"rank": rank, "world": world, "step": result.global_step}}), flush=True)
"""


def test_dpo_runs_unchanged_under_accelerate_launch(tiny_llama, data_dir, tmp_path):
    """The same method module, launched as 2 CPU processes by `accelerate launch`.

    On a machine without GPUs, `--multi_gpu` makes accelerate start the processes with
    torchrun, and they train on CPU over the gloo backend (`--cpu` would mean one process).
    """
    import json
    import os
    import re
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parent.parent)
    script = tmp_path / "train_dpo.py"
    script.write_text(ACCELERATE_SCRIPT.format(repo=repo, model=str(tiny_llama),
                                               pairs=str(data_dir / "pairs.parquet"), out=str(tmp_path / "out")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    done = subprocess.run([*launcher, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # Two processes share stdout, so a report can share its line with the other's trainer log.
    reports = [json.loads(m) for m in re.findall(r'\{"rank": \d+, "world": \d+, "step": \d+\}', done.stdout)]
    assert sorted(r["rank"] for r in reports) == [0, 1], done.stdout[-2000:]
    assert {r["world"] for r in reports} == {2}
    assert all(r["step"] == 2 for r in reports)
    assert (tmp_path / "out" / "final").is_dir()


def test_rows_for_steps_keeps_only_what_the_step_cap_reaches():
    import datasets

    from tenet.runtime.train.common import rows_for_steps

    data = datasets.Dataset.from_dict({"x": list(range(100))})
    hp = {"max_steps": 3, "batch_size": 4, "grad_accum": 2, "seed": 1}
    picked = rows_for_steps(data, hp)
    assert len(picked) == 24 and picked["x"] == rows_for_steps(data, hp)["x"]  # seeded
    assert len(rows_for_steps(data, {**hp, "max_steps": -1})) == 100
    assert len(rows_for_steps(data, {**hp, "max_steps": 50})) == 100


def test_the_step_sample_draws_rows_by_need_and_drops_the_column(tmp_path):
    import datasets

    from tenet.runtime.train.common import PAIR_COLUMNS, load_step_rows, rows_for_steps

    needy = list(range(12))
    data = datasets.Dataset.from_dict({"x": list(range(120)), "need": [1.0] * 12 + [0.01] * 108})
    hp = {"max_steps": 3, "batch_size": 4, "grad_accum": 1, "seed": 1}
    picked = rows_for_steps(data, hp)
    assert picked.column_names == ["x"] and len(set(picked["x"])) == 12
    assert len(set(picked["x"]) & set(needy)) >= 9  # 12 of 120 rows, 12 of them weigh 100 times the rest
    assert picked["x"] == rows_for_steps(data, hp)["x"]  # seeded
    assert rows_for_steps(data, {**hp, "max_steps": 50}).column_names == ["x"]  # all rows, still no weights
    rows = {c: [[{"role": "user", "content": str(i)}] for i in range(20)] for c in PAIR_COLUMNS}
    datasets.Dataset.from_dict({**rows, "need": [1.0] * 20, "strategy": ["sample"] * 20}).to_parquet(
        str(tmp_path / "pairs.parquet"))
    assert load_step_rows(str(tmp_path / "pairs.parquet"), PAIR_COLUMNS, hp).column_names == list(PAIR_COLUMNS)


def test_the_warm_up_takes_at_most_sft_rows_chosen_sides_drawn_by_need(tmp_path):
    import datasets

    from tenet.runtime.train.common import PAIR_COLUMNS
    from tenet.runtime.train.warmup import chosen_sides

    rows = {c: [[{"role": "user" if c == "prompt" else "assistant", "content": f"{c} {i}"}] for i in range(60)]
            for c in PAIR_COLUMNS}
    need = [1.0] * 10 + [0.01] * 50
    datasets.Dataset.from_dict({**rows, "need": need}).to_parquet(str(tmp_path / "pairs.parquet"))
    job = _job("dpo", "unused", tmp_path, tmp_path / "out", hp={"sft_rows": 10})
    picked = chosen_sides(job)
    assert picked.column_names == ["prompt", "completion"] and len(picked) == 10
    needy = {f"chosen {i}" for i in range(10)}
    assert len({r["completion"][0]["content"] for r in picked} & needy) >= 7  # they weigh 100 times the rest
    assert picked["completion"] == chosen_sides(job)["completion"]  # seeded
    assert len(chosen_sides(replace(job, hyperparameters={**job.hyperparameters.model_dump(), "sft_rows": 0}))) == 60


def test_the_warm_up_leaves_out_contrasts(tmp_path):
    import datasets

    from tenet.runtime.train.common import PAIR_COLUMNS
    from tenet.runtime.train.warmup import chosen_sides

    rows = {c: [[{"role": "user" if c == "prompt" else "assistant", "content": f"{c} {i}"}] for i in range(6)]
            for c in PAIR_COLUMNS}
    targets = [["short"], ["short", "greet"], [], ["greet"], [], []]
    datasets.Dataset.from_dict({**rows, "need": [1.0] * 6, "target_rules": targets}).to_parquet(
        str(tmp_path / "pairs.parquet"))
    job = _job("dpo", "unused", tmp_path, tmp_path / "out")
    picked = chosen_sides(job)
    assert picked.column_names == ["prompt", "completion"]
    assert sorted(r["completion"][0]["content"] for r in picked) == ["chosen 0", "chosen 1", "chosen 3"]
    # contrasts alone (a policy whose rule pairs all failed the gates) still warm up
    datasets.Dataset.from_dict({**rows, "target_rules": [[]] * 6}).to_parquet(str(tmp_path / "pairs.parquet"))
    assert len(chosen_sides(job)) == 6


@pytest.mark.parametrize("lora,method", [(True, "dpo"), (False, "kto")])
def test_sft_warm_up_trains_on_chosen_sides_and_merges(lora, method, tiny_llama, data_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from tenet.runtime.train.warmup import DONE, chosen_sides, warm_up

    job = _job(method, tiny_llama, data_dir, tmp_path / "out", hp={"lora": lora})
    rows = chosen_sides(job)
    assert len(rows) == 12 and rows.column_names == ["prompt", "completion"]
    assert {m["content"] for r in rows for m in r["completion"]} <= set(GOOD)  # never a rejected side
    folder = warm_up(job, epochs=1)
    assert (Path(folder) / DONE).exists() and not (Path(folder) / "adapter_config.json").exists()
    warmed = AutoModelForCausalLM.from_pretrained(folder)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama))
    assert not torch.allclose(_weight(warmed), _weight(base))
    stamp = (Path(folder) / DONE).stat().st_mtime_ns
    assert warm_up(job, epochs=1) == folder and (Path(folder) / DONE).stat().st_mtime_ns == stamp  # not redone
    from tenet.runtime.train import dpo, kto

    result = (dpo if method == "dpo" else kto).train(replace(job, model_path=folder))
    assert result.global_step == 2
