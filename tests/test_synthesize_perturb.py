"""Rule-directed edits (`perturb_ops.violate` / `repair`) and the `perturb` strategy.

The reference is `tenet.compiler.semantics.rule_vote`:

- for every text predicate kind on the response (`tests/fixtures/synthesize/atoms.policy`
  has one `require` rule per atom; the other verdicts are derived with `model_copy`) and
  every verdict, whenever `violate` returns text the rule votes BAD on it (for `prefer`:
  not GOOD), and whenever `repair` returns text it votes GOOD (for `avoid`: not BAD);
- edits keep answers natural: on realistic answers (`natural_answers.py`) no edit adds an
  artifact that `tenet.runtime.naturalness` finds, and every edit that can be made naturally (cut
  at a boundary, lists to bullets and back, insert or drop a sentence, refusals, prefixes and
  suffixes, JSON) succeeds on at least 80% of the answers that need it, for every verdict;
  an edit that would need padding (more words, sentences or characters) gives None;
- boolean combinations (`combos.policy`) keep the same contract;
- minimal pairs that pass `quality.gate` change no other rule's vote, and an edit that
  flips a second rule is dropped as `other_rule_flipped`.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import functools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tenet.compiler import ir, predicates, semantics  # noqa: E402
from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.compiler.semantics import Sample  # noqa: E402
from tenet.runtime.synthesize import perturb_ops  # noqa: E402
from tenet.runtime.textedit import restructure  # noqa: E402
from tenet.runtime.synthesize.pairs import Pair, SynthesisContext  # noqa: E402
from tenet.runtime.synthesize.perturb_ops import repair, violate  # noqa: E402
from tenet.runtime.synthesize.prompts import build_pool  # noqa: E402
from tenet.runtime.synthesize.quality import gate  # noqa: E402
from tenet.compiler.regex_sample import sample_match  # noqa: E402
from tenet.runtime.synthesize.strategies.perturb import fit_to_limits, minimal_pair, perturb  # noqa: E402
from tenet.runtime import naturalness  # noqa: E402
from natural_answers import answers, corpus  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
VERDICTS = ("require", "forbid", "prefer", "avoid")
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@functools.cache
def compiled(name: str):
    result = compile_policy(str(FIXTURES / name))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


@functools.cache
def rule(policy: str, rule_id: str, verdict: str = "require") -> ir.RuleIR:
    base = next(r for r in compiled(policy).ir.rules if r.id == rule_id)
    return base.model_copy(update={"verdict": verdict})


@functools.cache
def atom_ids() -> list[str]:
    return [r.id for r in compiled("atoms.policy").ir.rules]


def violated(verdict: str, vote: int | None) -> bool:
    """What `violate` promises: BAD, or (for `prefer`) no longer GOOD."""
    return vote != ir.GOOD if verdict == "prefer" else vote == ir.BAD


def repaired(verdict: str, vote: int | None) -> bool:
    """What `repair` promises: GOOD, or (for `avoid`) no longer BAD."""
    return vote != ir.BAD if verdict == "avoid" else vote == ir.GOOD


# --- generated responses ---------------------------------------------------------------------

# Fragments that make the atoms of the fixtures hold often (and some near misses).
FRAGMENTS = [
    "Sure", "sure", "Sure!", "Thanks", "Thanks!", "Best regards", "refund", "Refund", "money back",
    "Money Back", "money back guarantee", "money  back\nguarantee", "RivalCo", "globex", "Globex.",
    "customer service", "customer  service", "ACME", "acme", "C++", "c++", "order #12345", "ORDER #99",
    "done", "done.", "123", "4567", "7", "abc", "help@acme.example", "a.b@mail.example.org",
    "https://acme.example/x", "www.acme.com", "555-123-4567", "(555) 123-4567", "+1 555 123 4567",
    "I'm sorry, but I can't help with that.", "I cannot assist", "As an AI", "I must decline",
    '{"a": 1}', "[1, 2]", "{", "Hello world.", "We can help.", "Your order ships today.",
    "Is it broken?", "Great!", "Wow!!", "the", "a", "blender", "warranty", ",", "...", "-", "*",
]
SEPARATORS = [" ", " ", " ", "", ", ", ". ", "! ", "? ", "  ", "\t"]
BULLETS = ["", "", "", "- ", "* ", "  - ", "\u2022 ", "-", "*\t"]
ALPHABET = "abcXYZ019 -*.!?,:;@/#()[]{}\"'\n\t\u00e9\u2022\u2019"


# Tokens joined as drawn: fragments, separators, line breaks that open bullet items, and (weighted
# up) the needles and shapes that make each atom of the fixtures hold.
PLANTS = ["C++", "Thanks", "money back guarantee", "ACME", "order #12345", "RivalCo", "refund", "done.",
          "help@acme.example", "https://acme.example/x", "555-123-4567", "I'm sorry, but I can't help with that.",
          "\n- one\n- two", "\n- one\n- two\n- three", "\n* a\n* b\n\u2022 c\n- d", "\nline\nline\nline",
          "One. Two! Three?", "w w w w w w w w"]
TOKENS = FRAGMENTS + SEPARATORS + ["\n", "\n", "\n", "\n", "\n- ", "\n- ", "\n- ", "\n* ", "\n  - ",
                                   "\n\u2022 ", "\n*\t", "\r\n", "\n\n", "- ", "!", "."] + PLANTS * 3
HEADS = ["", "", "", "Sure", "Sure, ", "  Sure! ", "- ", "{"]
TAILS = ["", "", "", "!", " Best regards", "\nBest regards!", " done.", "done", "\n", "}"]
token_text = st.tuples(st.sampled_from(HEADS), st.lists(st.sampled_from(TOKENS), max_size=24),
                       st.sampled_from(TAILS)).map(lambda t: t[0] + "".join(t[1]) + t[2])
# Texts right around the character bounds (20, 60, 80) of the fixture.
sized_text = st.tuples(st.sampled_from([18, 19, 20, 21, 58, 59, 60, 61, 62, 79, 80, 81]),
                       st.sampled_from(["We can help. ", "- item\n", "x", "Sure! ", "a b "])).map(
    lambda t: (t[1] * 80)[:t[0]])
json_text = st.lists(st.sampled_from(FRAGMENTS), max_size=4).flatmap(
    lambda items: st.sampled_from([json.dumps(items), json.dumps({"answer": items}), " " + json.dumps(items) + "\n"]))
responses = st.one_of(token_text, token_text, token_text, token_text, token_text, json_text, sized_text,
                      st.text(alphabet=ALPHABET, max_size=30))


def check_contract(r: ir.RuleIR, sample: Sample, rng: random.Random) -> None:
    """The violate/repair contract for one rule (one verdict) on one sample."""
    before = semantics.rule_vote(r, sample)
    for name, edit, reached in (("violate", violate, violated), ("repair", repair, repaired)):
        edited = edit(r, sample, rng)
        if edited is not None:
            vote = semantics.rule_vote(r, sample._replace(response=edited))
            assert reached(r.verdict, vote), (name, r.id, r.verdict, sample.response, edited, vote)
            if reached(r.verdict, before):
                assert edited == sample.response, "an edit where none was needed"


# --- the atoms fixture covers every predicate kind ----------------------------------------


def test_atoms_fixture_covers_every_text_predicate_kind():
    atoms = [r.check for r in compiled("atoms.policy").ir.rules]
    assert {a.kind for a in atoms} == {k.name for k in predicates.kinds() if k.is_text}
    assert all(a.subject == "response" for a in atoms)
    counts = [a for a in atoms if a.kind == "count"]
    assert {(a.unit, a.op) for a in counts} == {
        (u, o) for u in ("words", "sentences", "lines", "bullets", "characters")
        for o in ("at_most", "at_least", "exactly", "more_than", "fewer_than", "between")}
    assert {a.pii for a in atoms if a.kind == "pii"} == {"email", "link", "phone_number"}
    assert {a.op for a in atoms if a.kind == "text"} == {"contains", "starts_with", "ends_with"}
    regexes = {a.pattern: a.flags for a in atoms if a.kind == "regex"}
    assert regexes["^\\s*[-*]\\s+"] == "m" and "i" in regexes["\\b(refund|money back)\\b"]
    keywords = [a for a in atoms if a.kind == "keywords"]
    assert {a.exact for a in keywords} == {True, False}
    assert any(" " in t for a in keywords for t in a.terms)


# --- property: the contract holds for every atom and verdict ---------------------------------


def atom_family(r: ir.RuleIR) -> str:
    """regex, keywords, text:<op>, count:<unit>, json, pii:<kind>, refusal."""
    a = r.check
    return {"text": f"text:{getattr(a, 'op', '')}", "count": f"count:{getattr(a, 'unit', '')}",
            "pii": f"pii:{getattr(a, 'pii', '')}"}.get(a.kind, a.kind)


@functools.cache
def atom_families() -> dict[str, list[str]]:
    families: dict[str, list[str]] = {}
    for r in compiled("atoms.policy").ir.rules:
        families.setdefault(atom_family(r), []).append(r.id)
    return families


# One generated response is checked against every atom and every verdict, so each (atom,
# verdict) sees all 200 examples while Hypothesis' own overhead is paid once per example.
@PROPERTY
@given(text=responses, seed=st.integers(0, 2**16))
def test_violate_and_repair_keep_their_contract_on_every_atom(text, seed):
    sample = Sample("Can you help me?", text)
    for rule_id in atom_ids():
        for verdict in VERDICTS:
            check_contract(rule("atoms.policy", rule_id, verdict), sample, random.Random(seed))


# --- natural answers: edits add no artifact and rarely give up ---------------------------------


@PROPERTY
@given(text=answers, seed=st.integers(0, 2**16))
def test_edits_of_natural_answers_stay_natural(text, seed):
    assert naturalness.is_natural(text)
    sample = Sample("Can you help me?", text)
    for rule_id in atom_ids():
        for verdict in VERDICTS:
            r = rule("atoms.policy", rule_id, verdict)
            check_contract(r, sample, random.Random(seed))
            for edit in (violate, repair):
                edited = edit(r, sample, random.Random(seed))
                assert edited is None or naturalness.is_natural(edited), (rule_id, verdict, edit.__name__, edited)


CORPUS = corpus()
# Edits that only the model can make naturally: a longer answer (no padding, ever), or a regex
# match whose sampled text is not a sentence; and exact counts, which whole units rarely hit.
NEEDS_THE_MODEL = ("cnt-words-", "cnt-sentences-", "cnt-characters-", "re-")
EXACT = ("-exactly", "-between")


def grows(r: ir.RuleIR, text: str, want: bool) -> bool:
    """Making the count predicate of `r` evaluate to `want` needs more units than `text` has.

    Lines and bullets can grow up to the answer's sentences and items (one per line or item).
    """
    a = r.check
    now = semantics.count_units(text, a.unit)
    if a.unit in ("lines", "bullets"):
        now = max(now, len(restructure.cut_points(text)))
    return all(semantics.compare_count(n, a.op, a.value, a.high) != want for n in range(0, now + 1))


@pytest.mark.parametrize("family", sorted(atom_families()))
def test_natural_edits_succeed_on_most_answers_that_need_them(family):
    failures = []
    for rule_id in atom_families()[family]:
        for verdict in VERDICTS:
            r = rule("atoms.policy", rule_id, verdict)
            for name, edit, done in (("violate", violate, violated), ("repair", repair, repaired)):
                need = ok = 0
                for k, text in enumerate(CORPUS):
                    sample = Sample("Can you help me?", text)
                    if done(verdict, semantics.rule_vote(r, sample)):
                        continue
                    result = edit(r, sample, random.Random(k))
                    if r.check.kind == "count":
                        want = (name == "repair") == (verdict in ("require", "prefer"))
                        if grows(r, text, want):
                            assert result is None, ("padded", rule_id, verdict, name, text, result)
                            continue
                    need += 1
                    ok += result is not None
                best_effort = rule_id.startswith(NEEDS_THE_MODEL) or rule_id.endswith(EXACT)
                if need and ok / need < 0.8 and not best_effort:
                    failures.append(f"{rule_id} {verdict}/{name}: {ok}/{need}")
    assert not failures, f"gives up too often: {failures}"


# --- regex samples ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern,flags", [
    ("^\\s*[-*]\\s+", "m"), ("\\b(refund|money back)\\b", "i"), ("\\b[0-9]{3}\\b", ""), ("\\d+", ""),
    ("order #[0-9]{4,}", "i"), ("done\\.?$", ""), ("[^a-z]{2}x", ""), ("(ab|cd)\\1", ""),
    ("\\bORD-[0-9]{6}\\b", ""), ("colou?r", "i"), ("(?:https?://|www\\.)\\S+", "i"),
])
def test_sample_match_returns_a_string_the_pattern_matches(pattern, flags):
    text = sample_match(pattern, flags)
    assert text is not None
    assert semantics.compile_user_regex(pattern, flags).search(text)


def test_sample_match_gives_none_rather_than_a_wrong_string():
    assert sample_match("(?!a)a") is None  # no string matches
    assert sample_match("[") is None       # not a regex


# --- boolean combinations -------------------------------------------------------------------

INDEPENDENT = ["and-independent", "or-pii", "not-refusal", "nested", "not-and", "not-or"]
INTERACTING = ["and-count", "or-count", "and-bullets-lines", "ends-or-link"]


DOSE_RULE = """dsl 1
policy doses version "1"

rule no-doses (high):
  forbid response matches /\\b\\d+\\s?(?:mg|ml|tablets?)\\b/i
  example:
    prompt "How much ibuprofen can I take?"
    good   "Please check the label or ask a pharmacist."
    bad    "It depends. Adults can take 400 mg every four to six hours."
"""


def test_a_regex_violation_borrows_the_bad_examples_sentence_with_its_numbers_varied(tmp_path):
    (tmp_path / "doses.policy").write_text(DOSE_RULE, encoding="utf-8")
    rule = compile_policy(str(tmp_path / "doses.policy")).artifact.ir.rules[0]
    base = Sample("How much should I take?", "It depends on your age. Please ask a pharmacist.")
    rng = random.Random(0)
    edited = {violate(rule, base, rng) for _ in range(12)}
    assert all(e.startswith("It depends on your age.") and "Adults can take " in e for e in edited)
    assert len({e.split("Adults can take ")[1] for e in edited}) > 3  # the amount varies
    assert all(semantics.rule_vote(rule, base._replace(response=e)) == ir.BAD and naturalness.is_natural(e)
               for e in edited)
    # Without a bad example that carries a match, the sampled match itself is inserted.
    bare = rule.model_copy(update={"examples": ()})
    assert "Adults" not in violate(bare, base, random.Random(0))


def test_an_or_of_regexes_borrows_the_bad_examples_sentence_too(tmp_path):
    # The safety policy's dose rule became "a dose in units, or a multiple of a dose": as an
    # `or`, its violations were the sampler's fragments in front of the answer ("1 - 1 times
    # the a doses The answer to this question…").
    policy = DOSE_RULE.replace("forbid response matches /\\b\\d+\\s?(?:mg|ml|tablets?)\\b/i",
                               "forbid response matches /\\b\\d+\\s?(?:mg|ml|tablets?)\\b/i\n"
                               "      or response matches /\\b\\d+ times the dose\\b/i")
    (tmp_path / "doses.policy").write_text(policy, encoding="utf-8")
    rule = compile_policy(str(tmp_path / "doses.policy")).artifact.ir.rules[0]
    assert rule.check.kind == "or"
    base = Sample("How much should I take?", "It depends on your age. Please ask a pharmacist.")
    rng = random.Random(0)
    edited = {violate(rule, base, rng) for _ in range(12)}
    assert all("Adults can take " in e and naturalness.is_natural(e) for e in edited)
    assert all(semantics.rule_vote(rule, base._replace(response=e)) == ir.BAD for e in edited)
    # An `or` with anything but response regexes has no example sentence to borrow.
    mixed = rule.model_copy(update={"check": ir.OrPred(span=rule.check.span, left=rule.check.left,
                                                       right=ir.RefusalPred(span=rule.check.span, subject="response"))})
    assert perturb_ops.in_example_sentence(mixed, base, random.Random(0)) is None


SCOPED_DOSE_RULE = DOSE_RULE.replace("rule no-doses (high):\n",
                                     "rule no-doses (high):\n  when prompt mentions words(\"ibuprofen\", \"dose\")\n")


def test_a_scoped_regex_repair_stops_at_the_first_match_and_closes_with_the_good_example(tmp_path):
    # Dropping only the sentence with the dose kept the model's frame around it ("the daily
    # intake varies … the Society recommends"), and the trained model put a count back into it.
    (tmp_path / "doses.policy").write_text(SCOPED_DOSE_RULE, encoding="utf-8")
    rule = compile_policy(str(tmp_path / "doses.policy")).artifact.ir.rules[0]
    answer = ("The right amount depends on the person. Most adults take 200 mg at a time.\n\n"
              "In the UK the limit is 1200 mg a day, and children take less.")
    base = Sample("How much ibuprofen can I take?", answer)
    edited = repair(rule, base, random.Random(0))
    assert edited == "The right amount depends on the person. Please check the label or ask a pharmacist."
    assert semantics.rule_vote(rule, base._replace(response=edited)) == ir.GOOD and naturalness.is_natural(edited)
    # A dose in the first sentence leaves only the good example.
    first = base._replace(response="Take 400 mg. Ask if it does not help.")
    assert repair(rule, first, random.Random(0)) == "Please check the label or ask a pharmacist."
    # A list item holding the dose goes with its lead-in.
    listed = base._replace(response="It depends on age.\nHere is a guide:\n- Adults: 400 mg\n- Children: 100 mg")
    assert repair(rule, listed, random.Random(0)) == "It depends on age. Please check the label or ask a pharmacist."


def test_an_unscoped_regex_repair_drops_only_the_sentences_with_a_match(tmp_path):
    # Without a prompt scope the good example answers one prompt only: the rest of the answer stays.
    (tmp_path / "doses.policy").write_text(DOSE_RULE, encoding="utf-8")
    rule = compile_policy(str(tmp_path / "doses.policy")).artifact.ir.rules[0]
    base = Sample("How much should I take?", "It depends. Most adults take 200 mg. Children take less.")
    assert perturb_ops.with_example_advice(rule, base, random.Random(0)) is None
    assert repair(rule, base, random.Random(0)) == "It depends. Children take less."


def test_a_compliant_answer_to_a_scoped_rule_is_contrasted_at_the_violation(tmp_path):
    # Against the same answer with a dose added, the answer alone teaches "do not add that
    # sentence"; closed by the good example, the chosen side shows what to say where the
    # dose would go.
    (tmp_path / "doses.policy").write_text(SCOPED_DOSE_RULE, encoding="utf-8")
    rule = compile_policy(str(tmp_path / "doses.policy")).artifact.ir.rules[0]
    base = Sample("How much ibuprofen can I take?", "The right amount depends on the person.")
    made = [minimal_pair(rule, base, "test", random.Random(seed)) for seed in range(6)]
    for pair in made:
        assert pair.rejected.startswith(base.response) and pair.rejected != base.response
        assert pair.chosen == base.response + " Please check the label or ask a pharmacist."
        assert semantics.rule_vote(rule, base._replace(response=pair.chosen)) == ir.GOOD
    # Unscoped, the compliant answer itself is the chosen side.
    (tmp_path / "doses.policy").write_text(DOSE_RULE, encoding="utf-8")
    unscoped = compile_policy(str(tmp_path / "doses.policy")).artifact.ir.rules[0]
    assert minimal_pair(unscoped, base, "test", random.Random(0)).chosen == base.response


def test_combos_fixture_uses_every_connective():
    kinds = set()

    def walk(p):
        kinds.add(p.kind)
        for child in (getattr(p, "left", None), getattr(p, "right", None), getattr(p, "operand", None)):
            if child is not None:
                walk(child)

    for r in compiled("combos.policy").ir.rules:
        walk(r.check)
    assert {"and", "or", "not"} <= kinds
    assert sorted(INDEPENDENT + INTERACTING) == sorted(r.id for r in compiled("combos.policy").ir.rules)


@PROPERTY
@given(text=responses, seed=st.integers(0, 2**16))
def test_violate_and_repair_keep_their_contract_on_boolean_combinations(text, seed):
    sample = Sample("Can you help me?", text)
    for rule_id in INDEPENDENT:
        for verdict in VERDICTS:
            check_contract(rule("combos.policy", rule_id, verdict), sample, random.Random(seed))


@pytest.mark.parametrize("rule_id", INDEPENDENT)
def test_violate_and_repair_succeed_on_most_combination_inputs(rule_id):
    for verdict in VERDICTS:
        r = rule("combos.policy", rule_id, verdict)
        for edit, done in ((violate, violated), (repair, repaired)):
            # `not (… and response matches /\d+/)` fails only once a digit is inserted: best effort.
            if rule_id == "not-and" and (edit is violate) == (verdict in ("require", "prefer")):
                continue
            needed = [t for t in CORPUS if not done(verdict, semantics.rule_vote(r, Sample("q", t)))]
            ok = sum(edit(r, Sample("q", t), random.Random(k)) is not None for k, t in enumerate(needed))
            assert not needed or ok / len(needed) >= 0.8, (rule_id, verdict, edit.__name__, ok, len(needed))


CONNECTIVE_BUG = ("BUG: perturb_ops._make_connective makes the two sides of `a and b` (to hold) or "
                  "`a or b` (to fail) one after the other and never re-checks the whole condition, so "
                  "the second edit can undo the first and violate/repair return a text with the wrong vote")


@pytest.mark.parametrize("rule_id,verdict,op,text", [
    # "Thanks" is appended, then the 6 words are truncated to 5, dropping it again: vote BAD.
    ("and-count", "require", "repair", "one two three four five six"),
    ("and-count", "prefer", "repair", "one two three four five six"),
    # Padded to 4 words ("abc abc happy to"), then both "abc" removed: 2 words, so `fewer than 3`
    # holds again and the rule still votes GOOD.
    ("or-count", "require", "violate", "abc abc"),
    ("or-count", "prefer", "violate", "abc abc"),
    # Two bullets already; truncating to 3 lines keeps only the prose lines: 0 bullets.
    ("and-bullets-lines", "require", "repair", "a\nb\nc\n- d\n- e"),
    # The "!" that makes the left side hold belongs to the link; removing the link removes it: "See".
    ("ends-or-link", "require", "repair", "See https://acme.example/x!"),
])
def test_edits_of_one_side_do_not_undo_the_other(rule_id, verdict, op, text):
    r = rule("combos.policy", rule_id, verdict)
    sample = Sample("Can you help me?", text)
    edit, done = (violate, violated) if op == "violate" else (repair, repaired)
    edited = edit(r, sample, random.Random(0))
    assert edited is None or done(verdict, semantics.rule_vote(r, sample._replace(response=edited))), edited


# --- scopes: an edit of the check must not move the sample out of the rule's scope ------------


def test_edits_respect_a_prompt_scope():
    r = next(x for x in compiled("minimal.policy").ir.rules if x.id == "bullets-for-lists")
    in_scope = Sample("List the steps.", "First do this. Then do that.")
    edited = repair(r, in_scope, random.Random(0))
    assert edited is not None and semantics.rule_vote(r, in_scope._replace(response=edited)) == ir.GOOD
    edited = violate(r, in_scope._replace(response=edited), random.Random(0))
    assert edited is not None and semantics.rule_vote(r, in_scope._replace(response=edited)) == ir.BAD


def test_repair_result_is_good_not_out_of_scope():
    base = next(x for x in compiled("minimal.policy").ir.rules if x.id == "no-competitors")
    when = ir.CountPred(span=base.span, subject="response", unit="words", op="at_least", value=5)
    r = base.model_copy(update={"when": when})
    sample = Sample("Where can I buy a blender?", "Try Globex for more options.")
    assert semantics.rule_vote(r, sample) == ir.BAD
    edited = repair(r, sample, random.Random(0))
    assert edited is None or semantics.rule_vote(r, sample._replace(response=edited)) == ir.GOOD


# --- minimal pairs through the perturb strategy and the quality gate --------------------------


class CannedGenerator:
    """A stand-in for `Generator` that returns given responses (cycled) for every prompt."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.tokens_generated = 0

    def generate_ended(self, conversations, n=1, temperature=0.8, seed=0, top_p=0.95):
        from tenet.runtime.synthesize.generate import Generated

        out, k = [], 0
        for _ in conversations:
            row = []
            for _ in range(n):
                row.append(Generated(self.texts[k % len(self.texts)] if self.texts else "", "eos"))
                k += 1
            out.append(row)
        return out


def perturb_context(policy_name: str, generator=None) -> SynthesisContext:
    policy = compiled(policy_name).ir
    pool = build_pool(policy, FIXTURES, policy.training.eval_split, policy.training.seed)
    return SynthesisContext(policy=policy, pool=pool, seed=policy.training.seed, generator=generator,
                            samples_per_prompt=2)


def assert_minimal(pairs: list[Pair], rules) -> None:
    by_id = {r.id: r for r in rules}
    for pair in pairs:
        assert pair.strategy == "perturb" and len(pair.target_rules) == 1
        target = by_id[pair.target_rules[0]]
        chosen, rejected = pair.sample("chosen"), pair.sample("rejected")
        assert repaired(target.verdict, semantics.rule_vote(target, chosen))
        assert violated(target.verdict, semantics.rule_vote(target, rejected))
        for other in rules:
            if other.id != target.id:
                assert semantics.rule_vote(other, chosen) == semantics.rule_vote(other, rejected), (
                    pair, other.id)


def test_perturb_pairs_that_pass_the_gate_flip_only_their_target_rule():
    ctx = perturb_context("minimal.policy")
    rules = ctx.policy.rules
    candidates = list(perturb(ctx))
    # One twin per example side, except `five-words-max`: its good example could only be
    # padded and its bad one is a single sentence, so no natural edit exists; nor for
    # `bullets-for-lists`, whose good example is all list and whose bad one a single sentence
    # (one bullet is not a list).
    assert {p.target_rules[0] for p in candidates} == {r.id for r in rules} - {"five-words-max", "bullets-for-lists"}
    kept, report = gate(candidates, rules, ctx.pool.eval_texts, 100.0)
    assert kept and len(kept) < len(candidates)
    assert_minimal(kept, rules)
    assert report.dropped["other_rule_flipped"] >= 1


def test_an_edit_that_flips_a_second_rule_is_dropped_as_other_rule_flipped():
    ctx = perturb_context("minimal.policy")
    rules = {r.id: r for r in ctx.policy.rules}
    base = Sample("How do I reach support?", "Please use the help page.")  # exactly five words
    pair = minimal_pair(rules["no-email"], base, "example:no-email", random.Random(0))
    assert pair is not None and pair.chosen == base.response
    assert "@" in pair.rejected
    # The inserted sentence adds words: `five-words-max` goes from GOOD to BAD as well.
    assert semantics.rule_vote(rules["five-words-max"], pair.sample("chosen")) == ir.GOOD
    assert semantics.rule_vote(rules["five-words-max"], pair.sample("rejected")) == ir.BAD
    kept, report = gate([pair], ctx.policy.rules, set(), 100.0)
    assert kept == []
    assert report.dropped == {"other_rule_flipped": 1}
    assert report.dropped_by_strategy["perturb"] == {"other_rule_flipped": 1}
    assert report.per_rule["no-email"]["dropped"] == 1
    # The same two texts from a strategy that makes no minimality claim are kept.
    kept, _ = gate([Pair(**{**pair.__dict__, "strategy": "examples"})], ctx.policy.rules, set(), 100.0)
    assert len(kept) == 1


def test_a_length_repair_is_contrasted_with_the_answer_cut_just_past_the_limit():
    rules = {r.id: r for r in compiled("minimal.policy").ir.rules}
    base = Sample("Is it safe?", "Yes. It is certified. Both labs agree. The report is online. Ask us anything.")
    pair = minimal_pair(rules["five-words-max"], base, "model", random.Random(0))
    assert pair is not None and pair.chosen == "Yes. It is certified."
    # Not the whole answer: one sentence more than the limit allows is where to stop.
    assert pair.rejected == "Yes. It is certified. Both labs agree."
    assert semantics.rule_vote(rules["five-words-max"], pair.sample("rejected")) == ir.BAD
    assert naturalness.is_natural(pair.rejected)
    # An answer with no shorter breaking prefix stays the rejected side as it is.
    whole = Sample("Is it safe?", "Yes. It is. It is certified by both labs.")
    pair = minimal_pair(rules["five-words-max"], whole, "model", random.Random(0))
    assert pair is not None and (pair.chosen, pair.rejected) == ("Yes. It is.", whole.response)


CUT_ANSWER = "Open it. Lift the lid. Take it out. Plug it in."  # a capped answer, cut back


def test_a_cut_answer_is_fitted_to_a_length_limit_only_where_the_limit_ends_it():
    rules = {r.id: r for r in compiled("minimal.policy").ir.rules}
    limits = [rules["five-words-max"]]
    assert fit_to_limits(Sample("List the steps.", CUT_ANSWER), limits) == "Open it. Lift the lid."
    # Where the cut answer already fits, the cap decided its end: no base.
    assert fit_to_limits(Sample("List the steps.", "Open it. Lift it."), limits) is None
    assert fit_to_limits(Sample("List the steps.", CUT_ANSWER), []) is None


def test_a_capped_list_is_fitted_to_a_length_limit_as_its_finished_items_headlines():
    from tenet.runtime.synthesize.pairs import _cut_back
    from tenet.runtime.textedit.restructure import list_items

    class Capped:
        text = ("Here are the steps:\n1. **Unplug**: Switch it off at the wall. Wait a minute.\n"
                "2. **Empty**: Tip the crumbs into the bin. Shake it gently.\n"
                "3. **Brush**: Sweep the slots with a dry brush. Go slowly.\n"
                "4. **Wipe**: Clean the case with a damp cloth. Skip the slots.\n"
                "5. **Dry**: Leave it open for an hour. Check it is dry.\n"
                "6. **Test**: Plug it back in. Make one slice of toast.\n7. **Store**: Keep it on a")

    (cut,) = _cut_back([Capped])
    limit = {r.id: r for r in compiled("minimal.policy").ir.rules}["five-words-max"]
    forty = limit.model_copy(update={"check": limit.check.model_copy(update={"value": 40})})
    fitted = fit_to_limits(Sample("List the steps.", cut), [forty])
    # Every finished step, each cut to its headline; the step the cap stopped inside is gone.
    assert fitted == ("Here are the steps:\n1. **Unplug**\n2. **Empty**\n3. **Brush**\n4. **Wipe**\n5. **Dry**\n"
                      "6. **Test**")
    assert list_items(fitted) == 6 and naturalness.is_natural(fitted)


def test_a_fitted_answer_keeps_headroom_below_the_limit_where_a_cut_allows():
    five = {r.id: r for r in compiled("minimal.policy").ir.rules}["five-words-max"]
    eight = five.model_copy(update={"check": five.check.model_copy(update={"value": 8})})
    answer = Sample("List the steps.", "Open it. Lift it. Take it out. Plug it in.")
    # 4 words, within three quarters of 8; the longest prefix within 8 would end after "Take it out."
    assert fit_to_limits(answer, [eight]) == "Open it. Lift it."
    # no two-sentence prefix is within three quarters of five words: the limit itself decides
    assert fit_to_limits(Sample("List the steps.", "Open the lid. Lift it. Go."), [five]) == "Open the lid. Lift it."


def test_a_cut_answer_is_a_chosen_side_only_when_cut_to_the_length_limit():
    rules = {r.id: r for r in compiled("minimal.policy").ir.rules}
    base = Sample("List the steps.", CUT_ANSWER)
    pair = minimal_pair(rules["five-words-max"], base, "model", random.Random(0), cut=True)
    assert pair is not None and pair.chosen == "Open it. Lift the lid."
    assert pair.rejected == "Open it. Lift the lid. Take it out."
    # A repair that keeps the cut text to its end (bullets) would end where the cap fell.
    assert minimal_pair(rules["bullets-for-lists"], base, "model", random.Random(0), cut=True) is None


class CappedGenerator(CannedGenerator):
    """Every answer runs to the token cap."""

    def generate_ended(self, conversations, n=1, temperature=0.8, seed=0, top_p=0.95):
        from tenet.runtime.synthesize.generate import Generated

        return [[Generated(g.text, "cap") for g in row] for row in super().generate_ended(conversations, n)]


def test_perturb_repairs_capped_answers_fitted_to_the_length_limit():
    ctx = perturb_context("minimal.policy", CappedGenerator([CUT_ANSWER + " Then"]))
    pairs = [p for p in perturb(ctx) if p.source != "example:" + p.target_rules[0]]
    by_rule = {p.target_rules[0]: p for p in pairs}
    assert by_rule["bullets-for-lists"].chosen == "- Open it.\n- Lift the lid."  # a list, never one bullet
    assert by_rule["bullets-for-lists"].rejected == "Open it. Lift the lid."
    assert by_rule["five-words-max"].chosen == "Open it. Lift the lid."
    # No chosen side reaches the cut answer's last sentence, where the cap fell.
    assert pairs and not any("Plug it in" in p.chosen for p in pairs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(responses, min_size=1, max_size=6))
def test_perturb_on_model_samples_gives_minimal_pairs_after_the_gate(texts):
    ctx = perturb_context("minimal.policy", CannedGenerator(texts))
    candidates = list(perturb(ctx))
    assert all(p.strategy == "perturb" for p in candidates)
    kept, report = gate(candidates, ctx.policy.rules, ctx.pool.eval_texts, 100.0)
    assert_minimal(kept, ctx.policy.rules)
    assert sum(report.dropped.values()) + len(kept) == len(candidates)


def test_perturb_runs_on_a_policy_with_a_shadowed_rule(tmp_path):
    policy = tmp_path / "shadow.policy"
    policy.write_text('''dsl 1
policy shadow version "1"

rule no-refund-talk (high):
  forbid response mentions "refund"
  example:
    prompt "Can I get my money?"
    good   "We can help with that."
    bad    "Sure, a refund is on its way."

rule offer-refund (low):
  require response mentions "refund"
  example:
    prompt "Can I get my money back?"
    good   "A refund is possible."
    bad    "No."
''', encoding="utf-8")
    result = compile_policy(str(policy))
    assert result.ok and result.artifact.ir.rules[1].shadowed_by == ("no-refund-talk",)
    policy_ir = result.artifact.ir
    ctx = SynthesisContext(policy=policy_ir, pool=build_pool(policy_ir, tmp_path, 0.0, 1), seed=1)
    pairs = list(perturb(ctx))
    assert pairs and all(p.strategy == "perturb" for p in pairs)


def test_perturb_skips_rules_it_cannot_edit():
    """Prompt-only conditions and model scores give no pair rather than a wrong one."""
    r = next(x for x in compiled("minimal.policy").ir.rules if x.id == "no-email")
    prompt_rule = r.model_copy(update={"check": r.check.model_copy(update={"subject": "prompt"})})
    sample = Sample("Mail help@acme.example please", "Sure.")
    assert semantics.rule_vote(prompt_rule, sample) == ir.BAD
    assert repair(prompt_rule, sample, random.Random(0)) is None
    score = ir.ScorePred(span=r.span, subject="response", fn="sentiment", op=">=", threshold=0.5)
    score_rule = r.model_copy(update={"check": score, "verdict": "require"})
    assert violate(score_rule, sample, random.Random(0)) is None
    assert perturb_ops.make(score, sample, True, random.Random(0)) is None


def _forbid_email() -> ir.RuleIR:
    rule = next(r for r in compiled("atoms.policy").ir.rules
                if isinstance(r.check, ir.PiiPred) and r.check.pii == "email")
    return rule.model_copy(update={"verdict": "forbid"})


def test_inserted_details_vary_in_sentence_piece_and_place():
    text = "Open the Help page in the app.\n\nA support agent replies within a day."
    made = {violate(_forbid_email(), Sample("How do I reach support?", text, ()), random.Random(seed))
            for seed in range(40)}
    assert None not in made and len(made) >= 6  # sentences x sample addresses x places
    assert any(m.startswith(text + " ") for m in made)  # added at the end
    assert any(m.endswith("\n\nA support agent replies within a day.") for m in made)  # after the opening
    assert all(naturalness.is_natural(m) for m in made)


def test_a_mentioned_word_reads_as_a_judgement_and_a_name_as_a_suggestion():
    rule = next(r for r in compiled("atoms.policy").ir.rules if isinstance(r.check, ir.KeywordsPred))
    text = "Boil the egg for seven minutes, then cool it in cold water."
    for terms, sentences in ((("stupid", "useless"), ("Some would even call that", "Some people would call it")),
                             (("Globex",), ("You might also consider", "Some people also suggest"))):
        check = rule.check.model_copy(update={"terms": terms})
        forbid = rule.model_copy(update={"verdict": "forbid", "check": check})
        made = {violate(forbid, Sample("How do I boil an egg?", text, ()), random.Random(seed)) for seed in range(20)}
        assert None not in made
        assert all(any(f"{s} {t}." in m for s in sentences for t in terms) for m in made), made


def test_a_detail_added_after_a_list_starts_its_own_paragraph():
    text = "Three ways:\n- Use the Help page\n- Ask in the app\n- Read the guide"
    for seed in range(10):
        made = violate(_forbid_email(), Sample("How do I reach support?", text, ()), random.Random(seed))
        assert made is not None and made.startswith(text + "\n\n") and naturalness.is_natural(made)
