"""Update cycles: cost and effect of a one-rule edit against a fresh cycle, one run.

Copies the policy's folder into a scratch folder, runs a fresh `compile-and-train` cycle,
applies a one-rule edit and runs the update cycle against the same MLflow store and cache.
Then, in a separate work folder (its own MLflow store, the same cache), it runs a fresh cycle
of the edited policy from the base model: what the update should deliver. Prints the wall
times and their ratio (target <= 0.25), the changed rules' compliance after the update
beside the fresh cycle's (target: within 2 points), the unchanged rules' compliance
under the champion and after the update, and the seconds each stage took in both cycles
(the train stage split into its SFT warm-up and the method's own steps).

The fresh cycle must be promoted for the edit to have a champion to continue from, and the
embedded model fails most policies' gates before much training; so, unless `--keep-gates`,
the copy's gates are replaced by `gate critical >= 0` and `gate regression <= 1`, and the
script reports the unchanged rules' largest drop itself. Gates do not change what a cycle
costs.

With `--replay 0.5,0.8` the edited policy's `replay` share is set to each value in turn and
the update runs once per share, each from the fresh cycle's champion (the script moves the
alias back, recorded in the promotion log), so the shares are compared side by side.

Run: .venv/bin/python bench/update_cycle.py [--policy bench/policies/brand.policy]
     [--edit 'at most 120 words=>at most 80 words'] [--max-steps N] [--replay 0.5,0.8]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.compiler.plan import RegisterStage  # noqa: E402
from tenet.runtime.cycle import CycleOptions, CycleResult, run_cycle, stage_of  # noqa: E402
from tenet.runtime.track import Tracker  # noqa: E402


def cycle(policy: Path, options: CycleOptions) -> tuple[CycleResult, float]:
    """Compile `policy`, run one cycle, and time it end to end (compile included)."""
    start = time.monotonic()
    compiled = compile_policy(str(policy))
    if not compiled.ok:
        raise SystemExit(f"{policy} does not compile: {[d.message for d in compiled.diagnostics]}")
    result = run_cycle(compiled.artifact, options)
    return result, time.monotonic() - start


def relax_gates(policy: Path) -> None:
    """Replace the policy's gates with ones any model passes (see the module docstring)."""
    lines = [line for line in policy.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("gate ")]
    at = next(i for i, line in enumerate(lines) if line.startswith("training:")) + 1
    lines[at:at] = ["  gate critical >= 0", "  gate regression <= 1"]
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")


def set_replay(policy: Path, share: float) -> None:
    """Set the policy's `replay` share (replacing the line, or adding it to `training:`)."""
    lines = [line for line in policy.read_text(encoding="utf-8").splitlines()
             if not line.strip().startswith("replay ")]
    at = next(i for i, line in enumerate(lines) if line.startswith("training:")) + 1
    lines[at:at] = [f"  replay = {share}"]
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")


def updates(policy: Path, options: CycleOptions, fresh: CycleResult,
            shares: list[float | None]) -> list[tuple[float | None, CycleResult, float]]:
    """One update per replay share (None: the policy's own), each from the fresh cycle's champion."""
    artifact = compile_policy(str(policy)).artifact
    register = stage_of(artifact.plan, RegisterStage)
    results = []
    for share in shares:
        if share is not None:
            set_replay(policy, share)
        if results:
            Tracker(artifact.ir.policy_id, options.work_dir).promote(
                register.model_name, fresh.model_version, register.alias, actor="bench/update_cycle.py",
                reason="the next replay share updates the same champion")
        result, seconds = cycle(policy, options)
        print(f"update cycle (replay {'as in the policy' if share is None else share}): {seconds:.1f} s", flush=True)
        results.append((share, result, seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="bench/policies/brand.policy")
    parser.add_argument("--edit", default="at most 120 words=>at most 80 words",
                        help="OLD=>NEW text replacement that changes exactly one rule")
    parser.add_argument("--base-model", default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="override the policy's step cap")
    parser.add_argument("--keep-gates", action="store_true", help="keep the policy's own gates")
    parser.add_argument("--work-dir", default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--replay", default=None,
                        help="comma-separated replay shares: one update per share from the same champion")
    args = parser.parse_args()

    scratch = Path(args.work_dir or tempfile.mkdtemp(prefix="tenet-update-bench-"))
    source = (REPO / args.policy).resolve()
    folder = scratch / "policy"
    shutil.copytree(source.parent, folder, dirs_exist_ok=True)
    policy = folder / source.name
    if not args.keep_gates:
        relax_gates(policy)
    options = CycleOptions(work_dir=str(scratch / "work"), base_model=args.base_model, max_steps=args.max_steps)

    fresh, fresh_s = cycle(policy, options)
    print(f"fresh cycle: {fresh_s:.1f} s, promoted={fresh.promoted}", flush=True)
    if not fresh.promoted:
        raise SystemExit("the fresh cycle was not promoted, so there is no champion to update; "
                         "see its gates: " + "; ".join(g.detail for g in fresh.gates if not g.passed))
    old, new = args.edit.split("=>")
    text = policy.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise SystemExit(f"--edit must match exactly once in {policy.name}: {old!r}")
    policy.write_text(text.replace(old, new), encoding="utf-8")
    shares = [float(v) for v in args.replay.split(",")] if args.replay else [None]
    results = updates(policy, options, fresh, shares)
    # The reference is a fresh cycle of the edited policy from the base model, in its own MLflow
    # store (so it has no champion). It shares the cache: the base model's samples and the
    # unchanged rules' candidates are the same computations, and only its result is compared.
    reference_dir = scratch / "fresh-edited"
    reference_dir.mkdir(parents=True, exist_ok=True)
    if not (reference_dir / "cache").exists():
        (reference_dir / "cache").symlink_to(scratch / "work" / "cache", target_is_directory=True)
    reference, reference_s = cycle(policy, replace(options, work_dir=str(reference_dir)))
    print(f"\n{date.today()}  {platform.node()}  {platform.processor() or platform.machine()}  "
          f"policy {args.policy}, edit {args.edit!r}")
    for share, update, update_s in results:
        report(share, fresh, fresh_s, update, update_s, reference, reference_s)


def stage_seconds(result: CycleResult) -> dict[str, float]:
    """Seconds per stage of a cycle (its MLflow child runs), and the train stage's warm-up and method."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(result.tracking_uri)
    experiment = client.get_run(result.run_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{result.run_id}'",
                              order_by=["attributes.start_time ASC"])
    seconds = {}
    for run in runs:
        stage = run.data.tags.get("tenet.stage", run.info.run_name)
        seconds[stage] = (run.info.end_time - run.info.start_time) / 1000 if run.info.end_time else 0.0
        for key in ("warmup_seconds", "method_seconds"):
            if f"train.{key}" in run.data.metrics:
                seconds[f"  {stage}: {key.split('_')[0]}"] = run.data.metrics[f"train.{key}"]
    return seconds


def report(share: float | None, fresh: CycleResult, fresh_s: float, update: CycleResult, update_s: float,
           reference: CycleResult, reference_s: float) -> None:
    """Cost ratio, the changed rules against a fresh cycle of the edited policy, the unchanged rules."""
    print(f"replay share: {'as in the policy' if share is None else share}")
    print(f"  fresh cycle : {fresh_s:7.1f} s")
    print(f"  update cycle: {update_s:7.1f} s  ({update.diff_summary}; parent {update.parent_run})")
    print(f"  ratio update / fresh: {update_s / fresh_s:.3f}  (target <= 0.25)")
    fresh_stages, update_stages = stage_seconds(fresh), stage_seconds(update)
    print("  seconds per stage, fresh / update:")
    for stage in fresh_stages | update_stages:
        print(f"    {stage:<26} {fresh_stages.get(stage, 0.0):7.1f} {update_stages.get(stage, 0.0):7.1f}")
    changed = [r for r in update.after.per_rule if r not in update.unchanged]
    print(f"  changed rules: champion -> update, and a fresh cycle of the edited policy ({reference_s:.0f} s):")
    gap = 0.0
    for rule in changed:
        b, a, f = update.before.per_rule.get(rule), update.after.per_rule.get(rule), reference.after.per_rule.get(rule)
        if a is None or f is None:
            continue
        gap = max(gap, f - a)
        print(f"    {rule:<28} {b:6.1%} -> {a:6.1%}   fresh {f:6.1%}")
    print(f"  largest shortfall of the update against the fresh cycle: {gap:.3f} (target <= 0.02)")
    print("  unchanged rules, champion -> update:")
    worst = 0.0
    for rule in sorted(update.unchanged):
        b, a = update.before.per_rule.get(rule), update.after.per_rule.get(rule)
        if b is None or a is None:
            continue
        worst = max(worst, b - a)
        print(f"    {rule:<28} {b:6.1%} -> {a:6.1%}")
    print(f"  largest drop on an unchanged rule: {worst:.3f}; gates "
          f"{'passed' if update.promoted else 'failed'}: " + "; ".join(g.detail for g in update.gates))


if __name__ == "__main__":
    main()
