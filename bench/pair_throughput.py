"""Pair synthesis speed: perturb pairs per second, and sampling tokens per second with the
embedded model, batched versus one prompt at a time, in one run.

Run: .venv/bin/python bench/pair_throughput.py [--bases 20000] [--prompts 16] [--new-tokens 48]
(`--prompts 0` skips the model part; the embedded model is converted once, ~20 s, then cached.)
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.compiler.semantics import Sample  # noqa: E402
from tenet.runtime.label.engine import Labeler  # noqa: E402
from tenet.runtime.synthesize.prompts import normalize  # noqa: E402
from tenet.runtime.synthesize.quality import gate  # noqa: E402
from tenet.runtime.synthesize.strategies.perturb import base_votes, minimal_pair  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from label_throughput import POLICY, generate_rows  # noqa: E402


def perturb_rate(n_bases: int, repeats: int) -> tuple[float, int, int]:
    """Pairs per second for perturb + every quality gate (labeling both sides with all rules)."""
    artifact = compile_policy(POLICY).artifact
    rules = artifact.ir.rules
    bases = [Sample(r["prompt"], r["response"]) for r in generate_rows(n_bases, seed=2)]
    labeler = Labeler(rules, spans=False)
    times, kept, made = [], 0, 0
    for _ in range(repeats):
        normalize.cache_clear()  # every repeat starts cold, like a real run
        rng = random.Random(0)
        start = time.perf_counter()
        items = [(rules[i % len(rules)], base) for i, base in enumerate(bases)]
        votes = base_votes(items)
        pairs = [p for (rule, base), vote in zip(items, votes)
                 if (p := minimal_pair(rule, base, "bench", rng, vote)) is not None]
        survivors, _ = gate(pairs, rules, set(), artifact.ir.training.length_ratio_max, labeler)
        times.append(time.perf_counter() - start)
        made, kept = len(pairs), len(survivors)
    return kept / statistics.median(times), made, kept


def sampling_rates(n_prompts: int, new_tokens: int) -> tuple[float, float]:
    """Tokens per second generating for `n_prompts` prompts batched, and one at a time."""
    from tenet.runtime.models import resolve_model
    from tenet.runtime.synthesize.generate import Generator

    prompts = [[{"role": "user", "content": r["prompt"]}] for r in generate_rows(n_prompts, seed=3)]
    generator = Generator(resolve_model("embedded:smollm2-135m-instruct"), batch_size=n_prompts,
                          max_new_tokens=new_tokens)
    generator.generate(prompts[:2], n=1, seed=0)  # warm-up
    rates = []
    for batch_size in (n_prompts, 1):
        generator.batch_size = batch_size
        subset = prompts if batch_size > 1 else prompts[: max(2, n_prompts // 4)]
        generator.tokens_generated = 0
        start = time.perf_counter()
        generator.generate(subset, n=1, seed=0)
        rates.append(generator.tokens_generated / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=48)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, python "
          f"{platform.python_version()}, date {date.today()}")
    rate, made, kept = perturb_rate(args.bases, args.repeats)
    print(f"perturb: {rate:,.0f} verified pairs/s ({kept:,} kept of {made:,} made from {args.bases:,} bases, "
          f"median of {args.repeats}; target >= 10,000/s)")
    if args.prompts:
        batched, single = sampling_rates(args.prompts, args.new_tokens)
        print(f"sampling (embedded SmolLM2-135M, {args.new_tokens} new tokens): batched x{args.prompts} "
              f"{batched:,.1f} tok/s, one at a time {single:,.1f} tok/s, speed-up {batched / single:.1f}x")


if __name__ == "__main__":
    main()
