"""A LoRA champion becomes a real MLflow model: merged, pickle-free, loadable, and trainable again.

The adapter folder looks like a trainer's output: `adapter_config.json` naming its base by a
local path, the tokenizer, and the pickled `training_args.bin`. Registering it must give a
`transformers` model that loads without that base path, and the next cycle's start model
(downloaded from the registry, as on another machine) must be a plain checkpoint.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

pytest_plugins = ["tiny_models"]


@pytest.fixture
def adapter(tiny_llama, tmp_path) -> Path:
    """A LoRA adapter on the tiny Llama with non-zero weights, saved like `trainer.save_model`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_llama)),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.fill_(0.05)  # B starts at zero: without this the merge would change nothing
    folder = tmp_path / "train" / "final"
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tiny_llama)).save_pretrained(str(folder))
    (folder / "training_args.bin").write_bytes(pickle.dumps({"learning_rate": 1e-5}))
    return folder


def test_lora_champion_is_registered_merged_and_continues(adapter, tiny_llama, tmp_path, monkeypatch):
    import mlflow
    import torch
    from transformers import AutoModelForCausalLM

    from tenet.runtime.champion import load_merged
    from tenet.runtime.lineage import Parent, _download, start_model
    from tenet.runtime.track import Tracker

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = Tracker("lora-policy", tmp_path / "work")
    with tracker.cycle("c1", {"policy.hash": "abc"}, {"tenet.policy.id": "lora-policy"}) as run_id:
        pass
    version = tracker.register(run_id, adapter, "lora-policy", {"policy.version": "1"})
    tracker.promote("lora-policy", version, "champion", actor="test", reason="gates passed")

    generator = mlflow.transformers.load_model("models:/lora-policy@champion")
    assert generator.task == "text-generation"
    assert isinstance(generator("hello world", max_new_tokens=3)[0]["generated_text"], str)
    logged = Path(mlflow.artifacts.download_artifacts("models:/lora-policy@champion",
                                                      dst_path=str(tmp_path / "dl")))
    names = {p.name for p in logged.rglob("*") if p.is_file()}
    assert "model.safetensors" in names and "model_card.md" in names
    assert not names & {"adapter_config.json", "adapter_model.safetensors", "training_args.bin"}

    # Another machine: the registered model is downloaded and is a full checkpoint to train on.
    mv = tracker.client.get_model_version_by_alias("lora-policy", "champion")
    folder = _download(tracker, mv)
    parent = Parent(run_id=mv.run_id, version=str(mv.version), artifact=None, model_dir=folder)
    assert start_model(parent, tmp_path / "work" / "cache") == folder
    fetched = AutoModelForCausalLM.from_pretrained(folder)
    merged = load_merged(adapter)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama))
    name = "model.layers.0.self_attn.q_proj.weight"
    weights = {k: dict(m.named_parameters())[name] for k, m in (("f", fetched), ("m", merged), ("b", base))}
    assert torch.allclose(weights["f"], weights["m"]) and not torch.allclose(weights["f"], weights["b"])


def test_a_champion_folder_is_reused_only_by_the_work_folder_that_trained_it(tmp_path):
    import socket

    from tenet.runtime import tags as tag
    from tenet.runtime.lineage import _local_model_dir, work_id

    work, other = tmp_path / "work", tmp_path / "other"
    for folder in (work, other):
        (folder / "p" / "h" / "train" / "final").mkdir(parents=True)
    tags = {tag.HOST: socket.gethostname(), tag.MODEL_PATH: "<work>/p/h/train/final",
            tag.WORK_ID: work_id(work)}
    assert _local_model_dir(tags, work) == str((work / "p" / "h" / "train" / "final").resolve())
    assert work_id(work) == work_id(work) != work_id(other)
    assert _local_model_dir(tags, other) is None  # the same place in another work folder: another model
    assert _local_model_dir({**tags, tag.HOST: "another-machine"}, work) is None
    assert _local_model_dir({**tags, tag.MODEL_PATH: "<work>/../other/p/h/train/final"}, work) is None
    # A cycle recorded before models were named inside their work folder: its absolute path, on its host.
    older = {tag.HOST: socket.gethostname(), tag.MODEL_PATH: str(other / "p" / "h" / "train" / "final")}
    assert _local_model_dir(older, work) == older[tag.MODEL_PATH]
