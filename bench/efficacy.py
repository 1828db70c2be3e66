"""Efficacy: does `compile-and-train` make the embedded model follow each policy, for real?

For each policy, a fresh cycle runs in a scratch folder (its own MLflow store and cache).
Then, on the cycle's held-out prompts (never used for pairs), every answer runs to its end
under the policy's evaluation cap, and a capped answer never counts as keeping a length
limit. Per rule: compliance of the base model, of the base model with the policy's rule
descriptions as its system prompt, and of the trained model. For base and trained: artifact
rates (repetition loops, hybrid list markers, mid-sentence endings), the truncation rate
and the KL drift from the base. Every answer is written to `<scratch>/answers.json` so a
reader can check the numbers against the text.

Targets (issue: efficacy): every rule the base model breaks (below 90%) reaches at least
90% after training and beats the system-prompt baseline; no rule drops more than 2 points;
the trained model's artifact rates are at most the base's plus 2 points.

Run: .venv/bin/python bench/efficacy.py [--policy PATH ...] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.runtime.cycle import CycleOptions, heldout_conversations, run_cycle  # noqa: E402
from tenet.runtime import naturalness  # noqa: E402
from tenet.runtime.evaluate import Compliance, evaluate_model  # noqa: E402

POLICIES = ("examples/demo/acme-chat.policy", "bench/policies/brand.policy", "bench/policies/safety.policy")
TARGET, MAX_DROP, MAX_ARTIFACT_RISE = 0.90, 0.02, 0.02


def rules_prompt(rules) -> str:
    """The policy's rules in words, as a system prompt: the baseline training must beat."""
    lines = [f"- {r.description or r.because or r.id.replace('-', ' ')}" for r in rules]
    return "You are a helpful assistant. Follow these rules in every answer:\n" + "\n".join(lines)


def prompted_baseline(artifact, work: Path) -> Compliance:
    """The base model with the rules as its system prompt, on the cycle's held-out prompts."""
    from tenet.runtime.label.engine import Labeler
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.models import resolve_model
    from tenet.runtime.synthesize.generate import Generator

    ir = artifact.ir
    root = Path(artifact.sources[-1].path).parent
    scorers = Scorers(root=root, judge_model=ir.training.base_model) if any(r.runtime_only for r in ir.rules) else None
    generator = Generator(resolve_model(ir.training.base_model, root), system_prompt=rules_prompt(ir.rules),
                          max_new_tokens=ir.training.eval_max_new_tokens)
    prompts = heldout_conversations(artifact, root)
    return evaluate_model(generator, ir.rules, prompts, Labeler(ir.rules, score=scorers, spans=False),
                          seed=ir.training.seed, max_new_tokens=ir.training.eval_max_new_tokens)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def verdict(base: float | None, prompted: float | None, trained: float | None) -> str:
    """Whether a rule meets the targets."""
    if base is None or trained is None:
        return "no votes"
    if base >= TARGET:
        return "kept" if trained >= base - MAX_DROP else "DROPPED"
    ok = trained >= TARGET and (prompted is None or trained > prompted)
    return "met" if ok else "MISSED"


def run_policy(path: str, scratch: Path, max_steps: int | None) -> dict:
    """One fresh cycle plus the prompted baseline; the table rows and every answer."""
    compiled = compile_policy(str(REPO / path))
    if not compiled.ok:
        raise SystemExit(f"{path} does not compile: {[d.message for d in compiled.diagnostics]}")
    artifact = compiled.artifact
    work = scratch / artifact.ir.policy_id
    start = time.monotonic()
    cycle = run_cycle(artifact, CycleOptions(work_dir=str(work), max_steps=max_steps))
    seconds = time.monotonic() - start
    prompted = prompted_baseline(artifact, work)
    models = {"base": cycle.before, "prompted": prompted, "trained": cycle.after}
    rules = [{"rule": r.id, "severity": r.severity,
              **{name: c.per_rule.get(r.id) for name, c in models.items()}} for r in artifact.ir.rules]
    for row in rules:
        row["verdict"] = verdict(row["base"], row["prompted"], row["trained"])
    return {"policy": path, "policy_id": artifact.ir.policy_id, "cycle_seconds": round(seconds, 1),
            "eval_prompts": len(cycle.before.samples), "eval_cap": artifact.ir.training.eval_max_new_tokens,
            "rules": rules, "drift_kl": cycle.drift,
            "quality": {name: {"truncated": c.truncated, "declined": c.declined, **c.artifacts}
                        for name, c in models.items()},
            "answers": {name: [{"prompt": p, "answer": a, "end": e} for (p, a), e in zip(c.samples, c.ends)]
                        for name, c in models.items()}}


def print_report(results: list[dict], command: str) -> None:
    """The Markdown tables for docs/benchmarks.md."""
    print(f"\n{date.today()} · {platform.node()} · {platform.processor() or platform.machine()} · "
          f"`{command}`\n")
    for result in results:
        print(f"### {result['policy']} ({result['eval_prompts']} held-out prompts, cap "
              f"{result['eval_cap']} tokens, cycle {result['cycle_seconds']:.0f} s)\n")
        print("| rule | severity | base | base + rules as system prompt | trained | target |")
        print("| --- | --- | ---: | ---: | ---: | --- |")
        for row in result["rules"]:
            print(f"| {row['rule']} | {row['severity']} | {pct(row['base'])} | {pct(row['prompted'])} | "
                  f"{pct(row['trained'])} | {row['verdict']} |")
        quality = result["quality"]
        print("\n| answers | base | base + rules | trained |\n| --- | ---: | ---: | ---: |")
        labels = {"truncated": "cut by the token cap", "declined": "decline or deflect", **naturalness.LABELS}
        for name, label in labels.items():
            print(f"| {label} | {pct(quality['base'].get(name))} | {pct(quality['prompted'].get(name))} | "
                  f"{pct(quality['trained'].get(name))} |")
        print(f"\nKL drift of the trained model from the base: {result['drift_kl']:.3f} nats/token\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", help="policy to train (repeatable; default: the three)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the policies' step cap")
    parser.add_argument("--work-dir", default=None, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    scratch = Path(args.work_dir or tempfile.mkdtemp(prefix="tenet-efficacy-"))
    results = []
    for path in args.policy or POLICIES:
        print(f"training {path} in {scratch} ...", flush=True)
        results.append(run_policy(path, scratch, args.max_steps))
    (scratch / "answers.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print_report(results, "python bench/efficacy.py " + " ".join(sys.argv[1:]))
    print(f"every answer: {scratch / 'answers.json'}")


if __name__ == "__main__":
    main()
