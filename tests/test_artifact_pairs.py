"""Artifact contrasts (`runtime/synthesize/artifacts.py`): each edit adds exactly its problem.

Properties over realistic answers (`natural_answers.py`): whenever an edit applies to a
natural answer, the naturalness checks find the problem it names on the result (and nothing
unrelated); `artifact_pairs` takes its share, lets the kinds take turns, uses each answer once
and never pairs a chosen side that breaks a rule; `synthesize` adds the contrasts and counts
them in the QA report.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenet.compiler import ir
from tenet.compiler.pipeline import compile_policy
from natural_answers import answers, corpus
from tenet.runtime import naturalness
from tenet.runtime.synthesize.artifacts import EDITS, STRATEGY, artifact_pairs, contrast
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.run import synthesize
from helpers import fixture_rules

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
STEPS = ("Thanks for contacting Acme! To descale your kettle, follow these steps:\n\n"
         "1. Fill it with water and vinegar.\n2. Boil it and let it stand for an hour.\n\n"
         "Rinse it twice before you use it again.")
BULLETS = "Here are the steps:\n- Fill it with water and vinegar.\n- Boil it and let it stand."


def rules() -> tuple[ir.RuleIR, ...]:
    """The rules of `synthesize/minimal.policy`."""
    return fixture_rules("synthesize/minimal.policy")


def test_each_edit_adds_the_problem_it_names_to_a_whole_answer():
    assert naturalness.problems(STEPS) == ()
    expected = {
        "leftover": "Thanks for contacting Acme! Thanks for contacting Acme! To descale",
        "lone_item": "follow these steps:\n\n1. Fill it with water and vinegar.",
        "loop": "again. Rinse it twice before you use it again. Rinse it twice before you use it again.",
        "hybrid_marker": "\n- 1. Fill it with water and vinegar.\n- 2. Boil",
        "mid_sentence": "To descale your kettle, follow these steps:",
        "repeated_item": "2. Boil it and let it stand for an hour.\n3. Boil it and let it stand for an hour.\n\nRinse",
    }
    for problem, part in expected.items():
        edited = contrast(STEPS, problem)
        assert edited is not None and part in edited, problem
        assert problem in naturalness.problems(edited)
    assert contrast(BULLETS, "empty_item") == "- " + BULLETS
    assert contrast(STEPS, "empty_item") is None  # a numbered list's lead-in is not a bullet's


def test_a_prose_answer_gets_its_last_sentence_as_a_one_item_list():
    prose = "Thanks for contacting Acme! Unplug the toaster and let it cool. Then wipe it with a damp cloth."
    edited = contrast(prose, "lone_item")
    # "First, then wipe it…" would go on to a later step: the numbered form is the one left.
    assert edited == ("Thanks for contacting Acme! Unplug the toaster and let it cool:\n\n"
                      "1. Then wipe it with a damp cloth.")
    assert naturalness.problems(edited) == ("lone_item",)
    assert contrast("Thanks for contacting Acme! Wipe it with a damp cloth.", "lone_item") is None  # no lead-in
    assert contrast("Here it is:\n- one bullet only.", "lone_item") is None


def test_a_prose_answer_gets_one_step_in_prose_or_numbered_by_its_length():
    lead = "Thanks for contacting Acme! Unplug the toaster and let it cool"
    forms = {contrast(f"{lead}{tail}. Wipe the Acme toaster with a damp cloth.", "lone_item") for tail in ("", " down")}
    assert {f.split(":\n\n")[1] for f in forms} == {"1. Wipe the Acme toaster with a damp cloth.",
                                                     "First, wipe the Acme toaster with a damp cloth."}
    assert all(naturalness.problems(f) == ("lone_item",) for f in forms)
    # A name keeps its capital letter.
    named = contrast("Thanks for contacting Acme! Our team can help today. Acme replaces cracked lids.", "lone_item")
    assert named.endswith("1. Acme replaces cracked lids.") or named.endswith("First, Acme replaces cracked lids.")


def test_an_answer_stops_on_its_lead_in():
    assert contrast(STEPS, "mid_sentence") == STEPS[:STEPS.index("\n\n1.")]
    assert contrast(BULLETS, "mid_sentence") == "Here are the steps:"
    prose = "Thanks for contacting Acme! Unplug the toaster and let it cool. Then wipe it with a damp cloth."
    assert contrast(prose, "mid_sentence") == "Thanks for contacting Acme! Unplug the toaster and let it cool:"
    assert naturalness.problems(contrast(prose, "mid_sentence")) == ("mid_sentence",)


def test_a_list_says_its_last_item_again_with_its_numbering_and_spacing():
    headlines = "Here's how:\n\n1. **Fix the grit**\n\n2. **Clean the burrs**"
    assert contrast(headlines, "repeated_item") == headlines + "\n\n3. **Clean the burrs**"
    assert contrast(BULLETS, "repeated_item") == BULLETS + "\n- Boil it and let it stand."
    # An item that goes on in indented lines is not split by a copy.
    assert contrast("Steps:\n1. Unplug it.\n   Wait an hour.\n2. Wipe it.\n   Dry it well.", "repeated_item") is None
    assert contrast("Thanks for contacting Acme! Refunds take five days.", "repeated_item") is None


def test_a_bulleted_list_stops_after_its_first_bullet():
    assert contrast(BULLETS, "lone_item") == BULLETS[:BULLETS.index("\n- ", BULLETS.index("- ") + 1)].rstrip()
    assert "lone_item" in naturalness.problems(contrast(BULLETS, "lone_item"))


def test_edits_that_do_not_apply_give_none():
    prose = "Thanks for contacting Acme! Refunds take five days."
    assert contrast(prose, "lone_item") is None and contrast(prose, "hybrid_marker") is None
    assert contrast("Yes.", "leftover") is None  # a two-word opener is not a sentence worth repeating
    assert contrast("Sure thing! Done.", "loop") is None  # too short to loop
    # An answer that already has an artifact is never a chosen side.
    assert contrast("1. Only one step.", "leftover") is None


@settings(max_examples=200, deadline=None)
@given(answers, st.sampled_from(sorted(EDITS)))
def test_an_applied_edit_adds_its_problem_and_nothing_unrelated(text, problem):
    edited = contrast(text, problem)
    if edited is None:
        return
    found = set(naturalness.problems(edited))
    assert problem in found
    assert found <= {problem, "leftover", "loop"}  # a loop repeats sentences back to back
    assert edited != text


def test_every_edit_applies_to_many_realistic_answers():
    texts = [t for t in corpus(300) if naturalness.is_natural(t)]
    bulleted = [t for t in texts if "\n- " in t]
    listed = [t for t in texts if naturalness.NUMBERED_ITEM.search(t) or naturalness.BULLET_ITEM.search(t)]
    for problem in EDITS:
        # A bulleted lead-in needs a bulleted list with a lead-in, a repeated item a list:
        # count those answers only.
        among = {"empty_item": bulleted, "repeated_item": listed}.get(problem, texts)
        applied = sum(contrast(t, problem) is not None for t in among)
        assert applied >= 0.15 * len(among), (problem, applied, len(among))


def _pairs(texts: list[str]) -> list[Pair]:
    return [Pair(f"Question {k}?", text, "Write to help@acme.example.", "perturb", ("no-email",), "t")
            for k, text in enumerate(texts)]


def test_artifact_pairs_take_their_share_in_turns_and_use_each_answer_once():
    texts = [t for t in corpus(200, seed=3) if naturalness.is_natural(t)][:80]
    selected = _pairs(texts) + _pairs(texts)[:10]  # ten answers twice: used once
    made, counts = artifact_pairs(selected, 0.25, (), None, seed=1)
    assert len(made) == round(0.25 * len(selected)) == sum(counts.values())
    assert all(p.strategy == STRATEGY and p.target_rules == () for p in made)
    assert len({(p.prompt, p.chosen) for p in made}) == len(made)
    assert len(counts) == len(EDITS) and max(counts.values()) - min(counts.values()) <= len(made) // 2
    for pair in made:
        problem = pair.source.split(":", 1)[1]
        assert naturalness.is_natural(pair.chosen) and problem in naturalness.problems(pair.rejected)
    assert artifact_pairs(selected, 0.25, (), None, seed=1) == (made, counts)  # deterministic
    assert artifact_pairs(selected, 0.0, (), None, seed=1) == ([], Counter())


def test_a_chosen_side_that_breaks_a_rule_is_never_contrasted():
    breaking = "Write to help@acme.example now. Thanks!"  # no-email is BAD
    keeping = "Use the help page. Thanks!"  # every rule of the fixture keeps (five words at most)
    made, _ = artifact_pairs(_pairs([breaking, keeping]), 1.0, rules(), None, seed=0)
    assert [p.chosen for p in made] == [keeping]


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_synthesize_adds_the_contrasts_and_reports_them(tmp_path, share):
    artifact = compile_policy(str(FIXTURES / "minimal.policy")).artifact
    result = synthesize(artifact, tmp_path, root=FIXTURES, strategies=["examples", "perturb"],
                        artifact_share=share)
    rule_pairs = [p for p in result.pairs if p.strategy != STRATEGY]
    contrasts = [p for p in result.pairs if p.strategy == STRATEGY]
    report = result.report.to_dict()
    assert sum(report["artifact_pairs"].values()) == len(contrasts)
    assert len(contrasts) <= round(share * len(rule_pairs))
    if share:
        assert contrasts and report["per_strategy"][STRATEGY]["kept"] == len(contrasts)


def test_a_kind_that_applies_to_few_answers_still_gets_its_part():
    prose = [f"Thanks for reaching out about order {k}. Refunds usually take five business days here."
             for k in range(40)]
    lists = [f"Here is how to fix problem {k}:\n1. Unplug the kettle.\n2. Rinse it twice." for k in range(3)]
    made, counts = artifact_pairs(_pairs(prose + lists), 0.5, (), None, seed=2)
    assert len(made) == round(0.5 * 43)
    # Three answers have a numbered list, and only those take `- 1.` markers: they still get turns.
    assert 1 <= counts["hybrid_marker"] <= 3 and counts["lone_item"] >= 1
