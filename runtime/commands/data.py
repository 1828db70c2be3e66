"""Commands that run a policy over data: label, explain, pairs."""

from __future__ import annotations

import argparse
from typing import Callable

from tenet.compiler.errors import ExitCode
from tenet.compiler.settings import DEVICES
from tenet.runtime.commands.common import dumps, engine_args, format_arg, load_any, writing
from tenet.runtime.console import Console
from tenet.runtime.models import operator_model



def make_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands that run a policy over data: label, explain, pairs."""
    label = command("label", cmd_label, "label a dataset with a policy's rules", extras=("label",))
    label.add_argument("policy", help=".policy file or compiled .json artifact")
    label.add_argument("data", help="JSONL, CSV, Parquet file, a saved Hugging Face dataset directory, or a "
                                    "Hub data set hf://org/name[@rev]?split=train from the HF cache")
    label.add_argument("--out", required=True, help="output Parquet file (or directory with --out-format hf)")
    label.add_argument("--out-format", choices=("parquet", "hf"), default="parquet",
                       help="parquet: one file; hf: a saved Hugging Face dataset directory")
    label.add_argument("--columns", help="column mapping, e.g. prompt=question,response=answer,gold=rating")
    label.add_argument("--batch-rows", type=int, default=65_536,
                       help="rows labeled at a time (bounds memory)")
    label.add_argument("--no-spans", action="store_true", help="skip matched-span provenance (faster)")
    label.add_argument("--judge-model", help="model for judge rules that name none (default: base model)")
    label.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this machine's cores; ray: a Ray cluster, writing --out as a folder of "
                            "Parquet shards (needs the [scale] extra)")
    label.add_argument("--ray-address", help="the Ray cluster for --engine ray (default: RAY_ADDRESS, else a "
                                             "local cluster)")
    label.add_argument("--workers", type=int, help="processes (local) or actors (ray) that label (default: "
                                                   "every core for data files over 8 MB)")
    format_arg(label, "the labeling report")

    explain = command("explain", cmd_explain,
                      "show every rule's vote on one prompt and response (exit 1 when the verdict is BAD)",
                      extras=("label",))
    explain.add_argument("policy", help=".policy file or compiled .json artifact")
    explain.add_argument("--prompt", required=True, help="the user's message")
    explain.add_argument("--response", required=True, help="the answer to judge")
    explain.add_argument("--judge-model", help="model for judge rules that name none")
    format_arg(explain, "the verdict and every rule's vote")

    # An unknown strategy name or classifier label arrives as a ValueError.
    pairs = command("pairs", cmd_pairs, "synthesize verified contrastive pairs for a policy",
                    usage_errors=(ValueError,), extras=("label", "train"))
    pairs.add_argument("policy", help=".policy file or compiled .json artifact")
    pairs.add_argument("--out", required=True, help="output directory")
    pairs.add_argument("--strategies", help="comma-separated (default: the policy's `strategies` setting)")
    pairs.add_argument("--model", type=operator_model, help="model for sample/revise/contrast (default: the policy's base_model "
                                       "when one of those strategies is asked for)")
    pairs.add_argument("--feedback", help="rated logs (JSONL/CSV/Parquet or hf://org/name?split=S, with a "
                                          "`rating` column) for `feedback`")
    pairs.add_argument("--samples", type=int, default=4, help="N for best-of-N sampling")
    pairs.add_argument("--max-prompts", type=int,
                       help="cap the training prompts the model answers (seeded choice)")
    pairs.add_argument("--device", choices=DEVICES, help="default: the policy's `device` setting")
    engine_args(pairs)
    format_arg(pairs, "the pair QA report")


def cmd_label(args: argparse.Namespace, console: Console) -> int:
    """`tenet label POLICY DATA --out OUT`."""
    policy = load_any(args.policy, console, args.format)
    if policy is None:
        return ExitCode.POLICY
    with _Progress(console, "labeled") as progress, writing(args.out):
        report = policy.write_labels(args.data, args.out, columns=args.columns, batch_rows=args.batch_rows,
                                     spans=not args.no_spans, judge_model=args.judge_model,
                                     out_format=args.out_format, progress=progress, engine=args.engine,
                                     ray_address=args.ray_address, workers=args.workers)
    summary = report.to_dict()
    if args.format == "json":
        console.print_json(dumps({"policy": policy.id, "version": policy.version, "out": args.out,
                                   **summary}))
        return ExitCode.OK
    console.print(f"labeled {summary['rows']} rows in {summary['seconds']:.1f}s "
                  f"({summary['rows_per_second'] or 0} rows/s) -> {args.out}")
    console.print(f"verdicts: {summary['verdicts']['good']} good, {summary['verdicts']['bad']} bad, "
                  f"{summary['verdicts']['abstain']} abstain")
    bad = ", ".join(f"{k} {v}" for k, v in summary["bad_by_reason"].items()) or "none"
    console.print(f"bad rows: {summary['bad_rows']} ({bad}) — kept in the output with their reason")
    for rule, rows in summary["regex_timeouts"].items():
        console.print(f"warning: rule {rule}: its regex overran the time bound on {rows} rows, "
                      "which abstain; simplify the pattern so RE2 can run it")
    console.print("")
    console.print(report.render())
    return ExitCode.OK


def cmd_explain(args: argparse.Namespace, console: Console) -> int:
    """`tenet explain POLICY --prompt P --response R`: exit 1 when the verdict is BAD."""
    policy = load_any(args.policy, console, args.format)
    if policy is None:
        return ExitCode.POLICY
    explanation = policy.explain(args.prompt, args.response, judge_model=args.judge_model)
    if args.format == "json":
        console.print_json(dumps({"policy": policy.id, "version": policy.version, **explanation.to_dict()}))
    else:
        color = console.out.isatty()
        console.print(explanation.render(color=color), keep=_HIGHLIGHT if color else ())
    return ExitCode.POLICY if explanation.verdict == "BAD" else ExitCode.OK


# The reverse video `tenet.runtime.label.explain.highlight` marks a match with on a terminal: the only
# control sequences `tenet explain` prints unescaped.
_HIGHLIGHT = ("\033[7m", "\033[0m")


def cmd_pairs(args: argparse.Namespace, console: Console) -> int:
    """`tenet pairs POLICY --out DIR`."""
    policy = load_any(args.policy, console, args.format)
    if policy is None:
        return ExitCode.POLICY
    strategies = [s.strip() for s in args.strategies.split(",")] if args.strategies else None
    bar = _StrategyBar(console)
    result = policy.write_pairs(args.out, strategies=strategies, model=args.model, feedback=args.feedback,
                                samples=args.samples, max_prompts=args.max_prompts, device=args.device,
                                progress=bar, engine=args.engine, ray_address=args.ray_address)
    bar.done()
    report = result.report.to_dict()
    if args.format == "json":
        console.print_json(dumps({"policy": policy.id, "version": policy.version, "out": args.out,
                                   "eval_prompts": len(result.eval_prompts), **report}))
        return ExitCode.OK
    _print_pairs(report, len(result.eval_prompts), args.out, console)
    return ExitCode.OK


def _print_pairs(report: dict, eval_prompts: int, out: str, console: Console) -> None:
    """The text summary of `tenet pairs`: kept per strategy, contrasts, drops and shortfalls."""
    console.print(f"kept {report['kept']} of {report['candidates']} candidate pairs -> {out}")
    if report["capped_samples"]:
        console.print(f"  model samples cut by the token cap (cut back, rejected sides only): {report['capped_samples']}")
    for strategy, counts in report["per_strategy"].items():
        console.print(f"  {strategy:<9} {counts['kept']:>5} kept of {counts['candidates']}")
    if report["artifact_pairs"]:
        made = ", ".join(f"{problem} {n}" for problem, n in report["artifact_pairs"].items())
        console.print(f"  artifact contrasts (a chosen side against itself with one artifact): {made}")
    if report.get("scope_pairs"):
        made = ", ".join(f"{rule} {n}" for rule, n in report["scope_pairs"].items())
        console.print(f"  scope contrasts (a rule's behaviour rejected outside its scope): {made}")
    dropped = ", ".join(f"{k} {v}" for k, v in report["dropped_by_reason"].items() if v) or "none"
    console.print(f"dropped: {dropped}")
    for rule, short in report["shortfall"].items():
        console.print(f"  short: {rule} ({short['severity']}) {short['kept']}/{short['budget']}")
    console.print(f"held-out eval prompts: {eval_prompts}; QA report: {out}/pair_qa.json")


class _StrategyBar:
    """A progress line per strategy (tqdm when the stream is a terminal)."""

    def __init__(self, console: Console):
        self.console, self.current, self.bar = console, None, None

    def __call__(self, strategy: str, candidates: int) -> None:
        from tqdm import tqdm

        if strategy != self.current:
            self.done()
            self.current = strategy
            self.bar = tqdm(desc=f"{strategy:<9}", unit=" pairs", file=self.console.err, leave=True)
        self.bar.n = candidates
        self.bar.refresh()

    def done(self) -> None:
        """Close the current strategy's bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Progress:
    """A one-line progress counter on the error stream."""

    def __init__(self, console: Console, verb: str):
        self.console, self.verb, self.shown = console, verb, False

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done()

    def __call__(self, rows: int) -> None:
        self.console.err.write(f"\r{self.verb} {rows:,} rows")
        self.console.err.flush()
        self.shown = True

    def done(self) -> None:
        """End the progress line."""
        if self.shown:
            self.console.err.write("\n")
            self.shown = False
