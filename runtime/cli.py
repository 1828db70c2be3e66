"""The `tenet` command line: thin commands over the Python API (runtime/api.py), with explicit exit codes.

Exit codes (`tenet.compiler.errors.ExitCode`): 0 success, 1 policy errors (or `diff` found changes,
`fmt --check` unformatted files, `explain` a BAD verdict), 2 usage or I/O errors, 3 a
`compile-and-train` gate failed (registered, not promoted). Commands raise; `main` alone turns an
error into its message and exit code. No traceback reaches the user unless `--debug` is given.
Every command that reports takes `--format text|json`; with json, stdout holds one JSON object.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import sys
import traceback
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from tenet.compiler import __version__
from tenet.compiler.artifact import CompiledArtifact, write_artifact
from tenet.compiler.diagnostics import CompileError, display_path
from tenet.compiler.diff import diff_artifacts
from tenet.compiler.errors import ExitCode, TenetError
from tenet.compiler.plan import describe_stage
from tenet.compiler.settings import DEVICES, METHODS
from tenet.runtime import api
from tenet.runtime.api import Check, CompiledPolicy, MissingExtra, UsageError, needs_extras
from tenet.runtime.console import Console
from tenet.runtime.models import operator_model
from tenet.runtime.redact import display_uri, redacted_stage

if TYPE_CHECKING:
    from tenet.runtime.scale import Launch

FORMATS = ("text", "json")
# Folders `check` and `fmt` do not search for policies: tools' and environments' own.
SKIPPED_FOLDERS = frozenset({"node_modules", "site-packages", "venv", "__pycache__"})


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Run the CLI and return its exit code."""
    console = console or Console()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "check" and not (args.policies or args.explain):
            args.parser.error("name at least one POLICY, or a code with --explain CODE")
    except SystemExit as exc:  # argparse already printed usage
        return ExitCode.OK if exc.code == 0 else ExitCode.USAGE
    try:
        with needs_extras(f"tenet {args.command}", getattr(args, "extras", ())):
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
    if isinstance(exc, MissingExtra):
        exc = exc.named(f"tenet {args.command}")  # the command the user typed, not the API's feature
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
    parser.add_argument("--version", action="version", version=f"tenet {__version__}",
                        help="print tenet's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="one of the commands below; `tenet COMMAND --help` for its options")
    command = functools.partial(_command, commands)
    _compiler_commands(command)
    _data_commands(command)
    _cycle_commands(command)
    fmt = command("fmt", cmd_fmt, "rewrite policies in canonical layout")
    fmt.add_argument("paths", nargs="+", metavar="PATH",
                     help=".policy files, or folders to search for *.policy")
    fmt.add_argument("--check", action="store_true",
                     help="rewrite nothing; exit 1 if a file is not formatted")
    fmt.add_argument("--diff", action="store_true",
                     help="rewrite nothing; print a unified diff of the changes, exit 1 if there are any")
    fmt.add_argument("--stdout", action="store_true", help="print the formatted text instead of rewriting")
    init = command("init", cmd_init,
                   "scaffold a policy repository: a starter policy, prompts, CI and pre-commit")
    init.add_argument("folder", nargs="?", default=".", metavar="DIR",
                      help="where to write it (default: here)")
    command("lsp", cmd_lsp, "serve the policy language to editors over stdio (Language Server Protocol)",
            extras=("lsp",))
    return parser


def _command(commands, name: str, handler: Callable, help: str,
             usage_errors: tuple[type[Exception], ...] = (),
             extras: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """Add one subcommand.

    Args:
        commands: The parser's subparsers.
        name: The command's name.
        handler: `cmd_*`, called with the parsed arguments and the console.
        help: One line for `tenet --help` and the command's own help.
        usage_errors: Exceptions that are not tenet's own but that this command reports as
            usage errors, with their message alone (see `_fail`).
        extras: The optional dependencies it needs (pyproject.toml's extras), named together
            when one of their modules is missing.
    """
    sub = commands.add_parser(name, help=help, description=help)
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    sub.set_defaults(handler=handler, usage_errors=usage_errors, extras=extras, parser=sub)
    return sub


def _format_arg(sub: argparse.ArgumentParser, what: str) -> None:
    """`--format text|json`: json prints one object on stdout (fields in docs/ci.md)."""
    sub.add_argument("--format", choices=FORMATS, default="text",
                     help=f"json: one JSON object on stdout ({what}; docs/ci.md)")


def _compiler_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands that only compile: check, compile, plan, diff, schema."""
    check = command("check", cmd_check, "check policies and print their diagnostics")
    check.add_argument("policies", nargs="*", metavar="POLICY",
                       help=".policy files, or folders to search for *.policy")
    check.add_argument("--explain", metavar="CODE",
                       help="print what a diagnostic code means, an example and the fix (e.g. E160)")
    _root_arg(check)
    _format_arg(check, "ok and every diagnostic")

    comp = command("compile", cmd_compile, "compile a policy into a JSON artifact")
    _policy_args(comp)
    comp.add_argument("-o", "--out", required=True, help="artifact path (.json)")
    _format_arg(comp, "ok, diagnostics and the artifact's hashes")

    plan = command("plan", cmd_plan, "print the training plan's stages")
    _policy_args(plan)
    _format_arg(plan, "the typed stages")

    diff = command("diff", cmd_diff, "compare two policies or artifacts (exit 1 when they differ)")
    diff.add_argument("old", help="old .policy or compiled .json")
    diff.add_argument("new", help="new .policy or compiled .json")
    _format_arg(diff, "the changed rules and training settings")

    command("schema", cmd_schema, "print the JSON Schema of the compiled artifact")


def _data_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
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
    _format_arg(label, "the labeling report")

    explain = command("explain", cmd_explain,
                      "show every rule's vote on one prompt and response (exit 1 when the verdict is BAD)",
                      extras=("label",))
    explain.add_argument("policy", help=".policy file or compiled .json artifact")
    explain.add_argument("--prompt", required=True, help="the user's message")
    explain.add_argument("--response", required=True, help="the answer to judge")
    explain.add_argument("--judge-model", help="model for judge rules that name none")
    _format_arg(explain, "the verdict and every rule's vote")

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
    _format_arg(pairs, "the pair QA report")


def _cycle_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The update cycle and its records: compile-and-train, audit, report."""
    # A champion's base model or a training file that is not on this machine: FileNotFoundError.
    cat = command("compile-and-train", cmd_compile_and_train,
                  "run a full update cycle: pairs, evaluate, train, gate, register (MLflow)",
                  usage_errors=(FileNotFoundError,), extras=("label", "train"))
    _policy_args(cat)
    cat.add_argument("--method", choices=METHODS,
                     help="default: the plan's (auto: KTO for feedback-only data, else DPO)")
    cat.add_argument("--base-model", type=operator_model, help="Hugging Face id, local path or embedded:… (default: the plan's)")
    cat.add_argument("--max-steps", type=int, help="cap the training steps (default: the plan's)")
    cat.add_argument("--device", choices=DEVICES, help="where to train (default: the plan's)")
    cat.add_argument("--work-dir", default="work",
                     help="caches, checkpoints and, by default, the MLflow store")
    cat.add_argument("--tracking-uri", help=TRACKING_HELP)
    cat.add_argument("--eval-prompts", type=int, help="cap the held-out prompts evaluated")
    cat.add_argument("--model-prompts", type=int, default=24,
                     help="prompts the model samples for pairs (rules scoped to few prompts add up to as many again)")
    cat.add_argument("--show", type=int, default=0, metavar="N",
                     help="print N held-out prompts with the answers before and after training")
    cat.add_argument("--from-base", action="store_true",
                     help="train from the plan's base model even when the policy has a champion")
    _format_arg(cat, "the cycle's summary; progress stays on stderr")

    audit = command("audit", cmd_audit,
                    "list a policy's update cycles, a model's lineage or a rule's history", extras=("train",))
    _store_args(audit)
    which = audit.add_mutually_exclusive_group()
    which.add_argument("--model", help="lineage of a registered version: NAME/VERSION or NAME@champion")
    which.add_argument("--rule", help="one rule's compliance before -> after across cycles")
    _format_arg(audit, "the cycles, lineage or rule history")

    report = command("report", cmd_report, "write one cycle as a self-contained HTML report",
                     extras=("train",))
    _store_args(report)
    report.add_argument("--run", help="cycle run id or a unique prefix (default: the newest cycle)")
    report.add_argument("--out", required=True, help="output .html file")


TRACKING_HELP = "MLflow tracking URI (default: MLFLOW_TRACKING_URI, else --work-dir's mlflow.db)"


def _policy_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("policy", help="path to a .policy file")
    _root_arg(sub)


def _root_arg(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--root", help="directory imports must stay inside (default: the policy's)")


def _store_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("policy", help="policy id (its experiment is tenet/<id>), or its .policy / .json file")
    sub.add_argument("--work-dir", default="work", help="work folder whose mlflow.db to read")
    sub.add_argument("--tracking-uri", help=TRACKING_HELP)


# --- commands ---------------------------------------------------------------------


def _check(path: str, args: argparse.Namespace, for_training: bool = False) -> Check:
    """Check the command's policy (`api.check`) with its `--root`, `--base-model` and `--method`.

    `for_training` (plan, compile-and-train): a policy with no held-out prompts is an error (E173).
    """
    # `--base-model` and `--method` are compiled in, so the plan (and the check of the policy's
    # `trainer.*` settings against the method's TRL config) describes what will run.
    return api.check(path, getattr(args, "root", None), getattr(args, "base_model", None),
                     getattr(args, "method", None), for_training=for_training)


def _load(args: argparse.Namespace, console: Console, for_training: bool = False) -> CompiledPolicy | None:
    """The command's policy, or None after printing its errors (as the command's `--format` asks)."""
    found = _check(args.policy, args, for_training)
    _report(found, console, getattr(args, "format", "text"))
    return found.policy


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    """`tenet check POLICY...`: files, or folders searched for `*.policy`; `--explain CODE`: a code's page."""
    if args.explain:
        return _explain_code(args.explain, console)
    checks = [_check(path, args) for path in policy_files(args.policies)]
    if args.format == "json":
        console.print_json(_dumps(check_summary(checks)))
    else:
        for found in checks:
            _report(found, console, "text")
            if found.ok:
                console.print(f"{display_path(found.path)}: ok ({len(found.policy.rules)} rules, "
                              f"{len(found.warnings)} warnings)")
    return ExitCode.OK if all(found.ok for found in checks) else ExitCode.POLICY


def check_summary(checks: list[Check]) -> dict:
    """`tenet check --format json`: ok, every diagnostic, and one entry per file."""
    files = [{"file": found.path, "ok": found.ok, "rules": len(found.policy.rules) if found.ok else None,
              "errors": len(found.errors), "warnings": len(found.warnings), "notes": len(found.notes)}
             for found in checks]
    return {"ok": all(found.ok for found in checks), "files": files,
            "diagnostics": [d for found in checks for d in found.to_dict()["diagnostics"]]}


def cmd_lsp(args: argparse.Namespace, console: Console) -> int:
    """`tenet lsp`: answer an editor on stdin and stdout until it disconnects (docs/editors.md)."""
    from tenet.runtime.lsp_server import serve

    serve()
    return ExitCode.OK


def _explain_code(code: str, console: Console) -> int:
    """Print a diagnostic code's page (`tenet check --explain E160`)."""
    from tenet.compiler.codes import PAGES, code_page

    page = code_page(code)
    if page is None:
        raise UsageError(f"unknown diagnostic code {code!r}; codes look like E160 or W150 "
                         f"({len(PAGES)} codes: docs/language.md#diagnostics)")
    console.print(page)
    return ExitCode.OK


def cmd_compile(args: argparse.Namespace, console: Console) -> int:
    """`tenet compile POLICY -o OUT.json`."""
    policy = _load(args, console)
    if policy is None:
        return ExitCode.POLICY
    artifact = policy.artifact
    with _writing(args.out):
        write_artifact(artifact, args.out)
    if args.format == "json":
        console.print_json(_dumps({**policy.check().to_dict(), "out": args.out, "policy": artifact.policy_id,
                                   "version": artifact.version, "policy_hash": artifact.policy_hash,
                                   "plan_hash": artifact.plan_hash}))
    else:
        console.print(f"wrote {args.out} (policy {artifact.policy_id} {artifact.version}, "
                      f"hash {artifact.policy_hash[:12]})")
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    """`tenet plan POLICY`."""
    policy = _load(args, console, for_training=True)
    if policy is None:
        return ExitCode.POLICY
    artifact, stages = policy.artifact, [redacted_stage(stage) for stage in policy.plan().stages]
    if args.format == "json":
        console.print_json(_dumps({**policy.check().to_dict(), "policy": artifact.policy_id,
                                   "version": artifact.version, "plan_hash": artifact.plan_hash,
                                   "stages": [{"summary": describe_stage(s), **s.model_dump(mode="json")}
                                              for s in stages]}))
        return ExitCode.OK
    console.print(f"plan for {artifact.policy_id} {artifact.version} (plan {artifact.plan_hash[:12]})")
    for i, stage in enumerate(stages, 1):
        console.print(f"  {i}. {describe_stage(stage)}")
    return ExitCode.OK


def cmd_diff(args: argparse.Namespace, console: Console) -> int:
    """`tenet diff OLD NEW`."""
    old, new = _load_any(args.old, console), _load_any(args.new, console)
    if old is None or new is None:
        return ExitCode.POLICY
    diff = diff_artifacts(old.artifact, new.artifact)
    if args.format == "json":
        console.print_json(_dumps(diff.model_dump(mode="json")))
    else:
        console.print(f"{old.id} {old.version} -> {new.id} {new.version}: {diff.summary()}")
        for change in diff.rules:
            fields = f" ({', '.join(change.fields)})" if change.fields else ""
            console.print(f"  {change.change:<8} {change.rule:<32} {change.category.value}{fields}")
        for key in diff.training_changed:
            console.print(f"  training {key}")
    return ExitCode.POLICY if diff.changed else ExitCode.OK


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    """`tenet schema`."""
    from tenet.compiler.artifact import json_schema

    console.print_json(_dumps(json_schema()))
    return ExitCode.OK


def cmd_label(args: argparse.Namespace, console: Console) -> int:
    """`tenet label POLICY DATA --out OUT`."""
    policy = _load_any(args.policy, console, args.format)
    if policy is None:
        return ExitCode.POLICY
    with _Progress(console, "labeled") as progress, _writing(args.out):
        report = policy.write_labels(args.data, args.out, columns=args.columns, batch_rows=args.batch_rows,
                                     spans=not args.no_spans, judge_model=args.judge_model,
                                     out_format=args.out_format, progress=progress)
    summary = report.to_dict()
    if args.format == "json":
        console.print_json(_dumps({"policy": policy.id, "version": policy.version, "out": args.out,
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
    policy = _load_any(args.policy, console, args.format)
    if policy is None:
        return ExitCode.POLICY
    explanation = policy.explain(args.prompt, args.response, judge_model=args.judge_model)
    if args.format == "json":
        console.print_json(_dumps({"policy": policy.id, "version": policy.version, **explanation.to_dict()}))
    else:
        color = console.out.isatty()
        console.print(explanation.render(color=color), keep=_HIGHLIGHT if color else ())
    return ExitCode.POLICY if explanation.verdict == "BAD" else ExitCode.OK


# The reverse video `tenet.runtime.label.explain.highlight` marks a match with on a terminal: the only
# control sequences `tenet explain` prints unescaped.
_HIGHLIGHT = ("\033[7m", "\033[0m")


def cmd_pairs(args: argparse.Namespace, console: Console) -> int:
    """`tenet pairs POLICY --out DIR`."""
    policy = _load_any(args.policy, console, args.format)
    if policy is None:
        return ExitCode.POLICY
    strategies = [s.strip() for s in args.strategies.split(",")] if args.strategies else None
    bar = _StrategyBar(console)
    result = policy.write_pairs(args.out, strategies=strategies, model=args.model, feedback=args.feedback,
                                samples=args.samples, max_prompts=args.max_prompts, device=args.device,
                                progress=bar)
    bar.done()
    report = result.report.to_dict()
    if args.format == "json":
        console.print_json(_dumps({"policy": policy.id, "version": policy.version, "out": args.out,
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


def cmd_compile_and_train(args: argparse.Namespace, console: Console) -> int:
    """`tenet compile-and-train POLICY [--format json]`: exit 0 promoted or nothing to train, 3 a gate failed.

    Under `accelerate launch` only the main process runs the cycle; the others train with it
    (runtime/scale.py, docs/scaling-out.md).
    """
    from tenet.runtime import scale, summary
    from tenet.runtime.cycle import train_stage

    found = _check(args.policy, args, for_training=True)
    follower = scale.rank() > 0
    if not follower:
        _report(found, console, "text")  # diagnostics go to stderr in both formats
    if found.policy is None:
        if args.format == "json" and not follower:
            console.print_json(summary.to_json(summary.errors_summary(args.policy, found.diagnostics)))
        return ExitCode.POLICY
    artifact = found.policy.artifact
    launch = scale.join(args.work_dir, args.device or train_stage(artifact).settings.device)
    if launch is not None and not launch.main:
        return scale.follow(launch, artifact)
    with scale.leading(launch):
        return _cycle(args, found.policy, console, launch)


def _cycle(args: argparse.Namespace, policy: CompiledPolicy, console: Console, launch: Launch | None) -> int:
    """Run the cycle (the main process of a launch) and print its table or JSON summary."""
    from tenet.runtime import summary
    from tenet.runtime.cycle import train_stage

    as_json, artifact = args.format == "json", policy.artifact
    # Nothing to train is raised as an outcome; `_fail` prints it (as JSON with --format json).
    with _StageBar(console, len(artifact.plan.stages)) as progress, _stdout_to_stderr(as_json):
        cycle = api.train(policy, work_dir=args.work_dir, base_model=args.base_model, method=args.method,
                          max_steps=args.max_steps, device=args.device, eval_prompts=args.eval_prompts,
                          model_prompts=args.model_prompts, from_base=args.from_base,
                          tracking_uri=args.tracking_uri, progress=progress, notify=console.error,
                          before_train=launch.announce if launch is not None else None)
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


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    """`tenet audit POLICY [--model REF | --rule ID]`."""
    from tenet.runtime import audit as render

    audit = api.audit(args.policy, work_dir=args.work_dir, tracking_uri=args.tracking_uri)
    if args.model:
        lineage = audit.lineage(args.model)
        text, data = render.render_lineage(lineage), lineage
    elif args.rule:
        points = audit.rule_history(args.rule)
        text = render.render_rule_history(audit.policy_id, args.rule, points)
        data = {"policy": audit.policy_id, "rule": args.rule, "cycles": points}
    else:
        cycles = audit.cycles()
        text, data = render.render_cycles(cycles), {"policy": audit.policy_id, "cycles": cycles}
    if args.format == "json":
        console.print_json(render.to_json(data))
    else:
        console.print(text)
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """`tenet report POLICY [--run RUN_ID] --out report.html`."""
    from tenet.runtime.report import collect, write_report

    audit = api.audit(args.policy, work_dir=args.work_dir, tracking_uri=args.tracking_uri)
    data = collect(audit.store, audit.policy_id, args.run)
    with _writing(args.out):
        path = write_report(data, args.out)
    console.print(f"wrote {path} (policy {audit.policy_id} {data.cycle.policy_version or '-'}, run "
                  f"{data.cycle.run_id[:8]}, {len(data.rules)} rules, gates {data.cycle.gates or '-'})")
    return ExitCode.OK


def cmd_fmt(args: argparse.Namespace, console: Console) -> int:
    """`tenet fmt PATH...`: rewrite in place, or `--check` / `--diff` (exit 1 when a file would change)."""
    from tenet.compiler.fmt import format_source

    unformatted = 0
    for path in policy_files(args.paths):
        text = _read_text(path)
        formatted = format_source(text, path)  # a syntax error is a CompileError: `main` renders it
        if args.stdout:
            console.print(formatted.rstrip("\n"))
        elif formatted != text:
            unformatted += 1
            if args.diff:
                console.print(_unified_diff(text, formatted, display_path(path)))
            elif args.check:
                console.print(f"would reformat {display_path(path)}")
            else:
                Path(path).write_text(formatted, encoding="utf-8")
                console.print(f"formatted {display_path(path)}")
    return ExitCode.POLICY if (args.check or args.diff) and unformatted else ExitCode.OK


def _unified_diff(old: str, new: str, name: str) -> str:
    """What `fmt` would change in a file, as a unified diff."""
    def lines(text: str) -> list[str]:
        return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(keepends=True)]

    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=name, tofile=name)).rstrip("\n")


def cmd_init(args: argparse.Namespace, console: Console) -> int:
    """`tenet init [DIR]`: write a starter policy repository; refuse to overwrite any file."""
    from tenet.runtime.scaffold import scaffold

    folder = Path(args.folder)
    for path in scaffold(folder):
        console.print(f"created {display_path(str(path))}")
    policy = display_path(str(folder / "policies"))
    console.print(f"\nnext: tenet check {policy}   then   tenet plan {policy}/support.policy")
    return ExitCode.OK


# --- helpers ----------------------------------------------------------------------


def policy_files(paths: list[str]) -> list[str]:
    """The files named, and the `*.policy` files under the folders named (recursively, sorted).

    Hidden folders and those of environments and tools (`SKIPPED_FOLDERS`) are not searched.

    Raises:
        UsageError: For a path that does not exist or a folder with no policy in it.
    """
    found: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*.policy")
                            if p.is_file() and not _skipped(p.relative_to(path)))
            if not inside:
                raise UsageError(f"no .policy files in {given}")
            found.extend(str(p) for p in inside)
        elif path.exists():
            found.append(given)
        else:
            raise UsageError(f"policy file not found: {given}")
    return list(dict.fromkeys(found))


def _skipped(relative: Path) -> bool:
    return any(part.startswith(".") or part in SKIPPED_FOLDERS for part in relative.parts[:-1])


def _report(found: Check, console: Console, fmt: str) -> None:
    """A policy's diagnostics: on stderr with a count of errors (text); the check object, on errors (json)."""
    if fmt == "json":
        if not found.ok:
            console.print_json(_dumps(found.to_dict()))
        return
    if found.diagnostics:
        console.error(found.render())
        if found.errors:
            console.error(f"\n{len(found.errors)} error(s), {len(found.warnings)} warning(s)")


def _load_any(path: str, console: Console, fmt: str = "text") -> CompiledPolicy | None:
    """A `.policy` or compiled `.json` file, or None after printing its errors (`check` shows warnings)."""
    found = api.check(path)
    if not found.ok:
        _report(found, console, fmt)
    return found.policy


def _dumps(data: object) -> str:
    """JSON as every command prints it: indented, keys sorted, so diffs between runs read well."""
    return json.dumps(data, indent=2, sort_keys=True)


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
