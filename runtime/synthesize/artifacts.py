"""Artifact contrasts: a whole answer against itself with one artifact that training tends to cause.

Preference training raises what the chosen sides share (an opening sentence, short answers,
lists) and a small model overshoots it: it says a required opening twice ("Thanks for
contacting Acme! Thanks for contacting Acme!"), stops numbered lists after their first item,
loops a sentence to the token cap, bullets its lead-in lines ("- The steps to bake bread
are:") or answers a list request with one bullet. Rule pairs cannot teach against that,
since a doubled opener or a one-item list keeps every rule. So a share of the budget
(`artifact_pairs`) goes to contrasts: the chosen side is a selected pair's chosen side
(whole, natural, and keeping every rule in scope); the rejected side is the same answer with
one artifact that `tenet.runtime.naturalness` finds. Each edit below names the problem it
adds, and a contrast is kept only if the checks find exactly that problem on the rejected side.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Callable, Sequence

from tenet.compiler import ir
from tenet.runtime import naturalness
from tenet.runtime.label.engine import Labeler
from tenet.runtime.synthesize.pairs import Pair
from tenet.runtime.synthesize.verify import vote_matrix

STRATEGY = "artifact"
FIRST_SENTENCE = re.compile(r"^\s*([^\n]*?[.!?])(?=\s)")
NUMBERED = re.compile(r"(?m)^([ \t]*)(\d+[.)][ \t])")
FIRST_ITEM = re.compile(r"(?m)^[ \t]*1[.)][ \t]")
SECOND_ITEM = re.compile(r"(?m)^[ \t]*2[.)][ \t]")
LAST_SENTENCE = re.compile(r"([^.!?\n]+[.!?])\s*$")
LIST_ITEM = re.compile(r"^[ \t]*(?:[-*\u2022]|\d+[.)])[ \t]")
LIST_LINE = re.compile(LIST_ITEM.pattern, re.M)
BULLET_ITEM = re.compile(r"^[ \t]*[-*\u2022][ \t]+\S")
BULLET_LINE = re.compile(r"(?m)^[ \t]*[-*\u2022][ \t]+\S")


def repeat_opening(text: str) -> str | None:
    """Say the first sentence twice ("Thanks for contacting Acme! Thanks for contacting Acme! …")."""
    match = FIRST_SENTENCE.match(text)
    if not match or len(match.group(1).split()) < 3:
        return None
    return f"{match.group(1)} {text.lstrip()}"


def stop_after_first_item(text: str) -> str | None:
    """Keep a list's first item only, and nothing after it: a numbered list's `1.`, or, in an
    answer without numbered items, its first bullet (a one-bullet answer to a list request). A
    prose answer gets its last sentence as the one item (`last_sentence_as_item`)."""
    second = SECOND_ITEM.search(text)
    if second and FIRST_ITEM.search(text[:second.start()]):
        return text[:second.start()].rstrip()
    bullets = [m.start() for m in BULLET_LINE.finditer(text)]
    if NUMBERED.search(text) or len(bullets) == 1:
        return None
    return text[:bullets[1]].rstrip() if bullets else last_sentence_as_item(text)


def last_sentence_as_item(text: str) -> str | None:
    """A prose answer whose last sentence became a list of one after a colon: `1. …` or `First, …`.

    A model trained to answer briefly learns the one-item form ("Here's a simple way to do
    it:" and step 1) as a way to be short, even when its chosen sides hold few lists to cut,
    so short prose answers are where it is contrasted.
    """
    split = _prose_lead_and_last(text)
    if not split:
        return None
    lead, last = split
    # Taught against the numbered form alone, a model writes the same one step in prose
    # ("Here's how to repair it:\n\nFirst, choose a new grinder."): half the answers (by the
    # parity of their length, so a rerun makes the same pairs) get that form first.
    forms = [f"{lead}:\n\n1. {last}", f"{lead}:\n\nFirst, {_lower_first_word(last, text)}"]
    if len(text) % 2:
        forms.reverse()
    return next((form for form in forms if naturalness.has_lone_item(form)), None)


def _lower_first_word(sentence: str, text: str) -> str:
    """The sentence with its first letter lowered, unless its first word is a name ("Acme", "I")."""
    word = sentence.split()[0]
    pronoun = word.rstrip(",.!?") == "I" or word.startswith("I'")
    is_name = pronoun or re.search(rf"[a-z,] {re.escape(word)}", text)
    return sentence if is_name else sentence[:1].lower() + sentence[1:]


def _prose_lead_and_last(text: str) -> tuple[str, str] | None:
    """A prose answer's sentences before the last (without their final period) and its last sentence."""
    if LIST_LINE.search(text):
        return None
    sentences = list(naturalness.SENTENCE.finditer(text))
    if len(sentences) < 2 or text[sentences[-1].end():].strip():
        return None
    lead, last = text[:sentences[-1].start()].rstrip(), sentences[-1].group(0).strip()
    return (lead[:-1], last) if lead.endswith(".") else None


def stop_at_lead_in(text: str) -> str | None:
    """End the answer on a lead-in with nothing after it: a list's lead-in line, or, in prose,
    the second-to-last sentence turned into one ("Here's a simple way to do it:").

    Taught against one-item lists alone, a model stops its guides on their lead-in instead;
    the two contrasts together leave it the whole answer.
    """
    first_item = LIST_LINE.search(text)
    if first_item is not None:
        lead = text[:first_item.start()].rstrip()
        return lead if lead.endswith(":") else None
    split = _prose_lead_and_last(text)
    return f"{split[0]}:" if split else None


def loop_last_sentence(text: str) -> str | None:
    """Repeat the last sentence twice more, as a model stuck in a loop does."""
    match = LAST_SENTENCE.search(text)
    if not match or len(naturalness.WORD.findall(match.group(1).lower())) < naturalness.LOOP_N:
        return None
    last = match.group(1).strip()
    return f"{text.rstrip()} {last} {last}"


def bullet_lead_in(text: str) -> str | None:
    """Put a bullet in front of the lead-in line of a bulleted list ("- Here are the steps:")."""
    lines = text.splitlines()
    for k, line in enumerate(lines[:-1]):
        following = next((after for after in lines[k + 1:] if after.strip()), "")
        if line.rstrip().endswith(":") and not LIST_ITEM.match(line) and BULLET_ITEM.match(following):
            return "\n".join(lines[:k] + [f"- {line.strip()}"] + lines[k + 1:])
    return None


def hybrid_markers(text: str) -> str | None:
    """Put a bullet in front of every numbered item (`- 1. …`)."""
    edited = NUMBERED.sub(lambda m: f"{m.group(1)}- {m.group(2)}", text)
    return edited if edited != text else None


def repeat_last_item(text: str) -> str | None:
    """Say a list's last item again as one more item ("3. **Rinse it**" then "4. **Rinse it**").

    A model trained on guides cut to their headlines repeats a headline as item after item
    ("1. **Fix the Grit**", "2. **Fix the Grit**", …). The copy keeps the list's numbering and
    spacing, so a repeated item is the one thing that changed.
    An item that goes on in indented lines is left alone: a copy there would split it.
    """
    lines = text.splitlines()
    items = [k for k, line in enumerate(lines) if LIST_ITEM.match(line) and not naturalness.indent(line)]
    if len(items) < 2:
        return None
    last = items[-1]
    following = next((line for line in lines[last + 1:] if line.strip()), "")
    if naturalness.indent(following):
        return None
    copy = NUMBERED.sub(lambda m: f"{m.group(1)}{int(m.group(2)[:-2]) + 1}{m.group(2)[-2:]}", lines[last], count=1)
    spacing = [""] if not lines[last - 1].strip() else []
    return "\n".join(lines[:last + 1] + spacing + [copy] + lines[last + 1:])


# problem the edit adds -> the edit, in the order contrasts are tried for each answer
EDITS: dict[str, Callable[[str], str | None]] = {
    "leftover": repeat_opening,
    "lone_item": stop_after_first_item,
    "loop": loop_last_sentence,
    "mid_sentence": stop_at_lead_in,
    "hybrid_marker": hybrid_markers,
    "empty_item": bullet_lead_in,
    "repeated_item": repeat_last_item,
}


def contrast(text: str, problem: str) -> str | None:
    """`text` with exactly `problem` added, or None when the edit does not apply to it."""
    edited = EDITS[problem](text)
    if edited is None or naturalness.problems(text):
        return None
    found = naturalness.problems(edited)
    return edited if problem in found and set(found) <= {problem, "leftover", "loop"} else None


def artifact_pairs(selected: Sequence[Pair], share: float, rules: Sequence[ir.RuleIR],
                   labeler: Labeler | None, seed: int) -> tuple[list[Pair], Counter]:
    """Contrasts for `share` of the selected pairs' count; returns them and a count per problem.

    Kinds take turns, each taking the next answer it applies to, so that a kind that applies
    to few answers (a one-item list needs a numbered list) still gets its part; an answer is
    used once. The chosen side must keep every rule that votes on it.
    """
    want = round(share * len(selected))
    if want <= 0:
        return [], Counter()
    answers = unique_answers(selected, random.Random(f"{seed}:artifact"))
    keeps = keeps_every_rule(answers, rules, labeler)
    answers = [a for a, ok in zip(answers, keeps) if ok]
    made: list[Pair] = []
    used: set[int] = set()
    exhausted: set[str] = set()
    while len(made) < want and len(exhausted) < len(EDITS):
        for problem in EDITS:
            if len(made) >= want or problem in exhausted:
                continue
            found = _next_contrast(answers, used, problem)
            if found is None:
                exhausted.add(problem)
                continue
            k, rejected = found
            used.add(k)
            pair = answers[k]
            made.append(Pair(pair.prompt, pair.chosen, rejected, STRATEGY, (), f"artifact:{problem}", pair.context))
    return made, Counter(p.source.split(":", 1)[1] for p in made)


def _next_contrast(answers: Sequence[Pair], used: set[int], problem: str) -> tuple[int, str] | None:
    """The first unused answer that `problem`'s edit applies to, and its edited copy."""
    for k, pair in enumerate(answers):
        if k not in used:
            rejected = contrast(pair.chosen, problem)
            if rejected is not None:
                return k, rejected
    return None


def unique_answers(pairs: Sequence[Pair], rng: random.Random) -> list[Pair]:
    """One pair per (prompt, chosen side), in a seeded order."""
    seen: set[tuple[str, str]] = set()
    out = []
    for pair in pairs:
        key = (pair.prompt, pair.chosen)
        if key not in seen:
            seen.add(key)
            out.append(pair)
    rng.shuffle(out)
    return out


def keeps_every_rule(pairs: Sequence[Pair], rules: Sequence[ir.RuleIR], labeler: Labeler | None) -> list[bool]:
    """Whether each pair's chosen side gets no BAD vote from any rule."""
    if not pairs or not rules:
        return [True] * len(pairs)
    votes = vote_matrix(rules, [(p.prompt, p.chosen, p.context) for p in pairs], labeler).tolist()
    return [ir.BAD not in row for row in votes]
