"""Rule-directed edits: make a rule's condition hold or fail by changing only the response.

Every text predicate kind knows how to make itself true or false (insert or remove a
match, cut a count at a sentence or item boundary, turn a list into bullets and back, wrap
or unwrap JSON, …). `violate` and `repair` apply these to a rule's condition so that its
vote turns BAD (or, for soft rules, stops being GOOD) and back. Every result is verified
against the reference semantics, and must add no artifact that `runtime.naturalness`
finds (no filler, no half sentence, no `- 1.` marker), before it is returned. An edit that
would need one gives None: lengthening an answer is left to the model's own longer answers.
Conditions on the prompt, or on model scores, cannot be edited and give None.
"""

from __future__ import annotations

import json
import random
import re

from compiler import ir, semantics
from compiler.semantics import Sample
from runtime import naturalness
from runtime.synthesize import restructure
from runtime.synthesize.regex_sample import sample_match

PII_SAMPLES = {"email": "help@acme.example", "link": "https://acme.example/help",
               "phone_number": "555-123-4567"}
# Each inserted piece goes into a whole sentence, so the edit reads as part of the answer.
PII_SENTENCES = {"email": "You can also email {piece}.", "link": "See {piece} for details.",
                 "phone_number": "You can also call {piece}."}
KEYWORD_SENTENCE = "You might also consider {piece}."
REFUSAL_SAMPLE = "I'm sorry, but I can't help with that."
SENTENCE_MARKS = ".!?"
HEADROOM = 0.75  # a length repair aims at three quarters of the limit when a cut allows
EDITABLE_SUBJECTS = ("response", "any_response", "conversation")


def violate(rule: ir.RuleIR, sample: Sample, rng: random.Random, holds: bool | None = None) -> str | None:
    """Return an edited response on which the rule fails (BAD; not GOOD for `prefer`).

    `holds` (whether the rule's condition holds on `sample`, if already known) saves work.
    """
    edited = make(rule.check, sample, rule.verdict in ("forbid", "avoid"), rng, holds, for_chosen=False)
    return edited if edited is not None and _vote_is(rule, sample, edited, failing=True) else None


def repair(rule: ir.RuleIR, sample: Sample, rng: random.Random, holds: bool | None = None) -> str | None:
    """Return an edited response on which the rule passes (GOOD; not BAD for `avoid`)."""
    edited = make(rule.check, sample, rule.verdict in ("require", "prefer"), rng, holds, for_chosen=True)
    return edited if edited is not None and _vote_is(rule, sample, edited, failing=False) else None


def _vote_is(rule: ir.RuleIR, sample: Sample, edited: str, failing: bool) -> bool:
    if rule.when is None and not rule.unless:
        return True  # no scope to leave: `make` already verified the condition
    # The edit may also move the sample out of the rule's scope (`when`/`unless` on the response).
    vote = semantics.rule_vote(rule, sample._replace(response=edited))
    if failing:
        return vote == ir.BAD or (rule.verdict == "prefer" and vote == ir.ABSTAIN and
                                  semantics.in_scope(rule, sample._replace(response=edited)) is True)
    return vote == ir.GOOD or (rule.verdict == "avoid" and vote == ir.ABSTAIN and
                               semantics.in_scope(rule, sample._replace(response=edited)) is True)


def make(pred: ir.PredIR, sample: Sample, want: bool, rng: random.Random,
         current: bool | None = None, for_chosen: bool = False) -> str | None:
    """Edit the response so that `pred` evaluates to `want`; None if no edit can.

    `for_chosen`: the edit makes a rule pass (the chosen side of a pair), so a length cut
    keeps headroom below the limit and at least two sentences or items.
    """
    if current is None:
        current = semantics.evaluate(pred, sample)
    if current is want:
        return sample.response
    if current is None:
        return None
    if isinstance(pred, ir.NotPred):
        return make(pred.operand, sample, not want, rng, for_chosen=for_chosen)
    if isinstance(pred, (ir.AndPred, ir.OrPred)):
        edited = _make_connective(pred, sample, want, rng, for_chosen)
        # The second side's edit can undo the first's: check the whole condition again.
        if edited is None or semantics.evaluate(pred, sample._replace(response=edited)) is not want:
            return None
        return edited
    if isinstance(pred, ir.ScorePred) or pred.subject not in EDITABLE_SUBJECTS:
        return None
    edited = _edit_atom(pred, sample.response, want, rng, for_chosen)
    if edited is None or edited == sample.response or adds_artifact(sample.response, edited):
        return None
    return edited if semantics.evaluate(pred, sample._replace(response=edited)) is want else None


def adds_artifact(original: str, edited: str) -> bool:
    """The edit introduced a naturalness problem the original did not have."""
    return not set(naturalness.problems(edited)) <= set(naturalness.problems(original))


def _make_connective(pred: ir.AndPred | ir.OrPred, sample: Sample, want: bool,
                     rng: random.Random, for_chosen: bool) -> str | None:
    # `a and b` true / `a or b` false need both sides; the other two need either side.
    both = isinstance(pred, ir.AndPred) == want
    if both:
        first = make(pred.left, sample, want, rng, for_chosen=for_chosen)
        if first is None:
            return None
        return make(pred.right, sample._replace(response=first), want, rng, for_chosen=for_chosen)
    sides = [pred.left, pred.right]
    rng.shuffle(sides)
    for side in sides:
        edited = make(side, sample, want, rng, for_chosen=for_chosen)
        if edited is not None:
            return edited
    return None


def _edit_atom(pred: ir.PredIR, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    if isinstance(pred, ir.CountPred):
        return _set_count(pred, text, want, for_chosen)
    if isinstance(pred, ir.JsonPred):
        return json.dumps({"response": text}, ensure_ascii=False) if want else _unwrap_json(text)
    if isinstance(pred, ir.TextPred):
        return _text_op(pred, text, want)
    if isinstance(pred, ir.RefusalPred):
        # A refusal is a whole answer; removing one drops the sentences that decline.
        return REFUSAL_SAMPLE if want else _remove_units(pred, text)
    return _insert(text, _sample_for(pred), pred, rng) if want else _remove_units(pred, text)


def _sample_for(pred: ir.PredIR) -> str | None:
    if isinstance(pred, ir.RegexPred):
        return sample_match(pred.pattern, pred.flags)
    if isinstance(pred, ir.KeywordsPred):
        return pred.terms[0]
    if isinstance(pred, ir.PiiPred):
        return PII_SAMPLES[pred.pii]
    return None


def _insert(text: str, piece: str | None, pred: ir.PredIR, rng: random.Random) -> str | None:
    if piece is None:
        return None
    body, piece = text.strip(), piece.strip() or piece
    if isinstance(pred, ir.PiiPred):
        options = [f"{body} {PII_SENTENCES[pred.pii].format(piece=piece)}"]
    elif isinstance(pred, ir.KeywordsPred):
        options = [f"{body} {KEYWORD_SENTENCE.format(piece=piece)}"]
    else:
        options = [f"{body}\n{piece}", f"{piece}\n{body}", f"{body} {piece}", f"{piece} {body}"]
        start = rng.randrange(len(options))
        options = options[start:] + options[:start]
        if isinstance(pred, ir.RegexPred) and pred.pattern.startswith("^"):
            options.insert(0, f"{piece} {body}")  # a prefix first for line-anchored patterns
    for option in options:
        if semantics.evaluate_text_atom(pred, option):
            return option
    return None


def _remove_units(pred: ir.PredIR, text: str) -> str | None:
    """Drop every sentence or list item in which the atom matches.

    A match with no word in it (a list marker, a bracket) is markup, not content: only the
    match itself goes.
    """
    find = semantics.span_finder(pred)
    hit = find(text)
    if hit is not None and not re.search(r"\w", text[hit[0]:hit[1]]):
        return _remove_matches(find, text)
    return restructure.drop_units(text, lambda unit: find(unit) is not None)


def _remove_matches(find, text: str) -> str | None:
    for _ in range(50):
        hit = find(text)
        if hit is None:
            return _tidy(text) or None
        start, end = hit
        if start == end:
            return None
        text = text[:start] + text[end:]
    return None


def _unwrap_json(text: str) -> str | None:
    """The string values of a JSON document, as prose."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    strings = list(_strings(value))
    return " ".join(s.strip() for s in strings if s.strip()) or None


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _text_op(pred: ir.TextPred, text: str, want: bool) -> str | None:
    needle = pred.text
    if pred.op == "starts_with":
        return f"{needle} {text.lstrip()}" if want else _strip_prefix(text, needle)
    if want:  # contains or ends_with: append, in the sentence or on a line of its own
        return _first_natural(text, [f"{text.rstrip()} {needle}", f"{text.rstrip()}\n{needle}"])
    if pred.op == "contains":
        return _tidy(text.replace(needle, "")) or None
    return _strip_suffix(text, needle)


def _strip_prefix(text: str, needle: str) -> str | None:
    stripped = text.lstrip(semantics.STRIP_CHARS)
    while stripped.startswith(needle):
        stripped = stripped[len(needle):].lstrip(semantics.STRIP_CHARS)
    return stripped or None


def _strip_suffix(text: str, needle: str) -> str | None:
    stripped = text.rstrip(semantics.STRIP_CHARS)
    while stripped.endswith(needle):
        stripped = stripped[: -len(needle)].rstrip(semantics.STRIP_CHARS)
    if stripped and needle[-1:] in SENTENCE_MARKS and stripped[-1:] not in SENTENCE_MARKS:
        # The needle closed the sentence ("!"): close it with another mark instead.
        stripped += "." if needle[-1] != "." else "!"
    return stripped or None


def _first_natural(original: str, options: list[str]) -> str | None:
    """The first option that adds no artifact (the caller verifies the predicate)."""
    return next((o for o in options if not adds_artifact(original, o)), options[0])


def _set_count(pred: ir.CountPred, text: str, want: bool, for_chosen: bool) -> str | None:
    """Change the count by whole units: cut sentences or items, or restructure a list.

    Only the model writes more: an answer is never padded, so a count that must grow (more
    words, more sentences) gives None here; `sample` pairs the model's longer answers.
    """
    holds = lambda t: semantics.evaluate_text_atom(pred, t) is want  # noqa: E731
    if pred.unit == "bullets":
        for edit in (restructure.to_bullets, restructure.from_bullets):
            edited = edit(text)
            if edited is not None and holds(edited):
                return edited
        return None
    limit = _upper_limit(pred, want) if for_chosen else None
    if limit is not None:
        # Cut with headroom below the limit: a model imitates the lengths it is shown, and
        # answers all just under the limit teach it to land on either side of it.
        roomy = int(limit * HEADROOM)
        # An answer kept within a length limit must still say something: two sentences or items.
        least = 1 if pred.unit == "lines" else 2
        for fits in (lambda t: holds(t) and semantics.count_units(t, pred.unit) <= roomy, holds):
            shorter = restructure.shorten(text, fits, min_units=least)
            if shorter is not None:
                return shorter
        return None
    shorter = restructure.shorten(text, holds)
    if shorter is not None or pred.unit != "lines":
        return shorter
    edited = restructure.sentences_to_lines(text)
    return edited if edited is not None and holds(edited) else None


def _upper_limit(pred: ir.CountPred, want: bool) -> int | None:
    """The largest count for which `pred` evaluates to `want`, when that is an upper limit."""
    if want and pred.op in ("at_most", "fewer_than"):
        return pred.value - (pred.op == "fewer_than")
    if not want and pred.op in ("at_least", "more_than"):
        return pred.value - (pred.op == "at_least")
    return None
