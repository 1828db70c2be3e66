"""The trained model as a real MLflow model: logged with the `transformers` flavor, found again.

A cycle's model is logged as an MLflow 3 LoggedModel of the cycle's parent run, with merged,
pickle-free weights, its tokenizer and a model card, and registered from there. So
`mlflow.transformers.load_model("models:/<policy>@champion")` gives a text-generation
pipeline and `mlflow.pyfunc.load_model(...)` answers chat messages, on any machine that can
reach the tracking server. The next update cycle starts from the same registered model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

# `llm/v1/chat` keeps the transformers flavor's text-generation pipeline, and gives the pyfunc
# flavor an OpenAI-style chat interface that applies the tokenizer's chat template.
TASK = "llm/v1/chat"
MODEL_NAME = "model"  # the LoggedModel's name within its run


def log_model(mlflow: Any, model_dir: str | Path, run_id: str, card: str,
              work_dir: str | Path | None = None) -> Any:
    """Log a trained model as the run's LoggedModel with the `transformers` flavor.

    The model is loaded and saved again with `save_pretrained`, so the logged folder holds
    safetensors weights, config, generation config and tokenizer, never the trainer's
    pickles (`training_args.bin`) or checkpoints. The model's `name_or_path`, which MLflow
    records as `source_model_name` (and names in LICENSE.txt), is its label from
    `tenet.runtime.redact.local_name`: `org/name@commit` or `<work>/…`, never a path on this machine.

    Args:
        mlflow: The `mlflow` module, with the tracking URI set.
        model_dir: The trainer's output folder (a full model or a LoRA adapter, with tokenizer).
        run_id: The cycle's parent run, which the model is an output of.
        card: The model card's markdown.
        work_dir: The cycle's work folder, which the model's label is relative to.

    Returns:
        MLflow's `ModelInfo` (its `model_uri` is `models:/m-…`).
    """
    from huggingface_hub import ModelCard
    from transformers import AutoTokenizer, pipeline

    model = load_merged(model_dir)
    model.name_or_path = source_name(model.name_or_path, work_dir)
    # The flavor's local-checkpoint mode fails under transformers 5 (a pipeline's `impl` is
    # a string there), so the pipeline is built in memory.
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    return mlflow.transformers.log_model(generator, name=MODEL_NAME, task=TASK, model_card=ModelCard(card),
                                         pip_requirements=_requirements(), run_id=run_id)


def source_name(name_or_path: str, work_dir: str | Path | None = None) -> str:
    """What a logged model records as its source: a Hub id as is, a local folder by its label."""
    from tenet.runtime.redact import is_local_path, local_name

    return local_name(name_or_path, work_dir) if is_local_path(str(name_or_path)) else str(name_or_path)


def load_merged(model_dir: str | Path) -> Any:
    """The model of a trainer's output folder; a LoRA adapter is merged into its base.

    An adapter's `adapter_config.json` names its base by a path on the training machine, so
    only merged weights load anywhere else.
    """
    if (Path(model_dir) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(str(model_dir), trust_remote_code=False).merge_and_unload()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(model_dir), trust_remote_code=False)


def _requirements() -> list[str]:
    """Pinned serving requirements; MLflow's inference would import torchvision and time out."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("mlflow", "transformers", "torch", "accelerate", "tokenizers"):
        try:
            pins.append(f"{package}=={version(package).split('+')[0]}")  # drop local labels (+cpu)
        except PackageNotFoundError:
            continue
    return pins


def fetch(mlflow: Any, model_uri: str, target: str | Path) -> str:
    """A plain Hugging Face checkpoint folder of a registered model, downloaded once.

    The flavor keeps weights and tokenizer in separate folders (named in its MLmodel); the
    trainer and generator want one `from_pretrained` folder, so both are joined in `target`.

    Args:
        mlflow: The `mlflow` module, with the tracking URI set.
        model_uri: `models:/<name>/<version>` (or any model URI MLflow resolves).
        target: Where the checkpoint lives; reused when it is already complete.

    Returns:
        The checkpoint folder.
    """
    target = Path(target)
    if (target / "config.json").exists():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        downloaded = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(scratch / "dl"))
        local = Path(downloaded)
        flavor = mlflow.models.Model.load(str(local)).flavors["transformers"]
        joined = scratch / "checkpoint"
        shutil.copytree(local / flavor.get("model_binary", "model"), joined)
        for component in flavor.get("components", []):
            shutil.copytree(local / "components" / component, joined, dirs_exist_ok=True)
        try:
            os.replace(joined, target)  # atomic: a concurrent fetch wrote the same files
        except OSError:
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return str(target)


def model_card(run: Any, rules: Sequence[Any], gates: Sequence[Any]) -> str:
    """The model card: policy, compliance before and after, gates, and lineage.

    Args:
        run: The cycle's parent run (tags, params, and the summary metrics on it).
        rules: The policy's rules (`id`, `severity`).
        gates: The gate results of the cycle.

    Returns:
        Markdown with a Hugging Face metadata header.
    """
    from tenet.runtime import tags as tag

    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    policy = tags.get(tag.POLICY_ID, "")
    lines = ["---", "library_name: transformers", "pipeline_tag: text-generation", "tags: [tenet]", "---", "",
             f"# {policy} {tags.get(tag.POLICY_VERSION, '')}", "",
             f"Trained by tenet to follow policy `{policy}` version {tags.get(tag.POLICY_VERSION, '-')} "
             f"(hash `{params.get('policy.hash', '-')}`).", "",
             "## Compliance on held-out prompts", "",
             "| rule | severity | before | after |", "|---|---|---|---|"]
    for rule in rules:
        cells = [_pct(metrics.get(f"{phase}.rule.{rule.id}")) for phase in ("before", "after")]
        lines.append(f"| {rule.id} | {rule.severity} | {cells[0]} | {cells[1]} |")
    lines += ["", "## Gates", ""]
    lines += [f"- {'PASS' if g.passed else 'FAIL'} {g.detail} ({g.gate.op} {g.gate.threshold:g})"
              for g in gates]
    lines += ["", "## Lineage", ""] + [f"- {label}: {value}" for label, value in _lineage(run).items()]
    return "\n".join(lines) + "\n"


def _lineage(run: Any) -> dict[str, str]:
    from tenet.runtime import tags as tag

    tags, params = run.data.tags, run.data.params
    parent = tags.get(tag.DIFF_PARENT_RUN)
    return {"cycle run": run.info.run_id, "trained from": tags.get(tag.CYCLE_START, "-"),
            "base model": params.get("plan.base_model", "-"), "method": params.get("plan.method", "-"),
            "diff against the champion": tags.get(tag.DIFF_SUMMARY, "-"),
            "previous champion": (f"version {tags.get(tag.DIFF_PARENT_VERSION)} (run {parent})" if parent
                                  else "none"),
            "plan hash": params.get("plan.hash", "-"), "compiler": tags.get(tag.COMPILER, "-"),
            "git commit": tags.get(tag.GIT_COMMIT, "-")}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
