"""Rule-directed edits: make a rule's condition hold or fail by changing only the response.

Every text predicate kind knows how to make itself true or false (insert or remove a
match, pad or truncate a count, wrap or unwrap JSON, …). `violate` and `repair` apply these
to a rule's condition so that its vote turns BAD (or, for soft rules, stops being GOOD) and
back. Every result is verified against the reference semantics before it is returned;
conditions on the prompt, or on model scores, cannot be edited and give None.
"""

from __future__ import annotations

import json
import random
import re

from compiler import ir, semantics
from compiler.semantics import Sample
from runtime.synthesize.regex_sample import sample_match

PII_SAMPLES = {"email": "help@acme.example", "link": "https://acme.example/help",
               "phone_number": "555-123-4567"}
REFUSAL_SAMPLE = "I'm sorry, but I can't help with that."
FILLER_WORDS = "happy to help with anything else you need today".split()
FILLER_SENTENCE = "Happy to help with anything else."
EDITABLE_SUBJECTS = ("response", "any_response", "conversation")


def violate(rule: ir.RuleIR, sample: Sample, rng: random.Random, holds: bool | None = None) -> str | None:
    """Return an edited response on which the rule fails (BAD; not GOOD for `prefer`).

    `holds` (whether the rule's condition holds on `sample`, if already known) saves work.
    """
    edited = make(rule.check, sample, rule.verdict in ("forbid", "avoid"), rng, holds)
    return edited if edited is not None and _vote_is(rule, sample, edited, failing=True) else None


def repair(rule: ir.RuleIR, sample: Sample, rng: random.Random, holds: bool | None = None) -> str | None:
    """Return an edited response on which the rule passes (GOOD; not BAD for `avoid`)."""
    edited = make(rule.check, sample, rule.verdict in ("require", "prefer"), rng, holds)
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
         current: bool | None = None) -> str | None:
    """Edit the response so that `pred` evaluates to `want`; None if no edit can."""
    if current is None:
        current = semantics.evaluate(pred, sample)
    if current is want:
        return sample.response
    if current is None:
        return None
    if isinstance(pred, ir.NotPred):
        return make(pred.operand, sample, not want, rng)
    if isinstance(pred, (ir.AndPred, ir.OrPred)):
        edited = _make_connective(pred, sample, want, rng)
        # The second side's edit can undo the first's: check the whole condition again.
        if edited is None or semantics.evaluate(pred, sample._replace(response=edited)) is not want:
            return None
        return edited
    if isinstance(pred, ir.ScorePred) or pred.subject not in EDITABLE_SUBJECTS:
        return None
    edited = _edit_atom(pred, sample.response, want, rng)
    if edited is None or edited == sample.response:
        return None
    return edited if semantics.evaluate(pred, sample._replace(response=edited)) is want else None


def _make_connective(pred: ir.AndPred | ir.OrPred, sample: Sample, want: bool,
                     rng: random.Random) -> str | None:
    # `a and b` true / `a or b` false need both sides; the other two need either side.
    both = isinstance(pred, ir.AndPred) == want
    if both:
        first = make(pred.left, sample, want, rng)
        if first is None:
            return None
        return make(pred.right, sample._replace(response=first), want, rng)
    sides = [pred.left, pred.right]
    rng.shuffle(sides)
    for side in sides:
        edited = make(side, sample, want, rng)
        if edited is not None:
            return edited
    return None


def _edit_atom(pred: ir.PredIR, text: str, want: bool, rng: random.Random) -> str | None:
    if isinstance(pred, ir.CountPred):
        return _set_count(pred, text)
    if isinstance(pred, ir.JsonPred):
        return json.dumps({"response": text}, ensure_ascii=False) if want else "Response: " + text.strip()
    if isinstance(pred, ir.TextPred):
        return _text_op(pred, text, want)
    insertion = _sample_for(pred)
    return _insert(text, insertion, pred, rng) if want else _remove_all(pred, text)


def _sample_for(pred: ir.PredIR) -> str | None:
    if isinstance(pred, ir.RegexPred):
        return sample_match(pred.pattern, pred.flags)
    if isinstance(pred, ir.KeywordsPred):
        return pred.terms[0]
    if isinstance(pred, ir.PiiPred):
        return PII_SAMPLES[pred.pii]
    if isinstance(pred, ir.RefusalPred):
        return REFUSAL_SAMPLE
    return None


def _insert(text: str, piece: str | None, pred: ir.PredIR, rng: random.Random) -> str | None:
    if piece is None:
        return None
    body, piece = text.strip(), piece.strip() or piece
    options = [f"{body}\n{piece}", f"{piece}\n{body}", f"{body} {piece}", f"{piece} {body}"]
    if isinstance(pred, (ir.KeywordsPred, ir.PiiPred)):
        options.insert(0, f"{body} {piece}.")
    start = rng.randrange(len(options))
    # A prefix edit is tried first for line-anchored patterns ("- item" for bullets).
    preferred = [f"{piece} {body}"] if isinstance(pred, ir.RegexPred) and pred.pattern.startswith("^") else []
    for option in preferred + options[start:] + options[:start]:
        if semantics.evaluate_text_atom(pred, option):
            return option
    return None


def _remove_all(pred: ir.PredIR, text: str) -> str | None:
    find = semantics.span_finder(pred)
    for _ in range(50):
        hit = find(text)
        if hit is None:
            return _tidy(text) or None
        start, end = hit
        if start == end:
            return None
        text = text[:start] + text[end:]
    return None


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _text_op(pred: ir.TextPred, text: str, want: bool) -> str | None:
    needle = pred.text
    if pred.op == "contains":
        return f"{text.rstrip()} {needle}" if want else _tidy(text.replace(needle, "")) or None
    if pred.op == "starts_with":
        if want:
            return f"{needle} {text.lstrip()}"
        stripped = text.lstrip(semantics.STRIP_CHARS)
        while stripped.startswith(needle):
            stripped = stripped[len(needle):].lstrip(semantics.STRIP_CHARS)
        return stripped or None
    if want:
        return f"{text.rstrip()} {needle}"
    stripped = text.rstrip(semantics.STRIP_CHARS)
    while stripped.endswith(needle):
        stripped = stripped[: -len(needle)].rstrip(semantics.STRIP_CHARS)
    return stripped or None


def _set_count(pred: ir.CountPred, text: str) -> str | None:
    target = _target_count(pred, semantics.count_units(text, pred.unit))
    if target is None or target < 0:
        return None
    return _resize(text, pred.unit, target)


def _target_count(pred: ir.CountPred, now: int) -> int | None:
    """The nearest count on the other side of the bound from `now`."""
    holds = semantics.compare_count(now, pred.op, pred.value, pred.high)
    v, high = pred.value, pred.high if pred.high is not None else pred.value
    if pred.op == "between":
        return (high + 1) if holds else min(max(now, v), high)
    for candidate in (v + 1, v, v - 1, v + 2, v - 2):
        if candidate >= 0 and semantics.compare_count(candidate, pred.op, v, pred.high) != holds:
            return candidate
    return None


def _resize(text: str, unit: str, target: int) -> str | None:
    now = semantics.count_units(text, unit)
    if unit == "characters":
        return text[:target] if target < now else text + ("." * (target - now))
    if unit == "bullets":
        return _resize_bullets(text, target, now)
    if target < now:
        return _truncate(text, unit, target)
    extra = target - now
    if unit == "words":
        return text.rstrip() + " " + " ".join((FILLER_WORDS * (extra // len(FILLER_WORDS) + 1))[:extra])
    if unit == "sentences":
        sep = " " if re.search(r"[.!?]\s*$", text) else ". "
        return text.rstrip() + sep + " ".join([FILLER_SENTENCE] * extra)
    return text.rstrip("\n") + "\n" + "\n".join([FILLER_SENTENCE] * extra)  # lines


def _truncate(text: str, unit: str, target: int) -> str | None:
    if target == 0:
        return None
    matches = list(re.finditer(semantics.COUNT_PATTERNS[unit], text, re.ASCII))
    if unit == "lines":
        lines = [line for line in text.splitlines() if line.strip()]
        return "\n".join(lines[:target])
    return text[: matches[target - 1].end()].rstrip()


def _resize_bullets(text: str, target: int, now: int) -> str | None:
    lines = text.splitlines()
    bullet = re.compile(r"^[ \t]*[-*\u2022][ \t]+")
    if target < now:
        kept, out = 0, []
        for line in lines:
            if bullet.match(line) and semantics.count_units(line, "bullets"):
                kept += 1
                if kept > target:
                    line = bullet.sub("", line)
            out.append(line)
        return "\n".join(out)
    prose = [i for i, line in enumerate(lines) if line.strip() and not bullet.match(line)]
    for i in prose[: target - now]:
        lines[i] = "- " + lines[i].strip()
    missing = target - semantics.count_units("\n".join(lines), "bullets")
    lines += ["- " + FILLER_SENTENCE] * max(0, missing)
    return "\n".join(lines)
