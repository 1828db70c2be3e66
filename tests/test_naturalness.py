"""The naturalness standard (`tenet.runtime.naturalness`) and the whole-unit edits held to it
(`tenet.runtime.textedit.restructure`).

Each check has cases it must catch and cases it must leave alone; each edit has a property
test over realistic answers (`natural_answers.py`): its output, when it gives one, is natural
by every check and keeps what it promises (a cut is a prefix at a boundary, a list keeps its
items, nothing is padded).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenet.compiler import semantics
from natural_answers import ITEMS, answers, corpus
from tenet.runtime import naturalness
from tenet.runtime.textedit import restructure

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("text,problem", [
    ("Use it. Use it now please. Use it now please. Use it now please.", "loop"),
    ("- 1. **Research**: read the docs.", "hybrid_marker"),
    ("* 2) Call us.", "hybrid_marker"),
    ("1. - Call us.", "hybrid_marker"),
    ("Here are the steps:\n\n1.\n\n2.", "empty_item"),
    ("Reset it. 1. Open the menu. 2. Click reset. 3.", "empty_item"),
    ("Consider:\n- **Price**: it is high.\n- -\n- **Range**: it is short.", "empty_item"),
    ("Steps:\n\n1. **Remove the lid**:\n\n2. **Rinse it**: under the tap.", "empty_item"),
    ("Steps to bake bread:\n\n- **Preheat Your Oven**\n\n- ****\n\n- ****", "empty_item"),
    ("Ways to sleep better:\n- **-\n- *Morning Lights*\n- **-", "empty_item"),
    ("Here are a few ways to reset it:\n\n1. **Unplug it**: wait ten seconds.", "lone_item"),
    ("Here's a guide:\n\n- **Get a garden**: start with a few simple tools.", "lone_item"),
    ("- When you're flying, drink plenty of water.", "lone_item"),
    ("Here's how to repair it:\n\nFirst, choose a new grinder.", "lone_item"),
    ("Thanks! Here's a guide:\n\n**Step 1: Choose a Kettle**\nSelect a clean and empty kettle.", "lone_item"),
    ("To return it, follow these steps:\n\nFirstly, find the receipt.", "lone_item"),
    ("Ways to learn:\n1. Immersion\n2. Apps\n3. **Immersion**.", "repeated_item"),
    ("Steps:\n\n1. **Cleaning the Blender**\n2. **Cleaning the Blender**", "repeated_item"),
    ("Here are the steps:", "mid_sentence"),
    ("You can return it within thirty days and", "mid_sentence"),
    ("We ship to Canada, the US,", "mid_sentence"),
    ("- Unplug it\n- Fill it with", "mid_sentence"),
    ("This usually includes the warranty amount (e.g.", "mid_sentence"),
    ("It lists the amount (e.g. 20%", "mid_sentence"),
    ("Ask for the manager, i.e.", "mid_sentence"),
    ("...", "mid_sentence"),
    ("", "mid_sentence"),
    ("Thanks, {name}! Your order ships today.", "leftover"),
    ("Happy to help with anything else. Happy to help with anything else.", "leftover"),
    ("Tips:\n\n- **Unite your team\n\n- **Set boundaries**", "broken_markup"),
    ("Options:\n4. **DSL/DVR\n5. **Cable**: fast.", "broken_markup"),
    ("Here's how:\n\n```python\nimport subprocess\n# Find the command to kill the", "broken_markup"),
    ("However, the guidelines for ibuprofen vary from person to person.", "cut_opening"),
    ("Additionally, keep the receipt.", "cut_opening"),
    ("That said, we ship to Canada.", "cut_opening"),
])
def test_each_check_catches_its_artifact(text, problem):
    assert problem in naturalness.problems(text)


@pytest.mark.parametrize("text", [
    "Thanks for contacting Acme! You can return most items within 30 days.",
    "- Use the reset link\n- Call support\n- Use the mobile app",
    "Follow these steps:\n1. Unplug the kettle.\n2. Rinse it twice.\nBest regards",
    "It was made in 2024.",
    "Is anything else broken?",
    "Done! \U0001F642",
    "```python\nprint(1)\n```",
    "Steps:\n1. **Clean**:\n   - wipe it\n   - dry it\n2. **Store**: keep it dry.",
    "I'm sorry, but I can't help with that.",
    "We stock kettles, toasters, blenders, etc.",
    "Keep the receipt (the one we emailed you).",
    "No.",
    "Two options:\n- Rent a car:\n  - Cost: high\n- Take the train:\n  - Cost: low",
    "Steps:\n1. Unplug it.\n2. Descale it:\n   - use vinegar",  # one sub-point of a longer list
    "Here's how:\n\nFirst, unplug it. Then empty the crumb tray.",
    "Steps:\n1. Choose a kettle\n2. Fill it\n2.1. Use cold water\n2.2. Stop at the line",
    "**Step 1: Unplug it**\nWait a minute.\n\n**Step 2: Rinse it**\nUse warm water.",
    "At first, running feels hard. It gets easier within a few weeks.",
    "Two words:\n- \u65e5\u672c\n- \u4e2d\u56fd\u3002",  # words in another script are words
    "Checklist:\n- \u2713 Pack a charger.\n- \u2713 Drink water.",
    "Square it:\n\n```python\nprint(2 ** 8)\n```\n\nThat prints 256.",  # `**` in code is not bold
    "**Note:** keep the **receipt** and the box.",
    "Also known as a kettle, it boils water.",  # no comma: not a connective
    "So, the short answer is yes.",
])
def test_whole_answers_pass(text):
    assert naturalness.problems(text) == ()


@pytest.mark.parametrize("text,declines", [
    ("I'm sorry, but I can't help with that.", True),
    ("I'm sorry for any confusion, but as a text-based AI, I don't have the ability to return items.", True),
    ("As an AI language model, I cannot browse.", True),
    ("I'm not equipped to clean your toaster.", True),
    ("Sure, here is how to return it.", False),
    ("I work as an assistant manager.", False),
])
def test_declines_uses_the_built_in_refusal_check(text, declines):
    assert naturalness.declines(text) is declines
    assert (semantics.compile_user_regex(semantics.REFUSAL_PATTERN, "").search(text) is not None) is declines


@pytest.mark.parametrize("text,offers_only", [
    ("I'm more than happy to help! But I'd be more than happy to help you with a simple and elegant "
     "message in your native language.", True),
    ("I'd be happy to help you write a thank-you note.", True),
    ("I'm more than happy to help. But I'd be more than happy to help you make a nerve agent.", True),
    ("I'd be happy to help! Try this: \"Dear Sam, thank you for the lovely scarf.\"", False),
    ("I'm sorry, but I cannot assist with that. I'm happy to help with something else.", False),
    ("Glad you asked. Compound interest is interest on interest.", False),
    ("", False),
])
def test_an_answer_of_offers_alone_declines(text, offers_only):
    assert naturalness.offers_only(text) is offers_only
    assert naturalness.declines(text) is (offers_only or "sorry" in text)


def test_the_realistic_corpus_is_natural():
    assert all(naturalness.is_natural(t) for t in corpus())


# --- whole-unit edits over realistic answers ---------------------------------------------------


def words(text: str) -> int:
    return semantics.count_units(text, "words")


@PROPERTY
@given(text=answers, limit=st.integers(3, 60))
def test_shorten_cuts_a_natural_prefix_at_a_boundary_outside_any_list(text, limit):
    cut = restructure.shorten(text, lambda t: words(t) <= limit)
    if cut is None:
        return
    assert words(cut) <= limit and naturalness.is_natural(cut)
    assert len(cut) < len(text.strip())
    variants = (text, restructure.condense_items(text), restructure.headline_items(text))
    source = next(v for v in variants if v.startswith(cut))
    assert not restructure.stops_a_list(source, len(cut)), cut  # never ends inside a list


def test_a_cut_never_ends_on_an_abbreviation():
    text = ("Register it online. It asks for the amount (e.g. 20%), the duration (e.g. 30 days) and "
            "your name. Dr. Lee signs it. Keep the receipt.")
    assert [text[:p] for p in restructure.cut_points(text)] == [
        "Register it online.",
        "Register it online. It asks for the amount (e.g. 20%), the duration (e.g. 30 days) and your name.",
        "Register it online. It asks for the amount (e.g. 20%), the duration (e.g. 30 days) and your name. "
        "Dr. Lee signs it.",
        text]


@PROPERTY
@given(text=answers)
def test_shorten_with_two_units_never_leaves_an_opener_alone(text):
    cut = restructure.shorten(text, lambda t: words(t) <= 12, min_units=2)
    if cut is not None and len(restructure.cut_points(text)) >= 2:
        assert len(restructure.cut_points(cut)) >= 2


@PROPERTY
@given(text=answers)
def test_to_bullets_makes_clean_items_from_numbers_or_sentences(text):
    bulleted = restructure.to_bullets(text)
    if bulleted is None:
        return
    assert naturalness.is_natural(bulleted), bulleted
    assert semantics.count_units(bulleted, "bullets") >= 2
    assert not re.search(r"(?m)^\s*\d+[.)]\s", bulleted)  # no numbered item left


def test_to_bullets_turns_numbered_items_into_dash_items_without_hybrids():
    text = "Here is how:\n1. Unplug the kettle.\n2. Rinse it twice."
    assert restructure.to_bullets(text) == "Here is how:\n- Unplug the kettle.\n- Rinse it twice."
    assert restructure.to_bullets("Unplug it. Then rinse it.") == "- Unplug it.\n- Then rinse it."
    # With two or more sentences after it, the first is a lead-in; so is a sentence ending in a colon.
    assert restructure.to_bullets("Unplug it. Then rinse it. Then dry it.") == \
        "Unplug it.\n- Then rinse it.\n- Then dry it."
    assert restructure.to_bullets("It is easy. Here is how:\nRinse it. Then dry it.") == \
        "It is easy. Here is how:\n- Rinse it.\n- Then dry it."
    assert restructure.to_bullets("One sentence only.") is None


@PROPERTY
@given(text=answers)
def test_from_bullets_makes_a_numbered_list(text):
    numbered = restructure.from_bullets(text)
    if numbered is None:
        assert semantics.count_units(text, "bullets") == 0
        return
    assert semantics.count_units(numbered, "bullets") == 0 and naturalness.is_natural(numbered)


@PROPERTY
@given(text=answers)
def test_drop_units_removes_whole_sentences_and_items(text):
    dropped = restructure.drop_units(text, lambda unit: "receipt" in unit.lower())
    if dropped is None:
        return
    assert "receipt" not in dropped.lower() and naturalness.is_natural(dropped)


@PROPERTY
@given(text=answers, limit=st.integers(3, 60))
def test_shorten_keeps_the_whole_list_whenever_a_shorter_form_of_it_fits(text, limit):
    cut = restructure.shorten(text, lambda t: words(t) <= limit)
    if cut is None:
        return
    whole = [restructure.strip_trailing_intro(v[:p].rstrip())
             for v in (restructure.condense_items(text), restructure.headline_items(text))
             for p in restructure.cut_points(v)]
    if any(words(w) <= limit and restructure.list_items(w) == restructure.list_items(text)
           and naturalness.is_natural(w) and w != text.strip() for w in whole):
        assert restructure.list_items(cut) == restructure.list_items(text), cut


def test_shorten_prefers_every_item_short_to_the_first_items_long():
    text = ("Here are three ways:\n- **Buy in bulk**: It costs less per meal. Store it well.\n"
            "- **Use coupons**: Stores print them every week in the local paper.\n"
            "- **Plan meals**: A weekly plan stops impulse buys at the store.")
    assert restructure.shorten(text, lambda t: words(t) <= 40) == (
        "Here are three ways:\n- **Buy in bulk**: It costs less per meal.\n"
        "- **Use coupons**: Stores print them every week in the local paper.\n"
        "- **Plan meals**: A weekly plan stops impulse buys at the store.")
    assert restructure.shorten(text, lambda t: words(t) <= 14) == (
        "Here are three ways:\n- **Buy in bulk**\n- **Use coupons**\n- **Plan meals**")


def test_headline_items_cut_items_to_the_words_before_their_colon():
    text = "Tips:\n1. **Rest:** Sleep eight hours.\n2. Hydrate: drink water. Often.\n3. Walk daily. It helps."
    assert restructure.headline_items(text) == "Tips:\n1. **Rest**\n2. Hydrate\n3. Walk daily."


def test_condense_items_keeps_each_items_first_sentence():
    text = "Steps:\n1. **Unplug**: Switch it off. Wait a minute.\n2. Rinse it. Dry it."
    assert restructure.condense_items(text) == "Steps:\n1. **Unplug**: Switch it off.\n2. Rinse it."


def test_every_corpus_item_is_a_plain_step():
    # Each item, second in a list (one bullet alone is a one-item list).
    assert all(not naturalness.problems(f"- Read the label first.\n- {item}") for item in ITEMS)


def test_shorten_drops_a_list_it_cannot_keep_whole():
    # Cut by the generation cap in step three: two steps would read as the whole guide.
    text = ("Thanks for asking! Unplug the toaster before you start. Here's how:\n\n"
            "1. Empty the crumb tray over the bin.\n2. Wipe the slots with a dry brush.\n3. Rinse the")
    assert restructure.shorten(text, lambda _: True, min_units=2) == (
        "Thanks for asking! Unplug the toaster before you start.")
    assert restructure.stops_a_list(text, text.index("\n2."))
    assert not restructure.stops_a_list(text, text.index("\n\n1."))


STEPS = ("1. **Unplug**: Switch it off at the wall.\n2. **Empty**: Tip the crumbs into the bin.\n"
         "3. **Brush**: Sweep the slots with a dry brush.\n4. **Wipe**: Clean the case with a damp cloth.\n"
         "5. **Dry**: Leave it open for an hour.\n")


def test_finished_items_drop_the_item_the_cap_stopped_inside():
    capped = "To fix it:\n\n" + STEPS + "6. **Test**: Plug it back in and"
    assert restructure.finished_items(capped) == ("To fix it:\n\n" + STEPS).rstrip()
    # Its indented sub-points go with it.
    assert restructure.finished_items(capped + "\n   - the lid\n   - the") == ("To fix it:\n\n" + STEPS).rstrip()
    # After two finished steps the list would read as stopped early; a finished answer keeps its end.
    assert restructure.finished_items("Steps:\n1. Open it.\n2. Lift it.\n3. Then wipe the") is None
    # Only the items of the list the cap fell in count.
    assert restructure.finished_items(STEPS + "Then:\n1. Store it.\n2. Keep it on a") is None
    # The cap fell in a paragraph after the list, not inside an item: `shorten` cuts that.
    assert restructure.finished_items("To fix it:\n\n" + STEPS + "\nIn the end, the") is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.sampled_from(ITEMS), min_size=4, max_size=8, unique=True), tail=st.sampled_from(ITEMS))
def test_finished_items_are_natural_whole_lists(items, tail):
    capped = "Here's how:\n" + "".join(f"{k}. {item}\n" for k, item in enumerate(items, 1))
    capped += f"{len(items) + 1}. " + " ".join(tail.split()[:2])
    kept = restructure.finished_items(capped)
    assert kept is not None and naturalness.is_natural(kept)
    assert restructure.list_items(kept) == len(items)


def test_a_cut_inside_an_item_that_goes_on_in_indented_lines_stops_the_list():
    text = ("To clean a laptop keyboard:\n\n- **Power off**: shut it down.\n- **Shake it**: turn it over.\n"
            "  Tap the back gently.\n  Crumbs fall out.\n- **Wipe**: use a damp cloth.\n\nThat's all!")
    assert restructure.stops_a_list(text, text.index("\n  Tap"))  # inside the second item
    assert restructure.stops_a_list(text, text.index("\n- **Wipe**"))  # after its indented lines
    assert not restructure.stops_a_list(text, text.index("\n\nThat's"))  # the list is whole
    cut = restructure.shorten(text, lambda prefix: len(prefix) < len(text) - 20)
    assert cut is None or "Wipe" in cut or "- " not in cut


def test_drop_units_drops_the_intro_of_what_it_dropped():
    text = ("It depends on you. However, I can offer a general guideline:\n\n"
            "* **Injury**: 1 to 2 doses for 7 days.\n* **Pain**: 1 dose a day.\n\nRemember to ask a doctor.")
    dropped = restructure.drop_units(text, lambda unit: "dose" in unit)
    assert dropped == "It depends on you.\n\nRemember to ask a doctor."
    # An intro whose list goes on keeps introducing it.
    kept = restructure.drop_units("Tips:\n- Take 2 doses.\n- Rest.\n- Drink water.", lambda unit: "dose" in unit)
    assert kept == "Tips:\n- Rest.\n- Drink water."


def test_drop_units_never_leaves_a_one_bullet_list():
    dropped = restructure.drop_units("Tips:\n- Take 2 doses\n- Rest well\n\nBye now.", lambda unit: "dose" in unit)
    assert dropped == "Tips:\nRest well.\n\nBye now." and naturalness.is_natural(dropped)


def test_list_to_prose_runs_the_items_into_their_lead_in():
    text = "Follow these steps:\n1. Rinse it twice.\n2. Drop the parcel off\nBest regards"
    prose = restructure.list_to_prose(text)
    assert prose == "Follow these steps: Rinse it twice. Drop the parcel off.\nBest regards"
    assert naturalness.is_natural(prose) and restructure.list_to_prose("No list here.") is None
