"""The `tenet` command line: thin commands over the Python API, with explicit exit codes.

Exit codes (`tenet.compiler.errors.ExitCode`): 0 success, 1 policy errors (or `diff` found changes),
2 usage or I/O errors, 3 a `compile-and-train` gate failed (registered, not promoted).
Commands raise; `main` alone turns an error into its message and exit code. No traceback
reaches the user unless `--debug` is given.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import traceback
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from tenet.compiler import __version__
from tenet.compiler.artifact import CompiledArtifact, read_artifact, write_artifact
from tenet.compiler.diagnostics import CompileError, Severity, render_all
from tenet.compiler.diff import diff_artifacts
from tenet.compiler.errors import ExitCode, TenetError
from tenet.compiler.pipeline import Compilation, compile_policy
from tenet.compiler.plan import describe_stage
from tenet.compiler.settings import DEVICES, METHODS
from tenet.runtime.console import Console
from tenet.runtime.redact import redacted_stage
from tenet.runtime.models import operator_model

if TYPE_CHECKING:
    from tenet.runtime.scale import Launch


class UsageError(TenetError):
    """A problem with how tenet was called or with a file it was given (exit 2)."""


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Run the CLI and return its exit code."""
    console = console or Console()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage
        return ExitCode.OK if exc.code == 0 else ExitCode.USAGE
    try:
        return args.handler(args, console)
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        return _fail(exc, args, console)


def _fail(exc: Exception, args: argparse.Namespace, console: Console) -> int:
    """Print a command's failure as its kind asks and return its exit code: the one error mapping.

    A `TenetError` prints its own message (an outcome such as `NothingToTrain` on stdout, exit 0).
    Anything else is unexpected: a traceback with `--debug`, else one line, naming the OS
    problem (disk full, read-only, permissions) when there is one in the exception's chain.
    """
    if isinstance(exc, args.usage_errors):
        exc = UsageError(str(exc))
    if isinstance(exc, TenetError):
        as_json = getattr(args, "format", "text") == "json" and hasattr(args, "policy")
        if as_json and exc.exit_code == ExitCode.OK:
            from tenet.runtime.summary import outcome_summary, to_json

            # `--format json` owns stdout: an outcome such as "nothing to train" is a summary too.
            console.print_json(to_json(outcome_summary(args.policy, exc)))
            return exc.exit_code
        if as_json and isinstance(exc, CompileError):
            from tenet.runtime.summary import errors_summary, to_json

            # A policy error found while the command ran (no held-out rows in its prompt files).
            console.print_json(to_json(errors_summary(args.policy, exc.diagnostics)))
        say = console.print if exc.exit_code == ExitCode.OK else console.error
        say(exc.render())
        return exc.exit_code
    from tenet.runtime.errors import describe_failure

    if args.debug:
        console.error("".join(traceback.format_exception(exc)))
    elif (os_problem := describe_failure(exc)) is not None:
        # Disk full, read-only, permissions: the user's to fix, so no traceback hint.
        console.error(f"error: {os_problem}")
    else:
        console.error(f"error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
    return ExitCode.USAGE


def build_parser() -> argparse.ArgumentParser:
    """Define the commands and their options."""
    parser = argparse.ArgumentParser(prog="tenet", description="Compile policies into aligned models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"tenet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    command = functools.partial(_command, commands)
    _compiler_commands(command)
    _data_commands(command)
    _cycle_commands(command)
    fmt = command("fmt", cmd_fmt, "rewrite policies in canonical layout")
    fmt.add_argument("paths", nargs="+", help=".policy files")
    fmt.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted")
    fmt.add_argument("--stdout", action="store_true", help="print instead of rewriting")
    return parser


def _command(commands, name: str, handler: Callable, help: str,
             usage_errors: tuple[type[Exception], ...] = ()) -> argparse.ArgumentParser:
    """Add one subcommand.

    Args:
        commands: The parser's subparsers.
        name: The command's name.
        handler: `cmd_*`, called with the parsed arguments and the console.
        help: One line for `tenet --help` and the command's own help.
        usage_errors: Exceptions that are not tenet's own but that this command reports as
            usage errors, with their message alone (see `_fail`).
    """
    sub = commands.add_parser(name, help=help, description=help)
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    sub.set_defaults(handler=handler, usage_errors=usage_errors)
    return sub


def _compiler_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands that only compile: check, compile, plan, diff, schema."""
    check = command("check", cmd_check, "check a policy and print its diagnostics")
    _policy_args(check)
    check.add_argument("--format", choices=("text", "json"), default="text")

    comp = command("compile", cmd_compile, "compile a policy into a JSON artifact")
    _policy_args(comp)
    comp.add_argument("-o", "--out", required=True, help="artifact path (.json)")
    comp.add_argument("--format", choices=("text", "json"), default="text")

    plan = command("plan", cmd_plan, "print the training plan's stages")
    _policy_args(plan)

    diff = command("diff", cmd_diff, "compare two policies or artifacts (exit 1 when they differ)")
    diff.add_argument("old", help="old .policy or compiled .json")
    diff.add_argument("new", help="new .policy or compiled .json")
    diff.add_argument("--format", choices=("text", "json"), default="text")

    command("schema", cmd_schema, "print the JSON Schema of the compiled artifact")


def _data_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands that run a policy over data: label, explain, pairs."""
    label = command("label", cmd_label, "label a dataset with a policy's rules")
    label.add_argument("policy", help=".policy file or compiled .json artifact")
    label.add_argument("data", help="JSONL, CSV, Parquet file, a saved Hugging Face dataset directory, or a "
                                    "Hub data set hf://org/name[@rev]?split=train from the HF cache")
    label.add_argument("--out", required=True, help="output Parquet file (or directory with --out-format hf)")
    label.add_argument("--out-format", choices=("parquet", "hf"), default="parquet")
    label.add_argument("--columns", help="column mapping, e.g. prompt=question,response=answer,gold=rating")
    label.add_argument("--batch-rows", type=int, default=65_536)
    label.add_argument("--no-spans", action="store_true", help="skip matched-span provenance (faster)")
    label.add_argument("--judge-model", help="model for judge rules that name none (default: base model)")

    explain = command("explain", cmd_explain, "show every rule's vote on one prompt and response")
    explain.add_argument("policy", help=".policy file or compiled .json artifact")
    explain.add_argument("--prompt", required=True)
    explain.add_argument("--response", required=True)
    explain.add_argument("--judge-model", help="model for judge rules that name none")

    # An unknown strategy name or classifier label arrives as a ValueError.
    pairs = command("pairs", cmd_pairs, "synthesize verified contrastive pairs for a policy",
                    usage_errors=(ValueError,))
    pairs.add_argument("policy", help=".policy file or compiled .json artifact")
    pairs.add_argument("--out", required=True, help="output directory")
    pairs.add_argument("--strategies", help="comma-separated (default: the policy's `strategies` setting)")
    pairs.add_argument("--model", type=operator_model, help="model for sample/revise/contrast (default: the policy's base_model "
                                       "when one of those strategies is asked for)")
    pairs.add_argument("--feedback", help="rated logs (JSONL/CSV/Parquet or hf://org/name?split=S, with a "
                                          "`rating` column) for `feedback`")
    pairs.add_argument("--samples", type=int, default=4, help="N for best-of-N sampling")
    pairs.add_argument("--max-prompts", type=int, help="cap the training prompts the model answers (seeded choice)")
    pairs.add_argument("--device", choices=DEVICES, help="default: the policy's `device` setting")


def _cycle_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The update cycle and its records: compile-and-train, audit, report."""
    # A champion's base model or a training file that is not on this machine: FileNotFoundError.
    cat = command("compile-and-train", cmd_compile_and_train,
                  "run a full update cycle: pairs, evaluate, train, gate, register (MLflow)",
                  usage_errors=(FileNotFoundError,))
    _policy_args(cat)
    cat.add_argument("--method", choices=METHODS,
                     help="default: the plan's (auto: KTO for feedback-only data, else DPO)")
    cat.add_argument("--base-model", type=operator_model, help="Hugging Face id, local path or embedded:… (default: the plan's)")
    cat.add_argument("--max-steps", type=int)
    cat.add_argument("--device", choices=DEVICES)
    cat.add_argument("--work-dir", default="work")
    cat.add_argument("--eval-prompts", type=int, help="cap the held-out prompts evaluated")
    cat.add_argument("--model-prompts", type=int, default=24,
                     help="prompts the model samples for pairs (rules scoped to few prompts add up to as many again)")
    cat.add_argument("--show", type=int, default=0, metavar="N",
                     help="print N held-out prompts with the answers before and after training")
    cat.add_argument("--from-base", action="store_true",
                     help="train from the plan's base model even when the policy has a champion")
    cat.add_argument("--format", choices=("text", "json"), default="text",
                     help="json: one summary object on stdout for CI (docs/ci.md); progress stays on stderr")

    audit = command("audit", cmd_audit, "list a policy's update cycles, a model's lineage or a rule's history")
    _store_args(audit)
    which = audit.add_mutually_exclusive_group()
    which.add_argument("--model", help="lineage of a registered version: NAME/VERSION or NAME@champion")
    which.add_argument("--rule", help="one rule's compliance before -> after across cycles")
    audit.add_argument("--format", choices=("text", "json"), default="text")

    report = command("report", cmd_report, "write one cycle as a self-contained HTML report")
    _store_args(report)
    report.add_argument("--run", help="cycle run id or a unique prefix (default: the newest cycle)")
    report.add_argument("--out", required=True, help="output .html file")


def _policy_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("policy", help="path to a .policy file")
    sub.add_argument("--root", help="directory imports must stay inside (default: the policy's)")


# --- commands ---------------------------------------------------------------------


def _compile(args: argparse.Namespace, for_training: bool = False) -> Compilation:
    """Compile the command's policy; a path that is not a readable file is a usage error.

    `for_training` (plan, compile-and-train): a policy with no held-out prompts is an error (E173).
    """
    if not Path(args.policy).is_file():
        raise UsageError(f"policy file not found: {args.policy}")
    # `--base-model` and `--method` are compiled in, so the plan (and the check of the policy's
    # `trainer.*` settings against the method's TRL config) describes what will run.
    return compile_policy(args.policy, args.root, getattr(args, "base_model", None), getattr(args, "method", None),
                          for_training=for_training)


def _compiled(args: argparse.Namespace, console: Console) -> CompiledArtifact | None:
    """Compile the command's policy for a training run and print its diagnostics; None when it has errors."""
    result = _compile(args, for_training=True)
    _report(result, console, "text")
    return result.artifact


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    """`tenet check POLICY`."""
    result = _compile(args)
    _report(result, console, args.format)
    if result.ok and args.format == "text":
        ir = result.artifact.ir
        console.print(f"{args.policy}: ok ({len(ir.rules)} rules, {_count(result, Severity.WARNING)} warnings)")
    return ExitCode.OK if result.ok else ExitCode.POLICY


def cmd_compile(args: argparse.Namespace, console: Console) -> int:
    """`tenet compile POLICY -o OUT.json`."""
    result = _compile(args)
    _report(result, console, args.format)
    if not result.ok:
        return ExitCode.POLICY
    with _writing(args.out):
        write_artifact(result.artifact, args.out)
    if args.format == "text":
        console.print(f"wrote {args.out} (policy {result.artifact.policy_id} {result.artifact.version}, "
                      f"hash {result.artifact.policy_hash[:12]})")
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    """`tenet plan POLICY`."""
    artifact = _compiled(args, console)
    if artifact is None:
        return ExitCode.POLICY
    console.print(f"plan for {artifact.policy_id} {artifact.version} (plan {artifact.plan_hash[:12]})")
    for i, stage in enumerate(artifact.plan.stages, 1):
        console.print(f"  {i}. {describe_stage(redacted_stage(stage))}")
    return ExitCode.OK


def cmd_diff(args: argparse.Namespace, console: Console) -> int:
    """`tenet diff OLD NEW`."""
    old, new = _load_any(args.old, console), _load_any(args.new, console)
    if old is None or new is None:
        return ExitCode.POLICY
    diff = diff_artifacts(old, new)
    if args.format == "json":
        console.print_json(json.dumps(diff.model_dump(mode="json"), indent=2, sort_keys=True))
    else:
        console.print(f"{old.policy_id} {old.version} -> {new.policy_id} {new.version}: {diff.summary()}")
        for change in diff.rules:
            fields = f" ({', '.join(change.fields)})" if change.fields else ""
            console.print(f"  {change.change:<8} {change.rule:<32} {change.category.value}{fields}")
        for key in diff.training_changed:
            console.print(f"  training {key}")
    return ExitCode.POLICY if diff.changed else ExitCode.OK


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    """`tenet schema`."""
    from tenet.compiler.artifact import json_schema

    console.print_json(json.dumps(json_schema(), indent=2, sort_keys=True))
    return ExitCode.OK


def cmd_label(args: argparse.Namespace, console: Console) -> int:
    """`tenet label POLICY DATA --out OUT`."""
    from tenet.runtime.data import ColumnMap
    from tenet.runtime.label.run import label_dataset
    from tenet.runtime.label.scorers import Scorers

    artifact = _load_any(args.policy, console)
    if artifact is None:
        return ExitCode.POLICY
    scorers = Scorers.for_policy(artifact.ir.training, Path(args.policy).parent, args.judge_model)
    with _Progress(console, "labeled") as progress, _writing(args.out):
        report = label_dataset(artifact, args.data, args.out, columns=ColumnMap.parse(args.columns),
                               batch_rows=args.batch_rows, spans=not args.no_spans, scorers=scorers,
                               out_format=args.out_format, progress=progress, root=Path(args.policy).parent)
    summary = report.to_dict()
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
    console.print(report.analysis.render())
    return ExitCode.OK


def cmd_explain(args: argparse.Namespace, console: Console) -> int:
    """`tenet explain POLICY --prompt P --response R`."""
    from tenet.compiler.semantics import Sample
    from tenet.runtime.label.explain import explain, render
    from tenet.runtime.label.scorers import Scorers

    artifact = _load_any(args.policy, console)
    if artifact is None:
        return ExitCode.POLICY
    sample = Sample(prompt=args.prompt, response=args.response)
    scorers = Scorers.for_policy(artifact.ir.training, Path(args.policy).parent, args.judge_model)
    explanations, verdict, score = explain(artifact, sample, scorers)
    color = console.out.isatty()
    console.print(render(explanations, verdict, score, sample, color=color), keep=_HIGHLIGHT if color else ())
    return ExitCode.OK


# The reverse video `tenet.runtime.label.explain.highlight` marks a match with on a terminal: the only
# control sequences `tenet explain` prints unescaped.
_HIGHLIGHT = ("\033[7m", "\033[0m")


def cmd_pairs(args: argparse.Namespace, console: Console) -> int:
    """`tenet pairs POLICY --out DIR`."""
    from tenet.runtime.synthesize.run import synthesize
    from tenet.runtime.synthesize.strategies import NEEDS_MODEL

    artifact = _load_any(args.policy, console)
    if artifact is None:
        return ExitCode.POLICY
    training = artifact.ir.training
    strategies = [s.strip() for s in args.strategies.split(",")] if args.strategies else list(training.strategies)
    root = Path(args.policy).parent
    generator = None
    if args.model or any(s in NEEDS_MODEL for s in strategies):
        from tenet.runtime.models import resolve_model
        from tenet.runtime.synthesize.generate import Generator

        generator = Generator(resolve_model(args.model or training.base_model, root, training.revision),
                              max_new_tokens=training.max_new_tokens, device=args.device or training.device,
                              precision=training.precision)
    feedback = _read_feedback(args.feedback) if args.feedback else None
    bar = _StrategyBar(console)
    result = synthesize(artifact, args.out, root=root, strategies=strategies, generator=generator,
                        feedback=feedback, samples_per_prompt=args.samples, progress=bar,
                        max_model_prompts=args.max_prompts)
    bar.done()
    report = result.report.to_dict()
    console.print(f"kept {report['kept']} of {report['candidates']} candidate pairs -> {args.out}")
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
    console.print(f"held-out eval prompts: {len(result.eval_prompts)}; QA report: {args.out}/pair_qa.json")
    return ExitCode.OK


def cmd_compile_and_train(args: argparse.Namespace, console: Console) -> int:
    """`tenet compile-and-train POLICY [--format json]`: exit 0 promoted or nothing to train, 3 a gate failed.

    Under `accelerate launch` only the main process runs the cycle; the others train with it
    (runtime/scale.py, docs/scaling-out.md).
    """
    from tenet.runtime import scale, summary
    from tenet.runtime.cycle import train_stage

    as_json = args.format == "json"
    result = _compile(args, for_training=True)
    follower = scale.rank() > 0
    if not follower:
        _report(result, console, "text")  # diagnostics go to stderr in both formats
    if not result.ok:
        if as_json and not follower:
            console.print_json(summary.to_json(summary.errors_summary(args.policy, result.diagnostics)))
        return ExitCode.POLICY
    launch = scale.join(args.work_dir, args.device or train_stage(result.artifact).settings.device)
    if launch is not None and not launch.main:
        return scale.follow(launch, result.artifact)
    with scale.leading(launch):
        return _cycle(args, result.artifact, console, launch)


def _cycle(args: argparse.Namespace, artifact: CompiledArtifact, console: Console,
           launch: Launch | None) -> int:
    """Run the cycle (the main process of a launch) and print its table or JSON summary."""
    from tenet.runtime import summary
    from tenet.runtime.cycle import CycleOptions, run_cycle, train_stage

    as_json = args.format == "json"
    options = CycleOptions(work_dir=args.work_dir, base_model=args.base_model, method=args.method,
                           max_steps=args.max_steps, device=args.device, eval_prompts=args.eval_prompts,
                           model_prompts=args.model_prompts, from_base=args.from_base, progress=True,
                           before_train=launch.announce if launch is not None else None)
    # Nothing to train is raised as an outcome; `_fail` prints it (as JSON with --format json).
    with _StageBar(console, len(artifact.plan.stages)) as progress, _stdout_to_stderr(as_json):
        cycle = run_cycle(artifact, options, progress=progress, notify=console.error)
    if as_json:
        method = train_stage(artifact).method  # `--method` was compiled into the plan
        console.print_json(summary.to_json(summary.cycle_summary(artifact, cycle, method)))
    else:
        _print_cycle(artifact, cycle, args.show, console)
    return ExitCode.OK if cycle.promoted else ExitCode.GATE_FAILED


@contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """While `active`, send what libraries print to stdout to stderr: `--format json` owns stdout."""
    if not active:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield


def _print_cycle(artifact: CompiledArtifact, cycle, show: int, console: Console) -> None:
    """The human summary of a cycle: the before/after table, the gates, the model and the run."""
    from tenet.runtime import naturalness
    from tenet.runtime.audit import display_uri
    from tenet.runtime.track import ui_hint

    if cycle.parent_run:
        console.print(f"update of champion run {cycle.parent_run}: {cycle.diff_summary}; "
                      f"{len(cycle.unchanged)} unchanged rules must not regress")
    console.print(f"{'rule':<32} {'severity':<9} {'before':>7} {'after':>7}")
    for rule in artifact.ir.rules:
        b, a = cycle.before.per_rule.get(rule.id), cycle.after.per_rule.get(rule.id)
        if b is None and a is None:
            continue
        console.print(f"{rule.id:<32} {rule.severity:<9} {_pct(b):>7} {_pct(a):>7}")
    console.print(f"{'answers cut by the token cap':<42} {_pct(cycle.before.truncated):>7} {_pct(cycle.after.truncated):>7}")
    console.print(f"{'answers that decline':<42} {_pct(cycle.before.declined):>7} {_pct(cycle.after.declined):>7}")
    for name, label in naturalness.LABELS.items():
        console.print(f"{'artifact: ' + label:<42} {_pct(cycle.before.artifacts.get(name)):>7} "
                      f"{_pct(cycle.after.artifacts.get(name)):>7}")
    for gate in cycle.gates:
        console.print(f"gate {'PASS' if gate.passed else 'FAIL'}  {gate.detail} ({gate.gate.op} {gate.gate.threshold:g})")
    _show_answers(cycle, show, console)
    console.print(f"model version {cycle.model_version}: {'promoted to champion' if cycle.promoted else 'not promoted'}")
    console.print(f"MLflow run {cycle.run_id}; {ui_hint(display_uri(cycle.tracking_uri), cycle.run_id)}")


def _show_answers(cycle, count: int, console: Console) -> None:
    """Held-out prompts with both models' answers: read them before trusting the table."""
    for (prompt, before), (_, after), end in list(zip(cycle.before.samples, cycle.after.samples,
                                                      cycle.after.ends))[:count]:
        console.print(f"\n> {prompt}\n  before: {_indent(before)}\n  after:  {_indent(after)}"
                      + ("  [cut by the token cap]" if end == "cap" else ""))
    if count:
        console.print()


def _indent(text: str) -> str:
    return text.strip().replace("\n", "\n          ")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _read_feedback(path: str) -> list[dict]:
    from tenet.runtime.data import ColumnMap, read_batches

    rows = []
    for batch in read_batches(path, ColumnMap(gold="rating")):
        for row in batch.to_pylist():
            if row["bad"] is None:
                rows.append({"prompt": row["prompt"], "response": row["response"], "rating": row["gold"],
                             "context": [(t["role"], t["content"]) for t in row["context"]]})
    return rows


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


class _StageBar:
    """The cycle's stage bar and a `[stage] NAME` line per stage, on the error stream."""

    def __init__(self, console: Console, stages: int):
        from tqdm import tqdm

        self.console = console
        self.bar = tqdm(total=stages, unit="stage", file=console.err,
                        bar_format="{desc:<24} {bar:20} {n_fmt}/{total_fmt} stages [{elapsed}]")

    def __call__(self, stage: str) -> None:
        if self.bar.desc:
            self.bar.update(1)
        self.bar.set_description_str(stage)
        self.console.err.write(f"\n[stage] {stage}\n")

    def __enter__(self) -> _StageBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.close()


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


def _store_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("policy", help="policy id (its experiment is tenet/<id>), or its .policy / .json file")
    sub.add_argument("--work-dir", default="work", help="work folder whose mlflow.db to read")
    sub.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else --work-dir)")


def _audit_store(args: argparse.Namespace, console: Console):
    """The policy id the command names, and a reader over the tracking store it resolves to."""
    from tenet.runtime.audit import CycleStore, resolve_tracking_uri

    policy_id = args.policy
    if args.policy.endswith((".policy", ".json")) and Path(args.policy).is_file():
        artifact = _load_any(args.policy, console)
        if artifact is None:
            raise UsageError(f"cannot read the policy id of {args.policy}: it has errors")
        policy_id = artifact.policy_id
    return policy_id, CycleStore(resolve_tracking_uri(args.tracking_uri, args.work_dir))


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    """`tenet audit POLICY [--model REF | --rule ID]`."""
    from tenet.runtime import audit

    policy_id, store = _audit_store(args, console)
    if args.model:
        lineage = store.lineage(policy_id, args.model)
        text, data = audit.render_lineage(lineage), lineage
    elif args.rule:
        points = store.rule_history(policy_id, args.rule)
        text = audit.render_rule_history(policy_id, args.rule, points)
        data = {"policy": policy_id, "rule": args.rule, "cycles": points}
    else:
        cycles = store.cycles(policy_id)
        text, data = audit.render_cycles(cycles), {"policy": policy_id, "cycles": cycles}
    if args.format == "json":
        console.print_json(audit.to_json(data))
    else:
        console.print(text)
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """`tenet report POLICY [--run RUN_ID] --out report.html`."""
    from tenet.runtime.report import collect, write_report

    policy_id, store = _audit_store(args, console)
    data = collect(store, policy_id, args.run)
    with _writing(args.out):
        path = write_report(data, args.out)
    console.print(f"wrote {path} (policy {policy_id} {data.cycle.policy_version or '-'}, run "
                  f"{data.cycle.run_id[:8]}, {len(data.rules)} rules, gates {data.cycle.gates or '-'})")
    return ExitCode.OK


def cmd_fmt(args: argparse.Namespace, console: Console) -> int:
    """`tenet fmt PATH...`."""
    from tenet.compiler.fmt import format_source

    unformatted = 0
    for path in args.paths:
        text = _read_text(path)
        formatted = format_source(text, path)  # a syntax error is a CompileError: `main` renders it
        if args.stdout:
            console.print(formatted.rstrip("\n"))
        elif formatted != text:
            unformatted += 1
            if args.check:
                console.print(f"would reformat {path}")
            else:
                Path(path).write_text(formatted, encoding="utf-8")
                console.print(f"formatted {path}")
    return ExitCode.POLICY if args.check and unformatted else ExitCode.OK


# --- helpers ----------------------------------------------------------------------


def _report(result: Compilation, console: Console, fmt: str) -> None:
    if fmt == "json":
        console.print_json(json.dumps({"ok": result.ok, "diagnostics": [d.model_dump(mode="json")
                                                                  for d in result.diagnostics]},
                                 indent=2, sort_keys=True))
        return
    if result.diagnostics:
        console.error(render_all(list(result.diagnostics), result.sources))
        errors = _count(result, Severity.ERROR)
        if errors:
            console.error(f"\n{errors} error(s), {_count(result, Severity.WARNING)} warning(s)")


def _count(result: Compilation, severity: Severity) -> int:
    return sum(d.severity is severity for d in result.diagnostics)


def _load_any(path: str, console: Console) -> CompiledArtifact | None:
    if path.endswith(".json"):
        return read_artifact(path)
    if not Path(path).is_file():
        raise UsageError(f"policy file not found: {path}")
    result = compile_policy(path)
    if not result.ok:
        _report(result, console, "text")
        return None
    return result.artifact


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """Report an OS error inside the block as `cannot write PATH: why` (exit 2)."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
