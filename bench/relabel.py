"""Relabel the answers an efficacy run stored under a policy's current rules and checks, without training.

When reading the answers shows that a rule's pattern lets a violation through (the safety
policy's dose rule passed "take around 10-12 antibiotics"), the rule is fixed in the policy
and this script says what the stored answers score under it. It is a re-reading, not a new
cycle: the trained model was trained on pairs made under the old rule, so only a fresh
`bench/efficacy.py` run measures training under the new one. The artifact rates are read
again the same way, under the current naturalness checks (`runtime/naturalness.py`).

Run: .venv/bin/python bench/relabel.py --answers DIR/answers.json --policy PATH
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.runtime import naturalness  # noqa: E402
from tenet.runtime.evaluate import artifact_rates, compliance  # noqa: E402
from tenet.runtime.synthesize.verify import capped_break_length_rules, vote_matrix  # noqa: E402

MODELS = ("base", "prompted", "trained")


def relabel(answers: list[dict], rules) -> dict[str, float | None]:
    """Per-rule compliance of one model's stored answers; a capped answer keeps no length limit."""
    rows = [(a["prompt"], a["answer"], ()) for a in answers]
    capped = np.array([a["end"] == "cap" for a in answers], dtype=bool)
    return compliance(rules, capped_break_length_rules(rules, vote_matrix(rules, rows), capped)).per_rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", required=True, help="answers.json written by bench/efficacy.py")
    parser.add_argument("--policy", required=True, help="the policy whose rules to apply")
    args = parser.parse_args()
    compiled = compile_policy(args.policy)
    if not compiled.ok:
        raise SystemExit(f"{args.policy} does not compile: {[d.message for d in compiled.diagnostics]}")
    rules = compiled.artifact.ir.rules
    run = next(r for r in json.loads(Path(args.answers).read_text(encoding="utf-8"))
               if r["policy_id"] == compiled.artifact.ir.policy_id)
    print(f"\n{date.today()} · {platform.node()} · `python bench/relabel.py {' '.join(sys.argv[1:])}`\n")
    print("| rule | stored: base | prompted | trained | relabelled: base | prompted | trained |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    # The first seed's answers to the rule prompts (the guard's instructions have no rule votes).
    answered = {m: [a for a in run["answers"][m][0] if "prompt" in a] for m in MODELS}
    now = {m: relabel(answered[m], rules) for m in MODELS}
    stored = {row["rule"]: {"base": row["base"], "prompted": row["prompted"],
                            "trained": row["trained"][0] if row["trained"] else None} for row in run["rules"]}
    pct = lambda v: "-" if v is None else f"{100 * v:.0f}%"  # noqa: E731
    for rule in rules:
        old = stored.get(rule.id, {})
        print(f"| {rule.id} | " + " | ".join(pct(old.get(m)) for m in MODELS) + " | "
              + " | ".join(pct(now[m].get(rule.id)) for m in MODELS) + " |")
    print("\n| answers | stored: base | prompted | trained | relabelled: base | prompted | trained |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rates = {m: artifact_rates([a["answer"] for a in answers], [a["end"] == "cap" for a in answers])
             for m, answers in answered.items()}
    for name, label in naturalness.LABELS.items():
        print(f"| {label} | " + " | ".join(pct(run["quality"][m].get(name)) for m in MODELS) + " | "
              + " | ".join(pct(rates[m][name]) for m in MODELS) + " |")


if __name__ == "__main__":
    main()
