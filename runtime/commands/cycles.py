"""Commands for update cycles and their records: compile-and-train, audit, report."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Callable, Iterator

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.errors import ExitCode
from tenet.compiler.settings import DEVICES, METHODS
from tenet.runtime import api
from tenet.runtime.policy import CompiledPolicy
from tenet.runtime.commands.common import (TRACKING_HELP, check_path, engine_args, format_arg, policy_args,
                                           report_diagnostics, store_args, writing)
from tenet.runtime.console import Console
from tenet.runtime.models import operator_model
from tenet.runtime.redact import display_uri

if TYPE_CHECKING:
    from tenet.runtime.scale import Launch


def make_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The update cycle and its records: compile-and-train, audit, report."""
    # A champion's base model or a training file that is not on this machine: FileNotFoundError.
    cat = command("compile-and-train", cmd_compile_and_train,
                  "run a full update cycle: pairs, evaluate, train, gate, register (MLflow)",
                  usage_errors=(FileNotFoundError,), extras=("label", "train"))
    policy_args(cat)
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
    engine_args(cat)
    format_arg(cat, "the cycle's summary; progress stays on stderr")

    audit = command("audit", cmd_audit,
                    "list a policy's update cycles, a model's lineage or a rule's history", extras=("train",))
    store_args(audit)
    which = audit.add_mutually_exclusive_group()
    which.add_argument("--model", help="lineage of a registered version: NAME/VERSION or NAME@champion")
    which.add_argument("--rule", help="one rule's compliance before -> after across cycles")
    format_arg(audit, "the cycles, lineage or rule history")

    report = command("report", cmd_report, "write one cycle as a self-contained HTML report",
                     extras=("train",))
    store_args(report)
    report.add_argument("--run", help="cycle run id or a unique prefix (default: the newest cycle)")
    report.add_argument("--out", required=True, help="output .html file")


def cmd_compile_and_train(args: argparse.Namespace, console: Console) -> int:
    """`tenet compile-and-train POLICY [--format json]`: exit 0 promoted or nothing to train, 3 a gate failed.

    Under `accelerate launch` only the main process runs the cycle; the others train with it
    (runtime/scale.py, docs/scaling-out.md).
    """
    from tenet.runtime import scale, summary
    from tenet.runtime.cycle import train_stage

    found = check_path(args.policy, args, for_training=True)
    follower = scale.rank() > 0
    if not follower:
        report_diagnostics(found, console, "text")  # diagnostics go to stderr in both formats
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
                          before_train=launch.announce if launch is not None else None,
                          engine=args.engine, ray_address=args.ray_address)
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
    console.print("compliance on prompts phrased unlike the policy's templates, with 95% intervals; "
                  "in-template: held-out prompts of its templates")
    console.print(f"{'rule':<28} {'severity':<9} {'tempted':>7} {'before':>16} {'after':>16}  in-template")
    for rule in artifact.ir.rules:
        b, a = cycle.before.interval(rule.id), cycle.after.interval(rule.id)
        inside = [c.in_template.per_rule.get(rule.id) if c.in_template else None for c in (cycle.before, cycle.after)]
        tested = cycle.after.tested(rule.id)
        shown = f"{_interval(b):>16} {_interval(a):>16}" if tested else f"{'not tested':>16} {'':>16}"
        console.print(f"{rule.id:<28} {rule.severity:<9} {a.n if a else 0:>7} {shown}  "
                      f"{_pct(inside[0])} -> {_pct(inside[1])}")
    hb, ha = cycle.before.helpfulness, cycle.after.helpfulness
    console.print(f"{'helpfulness: instructions followed':<46} {_interval(hb):>16} {_interval(ha):>16}")
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


def _interval(interval) -> str:
    """`85% [64-95]`, or `-` without votes."""
    if interval is None:
        return "-"
    return f"{100 * interval.value:.0f}% [{100 * interval.low:.0f}-{100 * interval.high:.0f}]"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


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
    with writing(args.out):
        path = write_report(data, args.out)
    console.print(f"wrote {path} (policy {audit.policy_id} {data.cycle.policy_version or '-'}, run "
                  f"{data.cycle.run_id[:8]}, {len(data.rules)} rules, gates {data.cycle.gates or '-'})")
    return ExitCode.OK
