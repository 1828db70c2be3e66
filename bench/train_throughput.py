"""Training throughput: tenet's DPO module versus a plain TRL script, same config and data, one run.

Each repeat trains the same rows twice, once through `tenet.runtime.train.dpo.train` and once through a
hand-written TRL script with the same `DPOConfig` values, in alternating order. Tokens are the
prompt+chosen and prompt+rejected tokens of the rows trained on (after the chat template and
`max_length`), identical for both, so the tokens/s ratio is the inverse ratio of `train()` times.

`--compare defaults` instead sets tenet's default plan (precomputed reference log-probs, bf16 on
CUDA) against TRL's `DPOConfig` defaults (reference model kept in memory), the GPU comparison in
`../shared/reference/gpu.md`; it is meant for `--device cuda`.

Run: .venv/bin/python bench/train_throughput.py [--model embedded:smollm2-135m-instruct | tiny]
     [--steps 8] [--batch 4] [--repeats 3] [--device cpu] [--compare runtime|defaults]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.runtime.train.common import TrainJob, device_and_precision  # noqa: E402

WORDS = ("order refund blender kettle warranty delivery return account help store price week box "
         "label item parcel receipt model colour size replace repair clean mixer toaster").split()


def make_pairs(n: int, seed: int, prompt_words: int, response_words: int) -> list[dict]:
    """`n` deterministic conversational pairs of about the given lengths."""
    rng = random.Random(seed)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + "."

    return [{"prompt": [{"role": "user", "content": text(prompt_words)}],
             "chosen": [{"role": "assistant", "content": text(response_words)}],
             "rejected": [{"role": "assistant", "content": text(response_words)}]} for _ in range(n)]


def count_tokens(tokenizer, rows: list[dict], max_length: int) -> int:
    """Tokens of prompt+chosen and prompt+rejected per row, capped at `max_length` each."""
    total = 0
    for row in rows:
        for side in ("chosen", "rejected"):
            ids = tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            total += min(len(ids), max_length)
    return total


def hyperparameters(args) -> dict:
    """The plan values both sides train with."""
    return {"learning_rate": 1e-5, "epochs": 1, "max_steps": args.steps, "batch_size": args.batch,
            "grad_accum": 1, "beta": 0.1, "lora": False, "lora_r": 16, "lora_alpha": 32,
            "max_length": args.max_length, "precision": args.precision, "device": args.device, "seed": 42,
            "precompute_ref_log_probs": True}


def run_tenet(model: str, data: Path, out: Path, hp: dict) -> float:
    """Seconds in `trainer.train()` through tenet's DPO module."""
    from tenet.runtime.train import dpo

    job = TrainJob(method="dpo", model_path=model, pairs_path=str(data), unpaired_path=None,
                   output_dir=str(out), hyperparameters=hp)
    return dpo.train(job).seconds


def run_plain(model: str, data: Path, out: Path, hp: dict, trl_defaults: bool = False) -> float:
    """Seconds in `trainer.train()` for the script a TRL user would write with the same values.

    With `trl_defaults`, only what a user must choose is set (output folder, steps, batch, learning
    rate, sequence length); everything else is `DPOConfig`'s default.
    """
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model)
    policy = AutoModelForCausalLM.from_pretrained(model)
    common = dict(output_dir=str(out), learning_rate=hp["learning_rate"], max_steps=hp["max_steps"],
                  per_device_train_batch_size=hp["batch_size"], max_length=hp["max_length"],
                  report_to=[], disable_tqdm=True, logging_steps=1)
    if trl_defaults:
        config = DPOConfig(**common, use_cpu=hp["device"] == "cpu", bf16=hp["device"] != "cpu")
        reference = AutoModelForCausalLM.from_pretrained(model)
    else:
        config = DPOConfig(**common, num_train_epochs=hp["epochs"], gradient_accumulation_steps=hp["grad_accum"],
                           seed=hp["seed"], data_seed=hp["seed"], beta=hp["beta"], save_strategy="steps",
                           save_steps=50, save_total_limit=2, gradient_checkpointing=False,
                           precompute_ref_log_probs=True,
                           **device_and_precision(hp["device"], hp["precision"]))
        reference = None
    train = datasets.load_dataset("parquet", data_files=str(data), split="train")
    trainer = DPOTrainer(model=policy, ref_model=reference, args=config, train_dataset=train,
                         processing_class=tokenizer)
    start = time.monotonic()
    trainer.train()
    return time.monotonic() - start


def resolve(model: str, scratch: Path) -> str:
    """A local checkpoint path: the embedded model, a tiny random Llama, or a path or id."""
    if model == "tiny":
        sys.path.insert(0, str(REPO / "tests"))
        from tiny_models import build_tiny_llama

        return str(build_tiny_llama(scratch / "tiny"))
    from tenet.runtime.models import resolve_model

    return resolve_model(model, REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    parser.add_argument("--compare", default="runtime", choices=("runtime", "defaults"))
    args = parser.parse_args()

    import datasets
    from transformers import AutoTokenizer

    scratch = Path(tempfile.mkdtemp(prefix="tenet-train-bench-"))
    model = resolve(args.model, scratch)
    rows = make_pairs(args.steps * args.batch, seed=3, prompt_words=40, response_words=60)
    data = scratch / "pairs.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(data))
    tokens = count_tokens(AutoTokenizer.from_pretrained(model), rows, args.max_length)
    hp = hyperparameters(args)
    names = ("tenet", "trl") if args.compare == "runtime" else ("tenet-default-plan", "trl-defaults")
    times: dict[str, list[float]] = {n: [] for n in names}
    for repeat in range(args.repeats):
        order = names if repeat % 2 == 0 else names[::-1]  # alternate so neither always runs warm
        for name in order:
            out = scratch / f"{name}-{repeat}"
            if name.startswith("tenet"):
                seconds = run_tenet(model, data, out, hp)
            else:
                seconds = run_plain(model, data, out, hp, trl_defaults=args.compare == "defaults")
            times[name].append(seconds)
            print(f"  repeat {repeat + 1} {name:>18}: {seconds:6.2f} s  {tokens / seconds:8.0f} tok/s", flush=True)
    rate = {n: tokens / statistics.median(t) for n, t in times.items()}
    print(f"\n{date.today()}  {platform.node()}  {platform.processor() or platform.machine()}  device={args.device}")
    print(f"model {args.model}, {args.steps} steps x batch {args.batch}, max_length {args.max_length}, "
          f"{tokens} tokens per run, {args.repeats} repeats (median)")
    for name in names:
        print(f"  {name:>18}: {rate[name]:8.0f} tok/s  (median {statistics.median(times[name]):.2f} s)")
    print(f"  ratio {names[0]} / {names[1]}: {rate[names[0]] / rate[names[1]]:.3f}")


if __name__ == "__main__":
    main()
