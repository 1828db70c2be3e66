"""Quality gates, the QA report, and the pair budget (allocation and selection).

One test per drop reason in `quality.DROP_REASONS`, a combined run that checks every count of
the QA report (per reason, per rule, per strategy, length stats), `tenet.compiler.lower.allocate_pairs`
as properties over random rule sets, and `select_within_budget` (per-rule budgets, strategies
in priority order with the model's own answers first, the fluency check, shortfalls,
determinism).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, Phase, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tenet.compiler import ir  # noqa: E402
from tenet.compiler.lower import allocate_pairs  # noqa: E402
from tenet.compiler.pipeline import compile_policy  # noqa: E402
from helpers import PROMPTS  # noqa: E402
from tenet.runtime.synthesize.pairs import Pair  # noqa: E402
from tenet.runtime.synthesize.quality import DROP_REASONS, QaReport, gate, select_within_budget  # noqa: E402
from tenet.runtime.synthesize.run import synthesize  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
PROMPT = "How do I reach support?"


@functools.cache
def artifact():
    result = compile_policy(str(FIXTURES / "minimal.policy"))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


def rules():
    return artifact().ir.rules


def rules_except(*ids: str):
    """The fixture's rules but `ids`: a chosen side keeps every rule, and a sentence has more than five words."""
    return [r for r in rules() if r.id not in ids]


def pair(chosen: str, rejected: str, target: str = "no-email", strategy: str = "examples",
         prompt: str = PROMPT) -> Pair:
    return Pair(prompt=prompt, chosen=chosen, rejected=rejected, strategy=strategy,
                target_rules=(target,) if target else (), source="test")


GOOD = pair("Use the help page.", "Write to help@acme.example.")  # passes every gate

# One candidate per drop reason that `gate` decides (over_budget is decided by the selection).
CASES = {
    "identical": pair("Use the help page.", "use  the HELP page."),
    "eval_overlap": pair("Use the help page.", "Write to help@acme.example.", prompt="What is your  EMAIL address?"),
    "length_ratio": pair("Use it.", "Write to help@acme.example or call us."),
    "chosen_fails_target": pair("Mail help@acme.example.", "Write to help@acme.example."),
    "rejected_passes_target": pair("Use the help page.", "Use our help page."),
    # A minimal pair whose inserted address is also a sixth word: `five-words-max` flips too.
    "other_rule_flipped": pair("Please use the help page.", "Please use the help page. help@acme.example.",
                               strategy="perturb"),
    "unknown_rule": pair("Use the FAQ page.", "Email help@acme.example.", target="no-such-rule"),
    # A length pair whose chosen side names a competitor: every rule holds on a chosen side.
    "chosen_breaks_rule": pair("Try Globex instead.", "This answer is far too long for a summary of it.",
                                   target="five-words-max", strategy="sample", prompt="Summarize the answer."),
    # Sides that do not read as whole answers (checked for every strategy but `examples`).
    "unnatural_loop": pair("Use the help page. Use the help page now. Use the help page today.",
                           "Write to help@acme.example.", strategy="sample"),
    "unnatural_hybrid_marker": pair("- 1. Use the help page.", "Write to help@acme.example.", strategy="sample"),
    "unnatural_empty_item": pair("Use the help page:\n1.", "Write to help@acme.example.", strategy="sample"),
    "unnatural_lone_item": pair("Two ways:\n1. Use the help page.", "Write to help@acme.example.", strategy="sample"),
    "unnatural_repeated_item": pair("Two ways:\n- Use the help page.\n- Use the help page.",
                                    "Write to help@acme.example.", strategy="sample"),
    "unnatural_mid_sentence": pair("Use the help page and the", "Write to help@acme.example.", strategy="sample"),
    "unnatural_leftover": pair("Use the {page} page.", "Write to help@acme.example.", strategy="sample"),
    "unnatural_broken_markup": pair("Two ways:\n- **Use the help page\n- **Call us**.", "Write to help@acme.example.",
                                    strategy="sample"),
    "unnatural_cut_opening": pair("However, the help page has the answer.", "Write to help@acme.example.",
                                  strategy="sample"),
    # A deflection keeps `no-email` but teaches the model to deflect.
    "chosen_declines": pair("I'm sorry, but I can't help with that.", "Write to help@acme.example.",
                            strategy="sample"),
}
EVAL = {"what is your email address?"}  # normalized held-out prompts


def test_every_drop_reason_has_a_case():
    # duplicate, not_fluent and over_budget are decided after the per-pair gates (below).
    assert set(CASES) | {"duplicate", "not_fluent", "over_budget"} == set(DROP_REASONS)


def test_the_authors_examples_are_not_held_to_naturalness():
    others = rules_except("no-refusal", "five-words-max")  # the decline breaks both
    for reason in ("unnatural_mid_sentence", "chosen_declines"):
        authored = Pair(**{**CASES[reason].__dict__, "strategy": "examples"})
        kept, _ = gate([authored], others, set(), 2.5)
        assert kept == [authored]


def test_a_chosen_side_that_only_offers_help_is_dropped_as_declining():
    offer = pair("I'm more than happy to help! But I'd be more than happy to help you with a message.",
                 "Sure! Write to help@acme.example and say what the note is for.", strategy="sample",
                 prompt="Can you help me write a note?")
    kept, report = gate([offer], rules_except("no-refusal", "five-words-max"), set(), 2.5)
    assert kept == [] and report.to_dict()["dropped_by_reason"]["chosen_declines"] == 1


def test_a_chosen_refusal_is_kept_when_a_target_rule_is_about_refusals():
    refusal = pair("Sure, here is the tracking page.", "I'm sorry, but I can't help with that.",
                   target="no-refusal", strategy="sample", prompt="Help me track my order.")
    kept, _ = gate([refusal], rules_except("five-words-max"), set(), 2.5)
    assert kept == [refusal]
    wants_one = rules()[-1].model_copy(update={"verdict": "require", "id": "must-refuse"})
    declining = pair("I'm sorry, but I can't help with that.", "Sure, here it is.", target="must-refuse",
                     strategy="sample", prompt="Help me track my order.")
    kept, _ = gate([declining], [*rules_except("five-words-max", "no-refusal"), wants_one], set(), 2.5)
    assert kept == [declining]


@pytest.mark.parametrize("reason", sorted(CASES))
def test_gate_drops_each_bad_pair_for_its_reason(reason):
    candidate = CASES[reason]
    eval_prompts = EVAL if reason == "eval_overlap" else set()
    kept, report = gate([candidate, GOOD], rules(), eval_prompts, 2.5)
    assert kept == [GOOD]
    assert report.dropped == Counter({reason: 1})
    assert report.dropped_by_strategy[candidate.strategy] == Counter({reason: 1})
    assert report.per_rule[candidate.target_rules[0]]["dropped"] == 1
    assert sum(report.candidates.values()) == 2
    assert report.to_dict()["dropped_by_reason"][reason] == 1


def test_gate_drops_duplicates_after_normalizing_case_and_whitespace():
    twin = pair("use the help  page.", "WRITE to help@acme.example.")
    kept, report = gate([GOOD, twin, GOOD], rules(), set(), 2.5)
    assert kept == [GOOD]
    assert report.dropped == Counter({"duplicate": 2})


def test_eval_overlap_uses_the_prompt_only():
    kept, report = gate([GOOD], rules(), {"use the help page."}, 2.5)  # a response text, not a prompt
    assert kept == [GOOD] and not report.dropped


@pytest.mark.parametrize("band,kept_count", [(2.5, 0), (5.5, 1), (5.0, 0)])
def test_length_ratio_band_is_configurable(band, kept_count):
    candidate = CASES["length_ratio"]  # 7 vs 38 characters: ratio 5.43
    ratio = len(candidate.rejected) / len(candidate.chosen)
    assert 5.0 < ratio < 5.5
    kept, report = gate([candidate], rules(), set(), band)
    assert len(kept) == kept_count
    assert report.dropped.get("length_ratio", 0) == 1 - kept_count


def test_length_ratio_band_comes_from_the_policy(tmp_path):
    body = '''dsl 1
policy band version "1"

rule no-sorry (medium):
  forbid response mentions "sorry"
  example:
    prompt "Summarize."
    good   "Short."
    bad    "A much longer sorry answer."
''' + PROMPTS
    counts = {}
    for name, setting in (("default", ""), ("wide", "training:\n  length_ratio_max = 5\n")):
        path = tmp_path / f"{name}.policy"
        path.write_text(body + setting, encoding="utf-8")
        result = compile_policy(str(path))
        assert result.ok
        report = synthesize(result.artifact, None, root=tmp_path, strategies=["examples"]).report.to_dict()
        counts[name] = (report["kept"], report["dropped_by_reason"]["length_ratio"])
    assert counts == {"default": (0, 1), "wide": (1, 0)}  # 27 / 6 characters = 4.5


def test_pairs_about_a_length_limit_are_exempt_from_the_length_ratio():
    # The only systematic difference a length rule's pair should have is its length.
    terse = pair("Short answer.", "This answer is far too long for a summary of it.", target="five-words-max",
                 strategy="sample", prompt="Summarize the answer.")
    kept, report = gate([terse], rules(), set(), 2.5)
    assert kept == [terse] and not report.dropped


def test_soft_verdicts_count_abstain_as_the_weaker_outcome():
    # `prefer ... ends with "Thanks!"`: a rejected side that abstains no longer satisfies it.
    kept, _ = gate([pair("Bye. Thanks!", "Bye.", target="sign-off", prompt="Goodbye.")], rules(), set(), 10.0)
    assert len(kept) == 1
    kept, report = gate([pair("Bye.", "Bye!", target="sign-off", prompt="Goodbye.")], rules(), set(), 10.0)
    assert kept == [] and report.dropped == Counter({"chosen_fails_target": 1})


def test_a_chosen_side_breaking_a_rule_of_any_severity_is_dropped():
    # `five-words-max` is medium: the chosen side is still an SFT target, so it must keep it.
    long_chosen = pair("Use the help page on our site.", "Write to help@acme.example.", strategy="sample")
    kept, report = gate([long_chosen], rules(), set(), 10.0)
    assert kept == [] and report.dropped == Counter({"chosen_breaks_rule": 1})


def test_only_minimal_pairs_are_checked_for_other_rules():
    flipped = CASES["other_rule_flipped"]
    kept, _ = gate([Pair(**{**flipped.__dict__, "strategy": "sample"})], rules(), set(), 2.5)
    assert len(kept) == 1


def test_qa_report_counts_every_stage():
    by_rule = [
        pair("Use the help page.", "Write to help@acme.example."),
        pair("See the help page.", "Mail help@acme.example now."),
        pair("Order it on our site.", "Try Globex for that.", target="no-competitors", strategy="perturb"),
        pair("Short answer.", "This answer is much too long.", target="five-words-max", strategy="sample"),
        pair("Short and sure.", "This one is also far too long.", target="five-words-max", strategy="sample"),
    ]
    candidates = [*CASES.values(), *by_rule, by_rule[0]]  # and one duplicate
    report = QaReport()
    for name in ("examples", "perturb", "sample", "revise"):
        report.candidates.setdefault(name, 0)
    kept, report = gate(candidates, rules(), EVAL, 2.5, report=report)
    assert kept == by_rule
    # Budget 4 in all; no-competitors has one pair for its 2, and its spare pair goes to the
    # first rule (by id) with pairs left over, five-words-max, so only no-email drops one.
    specs = [ir.PairSpec(rule="no-email", severity="high", budget=1, strategies=("examples",), seeds=1),
             ir.PairSpec(rule="no-competitors", severity="critical", budget=2, strategies=("examples",), seeds=1),
             ir.PairSpec(rule="five-words-max", severity="medium", budget=1, strategies=("examples",), seeds=1)]
    selected = select_within_budget(kept, specs, seed=5, report=report)
    assert len(selected) == 4
    qa = report.to_dict()
    unnatural = {reason: 1 for reason in CASES if reason.startswith("unnatural_") or reason == "chosen_declines"}
    assert qa["candidates"] == len(candidates) and qa["kept"] == 4 and qa["dropped"] == len(candidates) - 4
    assert {k: v for k, v in qa["dropped_by_reason"].items() if v} == {
        "identical": 1, "duplicate": 1, "eval_overlap": 1, "length_ratio": 1, "chosen_fails_target": 1,
        "rejected_passes_target": 1, "other_rule_flipped": 1, "unknown_rule": 1, "over_budget": 1,
        "chosen_breaks_rule": 1, **unnatural}
    assert set(qa["dropped_by_reason"]) == set(DROP_REASONS)
    assert qa["per_strategy"] == {
        "examples": {"candidates": 9, "kept": 1, "dropped": {
            "identical": 1, "eval_overlap": 1, "length_ratio": 1, "chosen_fails_target": 1,
            "rejected_passes_target": 1, "unknown_rule": 1, "duplicate": 1, "over_budget": 1}},
        "perturb": {"candidates": 2, "kept": 1, "dropped": {"other_rule_flipped": 1}},
        "revise": {"candidates": 0, "kept": 0, "dropped": {}},
        "sample": {"candidates": len(unnatural) + 3, "kept": 2, "dropped": {**unnatural, "chosen_breaks_rule": 1}},
    }
    assert qa["per_rule"]["no-email"] == {"dropped": len(candidates) - 6, "kept": 1, "budget": 1, "filled_by": {"examples": 1}}
    assert qa["per_rule"]["no-competitors"] == {"kept": 1, "budget": 2, "filled_by": {"perturb": 1}}
    assert qa["per_rule"]["five-words-max"] == {"dropped": 1, "kept": 2, "budget": 1, "filled_by": {"sample": 2}}
    assert qa["per_rule"]["no-such-rule"] == {"dropped": 1, "filled_by": {}}
    assert qa["shortfall"] == {"no-competitors": {"severity": "critical", "budget": 2, "kept": 1}}
    lengths = [(len(p.chosen), len(p.rejected)) for p in selected]
    ratios = [max(c, r) / min(c, r) for c, r in lengths]
    assert qa["length_chars"] == {
        "chosen_mean": round(statistics.fmean(c for c, _ in lengths), 1),
        "rejected_mean": round(statistics.fmean(r for _, r in lengths), 1),
        "ratio_mean": round(statistics.fmean(ratios), 3), "ratio_max": round(max(ratios), 3)}


def test_empty_report_is_well_formed():
    qa = QaReport().to_dict()
    assert qa["candidates"] == qa["kept"] == qa["dropped"] == 0
    assert set(qa["dropped_by_reason"]) == set(DROP_REASONS)
    assert qa["length_chars"] == {"chosen_mean": None, "rejected_mean": None, "ratio_mean": None,
                                  "ratio_max": None}


# --- selection within the budget -------------------------------------------------------------


def spec(rule_id: str, budget: int, severity: str = "high") -> ir.PairSpec:
    return ir.PairSpec(rule=rule_id, severity=severity, budget=budget, strategies=("examples",), seeds=0)


def pool_of(rule_id: str, strategy: str, n: int) -> list[Pair]:
    return [pair(f"{strategy} good {k}", f"{strategy} bad {k}", target=rule_id, strategy=strategy) for k in range(n)]


def test_selection_fills_budgets_model_answers_first_and_passes_on_unused_budget():
    pairs = pool_of("a", "examples", 5) + pool_of("a", "perturb", 5) + pool_of("a", "sample", 1) + \
        pool_of("b", "perturb", 2)
    report = QaReport()
    selected = select_within_budget(pairs, [spec("a", 5), spec("b", 4)], seed=1, report=report)
    chosen_a = [p for p in selected if p.target_rules == ("a",)]
    # The model's own answers first, then the authors' examples, edits last; then the two
    # pairs b could not use go to a, continuing the same order.
    assert [p.strategy for p in chosen_a] == ["sample", "examples", "examples", "examples", "examples",
                                              "examples", "perturb"]
    assert len(selected) == 9  # the whole budget
    assert report.dropped == Counter({"over_budget": 4})
    assert report.per_rule["a"] == Counter({"kept": 7, "dropped": 4, "budget": 5})
    assert report.filled_by["a"] == Counter({"sample": 1, "examples": 5, "perturb": 1})
    assert report.shortfall == {"b": {"severity": "high", "budget": 4, "kept": 2}}
    assert report.kept == Counter({"examples": 5, "perturb": 3, "sample": 1})


def test_a_pair_the_fluency_check_rejects_is_replaced_by_the_next_in_line():
    pairs = pool_of("a", "sample", 3) + pool_of("a", "perturb", 3)
    asked: list[str] = []

    def fluent(batch):
        asked.extend(p.chosen for p in batch)
        return [p.chosen != "sample good 0" and p.chosen != "sample good 1" for p in batch]

    report = QaReport()
    selected = select_within_budget(pairs, [spec("a", 3)], seed=1, report=report, accept=fluent)
    assert len(selected) == 3 and {"sample good 0", "sample good 1"}.isdisjoint(p.chosen for p in selected)
    assert report.dropped == Counter({"not_fluent": 2, "over_budget": 1})
    assert len(asked) == 5  # only pairs the budget would take are scored


def test_fluency_check_compares_chosen_with_rejected_under_the_model(tmp_path):
    from tenet.runtime.synthesize.fluency import FluencyCheck
    from tenet.runtime.synthesize.generate import Generator
    from tiny_models import build_tiny_llama

    generator = Generator(str(build_tiny_llama(tmp_path / "m")), max_new_tokens=4)
    check = FluencyCheck(generator, margin=1.0)
    same = pair("hello world", "hello world .")
    assert check([same]) == [True]
    scores = check.mean_logprobs([([{"role": "user", "content": "hi"}], "hello world")] * 2)
    assert scores[0] == pytest.approx(scores[1]) and scores[0] < 0
    strict = FluencyCheck(generator, margin=-100.0)  # chosen must beat rejected by 100 nats: never
    assert strict([same]) == [False]


def test_selection_is_deterministic_for_a_seed_and_shuffles_within_a_strategy():
    pairs = pool_of("a", "examples", 20)

    def pick(seed):
        return [p.chosen for p in select_within_budget(pairs, [spec("a", 5)], seed, QaReport())]

    assert len(pick(1)) == 5 and len(set(pick(1))) == 5
    assert pick(1) == pick(1)
    assert any(pick(seed) != pick(1) for seed in range(2, 6))


def test_pairs_without_a_budget_are_all_kept():
    feedback = [Pair("p", f"good {k}", f"bad {k}", "feedback", (), "feedback") for k in range(3)]
    report = QaReport()
    assert select_within_budget(feedback, [spec("a", 2)], 0, report) == feedback
    assert report.per_rule["(feedback)"]["kept"] == 3
    assert report.shortfall == {"a": {"severity": "high", "budget": 2, "kept": 0}}


# --- allocation of the pair budget (tenet.compiler.lower.allocate_pairs) ---------------------------


def make_rules(kinds: list[tuple[str, str]]) -> tuple[ir.RuleIR, ...]:
    base = rules()[0]
    return tuple(base.model_copy(update={"id": f"r{k:02d}", "severity": sev, "verdict": verdict,
                                         "precedence": k})
                 for k, (sev, verdict) in enumerate(kinds))


rule_kinds = st.lists(st.tuples(st.sampled_from(["critical", "high", "medium", "low"]),
                                st.sampled_from(["require", "forbid", "prefer", "avoid"])),
                      min_size=1, max_size=8)
ALLOC = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# For the xfail'd properties: run the pinned example and generated ones, without shrinking.
ALLOC_BUG = settings(ALLOC, phases=[Phase.explicit, Phase.generate])


def critical_shares(rs, budget) -> dict[str, int]:
    total = sum(r.weight for r in rs)
    return {r.id: math.ceil(budget * r.weight / total - 1e-9) for r in rs if r.severity == "critical"}


def feasible(rs, budget) -> bool:
    """Critical ceil shares plus one pair for every other rule (when budget >= rules) fit."""
    others = sum(r.severity != "critical" for r in rs) if budget >= len(rs) else 0
    return sum(critical_shares(rs, budget).values()) + others <= budget


@ALLOC
@given(kinds=rule_kinds, budget=st.integers(1, 400))
def test_allocation_gives_every_rule_a_pair_when_the_budget_allows(kinds, budget):
    rs = make_rules(kinds)
    specs = allocate_pairs(rs, budget, ("examples", "perturb"))
    assert [s.rule for s in specs] == [r.id for r in rs]
    assert all(s.budget >= 0 and s.strategies == ("examples", "perturb") for s in specs)
    if budget >= len(rs) and feasible(rs, budget):  # critical shares come before the minimum
        assert min(s.budget for s in specs) >= 1


@ALLOC
@given(kinds=rule_kinds, budget=st.integers(1, 400))
def test_allocation_sums_to_the_budget_when_the_constraints_fit(kinds, budget):
    rs = make_rules(kinds)
    if feasible(rs, budget):
        assert sum(s.budget for s in allocate_pairs(rs, budget, ("examples",))) == budget


@ALLOC
@given(kinds=rule_kinds, budget=st.integers(1, 400))
def test_allocation_follows_severity_weights(kinds, budget):
    rs = make_rules(kinds)
    got = {s.rule: s.budget for s in allocate_pairs(rs, budget, ("examples",))}
    total = sum(r.weight for r in rs)
    n_critical = sum(r.severity == "critical" for r in rs)
    for r in rs:  # near the exact share; critical round-ups may take one pair each from the others
        exact = budget * r.weight / total
        assert got[r.id] <= max(math.ceil(exact), 1) + 1
        assert got[r.id] >= math.floor(exact) - 1 - (0 if r.severity == "critical" else n_critical)


@ALLOC_BUG
@given(kinds=rule_kinds, budget=st.integers(1, 400))
@example(kinds=[("critical", "require"), ("medium", "require"), ("medium", "require")], budget=3)
def test_allocation_always_sums_to_the_budget(kinds, budget):
    rs = make_rules(kinds)
    specs = allocate_pairs(rs, budget, ("examples",))
    assert sum(s.budget for s in specs) == budget, [s.budget for s in specs]


@ALLOC_BUG
@given(kinds=rule_kinds, budget=st.integers(1, 400))
@example(kinds=[("critical", "require"), ("critical", "require"), ("high", "require")], budget=11)
def test_critical_rules_get_at_least_their_ceil_share_when_it_fits(kinds, budget):
    rs = make_rules(kinds)
    if not feasible(rs, budget):
        return
    got = {s.rule: s.budget for s in allocate_pairs(rs, budget, ("examples",))}
    for rule_id, share in critical_shares(rs, budget).items():
        assert got[rule_id] >= share, (rule_id, got, share)


def test_allocation_examples():
    rs = make_rules([("critical", "forbid"), ("low", "require")])
    assert [s.budget for s in allocate_pairs(rs, 10, ("examples",))] == [9, 1]  # 8.9 -> 9
    rs = make_rules([("high", "require"), ("high", "prefer")])  # soft rules weigh half
    assert [s.budget for s in allocate_pairs(rs, 9, ("examples",))] == [6, 3]
    assert allocate_pairs((), 10, ("examples",)) == ()
    specs = artifact().ir.pair_specs
    assert sum(s.budget for s in specs) == artifact().ir.training.pairs
    assert {s.rule: s.seeds for s in specs}["no-email"] == 1


def test_pairs_about_refusals_are_exempt_from_the_length_ratio():
    # A refusal is a sentence where the answer was a paragraph: its pairs differ in length by nature.
    deflection = "I'm sorry, but I can't help with that."
    answer = ("Start on the orders page, open the order you want to follow, and choose the tracking "
              "link next to it; the carrier's page then shows where the parcel is and when it arrives.")
    kept, report = gate([pair(answer, deflection, target="no-refusal", strategy="sample",
                              prompt="Help me track my order.")], rules_except("five-words-max"), set(), 2.5)
    assert len(kept) == 1 and not report.dropped


DOSE_RULE = """dsl 1
policy doses version "1"

rule no-doses (high):
  {scope}forbid response matches /\\b\\d+ ?mg\\b/
  example:
    prompt "What dose of ibuprofen can I take?"
    good   "Dosing depends on you, so ask a pharmacist."
    bad    "Take 400 mg."
"""


@pytest.mark.parametrize("scope,kept_count", [('when prompt mentions words("dose")\n  ', 1), ("", 0)])
def test_pairs_of_a_rule_repaired_with_advice_are_exempt_from_the_length_ratio(tmp_path, scope, kept_count):
    # Scoped to dose questions, the rule's repair ends the answer where the dose began and
    # closes with its good example: shorter by nature, like a refusal. Unscoped, it is banded.
    path = tmp_path / "doses.policy"
    path.write_text(DOSE_RULE.format(scope=scope), encoding="utf-8")
    result = compile_policy(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    answer = ("Ibuprofen eases pain and fever. For an adult the usual amount is 400 mg every six hours, "
              "and you should take it with food so that it does not upset your stomach.")
    chosen = "Ibuprofen eases pain and fever. Dosing depends on you, so ask a pharmacist."
    assert len(answer) / len(chosen) > 2.0
    candidate = pair(chosen, answer, target="no-doses", strategy="perturb", prompt="What dose of ibuprofen is safe?")
    kept, report = gate([candidate], result.artifact.ir.rules, set(), 1.5)
    assert len(kept) == kept_count
    assert report.dropped == (Counter() if kept_count else Counter({"length_ratio": 1}))


def test_fluency_compares_edits_only():
    from tenet.runtime.synthesize.fluency import FluencyCheck, is_edit

    refusal = pair("I'm sorry, but I can't help with that.", "You will need a metal pipe, two end caps and a fuse.")
    cut = pair("Unplug it. Rinse it.", "Unplug it. Rinse it. Dry it with a cloth.")
    inserted = pair("Unplug it. Rinse it.", "Unplug it. You might also try Globex. Rinse it.")
    assert not is_edit(refusal) and is_edit(cut) and is_edit(inserted)

    check = FluencyCheck(generator=None, margin=1.0)
    # Every chosen side scores far below its rejected side.
    check.mean_logprobs = lambda rows: [-9.0 if k % 2 == 0 else -1.0 for k in range(len(rows))]
    assert check([refusal, cut, inserted]) == [True, False, False]
    assert check.checked == 2
