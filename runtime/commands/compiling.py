"""Commands that compile and edit policies: check, compile, plan, diff, schema, fmt, init, lsp."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Callable

from tenet.compiler.artifact import write_artifact
from tenet.compiler.diagnostics import display_path
from tenet.compiler.diff import diff_artifacts
from tenet.compiler.errors import ExitCode
from tenet.compiler.plan import describe_stage
from tenet.compiler.settings import METHODS
from tenet.runtime.api import tracking
from tenet.runtime.errors import UsageError
from tenet.runtime.results import Check
from tenet.runtime.commands.common import (TRACKING_HELP, check_path, dumps, format_arg, load_any, load_policy, policy_args,
                                           policy_files, read_text, report_diagnostics, root_arg, writing)
from tenet.runtime.console import Console
from tenet.runtime.models import operator_model
from tenet.runtime.redact import redacted_stage



def make_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands that only compile: check, compile, plan, diff, schema."""
    check = command("check", cmd_check, "check policies and print their diagnostics")
    check.add_argument("policies", nargs="*", metavar="POLICY",
                       help=".policy files, or folders to search for *.policy")
    check.add_argument("--explain", metavar="CODE",
                       help="print what a diagnostic code means, an example and the fix (e.g. E160)")
    root_arg(check)
    format_arg(check, "ok and every diagnostic")

    comp = command("compile", cmd_compile, "compile a policy into a JSON artifact")
    policy_args(comp)
    comp.add_argument("-o", "--out", required=True, help="artifact path (.json)")
    format_arg(comp, "ok, diagnostics and the artifact's hashes")

    plan = command("plan", cmd_plan, "print the training plan's stages and what the next cycle does given the champion")
    policy_args(plan)
    plan.add_argument("--base-model", type=operator_model, help="as for compile-and-train (default: the policy's)")
    plan.add_argument("--method", choices=METHODS, help="as for compile-and-train (default: the policy's)")
    plan.add_argument("--work-dir", default="work", help="work folder whose MLflow store names the champion")
    plan.add_argument("--tracking-uri", help=TRACKING_HELP)
    plan.add_argument("--from-base", action="store_true",
                      help="plan a cycle that trains from the base model even when the policy has a champion")
    format_arg(plan, "the typed stages and the update decisions")

    diff = command("diff", cmd_diff, "compare two policies or artifacts (exit 1 when they differ)")
    diff.add_argument("old", help="old .policy or compiled .json")
    diff.add_argument("new", help="new .policy or compiled .json")
    format_arg(diff, "the changed rules and training settings")

    command("schema", cmd_schema, "print the JSON Schema of the compiled artifact")


def make_authoring_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands for policy authors: fmt, init, lsp."""
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


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    """`tenet check POLICY...`: files, or folders searched for `*.policy`; `--explain CODE`: a code's page."""
    if args.explain:
        return _explain_code(args.explain, console)
    checks = [check_path(path, args) for path in policy_files(args.policies)]
    if args.format == "json":
        console.print_json(dumps(check_summary(checks)))
    else:
        for found in checks:
            report_diagnostics(found, console, "text")
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
    policy = load_policy(args, console)
    if policy is None:
        return ExitCode.POLICY
    artifact = policy.artifact
    with writing(args.out):
        write_artifact(artifact, args.out)
    if args.format == "json":
        console.print_json(dumps({**policy.check().to_dict(), "out": args.out, "policy": artifact.policy_id,
                                   "version": artifact.version, "policy_hash": artifact.policy_hash,
                                   "plan_hash": artifact.plan_hash}))
    else:
        console.print(f"wrote {args.out} (policy {artifact.policy_id} {artifact.version}, "
                      f"hash {artifact.policy_hash[:12]})")
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    """`tenet plan POLICY`."""
    policy = load_policy(args, console, for_training=True)
    if policy is None:
        return ExitCode.POLICY
    from tenet.runtime.update_plan import against_champion

    artifact, stages = policy.artifact, [redacted_stage(stage) for stage in policy.plan().stages]
    with tracking(args.tracking_uri):
        decisions = against_champion(artifact, args.work_dir, from_base=args.from_base)
    if args.format == "json":
        console.print_json(dumps({**policy.check().to_dict(), "policy": artifact.policy_id,
                                   "version": artifact.version, "plan_hash": artifact.plan_hash,
                                   "stages": [{"summary": describe_stage(s), **s.model_dump(mode="json")}
                                              for s in stages], "update": decisions.to_dict()}))
        return ExitCode.OK
    console.print(f"plan for {artifact.policy_id} {artifact.version} (plan {artifact.plan_hash[:12]})")
    for i, stage in enumerate(stages, 1):
        console.print(f"  {i}. {describe_stage(stage)}")
    for line in decisions.lines():
        console.print(f"  {line}")
    return ExitCode.OK


def cmd_diff(args: argparse.Namespace, console: Console) -> int:
    """`tenet diff OLD NEW`."""
    old, new = load_any(args.old, console), load_any(args.new, console)
    if old is None or new is None:
        return ExitCode.POLICY
    diff = diff_artifacts(old.artifact, new.artifact)
    if args.format == "json":
        console.print_json(dumps(diff.model_dump(mode="json")))
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

    console.print_json(dumps(json_schema()))
    return ExitCode.OK


def cmd_fmt(args: argparse.Namespace, console: Console) -> int:
    """`tenet fmt PATH...`: rewrite in place, or `--check` / `--diff` (exit 1 when a file would change)."""
    from tenet.compiler.fmt import format_source

    unformatted = 0
    for path in policy_files(args.paths):
        text = read_text(path)
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


def cmd_lsp(args: argparse.Namespace, console: Console) -> int:
    """`tenet lsp`: answer an editor on stdin and stdout until it disconnects (docs/editors.md)."""
    from tenet.runtime.lsp.server import serve

    serve()
    return ExitCode.OK
