"""tenet's labeler versus Snorkel's PandasLFApplier on the same six rules and rows.

Run: .venv/bin/python bench/label_throughput.py [--rows 200000] [--million 1000000]
(needs the `snorkel` package: `.venv/bin/pip install snorkel`, or `make bench`).

1. Generates `--rows` deterministic rows (seed 0).
2. Labels them with bench/label_bench.policy (tenet, column at a time, RE2) and with six
   Snorkel labeling functions written the ordinary Python way; asserts identical votes;
   prints rows/s for both (median of `--repeats`) and the ratio.
3. Writes `--million` rows to Parquet and labels the file end to end in a fresh process
   (read, label with spans, write Parquet + reports), printing wall time and peak RSS.
4. Writes `--e2e-rows` rows to JSONL and runs `tenet label POLICY rows.jsonl --out labels.parquet`
   in a fresh process (start-up, reading, labeling with spans, writing Parquet and the reports),
   with `--workers 1` and with every core, best of `--repeats` each; prints rows/s and the
   ratio to Snorkel's best. With `--ray`, the same with `--engine ray` on a local cluster.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.runtime.data import read_batches  # noqa: E402
from tenet.runtime.label.engine import Labeler  # noqa: E402

POLICY = REPO / "bench" / "label_bench.policy"
ABSTAIN, BAD, GOOD = -1, 0, 1

# --- data -------------------------------------------------------------------------

PROMPTS = ["List three ways to reset my password.", "What are the steps to return an item?",
           "How do I track my order?", "Is Globex cheaper than you?", "Tell me about your warranty.",
           "Give me a list of store hours.", "Why is my package late?", "Compare yourselves with RivalCo."]
SENTENCES = ["Thanks for reaching out.", "Your order ships in two days.", "You can reset it from settings.",
             "This is a terrible experience, sorry.", "Initech sells something similar.",
             "Email us at help@acme.example for details.", "I'm sorry, but I can't help with that.",
             "We hate to see delays.", "The warranty lasts one year.", "Visit the returns page."]
BULLETS = ["- Open settings\n- Choose security\n- Reset the password", "* Pack the item\n* Print the label"]


def generate_rows(n: int, seed: int = 0) -> list[dict]:
    """Deterministic support-chat rows with a mix of every rule's outcome."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        parts = [rng.choice(SENTENCES) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.35:
            parts.insert(rng.randint(0, len(parts)), rng.choice(BULLETS))
        if rng.random() < 0.1:
            parts.append(" ".join(["more"] * rng.randint(60, 90)))
        rows.append({"prompt": rng.choice(PROMPTS), "response": " ".join(parts)})
    return rows


# --- the same rules as Snorkel labeling functions ---------------------------------

def snorkel_lfs():
    """The six rules as ordinary Snorkel labeling functions."""
    from snorkel.labeling import labeling_function

    list_request = re.compile(r"\b(list|steps)\b", re.I)
    bullet = re.compile(r"^\s*[-*]\s+", re.M)
    competitors = re.compile(r"\b(RivalCo|Globex|Initech)\b", re.I)
    negative = re.compile(r"\b(terrible|awful|stupid|hate|useless)\b", re.I)
    email = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
    refusal = re.compile(r"\b(i'm sorry, but|i can't help|i cannot help|as an ai)\b", re.I)

    @labeling_function()
    def bullets_for_lists(x):
        if not list_request.search(x.prompt):
            return ABSTAIN
        return GOOD if bullet.search(x.response) else BAD

    @labeling_function()
    def no_competitors(x):
        return BAD if competitors.search(x.response) else GOOD

    @labeling_function()
    def no_negative_tone(x):
        return BAD if negative.search(x.response) else ABSTAIN

    @labeling_function()
    def no_email(x):
        return BAD if email.search(x.response) else GOOD

    @labeling_function()
    def concise(x):
        return GOOD if len(x.response.split()) <= 80 else BAD

    @labeling_function()
    def no_refusal(x):
        return BAD if refusal.search(x.response) else GOOD

    return [bullets_for_lists, no_competitors, no_negative_tone, no_email, concise, no_refusal]


def run_snorkel(rows: list[dict]) -> np.ndarray:
    """Apply the Snorkel LFs with PandasLFApplier."""
    import pandas as pd
    from snorkel.labeling import PandasLFApplier

    return PandasLFApplier(snorkel_lfs()).apply(pd.DataFrame(rows), progress_bar=False)


def run_tenet(labeler: Labeler, table: pa.Table) -> np.ndarray:
    """Vote every rule on every row, batch by batch."""
    return np.concatenate([labeler.votes(batch) for batch in read_batches(table)])


def timed(fn, repeats: int, best: bool = False):
    """The median (or, with `best`, the shortest) time of `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    timed.last = times
    return (min(times) if best else statistics.median(times)), result


# --- JSONL to labeled Parquet with the `tenet` command, start-up included --------------------


def write_jsonl(path: Path, n: int) -> Path:
    """`n` generated rows (seed 2) as JSONL."""
    with path.open("w", encoding="utf-8") as handle:
        for row in generate_rows(n, seed=2):
            handle.write(json.dumps(row) + "\n")
    return path


def cli_seconds(data: Path, out: Path, repeats: int, *flags: str) -> float:
    """The best wall time of `repeats` runs of `tenet label` on `data` in a fresh process."""
    command = [sys.executable, "-m", "tenet.runtime.cli", "label", str(POLICY), str(data), "--out", str(out),
               "--format", "json", *flags]
    best, _ = timed(lambda: subprocess.run(command, capture_output=True, check=True), repeats, best=True)
    return best


def ray_on_a_running_cluster(data: Path, n: int, repeats: int, cores: int) -> None:
    """Print `label_on_ray` rows/s on a local cluster started beforehand (no start-up), 1 to `cores` actors."""
    import ray

    from tenet.runtime.label.ray_engine import label_on_ray
    from tenet.runtime.ray_cluster import connect

    artifact = compile_policy(POLICY).artifact
    connect(None, cores)
    try:
        for workers in range(1, cores + 1):
            out = data.with_name(f"shards-{workers}")
            seconds, _ = timed(lambda: label_on_ray(artifact, data, out, workers=workers), repeats, best=True)
            print(f"label_on_ray, running cluster, {workers} worker(s): {n / seconds:>10,.0f} rows/s "
                  f"(best {seconds:.2f}s of {repeats}), {n / seconds / workers:,.0f} rows/s per worker")
    finally:
        ray.shutdown()


def cli_end_to_end(n: int, repeats: int, snorkel_rate: float, ray: bool) -> None:
    """Print `tenet label` rows/s on `n` JSONL rows: one worker, every core and (with `ray`) on Ray."""
    cores = len(__import__("os").sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        data = write_jsonl(Path(tmp) / "rows.jsonl", n)
        runs = [("local, 1 worker", ("--workers", "1")), (f"local, {cores} workers", ("--workers", str(cores)))]
        if ray:
            runs += [("ray, 1 worker", ("--engine", "ray", "--workers", "1")),
                     (f"ray, {cores} workers", ("--engine", "ray", "--workers", str(cores)))]
            ray_on_a_running_cluster(data, n, repeats, cores)
        for name, flags in runs:
            out = Path(tmp) / ("shards" if "ray" in flags else "labels.parquet")
            seconds = cli_seconds(data, out, repeats, *flags)
            print(f"tenet label JSONL -> Parquet, {name:<18}: {n / seconds:>10,.0f} rows/s "
                  f"(best {seconds:.2f}s of {repeats}), {n / seconds / snorkel_rate:.1f}x Snorkel")


# --- 1M rows end to end in a fresh process ---------------------------------------------

END_TO_END = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from tenet.compiler.pipeline import compile_policy
from tenet.runtime.label.run import label_dataset
artifact = compile_policy({policy!r}).artifact
start = time.perf_counter()
report = label_dataset(artifact, {data!r}, {out!r})
seconds = time.perf_counter() - start
print(json.dumps({{"rows": report.rows, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def end_to_end(n: int) -> dict:
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "rows.parquet", Path(tmp) / "labels.parquet"
        pq.write_table(pa.Table.from_pylist(generate_rows(n, seed=1)), data)
        code = END_TO_END.format(repo=str(REPO), policy=str(POLICY), data=str(data), out=str(out))
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--million", type=int, default=1_000_000, help="rows for the end-to-end run (0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--e2e-rows", type=int, default=1_000_000,
                        help="JSONL rows for `tenet label` end to end (0: skip)")
    parser.add_argument("--ray", action="store_true", help="also label end to end with --engine ray")
    args = parser.parse_args()

    artifact = compile_policy(POLICY).artifact
    labeler = Labeler(artifact.ir.rules, spans=False)
    rows = generate_rows(args.rows)
    table = pa.Table.from_pylist(rows)

    tenet_s, tenet_votes = timed(lambda: run_tenet(labeler, table), args.repeats)
    snorkel_s, snorkel_votes = timed(lambda: run_snorkel(rows), max(1, args.repeats))
    snorkel_best = min(timed.last)
    assert tenet_votes.shape == snorkel_votes.shape, (tenet_votes.shape, snorkel_votes.shape)
    mismatches = int((tenet_votes != snorkel_votes).sum())
    assert mismatches == 0, f"{mismatches} votes differ between tenet and Snorkel"

    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, python "
          f"{platform.python_version()}, date {date.today()}")
    print(f"rows: {args.rows:,}, rules: 6, identical votes: yes ({tenet_votes.size:,} cells)")
    print(f"tenet   : {args.rows / tenet_s:>12,.0f} rows/s (median {tenet_s:.2f}s of {args.repeats})")
    print(f"snorkel : {args.rows / snorkel_s:>12,.0f} rows/s (median {snorkel_s:.2f}s of {args.repeats})")
    print(f"speed-up: {snorkel_s / tenet_s:.1f}x (target >= 10x)")
    if args.million:
        e2e = end_to_end(args.million)
        print(f"end to end, {e2e['rows']:,} rows Parquet -> labels Parquet (with spans): {e2e['seconds']:.1f}s, "
              f"{e2e['rows'] / e2e['seconds']:,.0f} rows/s, peak RSS {e2e['peak_rss_mb']:,.0f} MB "
              f"(targets: <= 15 s, < 4096 MB)")
    if args.e2e_rows:
        print(f"snorkel best of {max(1, args.repeats)}: {args.rows / snorkel_best:,.0f} rows/s; "
              f"tenet label end to end (target >= 20x):")
        cli_end_to_end(args.e2e_rows, args.repeats, args.rows / snorkel_best, args.ray)


if __name__ == "__main__":
    main()
